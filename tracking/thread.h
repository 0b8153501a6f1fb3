/* thread.h - rallo's per-thread state (defined in state.c) and its guard: set
 * while rallo works on a thread, so that whatever the thread allocates
 * meanwhile is rallo's own and goes untracked. Thread-exit cleanup is in
 * thread_exit.c. */
#ifndef RALLO_THREAD_H
#define RALLO_THREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/compiler.h"

typedef struct rallo_thread_state {
    uint32_t guard;             /* > 0: inside rallo */
    uint32_t stack_known;       /* stack_hi and stack_lo are valid */
    uint32_t exited;            /* past this thread's exit cleanup */
    uintptr_t stack_hi;         /* one past the highest address of this thread's stack */
    uintptr_t stack_lo;         /* lowest address of this thread's stack */
    int64_t sample_countdown; /* bytes to allocate before the sampler is asked (sampler.h) */
    uint32_t countdown_epoch; /* the epoch whose interval drew sample_countdown; 0: not drawn */
    uint64_t rng;
    struct rallo_shard *shard;     /* this thread's counters, NULL until first use */
    int64_t pending_live_bytes;    /* not yet added to the process-wide live figure */
    int64_t live_flush_limit;      /* flush pending_live_bytes past this (set at each flush) */
    struct rallo_memo_entry *memo; /* this thread's memo of the depot (in its shard): memo.h */
} rallo_thread_state;
extern __thread rallo_thread_state _rallo_thread __attribute__((tls_model("initial-exec"))) rallo_internal;

static inline bool _rallo_guard_enter(void) {
    return _rallo_thread.guard++ == 0;
}
static inline void _rallo_guard_leave(void) {
    _rallo_thread.guard--;
}

/* ---- thread exit: the cleanup in counters.c, its registration in thread_exit.c ---- */
/* Called by a thread's exit cleanup: its shard goes back to the pool, and the
 * thread is marked exited (it tracks nothing more; its frees still count). */
void _rallo_thread_exit(void) rallo_internal;
/* Arranges (once per thread) for _rallo_thread_exit to run when the thread
 * exits, before any pthread key destructor (mimalloc's deletes our heap).
 * Call with the guard held: it allocates. */
void _rallo_thread_watch(void) rallo_internal;
/* Runs fn(arg) when this thread exits: glibc runs these when the thread's start
 * routine returns (for the main thread, at exit()), before any pthread key
 * destructor, so before mimalloc's own thread cleanup. Non-zero when it cannot
 * be arranged. Call with the guard held: it may allocate. */
int _rallo_at_thread_exit(void (*fn)(void *), void *arg) rallo_internal;

#endif
