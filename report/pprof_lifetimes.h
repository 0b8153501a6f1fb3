/* pprof_lifetimes.h - how sizes, lifetimes, temporaries and threads
 * (RALLO_LIFETIMES) travel in a pprof profile, so that the dumps the `rallo`
 * command converts, and `rallo report` of a saved one, carry them. Only
 * rallo_write_pprof() of a profile that has them writes them (dumps,
 * rallo_dump(..., "pprof")): the HTTP endpoint's heap and allocs views, and
 * every profile without them, are byte for byte what they were. All of it is
 * plain pprof, which `go tool pprof` reads:
 *  - two sample types after Go's four: temp_objects/count, temp_space/bytes
 *    (`go tool pprof -sample_index=temp_space`: the temporary allocations);
 *  - per sample, numeric labels (unit "count") "size_log2.K",
 *    "lifetime_log2_ns.K" and "live_age_log2_ns.K" for each bucket K that is
 *    not 0; and for each thread that allocates at the site, in order, one
 *    each of "thread" (its tid), "thread_name" (a string), "thread_index"
 *    (its rallo.thread comment), "thread_alloc_count", "thread_alloc_bytes",
 *    "thread_live_count", "thread_live_bytes": the k-th of each key belong
 *    together (Go's profile package keeps a repeated key's values in order);
 *  - comments: "rallo.lifetimes temp_count=N temp_bytes=B size_log2=C0,C1,..."
 *    (the process's; its presence says the profile carries lifetimes), then
 *    one a thread, in index order: "rallo.thread index=I tid=T exited=0|1
 *    alloc_count=N alloc_bytes=B live_count=N live_bytes=B name=NAME", the
 *    name running to the end.
 * The reader (read_pprof_lifetimes.c) takes these from a file it does not
 * trust: every bucket, index, count and sum is checked. */
#ifndef RALLO_PPROF_LIFETIMES_H
#define RALLO_PPROF_LIFETIMES_H

#include <stdbool.h>

#include "profile.h"
#include "profile.pb-c.h"

#define RALLO_PPROF_TEMP_OBJECTS "temp_objects"
#define RALLO_PPROF_TEMP_SPACE "temp_space"
#define RALLO_PPROF_LIFETIMES_COMMENT "rallo.lifetimes "
#define RALLO_PPROF_THREAD_COMMENT "rallo.thread "

/* Whether a site becomes a sample: one with nothing to show is left out. */
static inline bool rallo_pprof_site_shown(const rallo_prof_site *site) {
    return site->alloc_count != 0 || site->alloc_bytes != 0 || site->live_count != 0 || site->live_bytes != 0;
}

/* Adds the profile's lifetimes (which it has) to pb as write_pprof.c streams
 * it: begin, before the sample types are packed, adds the two sample types,
 * the comments and the strings they need; each sample, as it is packed, gets
 * its site's values and labels (rallo_pprof_lifetimes_sample); end, before the
 * fields after the samples are packed, sets pb's string table. Everything is
 * allocated in arena, which must outlive the packing. NULL / false when out of
 * memory. */
typedef struct rallo_pprof_lifetimes_writer rallo_pprof_lifetimes_writer;
rallo_pprof_lifetimes_writer *rallo_pprof_lifetimes_begin(Perftools__Profiles__Profile *pb,
                                                          const rallo_profile *profile, rallo_profile *arena);
bool rallo_pprof_lifetimes_sample(rallo_pprof_lifetimes_writer *w, Perftools__Profiles__Sample *ps,
                                  const rallo_prof_site *site);
bool rallo_pprof_lifetimes_end(rallo_pprof_lifetimes_writer *w);

#endif
