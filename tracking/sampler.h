/* sampler.h - which allocations are tracked: the per-thread byte countdown
 * every allocation entry point runs inline, and the sampler's decision once
 * it runs out (sampler.c). A block's epoch (tracking.h) names the interval it
 * was sampled under, from which its weight is computed (_rallo_weight). */
#ifndef RALLO_SAMPLER_H
#define RALLO_SAMPLER_H

#include "tracking.h"

/* While tracking is on, each thread counts down the bytes it allocates
 * (rallo_thread_state's sample_countdown; tracking off is the flag alone,
 * allocator/fastpath.h). An allocation that takes the countdown below 0 asks
 * the sampler, which decides whether it is tracked and sets the countdown
 * again, by the setting in force: -1 when every allocation is tracked, so
 * every allocation asks (malloc(0) too); when sampling, an exponential gap
 * with the interval as its mean. A countdown left from before tracking was
 * turned off is one of these, still valid when it is turned on again (the
 * gap is memoryless). A new interval set by another thread is seen when the
 * countdown next runs out; the thread that sets it sees it from its next
 * allocation (_rallo_sampler_restart), as does a thread started after it (a
 * thread's countdown starts at -1, state.c). */
#define RALLO_COUNTDOWN_ASK ((int64_t)-1)

/* Subtracts size from this thread's countdown; true when it ran out (below
 * 0), and the caller must then ask _rallo_sampler_take_expired. Callers pass
 * sizes up to PTRDIFF_MAX, and the test of the sign is the subtraction's own
 * flag (one read-modify-write and one branch). */
static inline bool _rallo_countdown_runs_out(size_t size) {
    rallo_thread_state *thread = &_rallo_thread;
    thread->sample_countdown -= (int64_t)size;
    return rallo_unlikely(thread->sample_countdown < 0);
}

/* The countdown already ran out (by _rallo_countdown_runs_out, and nobody
 * asked the sampler yet): for a path that subtracted before it knew whether it
 * would need the answer. */
static inline bool _rallo_countdown_expired(void) {
    return _rallo_thread.sample_countdown < 0;
}

/* What the sampler answers for an allocation: the epoch it is tracked under
 * (0 or more), or RALLO_SAMPLE_NOT_TAKEN: left untracked. */
#define RALLO_SAMPLE_NOT_TAKEN (-1)

/* The setting in one word, so that the common case is one load: the epoch in
 * force in the low 8 bits (0: every allocation), and RALLO_SAMPLER_OFF while
 * tracking is off. 0: every allocation tracked. */
#define RALLO_SAMPLER_EPOCH_MASK 0xffu
#define RALLO_SAMPLER_OFF 0x100u
extern _Atomic uint32_t _rallo_sampler_mode rallo_internal;
/* Tracking on or off, for the sampler (_rallo_tracking_set calls it): a
 * lock-free atomic, as it is called from a signal handler. */
void _rallo_sampler_tracking_set(bool on) rallo_internal;
/* The slow part of the decision (sampler.c). */
int _rallo_sampler_decide(size_t size) rallo_internal;

/* Once this thread's countdown ran out on an allocation of `size` bytes:
 * whether the sampler takes it (the epoch to track it under) or not
 * (RALLO_SAMPLE_NOT_TAKEN), and the countdown set again, never below -1: the
 * next subtraction of up to PTRDIFF_MAX cannot overflow. Every allocation
 * tracked, the common case of a countdown that ran out, is decided inline. */
static inline int _rallo_sampler_take_expired(size_t size) {
    if (rallo_likely(atomic_load_explicit(&_rallo_sampler_mode, memory_order_relaxed) == 0)) {
        _rallo_thread.sample_countdown = RALLO_COUNTDOWN_ASK;
        return 0;
    }
    return _rallo_sampler_decide(size);
}

/* The whole decision for an allocation of `size` bytes: the countdown, then
 * the sampler if it ran out. */
static inline int _rallo_sampler_take(size_t size) {
    return _rallo_countdown_runs_out(size) ? _rallo_sampler_take_expired(size) : RALLO_SAMPLE_NOT_TAKEN;
}

/* This thread's countdown runs out at its next allocation, which so sees the
 * setting in force: called by whoever changes it (tracking on/off, interval). */
void _rallo_sampler_restart(void) rallo_internal;

/* ln(x) for x > 0, and 1 - e^-x for x >= 0 (expmath.c: librallo needs no libm). */
double _rallo_ln(double x) rallo_internal;
double _rallo_one_minus_exp_neg(double x) rallo_internal;

/* fork: the child must not inherit the epochs lock held by a thread it lacks. */
void _rallo_sampler_atfork_prepare(void) rallo_internal;
void _rallo_sampler_atfork_release(void) rallo_internal;
void _rallo_sampler_atfork_child(void) rallo_internal;

/* rallo_set_sample_interval and rallo_get_sample_interval (include/rallo.h,
 * api/rallo.c): bytes 0 = every allocation; -1 with errno EINVAL past 1 TiB,
 * ENOSPC when every epoch is taken. */
int _rallo_sampler_set_interval(uint64_t bytes) rallo_internal;
uint64_t _rallo_sampler_interval(void) rallo_internal;

#endif
