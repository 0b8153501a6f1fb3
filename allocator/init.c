/* init.c - start-up and fork: the per-process secret that keys block headers,
 * the configuration, the fork handlers, and tracking turned on at load when
 * RALLO_ENABLE asks. */
#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <time.h>

#include "../tracking/fork.h"
#include "alloc-internal.h"

static void secret_init(void) {
    uint64_t secret = 0;
    if (getrandom(&secret, sizeof secret, GRND_NONBLOCK) != (ssize_t)sizeof secret) {
        /* No entropy yet (early boot): not secret, but still per process. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        secret = ((uint64_t)now.tv_nsec << 32) ^ (uint64_t)now.tv_sec ^ (uint64_t)(uintptr_t)&now;
    }
    _rallo_secret = secret | 1;
}

static void fork_prepare(void) {
    _rallo_peak_atfork_prepare();
    _rallo_start_atfork_prepare();
    _rallo_sampler_atfork_prepare();
    _rallo_counters_atfork_prepare();
}
static void fork_parent(void) {
    _rallo_counters_atfork_parent();
    _rallo_sampler_atfork_release();
    _rallo_start_atfork_release();
    _rallo_peak_atfork_release();
}
static void fork_child(void) {
    _rallo_counters_atfork_child();
    _rallo_block_layout_atfork_child();
    _rallo_sampler_atfork_child();
    _rallo_start_atfork_release();
    _rallo_peak_atfork_release();
}

/* Runs after libmimalloc's constructor (we depend on it) and before main. */
__attribute__((constructor(101))) static void rallo_load(void) {
    secret_init();
    _rallo_options_load();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    if (_rallo_options.sample_bytes > 1)
        rallo_set_sample_interval(_rallo_options.sample_bytes);
    if (_rallo_options.enable_at_start)
        rallo_enable();
}
