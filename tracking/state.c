/* state.c - tracking on/off and the per-thread state. */
#include <stdatomic.h>

#include "sampler.h"

_Atomic int _rallo_tracking_on = 0;
/* A new thread's first allocation asks the sampler (sampler.h). */
__thread rallo_thread_state _rallo_thread
    __attribute__((tls_model("initial-exec"))) = {.sample_countdown = RALLO_COUNTDOWN_ASK};

void _rallo_tracking_set(bool on) {
    atomic_store_explicit(&_rallo_tracking_on, on ? 1 : 0, memory_order_release);
    _rallo_sampler_tracking_set(on);
}

bool _rallo_tracking_is_on(void) {
    return atomic_load_explicit(&_rallo_tracking_on, memory_order_relaxed) != 0;
}
