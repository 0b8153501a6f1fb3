/* sampler.c - which allocations are tracked: all of them, or a byte-based
 * sample with exponentially distributed gaps (as tcmalloc and jemalloc do), each
 * sampled block weighted by the inverse of its chance of being sampled so that
 * every figure is an unbiased estimate. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "sampler.h"

#define SAMPLER_EPOCHS 256

/* The interval each epoch stands for. An epoch is never reused for another
 * interval: blocks sampled under it recompute their weight from it when freed. */
static uint64_t sampler_epoch_interval[SAMPLER_EPOCHS];
static uint32_t sampler_epochs_used = 1; /* epoch 0: every allocation */
static pthread_mutex_t sampler_epochs_lock = PTHREAD_MUTEX_INITIALIZER;
_Atomic uint32_t _rallo_sampler_mode = RALLO_SAMPLER_OFF;

static uint64_t sampler_next_random(rallo_thread_state *thread) {
    if (thread->rng == 0)
        thread->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)thread;
    /* xorshift64*: fast and good enough to draw gaps. */
    uint64_t x = thread->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    thread->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* An exponential gap of mean `interval` bytes, rounded down: an allocation of
 * s bytes runs it out (countdown - s < 0) exactly when the real gap is below
 * s. Intervals are at most 2^40 and -ln(U) at most 53 ln 2: below 2^46. */
static int64_t sampler_draw_gap(rallo_thread_state *thread, uint64_t interval) {
    /* U in (0, 1]; -ln(U) * mean is exponential with that mean. */
    double u = (double)((sampler_next_random(thread) >> 11) + 1) * 0x1.0p-53;
    return (int64_t)(-_rallo_ln(u) * (double)interval);
}

void _rallo_sampler_restart(void) {
    _rallo_thread.sample_countdown = RALLO_COUNTDOWN_ASK;
    _rallo_thread.countdown_epoch = 0;
}

/* Sampling: every byte allocated is a point of a Poisson process of rate
 * 1 / interval, and an allocation is sampled when a point falls inside it, so
 * one of s bytes is sampled with chance exactly 1 - exp(-s / interval) (its
 * weight, _rallo_weight). A countdown drawn under an epoch that ran out (it
 * was 0 or more before this allocation) is such a point, whatever the setting
 * in force now: the sample is weighted by the epoch that drew it. A countdown
 * that was not drawn (-1 after a restart or every allocation) is no point: a gap is drawn here and this
 * allocation is sampled if it ends inside it. Either way the next gap is drawn fresh under the epoch in
 * force: the gap is memoryless, so nothing is lost by dropping the remainder. */
int _rallo_sampler_decide(size_t size) {
    rallo_thread_state *thread = &_rallo_thread;
    /* Acquire: a thread that sees the epoch sees its interval. */
    uint32_t mode = atomic_load_explicit(&_rallo_sampler_mode, memory_order_acquire);
    rallo_epoch current = (rallo_epoch)(mode & RALLO_SAMPLER_EPOCH_MASK);
    bool on = (mode & RALLO_SAMPLER_OFF) == 0;
    if (current == 0) {
        thread->sample_countdown = RALLO_COUNTDOWN_ASK;
        thread->countdown_epoch = 0;
        return on ? 0 : RALLO_SAMPLE_NOT_TAKEN;
    }
    uint64_t interval = sampler_epoch_interval[current];
    /* A drawn gap was 0 or more before this allocation; the countdown of
     * every allocation tracked (which leaves the epoch alone) was -1. */
    bool gap_ran_out = thread->countdown_epoch != 0 && thread->sample_countdown + (int64_t)size >= 0;
    int taken = gap_ran_out ? (int)thread->countdown_epoch : 0;
    if (taken == 0 && sampler_draw_gap(thread, interval) < (int64_t)size)
        taken = current;
    thread->sample_countdown = sampler_draw_gap(thread, interval);
    thread->countdown_epoch = current;
    return on && taken != 0 ? taken : RALLO_SAMPLE_NOT_TAKEN;
}

void _rallo_weight(rallo_epoch epoch, uint64_t size, uint64_t *count_weight, uint64_t *bytes) {
    if (rallo_likely(epoch == 0)) {
        *count_weight = RALLO_COUNT_ONE;
        *bytes = size;
        return;
    }
    double interval = (double)sampler_epoch_interval[epoch];
    double chance = size == 0 ? 1.0 / interval : _rallo_one_minus_exp_neg((double)size / interval);
    if (chance > 1.0)
        chance = 1.0;
    double weight = 1.0 / chance;
    /* Rounded to nearest (both are positive). */
    *count_weight = (uint64_t)(weight * (double)RALLO_COUNT_ONE + 0.5);
    *bytes = (uint64_t)(weight * (double)size + 0.5);
}

int _rallo_sampler_set_interval(uint64_t bytes) {
    if (bytes > (1ull << 40)) {
        errno = EINVAL;
        return -1;
    }
    uint32_t epoch = 0;
    pthread_mutex_lock(&sampler_epochs_lock);
    if (bytes > 1) {
        for (epoch = 1; epoch < sampler_epochs_used; epoch++)
            if (sampler_epoch_interval[epoch] == bytes)
                break;
        if (epoch == sampler_epochs_used) {
            if (sampler_epochs_used == SAMPLER_EPOCHS) {
                pthread_mutex_unlock(&sampler_epochs_lock);
                errno = ENOSPC;
                return -1;
            }
            sampler_epoch_interval[epoch] = bytes;
            sampler_epochs_used++;
        }
    }
    /* Release: a thread that sees the epoch sees its interval. */
    uint32_t mode = atomic_load_explicit(&_rallo_sampler_mode, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&_rallo_sampler_mode, &mode,
                                                  (mode & RALLO_SAMPLER_OFF) | epoch, memory_order_release,
                                                  memory_order_relaxed)) {
    }
    pthread_mutex_unlock(&sampler_epochs_lock);
    _rallo_sampler_restart();
    return 0;
}

/* fork: the child must not inherit the epochs lock held by a thread it lacks. */
void _rallo_sampler_atfork_prepare(void) {
    pthread_mutex_lock(&sampler_epochs_lock);
}
void _rallo_sampler_atfork_release(void) {
    pthread_mutex_unlock(&sampler_epochs_lock);
}
/* The child also gets sample points of its own: with the forking thread's
 * generator it would draw the parent's gaps again, and a pre-fork server's
 * workers, which all run the same code, would all sample the same
 * allocations. Each process's figures were unbiased either way; together
 * they were not independent. The gap in progress is dropped (it is
 * memoryless) and the next one is drawn from the reseeded generator. */
void _rallo_sampler_atfork_child(void) {
    pthread_mutex_unlock(&sampler_epochs_lock);
    rallo_thread_state *thread = &_rallo_thread;
    thread->rng ^= 0x9E3779B97F4A7C15ull * ((uint64_t)getpid() | 1);
    if (thread->rng == 0)
        thread->rng = 1;
    _rallo_sampler_restart();
}

uint64_t _rallo_sampler_interval(void) {
    uint32_t mode = atomic_load_explicit(&_rallo_sampler_mode, memory_order_acquire);
    return sampler_epoch_interval[mode & RALLO_SAMPLER_EPOCH_MASK];
}

void _rallo_sampler_tracking_set(bool on) {
    if (on)
        atomic_fetch_and_explicit(&_rallo_sampler_mode, ~RALLO_SAMPLER_OFF, memory_order_release);
    else
        atomic_fetch_or_explicit(&_rallo_sampler_mode, RALLO_SAMPLER_OFF, memory_order_release);
    _rallo_sampler_restart(); /* other threads see it when their countdown runs out */
}
