/* fork_forward.c - the report libraries' fork handlers, run by librallo.
 *
 * A report library is loaded with dlopen() while the program's other threads
 * run. glibc's fork() does not wait for a dlopen() in progress, and a child
 * forked in the middle of one inherits the loader's half-updated list: its
 * next dlopen() (ours, or the program's own) dies in an ld.so assertion. So
 * fork() must wait for rallo's loads (report/loader/loader.c holds its load
 * lock across fork for that), and a library being loaded must not call
 * pthread_atfork(): glibc holds its handler lock while fork's handlers run,
 * so a constructor registering one would wait for a fork that waits for it.
 * The report libraries register here instead, through the door; loader.c's
 * own pthread_atfork handlers, registered at start-up, run these. */
#include <stdatomic.h>

#include "fork.h"

enum { FORK_FORWARD_MAX = 8 };

typedef struct fork_handlers {
    void (*prepare)(void);
    void (*parent)(void);
    void (*child)(void);
} fork_handlers;

static fork_handlers forwarded[FORK_FORWARD_MAX];
/* Entries published so far; an entry is written before the count that
 * covers it. */
static _Atomic unsigned forwarded_count;
/* How many prepare ran at the fork in progress: parent and child run as many. */
static unsigned forwarded_prepared;

int _rallo_fork_forward_add(void (*prepare)(void), void (*parent)(void), void (*child)(void)) {
    unsigned slot = atomic_load_explicit(&forwarded_count, memory_order_relaxed);
    /* Registrations come from library constructors, one dlopen at a time
     * (each under its own load lock): no two race for a slot. */
    if (slot >= FORK_FORWARD_MAX)
        return -1;
    forwarded[slot] = (fork_handlers){prepare, parent, child};
    atomic_store_explicit(&forwarded_count, slot + 1, memory_order_release);
    return 0;
}

/* As glibc runs pthread_atfork handlers: prepare last-registered first,
 * parent and child first-registered first. */
void _rallo_fork_forward_prepare(void) {
    forwarded_prepared = atomic_load_explicit(&forwarded_count, memory_order_acquire);
    for (unsigned i = forwarded_prepared; i-- > 0;)
        if (forwarded[i].prepare != NULL)
            forwarded[i].prepare();
}

void _rallo_fork_forward_parent(void) {
    for (unsigned i = 0; i < forwarded_prepared; i++)
        if (forwarded[i].parent != NULL)
            forwarded[i].parent();
}

void _rallo_fork_forward_child(void) {
    for (unsigned i = 0; i < forwarded_prepared; i++)
        if (forwarded[i].child != NULL)
            forwarded[i].child();
}
