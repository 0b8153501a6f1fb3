/* sampler.c - which allocations are tracked: all of them, or a byte-based
 * sample with exponentially distributed gaps (as tcmalloc and jemalloc do), each
 * sampled block weighted by the inverse of its chance of being sampled so that
 * every figure is an unbiased estimate. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "tracking.h"

#define SAMPLER_EPOCHS 256

/* The interval each epoch stands for. An epoch is never reused for another
 * interval: blocks sampled under it recompute their weight from it when freed. */
static uint64_t sampler_epoch_interval[SAMPLER_EPOCHS];
static uint32_t sampler_epochs_used = 1; /* epoch 0: every allocation */
static pthread_mutex_t sampler_epochs_lock = PTHREAD_MUTEX_INITIALIZER;
/* (generation << 8) | current epoch: one load tells a thread both the epoch in
 * force and whether its countdown was drawn for an older setting. */
_Atomic uint64_t _rallo_sampler_state = 0;
/* The inline check's floor (tracking.h): the tag of the generation in force,
 * or INT64_MAX while every allocation is tracked (nothing is skipped). */
_Atomic int64_t _rallo_sample_floor = INT64_MAX;
/* Generations are tagged modulo 2^22, keeping tag + countdown below 2^63: a
 * countdown left over from 4 million settings ago could pass for current and
 * run out its one gap under the old interval. */
#define SAMPLER_TAG_MASK ((1u << 22) - 1)
#define SAMPLER_GAP_MAX ((int64_t)1 << RALLO_SAMPLE_TAG_SHIFT)

static int64_t sampler_tag(uint32_t generation) {
    return (int64_t)(generation & SAMPLER_TAG_MASK) << RALLO_SAMPLE_TAG_SHIFT;
}

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

static int64_t sampler_draw_gap(rallo_thread_state *thread, uint64_t interval) {
    /* U in (0, 1]; -ln(U) * mean is exponential with that mean. */
    double u = (double)((sampler_next_random(thread) >> 11) + 1) * 0x1.0p-53;
    double gap = -_rallo_ln(u) * (double)interval;
    if (gap < 1.0)
        gap = 1.0;
    /* Capped below the tag bits. Only intervals near the 2^40 maximum ever
     * draw that far: the odds are e^-16 at 64 GiB, e^-2^21 at 512 KiB. */
    if (gap > (double)(SAMPLER_GAP_MAX - 1))
        return SAMPLER_GAP_MAX - 1;
    return (int64_t)gap;
}

bool _rallo_sample(size_t size, rallo_epoch *epoch) {
    rallo_thread_state *thread = &_rallo_thread;
    uint64_t state = atomic_load_explicit(&_rallo_sampler_state, memory_order_acquire);
    rallo_epoch current = (rallo_epoch)(state & 0xff);
    if (rallo_likely(current == 0)) {
        *epoch = 0;
        return true;
    }
    uint64_t interval = sampler_epoch_interval[current];
    uint32_t generation = (uint32_t)(state >> 8);
    int64_t tag = sampler_tag(generation);
    int64_t left = thread->sample_countdown - tag;
    if (rallo_unlikely(thread->sample_generation != generation)) {
        thread->sample_generation = generation;
        left = sampler_draw_gap(thread, interval);
    }
    left -= (int64_t)size;
    if (rallo_likely(left > 0)) {
        thread->sample_countdown = tag + left;
        return false;
    }
    /* The gap is memoryless, so the remainder is dropped: the chance that an
     * allocation of s bytes is sampled is exactly 1 - exp(-s/interval). */
    thread->sample_countdown = tag + sampler_draw_gap(thread, interval);
    *epoch = current;
    return true;
}

void _rallo_weight(rallo_epoch epoch, uint64_t size, uint64_t *count_fp, uint64_t *bytes) {
    if (rallo_likely(epoch == 0)) {
        *count_fp = RALLO_COUNT_ONE;
        *bytes = size;
        return;
    }
    double interval = (double)sampler_epoch_interval[epoch];
    double chance = size == 0 ? 1.0 / interval : _rallo_one_minus_exp_neg((double)size / interval);
    if (chance > 1.0)
        chance = 1.0;
    double weight = 1.0 / chance;
    /* Rounded to nearest (both are positive). */
    *count_fp = (uint64_t)(weight * (double)RALLO_COUNT_ONE + 0.5);
    *bytes = (uint64_t)(weight * (double)size + 0.5);
}

int rallo_set_sample_interval(uint64_t bytes) {
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
    uint64_t old = atomic_load_explicit(&_rallo_sampler_state, memory_order_relaxed);
    uint64_t generation = (old >> 8) + 1;
    /* Release: a thread that sees the epoch sees its interval. */
    atomic_store_explicit(&_rallo_sampler_state, (generation << 8) | epoch, memory_order_release);
    atomic_store_explicit(&_rallo_sample_floor, epoch == 0 ? INT64_MAX : sampler_tag((uint32_t)generation),
                          memory_order_release);
    pthread_mutex_unlock(&sampler_epochs_lock);
    return 0;
}

/* fork: the child must not inherit the epochs lock held by a thread it lacks. */
void _rallo_sampler_atfork_prepare(void) rallo_internal;
void _rallo_sampler_atfork_prepare(void) {
    pthread_mutex_lock(&sampler_epochs_lock);
}
void _rallo_sampler_atfork_release(void) rallo_internal;
void _rallo_sampler_atfork_release(void) {
    pthread_mutex_unlock(&sampler_epochs_lock);
}

uint64_t rallo_get_sample_interval(void) {
    uint64_t state = atomic_load_explicit(&_rallo_sampler_state, memory_order_acquire);
    return sampler_epoch_interval[state & 0xff];
}
