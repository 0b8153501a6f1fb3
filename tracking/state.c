/* state.c - tracking on/off and the per-thread state. */
#include <stdatomic.h>

#include "tracking.h"

_Atomic int _rallo_tracking_on = 0;
__thread rallo_thread_state _rallo_thread __attribute__((tls_model("initial-exec")));

void _rallo_tracking_set(bool on) {
    atomic_store_explicit(&_rallo_tracking_on, on ? 1 : 0, memory_order_release);
}

bool _rallo_tracking_is_on(void) {
    return atomic_load_explicit(&_rallo_tracking_on, memory_order_relaxed) != 0;
}
