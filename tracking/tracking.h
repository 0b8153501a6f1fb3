/* tracking.h - what allocator/ needs of tracking/ on the hot path: the on/off
 * flag, the sampler, and (through the headers at the end) the per-thread
 * state, the memo, the depot and the counters. The call map of a tracked
 * malloc is at the top of allocator/tracked.c. tracking/ never calls the
 * allocation entry points; its own memory comes from mimalloc directly. */
#ifndef RALLO_TRACKING_H
#define RALLO_TRACKING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/compiler.h"
#include "options.h"
#include "rallo.h"
#include "thread.h"

/* ---- on/off (state.c) ---- */

/* Guards the allocator's choice between the untracked and the tracked path:
 * one relaxed load of it is all the untracked path pays. */
extern _Atomic int _rallo_tracking_on rallo_internal;
void _rallo_tracking_set(bool on) rallo_internal;
bool _rallo_tracking_is_on(void) rallo_internal;

/* ---- sampling (sampler.c) ----
 * An epoch names the sampling interval a block was sampled under, so its weight
 * can be recomputed exactly when it is freed. Epoch 0: every allocation, weight 1. */
typedef uint8_t rallo_epoch;
/* Decides whether this allocation of `size` bytes is to be tracked. */
bool _rallo_sample(size_t size, rallo_epoch *epoch) rallo_internal;
/* (generation << 8) | epoch in force; the generation counts setting changes. */
extern _Atomic uint64_t _rallo_sampler_state rallo_internal;
/* ln(x) for x > 0, and 1 - e^-x for x >= 0 (expmath.c: librallo needs no libm). */
double _rallo_ln(double x) rallo_internal;
double _rallo_one_minus_exp_neg(double x) rallo_internal;
/* _rallo_sample with its common case, sampling off (epoch 0), inline. */
static inline bool _rallo_sample_now(size_t size, rallo_epoch *epoch) {
    if (rallo_likely((atomic_load_explicit(&_rallo_sampler_state, memory_order_relaxed) & 0xff) == 0)) {
        *epoch = 0;
        return true;
    }
    return _rallo_sample(size, epoch);
}
/* The sampler's common case, inline on the allocation path: while this thread's
 * countdown, drawn for the setting still in force, stays above the size, the
 * allocation is not sampled and only the countdown moves. The countdown
 * carries its setting's generation in its high bits and _rallo_sample_floor
 * is the current generation's tag (INT64_MAX while every allocation is
 * tracked), so "still in force and above the size" is one compare: a
 * countdown from an older setting is below the floor. Every other case goes
 * to _rallo_sample. Callers pass sizes up to PTRDIFF_MAX. */
#define RALLO_SAMPLE_TAG_SHIFT 40
extern _Atomic int64_t _rallo_sample_floor rallo_internal;
static inline bool _rallo_sample_skips(size_t size) {
    rallo_thread_state *thread = &_rallo_thread;
    int64_t left = thread->sample_countdown - (int64_t)size;
    if (rallo_likely(left > atomic_load_explicit(&_rallo_sample_floor, memory_order_relaxed))) {
        thread->sample_countdown = left;
        return true;
    }
    return false;
}
/* The weight of a block of `size` bytes sampled in `epoch`, as a count in
 * 1/65536ths and as bytes. Deterministic: alloc and free compute the same. */
void _rallo_weight(rallo_epoch epoch, uint64_t size, uint64_t *count_fp, uint64_t *bytes) rallo_internal;

/* The rest of the hot path. */
#include "counters.h"
#include "memo.h"

#endif
