/* symbolize-self.c - naming this process's own frames with libdw, in-process:
 * what an explicit rallo_dump("x.html") and the HTTP endpoint use. Periodic,
 * signal and exit dumps never come here: they write addresses and leave the
 * names to the `rallo` command (see dump.c). Lives in librallo-symbolize.so
 * and librallo-http.so, never in librallo-report.so, so that a process that
 * only dumps never maps libdw. */
#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include <mimalloc.h>

#include "snapshot.h"
#include "symbolize.h"

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
    _rallo_guard_enter(); /* libdw and libelf allocate with malloc: rallo's own memory */
    int saved_errno = errno;
    if (!symbolize_has_headroom()) {
        static _Atomic int warned_no_headroom;
        if (atomic_exchange(&warned_no_headroom, 1) == 0)
            _rallo_warn(
                "memory is nearly exhausted: dumps keep addresses only (rallo report symbolizes them)");
    } else {
        /* Built for this profile and freed after it: what libdw reads of the
         * modules' DWARF (tens of MiB for libc's) would otherwise stay in the
         * host for good, for a scrape that may never come again. The pages
         * freed are handed back to the system at once, not kept for reuse. */
        rallo_symbolizer *symbolizer = rallo_symbolizer_new(true);
        if (symbolizer != NULL) {
            rallo_symbolize(symbolizer, profile, NULL, NULL, NULL);
            rallo_symbolizer_free(symbolizer);
        }
        mi_collect(true);
    }
    errno = saved_errno;
    _rallo_guard_leave();
}

int rallo_profile_capture(rallo_profile *out) {
    if (_rallo_profile_snapshot(out) != 0)
        return -1;
    _rallo_symbolize_self(out);
    return 0;
}
