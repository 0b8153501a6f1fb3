/* arena.c - the tracked arena: one exclusive mimalloc arena reserved on first
 * enable, and a heap in it for each thread, created lazily and never deleted
 * (deleting one lets mimalloc hand its pages to plain allocations). A thread
 * past its exit cleanup, ours or mimalloc's, allocates untracked. Also
 * mi_thread_done(), so that a program calling it cannot make rallo use a
 * heap mimalloc has deleted. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>

#include "alloc-internal.h"

_Atomic uintptr_t _rallo_arena_start = 0;
_Atomic uintptr_t _rallo_arena_size = 0;

static mi_arena_id_t arena_id;
/* A failure is told once a process: a program retrying rallo_enable() gets
 * -1 and ENOMEM every time, and one line on stderr. Written under start.c's
 * lock, as the reservation is. */
static bool arena_failure_told;
/* A thread stops using its arena heap when it is marked exited
 * (_rallo_thread.exited), which happens before mimalloc's own thread cleanup
 * deletes the heap:
 * - at thread exit, rallo's thread-exit watch (tracking/thread_exit.c) runs as a C++-style
 *   thread_local destructor, and glibc runs those before any pthread key
 *   destructor, mimalloc's included (and for the main thread, at exit()
 *   before atexit handlers and mimalloc's process cleanup);
 * - a program may call mi_thread_done() itself: rallo defines it, marks the
 *   thread exited, then calls mimalloc's.
 * Asking mimalloc whether its default heap changed does not work: after its
 * cleanup the next allocation re-creates the thread's heap from a cache, at
 * the same address (tests/tracking/test_thread_exit.c). */
static __thread mi_heap_t *arena_thread_heap __attribute__((tls_model("initial-exec")));

static rallo_noinline mi_heap_t *arena_heap_slow(void) {
    if (_rallo_thread.exited) {
        _rallo_count_untracked(RALLO_UNTRACKED_THREAD_EXITING);
        return NULL;
    }
    if (atomic_load_explicit(&_rallo_arena_size, memory_order_acquire) == 0) {
        _rallo_count_untracked(RALLO_UNTRACKED_NO_ARENA);
        return NULL;
    }
    _rallo_guard_enter();
    _rallo_thread_watch();
    mi_heap_t *heap = mi_heap_new_in_arena(arena_id);
    arena_thread_heap = heap;
    _rallo_guard_leave();
    if (heap == NULL)
        _rallo_count_untracked(RALLO_UNTRACKED_ARENA_FULL);
    return heap;
}

mi_heap_t *_rallo_arena_heap(void) {
    mi_heap_t *heap = arena_thread_heap;
    if (rallo_likely(heap != NULL) && rallo_likely(!_rallo_thread.exited))
        return heap;
    return arena_heap_slow();
}

mi_heap_t *_rallo_arena_heap_if_any(void) {
    return _rallo_thread.exited ? NULL : arena_thread_heap;
}

rallo_export void mi_thread_done(void) {
    static void (*mimalloc_thread_done)(void);
    _rallo_guard_enter();
    _rallo_thread_exit();
    if (mimalloc_thread_done == NULL)
        mimalloc_thread_done = (void (*)(void))dlsym(RTLD_NEXT, "mi_thread_done");
    _rallo_guard_leave();
    if (mimalloc_thread_done != NULL)
        mimalloc_thread_done();
}

/* The smallest arena tried when its size was not given: below it, tracking
 * would fill it before it told anything. */
#define ARENA_FLOOR ((size_t)64 << 20)

/* The arena: the size given (RALLO_ARENA_SIZE), or the default halved until
 * one fits (valgrind refuses large mappings) down to ARENA_FLOOR. Under an
 * address-space limit (ulimit -v) the reservation counts against what the
 * program may map, touched or not, and tracked blocks of 1 MiB or so fill
 * only two thirds of it (mimalloc rounds their pages up): the default starts
 * at a sixteenth of the limit. The size taken, or 0. */
static size_t arena_reserve_fitting(mi_arena_id_t *id) {
    size_t bytes = (size_t)_rallo_options.arena_bytes;
    size_t floor = _rallo_options.arena_bytes_given ? bytes : ARENA_FLOOR;
    struct rlimit limit;
    if (!_rallo_options.arena_bytes_given && getrlimit(RLIMIT_AS, &limit) == 0 &&
        limit.rlim_cur != RLIM_INFINITY)
        while (bytes > floor && bytes > limit.rlim_cur / 16)
            bytes /= 2;
    for (; bytes >= floor; bytes /= 2)
        if (mi_reserve_os_memory_ex(bytes, false, false, true, id) == 0)
            return bytes;
    return 0;
}

static const char *size_unit(size_t bytes, unsigned long long *value) {
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    size_t unit = 0;
    while (unit < 4 && bytes >= 1024 && bytes % 1024 == 0) {
        bytes /= 1024;
        unit++;
    }
    *value = (unsigned long long)bytes;
    return units[unit];
}

static void arena_tell(size_t taken) {
    unsigned long long wanted_value, taken_value;
    const char *wanted_unit = size_unit((size_t)_rallo_options.arena_bytes, &wanted_value);
    if (taken != 0) {
        const char *taken_unit = size_unit(taken, &taken_value);
        _rallo_warn("tracked arena of %llu %s, not %llu %s (address space limited: RLIMIT_AS, or valgrind)",
                    taken_value, taken_unit, wanted_value, wanted_unit);
    } else if (_rallo_options.arena_bytes_given) {
        _rallo_warn(
            "cannot reserve the tracked arena (RALLO_ARENA_SIZE, %llu %s of address space; RLIMIT_AS? "
            "set it lower): tracking stays off",
            wanted_value, wanted_unit);
    } else {
        _rallo_warn("cannot reserve the tracked arena (%llu %s of address space down to 64 MiB; RLIMIT_AS?): "
                    "tracking stays off",
                    wanted_value, wanted_unit);
    }
}

int _rallo_arena_reserve(void) {
    if (atomic_load_explicit(&_rallo_arena_size, memory_order_acquire) != 0)
        return 0;
    mi_arena_id_t id = 0;
    size_t taken = arena_reserve_fitting(&id);
    if (taken == 0) {
        if (!arena_failure_told)
            arena_tell(0);
        arena_failure_told = true;
        return -1;
    }
    if (taken != (size_t)_rallo_options.arena_bytes)
        arena_tell(taken);
    size_t size = 0;
    void *start = mi_arena_area(id, &size);
    arena_id = id;
    atomic_store_explicit(&_rallo_arena_start, (uintptr_t)start, memory_order_relaxed);
    atomic_store_explicit(&_rallo_arena_size, (uintptr_t)size, memory_order_release);
    return 0;
}
