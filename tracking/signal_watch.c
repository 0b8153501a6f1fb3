/* signal_watch.c - the signals rallo takes (RALLO_TOGGLE_SIGNAL,
 * RALLO_DUMP_SIGNAL) against the program's own handlers. Servers install
 * theirs in main() (nginx reopens its logs on USR1), after rallo's, and
 * rallo's toggle then did nothing without a word. librallo interposes
 * sigaction() and the signal() family, as it interposes malloc: every call
 * goes through to libc unchanged, so the program's handler is what it asked
 * for, and when it replaces one of rallo's, rallo says so once. */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tracking.h"

#define MAX_TAKEN 4

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef __sighandler_t (*signal_fn)(int, __sighandler_t);
int __sigaction(int signo, const struct sigaction *action, struct sigaction *previous);

/* The signals rallo took: filled at load by _rallo_signal_take, before the
 * program's main(); read (lock-free) by every interposed call. */
typedef struct taken_signal {
    _Atomic int signo;          /* 0: free slot */
    void (*handler)(int);       /* rallo's */
    const char *variable;       /* the RALLO_* variable that asked for it */
    _Atomic bool replaced_said; /* the one line was said */
    pid_t taker;                /* the process that took it */
} taken_signal;
static taken_signal taken[MAX_TAKEN];
static _Atomic int taken_count;

/* libc's functions, found at load: the interposed calls may run in a signal
 * handler, where dlsym may not. Before the constructor has run (another
 * library's constructor calling signal()) they are looked up on first use. */
enum {
    REAL_SIGACTION,
    REAL_SIGNAL,
    REAL_BSD_SIGNAL,
    REAL_SSIGNAL,
    REAL_SYSV_SIGNAL,
    REAL___SYSV_SIGNAL,
    REAL_SIGSET,
    REAL_COUNT
};
static const char *const real_names[REAL_COUNT] = {"sigaction",   "signal",        "bsd_signal", "ssignal",
                                                   "sysv_signal", "__sysv_signal", "sigset"};
static _Atomic(void *) real_fns[REAL_COUNT];

static void *real_fn(int which) {
    void *fn = atomic_load_explicit(&real_fns[which], memory_order_acquire);
    if (rallo_unlikely(fn == NULL)) {
        _rallo_guard_enter(); /* dlsym may allocate: rallo's own memory */
        fn = dlsym(RTLD_NEXT, real_names[which]);
        _rallo_guard_leave();
        atomic_store_explicit(&real_fns[which], fn, memory_order_release);
    }
    return fn;
}

static sigaction_fn real_sigaction(void) {
    return (sigaction_fn)real_fn(REAL_SIGACTION);
}

__attribute__((constructor(102))) static void signal_watch_load(void) {
    for (int i = 0; i < REAL_COUNT; i++)
        (void)real_fn(i);
}

/* "USR1", or "RTMIN+5" for a real-time signal. */
static void signal_name(int signo, char *out, size_t size) {
    const char *abbrev = signo >= SIGRTMIN ? NULL : sigabbrev_np(signo);
    if (abbrev != NULL)
        snprintf(out, size, "SIG%s", abbrev);
    else
        snprintf(out, size, "SIGRTMIN+%d", signo - SIGRTMIN);
}

/* Stands for an SA_SIGINFO handler, which is never rallo's. */
static void another_handler(int signo) {
    (void)signo;
}

/* A real-time signal to suggest instead of signo. */
static const char *suggestion(int signo) {
    return signo == SIGRTMIN + 5 ? "RTMIN+6" : "RTMIN+5";
}

/* The program set signo's disposition to handler: a handler of rallo's that
 * it replaces is said once (the program's stays: it asked for it). */
// cppcheck-suppress constParameter ; a function pointer, compared only
static void signal_changed(int signo, void (*handler)(int)) {
    for (int i = 0; i < MAX_TAKEN; i++) {
        taken_signal *t = &taken[i];
        if (atomic_load_explicit(&t->signo, memory_order_acquire) != signo || handler == t->handler)
            continue;
        /* A child between fork (or vfork, whose memory is its parent's) and
         * exec sets every handler back to the default: not worth a line. */
        if ((handler == SIG_DFL || handler == SIG_IGN) && getpid() != t->taker)
            continue;
        if (atomic_exchange(&t->replaced_said, true))
            continue;
        char name[32];
        signal_name(signo, name, sizeof name);
        const char *what = handler == SIG_DFL   ? "set back to its default action"
                           : handler == SIG_IGN ? "set to be ignored"
                                                : "given a handler of the program's own";
        _rallo_warn(
            "%s, which %s gave rallo, was %s: the program's choice stays and %s does nothing now; use a "
            "real-time signal the program leaves alone, e.g. %s=%s",
            name, t->variable, what, t->variable, t->variable, suggestion(signo));
    }
}

static bool any_taken(void) {
    return atomic_load_explicit(&taken_count, memory_order_relaxed) != 0;
}

int _rallo_signal_take(int signo, void (*handler)(int), const char *variable) {
    sigaction_fn act_fn = real_sigaction();
    struct sigaction action, previous;
    char name[32];
    signal_name(signo, name, sizeof name);
    if (act_fn == NULL || act_fn(signo, NULL, &previous) != 0) {
        _rallo_warn("ignoring %s: cannot install a handler for %s", variable, name);
        return -1;
    }
    /* Somebody's handler already (a library's constructor): rallo leaves it. */
    if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler != handler) {
        _rallo_warn(
            "ignoring %s: the program already handles %s; use a real-time signal it leaves alone, e.g. "
            "%s=%s",
            variable, name, variable, suggestion(signo));
        return -1;
    }
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (act_fn(signo, &action, NULL) != 0) {
        _rallo_warn("ignoring %s: cannot install a handler for %s", variable, name);
        return -1;
    }
    int slot = atomic_fetch_add(&taken_count, 1);
    if (slot < MAX_TAKEN) { /* filled, then published by its signal number */
        taken[slot].handler = handler;
        taken[slot].variable = variable;
        taken[slot].taker = getpid();
        atomic_store_explicit(&taken[slot].signo, signo, memory_order_release);
    }
    return 0;
}

/* ---- the interposed calls: libc's, then a look ---- */

rallo_export int sigaction(int signo, const struct sigaction *action, struct sigaction *previous) {
    sigaction_fn fn = real_sigaction();
    if (fn == NULL) {
        errno = ENOSYS;
        return -1;
    }
    int result = fn(signo, action, previous);
    if (result == 0 && action != NULL && any_taken())
        signal_changed(signo, (action->sa_flags & SA_SIGINFO) != 0 ? another_handler : action->sa_handler);
    return result;
}

rallo_export int __sigaction(int signo, const struct sigaction *action, struct sigaction *previous) {
    return sigaction(signo, action, previous);
}

/* signal(), bsd_signal(), ssignal(), sysv_signal(), sigset(): each forwards
 * to its own libc function (their flags differ: BSD restart, System V reset,
 * siginterrupt's table), looked up by name the first time. */
static __sighandler_t forward_signal(int which, int signo, __sighandler_t handler) {
    signal_fn fn = (signal_fn)real_fn(which);
    if (fn == NULL) {
        errno = ENOSYS;
        return SIG_ERR;
    }
    __sighandler_t previous = fn(signo, handler);
    if (previous != SIG_ERR && handler != SIG_ERR && handler != SIG_HOLD && any_taken())
        signal_changed(signo, handler);
    return previous;
}

#define FORWARD_SIGNAL(name, which)                                                                          \
    rallo_export __sighandler_t name(int signo, __sighandler_t handler) {                                    \
        return forward_signal(which, signo, handler);                                                        \
    }

/* glibc declares bsd_signal only for old X/Open levels, not under
 * _GNU_SOURCE, yet exports it: programs built elsewhere still call it. */
__sighandler_t bsd_signal(int signo, __sighandler_t handler);

FORWARD_SIGNAL(signal, REAL_SIGNAL)
FORWARD_SIGNAL(bsd_signal, REAL_BSD_SIGNAL)
FORWARD_SIGNAL(ssignal, REAL_SSIGNAL)
FORWARD_SIGNAL(sysv_signal, REAL_SYSV_SIGNAL)
FORWARD_SIGNAL(__sysv_signal, REAL___SYSV_SIGNAL)
FORWARD_SIGNAL(sigset, REAL_SIGSET)
