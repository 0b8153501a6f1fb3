/* snapshot.h - a profile of this process, as addresses (snapshot.c), and the
 * names of its frames looked up in-process (symbolize-self.c, in the libraries
 * that carry libdw: librallo-symbolize.so and librallo-http.so). */
#ifndef RALLO_SNAPSHOT_H
#define RALLO_SNAPSHOT_H

#include "../../tracking/door.h"
#include "writers.h"

/* The counters, peaks and loaded modules of this process now; every location
 * keeps nlines 0. 0, or -1 with errno (the profile is then freed). */
int _rallo_profile_snapshot(rallo_profile *out) rallo_internal;

/* The same in steps, for dumps. prepare (before the dump lock) maps room for
 * the copy; take (under it) copies the per-site counters and peaks and records
 * the loaded modules: a copy of 40 bytes a site into memory that cannot fault
 * and a walk of the modules, all a dump holds its lock for, and so all fork()
 * and exit() ever wait for. finish (after it) builds the sites and their
 * locations from the copy and the stack depot. take and finish free the copy
 * and the profile when they fail, finish frees the copy always; drop frees
 * both instead of finishing. Each 0, or -1 with errno. */
typedef struct rallo_snapshot_copy {
    rallo_site_sums *sums; /* room_sites of them, mapped apart */
    uint64_t *at_peak;
    size_t room_sites;
    uint32_t nsites;
    uint64_t peak_live_bytes;
} rallo_snapshot_copy;
int _rallo_snapshot_copy_prepare(rallo_snapshot_copy *copy) rallo_internal;
int _rallo_snapshot_copy_take(rallo_profile *out, rallo_snapshot_copy *copy) rallo_internal;
int _rallo_snapshot_copy_finish(rallo_profile *out, rallo_snapshot_copy *copy) rallo_internal;
void _rallo_snapshot_copy_drop(rallo_profile *out, rallo_snapshot_copy *copy) rallo_internal;
/* Adds sizes, lifetimes, temporaries and threads to a built snapshot
 * (snapshot-lifetimes.c); 0, or -1 when rallo's own memory ran out. */
int _rallo_snapshot_lifetimes(rallo_profile *profile) rallo_internal;
/* Adds who frees each site's blocks (snapshot-free-sites.c), when
 * RALLO_FREE_SITES is on; 0, or -1 when rallo's own memory ran out. */
int _rallo_snapshot_free_sites(rallo_profile *profile) rallo_internal;

/* Names the frames of a snapshot of this process with libdw, keeping one
 * symbolizer (and its cache) until _rallo_symbolize_self_release. Only where memory has
 * headroom; otherwise the profile keeps its addresses. Exported from
 * librallo-symbolize.so under this name for librallo-report.so's dlsym. */
void _rallo_symbolize_self(rallo_profile *profile) __attribute__((visibility("default")));
/* Frees the symbolizer _rallo_symbolize_self keeps, unless one is in use
 * (then nothing happens); whether there was one to free. */
bool _rallo_symbolize_self_release(void) rallo_internal;

#endif
