/* peak.c - the peak-consumers view: which sites held the memory when the
 * process-wide live bytes peaked. The thread whose flush raises the peak by 1%
 * over the last copy takes a copy of every site's counters (bounded work,
 * rate-limited to one copy per 1% of growth: about 70 copies per doubling).
 * A busy flag, never a lock: a thread that finds a copy under way (or a reader
 * copying it out) skips, and the next new peak tries again, so the copy held
 * stands within ~1% (plus the live figure's batching) of the true peak. */
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include <mimalloc.h>

#include "fork.h"
#include "read_side.h"
#include "tracking.h"

static _Atomic int peak_busy = 0;
static rallo_site_sums *peak_sums = NULL; /* site i's counters at the last copy */
static uint32_t peak_capacity = 0, peak_sites = 0;
static uint64_t peak_copied_at = 0;    /* the live bytes the copy was taken at */
static _Atomic uint64_t peak_next = 0; /* the live bytes that call for the next copy */

static bool peak_try_lock(void) {
    return atomic_exchange_explicit(&peak_busy, 1, memory_order_acquire) == 0;
}
static void peak_unlock(void) {
    atomic_store_explicit(&peak_busy, 0, memory_order_release);
}

void _rallo_peak_note(uint64_t live_bytes) {
    if (live_bytes < atomic_load_explicit(&peak_next, memory_order_relaxed) || !peak_try_lock())
        return;
    uint32_t sites = _rallo_site_count();
    if (sites > peak_capacity) {
        /* mimalloc directly (never the entry points); grown ahead so growth is rare. */
        uint32_t capacity = sites + sites / 2 + 64;
        rallo_site_sums *grown = mi_malloc((size_t)capacity * sizeof *grown);
        if (grown == NULL) {
            peak_unlock();
            return;
        }
        mi_free(peak_sums);
        peak_sums = grown;
        peak_capacity = capacity;
    }
    peak_sites = _rallo_sites_snapshot(peak_sums, sites);
    peak_copied_at = live_bytes;
    atomic_store_explicit(&peak_next, live_bytes + live_bytes / 100 + 1, memory_order_relaxed);
    peak_unlock();
}

/* fork: a copy in progress belongs to a thread the child will not have, and
 * would leave the copy marked busy there for good (every dump of the child
 * then waits forever in _rallo_peak_sites). fork() waits for it to end; taken
 * before the counters' lock, which a copy takes while busy. */
void _rallo_peak_atfork_prepare(void) {
    while (!peak_try_lock())
        sched_yield();
}
void _rallo_peak_atfork_release(void) {
    peak_unlock();
}

uint32_t _rallo_peak_sites(uint64_t *out, uint32_t n, uint64_t *at_peak) {
    memset(out, 0, (size_t)n * sizeof *out);
    /* The reader is a report thread: it may wait for an allocating thread's
     * copy to finish; allocating threads never wait for it. */
    while (!peak_try_lock())
        sched_yield();
    uint32_t sites = peak_sites < n ? peak_sites : n;
    for (uint32_t i = 0; i < sites; i++)
        out[i] = peak_sums[i].alloc_bytes > peak_sums[i].free_bytes
                     ? peak_sums[i].alloc_bytes - peak_sums[i].free_bytes
                     : 0;
    *at_peak = peak_copied_at;
    peak_unlock();
    return sites;
}
