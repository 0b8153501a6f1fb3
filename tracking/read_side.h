/* read_side.h - what readers may see of the counters (counters.c, peak.c):
 * every shard summed per site, the figures every reader shows, and the
 * per-site live bytes at the peak. The report libraries reach these only
 * through the door (door.h); the public API (api.c) calls them directly. */
#ifndef RALLO_READ_SIDE_H
#define RALLO_READ_SIDE_H

#include <stdint.h>

#include "internal/compiler.h"
#include "rallo.h"

/* Sums every shard for one site. The counts are weights (counters.h). */
typedef struct rallo_site_sums {
    uint64_t alloc_weight, alloc_bytes, free_weight, free_bytes;
} rallo_site_sums;
void _rallo_site_sums(uint32_t site_id, rallo_site_sums *out) rallo_internal;
/* Copies every site's sums into out[0..n) (out[i] is site i); returns how many
 * sites were copied. The caller owns `out`. */
uint32_t _rallo_sites_snapshot(rallo_site_sums *out, uint32_t n) rallo_internal;
uint64_t _rallo_peak_live_bytes(void) rallo_internal;
/* Copies live bytes per site at the recorded peak into out[0..n) (out[i] is
 * site i), zeroing the rest; *at_peak: the process-wide live bytes then.
 * Returns how many sites the peak copy covers (0: none taken yet). */
uint32_t _rallo_peak_sites(uint64_t *out, uint32_t n, uint64_t *at_peak) rallo_internal;

/* The public API's read side (api/rallo.c delegates): every
 * site that counted anything, its figures; the totals; the untracked
 * reasons. */
int _rallo_sites_each(rallo_site_fn fn, void *arg) rallo_internal;
void _rallo_totals(rallo_totals *out) rallo_internal;
void _rallo_untracked_counts(rallo_untracked *out) rallo_internal;

/* A weight (1 << 16 for one object) rounded to a count of objects. */
static inline uint64_t _rallo_count_of_weight(uint64_t weight) {
    return (weight + (1ull << 15)) >> 16;
}

/* A site's figures as every reader shows them, from its summed shards. The
 * shards are read one after another while threads go on, so a free may be
 * seen before its alloc: a live figure never goes negative. */
typedef struct rallo_site_figures {
    uint64_t alloc_count, alloc_bytes, free_count, free_bytes, live_count, live_bytes;
} rallo_site_figures;
static inline rallo_site_figures _rallo_site_figures(const rallo_site_sums *sums) {
    rallo_site_figures figures = {
        .alloc_count = _rallo_count_of_weight(sums->alloc_weight),
        .alloc_bytes = sums->alloc_bytes,
        .free_count = _rallo_count_of_weight(sums->free_weight),
        .free_bytes = sums->free_bytes,
        .live_count = sums->alloc_weight > sums->free_weight
                          ? _rallo_count_of_weight(sums->alloc_weight - sums->free_weight)
                          : 0,
        .live_bytes = sums->alloc_bytes > sums->free_bytes ? sums->alloc_bytes - sums->free_bytes : 0,
    };
    return figures;
}

/* Adds the six figures of `from` to `to`: any two of the structs that carry
 * them under these names (rallo_site_figures, rallo_site and rallo_totals of
 * rallo.h, rallo_prof_site of report/profile.h). A copy is an add into a
 * zeroed struct. The one place that lists the six, so that no reader's copy or
 * sum can miss one. */
#define RALLO_SITE_FIGURES_ADD(to, from)                                                                     \
    do {                                                                                                     \
        (to)->alloc_count += (from)->alloc_count;                                                            \
        (to)->alloc_bytes += (from)->alloc_bytes;                                                            \
        (to)->free_count += (from)->free_count;                                                              \
        (to)->free_bytes += (from)->free_bytes;                                                              \
        (to)->live_count += (from)->live_count;                                                              \
        (to)->live_bytes += (from)->live_bytes;                                                              \
    } while (0)

#endif
