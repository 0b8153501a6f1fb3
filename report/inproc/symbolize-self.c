/* symbolize-self.c - naming this process's own frames with libdw, in-process:
 * what an explicit rallo_dump("x.html") and the HTTP endpoint use. Periodic,
 * signal and exit dumps never come here: they write addresses and leave the
 * names to the `rallo` command (see dump.c). Lives in librallo-symbolize.so
 * and librallo-http.so, never in librallo-report.so, so that a process that
 * only dumps never maps libdw. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "snapshot.h"
#include "symbolize.h"

/* One symbolizer (and its address cache), kept until released: the HTTP
 * server releases it once scrapes have stopped for a while. */
static pthread_mutex_t symbolizer_lock = PTHREAD_MUTEX_INITIALIZER;
static rallo_symbolizer *symbolizer_shared;

/* libdw does not survive running out of memory mid-lookup (it crashed the host
 * under a tight RLIMIT_AS), so symbols are only looked up with headroom left:
 * 64 MiB of address space that can be mapped now. Without it the dump keeps
 * addresses and mappings, which `rallo report` symbolizes later. */
#define SYMBOLIZE_HEADROOM ((size_t)64 << 20)

static bool symbolize_has_headroom(void) {
    void *probe = mmap(NULL, SYMBOLIZE_HEADROOM, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED)
        return false;
    munmap(probe, SYMBOLIZE_HEADROOM);
    return true;
}

void _rallo_symbolize_self(rallo_profile *profile) {
    _rallo_door->guard_enter(); /* libdw and libelf allocate with malloc: rallo's own memory */
    int saved_errno = errno;
    if (!symbolize_has_headroom()) {
        static _Atomic int warned_no_headroom;
        if (atomic_exchange(&warned_no_headroom, 1) == 0)
            _rallo_door->warn(
                "memory is nearly exhausted: dumps keep addresses only (rallo report symbolizes them)");
    } else if (pthread_mutex_trylock(&symbolizer_lock) == 0) {
        /* Report threads only ever meet here. One already busy costs a fresh
         * symbolizer, never a wait. */
        if (symbolizer_shared == NULL)
            symbolizer_shared = rallo_symbolizer_new(true);
        if (symbolizer_shared != NULL)
            rallo_symbolize(symbolizer_shared, profile, NULL, NULL, NULL);
        pthread_mutex_unlock(&symbolizer_lock);
    } else {
        rallo_symbolizer *own = rallo_symbolizer_new(true);
        if (own != NULL) {
            rallo_symbolize(own, profile, NULL, NULL, NULL);
            rallo_symbolizer_free(own);
        }
    }
    errno = saved_errno;
    _rallo_door->guard_leave();
}

bool _rallo_symbolize_self_release(void) {
    if (pthread_mutex_trylock(&symbolizer_lock) != 0)
        return false;
    bool released = symbolizer_shared != NULL;
    if (released) {
        _rallo_door->guard_enter();
        rallo_symbolizer_free(symbolizer_shared);
        symbolizer_shared = NULL;
        _rallo_door->guard_leave();
    }
    pthread_mutex_unlock(&symbolizer_lock);
    return released;
}

int rallo_profile_capture(rallo_profile *out) {
    if (_rallo_profile_snapshot(out) != 0)
        return -1;
    _rallo_symbolize_self(out);
    return 0;
}

/* A fork while another thread was symbolizing (its lock held): that thread is
 * gone, and the shared symbolizer may be half updated. The child then starts
 * without one (that copy is left alone: freeing it could meet the half-done
 * state). A symbolizer at rest is kept. */
static void symbolize_self_atfork_child(void) {
    if (pthread_mutex_trylock(&symbolizer_lock) == 0) {
        pthread_mutex_unlock(&symbolizer_lock);
        return;
    }
    pthread_mutex_init(&symbolizer_lock, NULL);
    symbolizer_shared = NULL;
}

__attribute__((constructor)) static void symbolize_self_load(void) {
    /* Not pthread_atfork: this runs inside dlopen (tracking/fork_forward.c). */
    if (_rallo_door_open())
        _rallo_door->fork_handlers_add(NULL, NULL, symbolize_self_atfork_child);
}
