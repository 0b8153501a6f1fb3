/* start.c - tracking's start, once a process, on the first rallo_enable():
 * librallo's own code found (the unwinder skips it), the stack depot
 * reserved (and RALLO_FREE_SITES' tables), then the tracked arena. The arena is reserved last because its
 * size is what free() checks: once it is there, blocks may be tracked. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "../tracking/free_sites.h"
#include "../tracking/unwind/unwind.h"
#include "alloc-internal.h"

/* Guards the start and the reservations it makes. */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic bool started;
/* Told once a process, like the arena's failure (arena.c). */
static bool depot_failure_told;

static int start_locked(void) {
    _rallo_unwind_init();
    if (!_rallo_depot_init()) {
        if (!depot_failure_told)
            _rallo_warn("cannot reserve the stack depot (%llu bytes): tracking stays off",
                        (unsigned long long)_rallo_options.depot_bytes);
        depot_failure_told = true;
        return -1;
    }
    _rallo_fs_reserve(); /* RALLO_FREE_SITES' tables; on failure it is turned off */
    if (_rallo_arena_reserve() != 0) {
        /* Give the depot's reservation back: under an address-space limit it
         * is the program's. */
        _rallo_depot_release();
        return -1;
    }
    atomic_store_explicit(&started, true, memory_order_release);
    return 0;
}

int _rallo_start(void) {
    if (rallo_likely(atomic_load_explicit(&started, memory_order_acquire)))
        return 0;
    pthread_mutex_lock(&start_lock);
    int result = atomic_load_explicit(&started, memory_order_relaxed) ? 0 : start_locked();
    pthread_mutex_unlock(&start_lock);
    if (result != 0) {
        _rallo_count_untracked(RALLO_UNTRACKED_NO_ARENA);
        errno = ENOMEM;
    }
    return result;
}

void _rallo_start_atfork_prepare(void) {
    pthread_mutex_lock(&start_lock);
}
void _rallo_start_atfork_release(void) {
    pthread_mutex_unlock(&start_lock);
}
