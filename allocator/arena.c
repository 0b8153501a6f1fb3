/* arena.c - the tracked arena: one exclusive mimalloc arena reserved on first
 * enable, and a heap in it for each thread, created lazily and never deleted
 * (deleting one lets mimalloc hand its pages to plain allocations). A thread
 * past its exit cleanup, ours or mimalloc's, allocates untracked. */
#include <errno.h>
#include <pthread.h>

#include "alloc-internal.h"

_Atomic uintptr_t _rallo_arena_start = 0;
_Atomic uintptr_t _rallo_arena_size = 0;

static mi_arena_id_t arena_id;
/* Guards reserving the arena (rallo_enable only). */
static pthread_mutex_t arena_reserve_lock = PTHREAD_MUTEX_INITIALIZER;
/* Our own key: its destructor marks the thread as finished. */
static pthread_key_t arena_thread_key;
static bool arena_thread_key_made = false;

typedef struct arena_thread {
    mi_heap_t *heap;
    /* mimalloc's default heap when `heap` was made: once mimalloc has run its
     * own thread cleanup the default heap changes, and `heap` is gone. */
    mi_heap_t *default_heap;
    bool finished;
} arena_thread;

static __thread arena_thread arena_this_thread __attribute__((tls_model("initial-exec")));

static void arena_thread_done(void *value) {
    (void)value;
    arena_this_thread.finished = true;
    _rallo_thread_exit();
}

void _rallo_arena_key_create(void) rallo_internal;
void _rallo_arena_key_create(void) {
    if (!arena_thread_key_made && pthread_key_create(&arena_thread_key, arena_thread_done) == 0)
        arena_thread_key_made = true;
}

static rallo_noinline mi_heap_t *arena_heap_slow(void) {
    arena_thread *thread = &arena_this_thread;
    if (thread->finished || thread->heap != NULL) {
        /* heap != NULL here means mimalloc's cleanup ran and deleted it. */
        thread->finished = true;
        thread->heap = NULL;
        _rallo_count_untracked(RALLO_UNTRACKED_THREAD_EXITING);
        return NULL;
    }
    if (atomic_load_explicit(&_rallo_arena_size, memory_order_acquire) == 0) {
        _rallo_count_untracked(RALLO_UNTRACKED_NO_ARENA);
        return NULL;
    }
    _rallo_guard_enter();
    mi_heap_t *heap = mi_heap_new_in_arena(arena_id);
    if (heap != NULL) {
        thread->heap = heap;
        thread->default_heap = mi_heap_get_default();
        if (arena_thread_key_made)
            pthread_setspecific(arena_thread_key, thread);
    }
    _rallo_guard_leave();
    if (heap == NULL)
        _rallo_count_untracked(RALLO_UNTRACKED_ARENA_FULL);
    return heap;
}

mi_heap_t *_rallo_arena_heap(void) {
    arena_thread *thread = &arena_this_thread;
    if (rallo_likely(thread->heap != NULL) && rallo_likely(mi_heap_get_default() == thread->default_heap))
        return thread->heap;
    return arena_heap_slow();
}

mi_heap_t *_rallo_arena_heap_if_any(void) rallo_internal;
mi_heap_t *_rallo_arena_heap_if_any(void) {
    arena_thread *thread = &arena_this_thread;
    if (thread->heap != NULL && !thread->finished && mi_heap_get_default() == thread->default_heap)
        return thread->heap;
    return NULL;
}

int _rallo_arena_reserve(void) {
    if (atomic_load_explicit(&_rallo_arena_size, memory_order_acquire) != 0)
        return 0;
    pthread_mutex_lock(&arena_reserve_lock);
    int result = 0;
    if (atomic_load_explicit(&_rallo_arena_size, memory_order_acquire) == 0) {
        _rallo_unwind_init();
        mi_arena_id_t id = 0;
        size_t bytes = (size_t)_rallo_options.arena_bytes;
        if (!_rallo_depot_init()) {
            _rallo_warn("cannot reserve the stack depot (%llu bytes): tracking stays off",
                        (unsigned long long)_rallo_options.depot_bytes);
            result = -1;
        } else if (mi_reserve_os_memory_ex(bytes, false, false, true, &id) != 0) {
            _rallo_warn("cannot reserve the tracked arena (%zu bytes of address space; RLIMIT_AS? set "
                        "RALLO_ARENA_SIZE lower): tracking stays off",
                        bytes);
            result = -1;
        } else {
            size_t size = 0;
            void *start = mi_arena_area(id, &size);
            arena_id = id;
            atomic_store_explicit(&_rallo_arena_start, (uintptr_t)start, memory_order_relaxed);
            atomic_store_explicit(&_rallo_arena_size, (uintptr_t)size, memory_order_release);
        }
    }
    pthread_mutex_unlock(&arena_reserve_lock);
    if (result != 0) {
        _rallo_count_untracked(RALLO_UNTRACKED_NO_ARENA);
        errno = ENOMEM;
    }
    return result;
}

void _rallo_arena_atfork_prepare(void) rallo_internal;
void _rallo_arena_atfork_prepare(void) {
    pthread_mutex_lock(&arena_reserve_lock);
}
void _rallo_arena_atfork_release(void) rallo_internal;
void _rallo_arena_atfork_release(void) {
    pthread_mutex_unlock(&arena_reserve_lock);
}
