/* thread_exit.c - registration of rallo's per-thread exit cleanup
 * (_rallo_thread_exit, counters.c): once per thread, on glibc's list of C++
 * thread_local destructors, which runs before any pthread key destructor and
 * so before mimalloc deletes the thread's heap. */
#include <stdbool.h>
#include <stddef.h>

#include "thread.h"

/* glibc's registration of C++ thread_local destructors (the list
 * _rallo_at_thread_exit names in thread.h). */
extern int __cxa_thread_atexit_impl(void (*fn)(void *), void *arg, void *dso);
extern void *__dso_handle;

int _rallo_at_thread_exit(void (*fn)(void *), void *arg) {
    return __cxa_thread_atexit_impl(fn, arg, &__dso_handle);
}

static __thread bool thread_watched __attribute__((tls_model("initial-exec")));

static void thread_exit_run(void *arg) {
    (void)arg;
    _rallo_thread_exit();
}

void _rallo_thread_watch(void) {
    if (thread_watched || _rallo_thread.exited)
        return;
    thread_watched = true;
    _rallo_at_thread_exit(thread_exit_run, NULL);
}
