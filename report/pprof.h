/* pprof.h - the pprof format both ways: the writer's views (Go's
 * /debug/pprof/heap and /debug/pprof/allocs) and the reader that `rallo report`
 * and `rallo diff` use on saved profiles. The plain writer,
 * rallo_write_pprof(), is declared in writers.h (the heap view). */
#ifndef RALLO_PPROF_H
#define RALLO_PPROF_H

#include <stddef.h>

#include "buf.h"
#include "profile.h"

/* Which sample type a reader shows first (Profile.default_sample_type); the
 * data is the same in both: alloc_objects, alloc_space, inuse_objects,
 * inuse_space. */
typedef enum rallo_pprof_view {
    RALLO_PPROF_VIEW_HEAP = 0,   /* inuse_space, as Go's /debug/pprof/heap */
    RALLO_PPROF_VIEW_ALLOCS = 1, /* alloc_space, as Go's /debug/pprof/allocs */
} rallo_pprof_view;

/* Gzipped profile.proto of the profile into out. 0, or -1 when memory ran out
 * (out->failed is then set too). Every allocation it makes goes to mimalloc
 * directly (zlib's too), so it may run inside the profiled process. */
int rallo_write_pprof_view(const rallo_profile *profile, rallo_buf *out, int view);

/* The largest profile.proto the reader inflates a gzipped file to (or reads
 * raw), and the most memory its decoded messages may take: a file past either
 * is refused with a line. A first pass only counts what a gzipped file
 * inflates to, so a decompression bomb costs no memory to refuse. */
#define RALLO_PPROF_MAX_INFLATED ((size_t)256 << 20)
#define RALLO_PPROF_MAX_UNPACKED ((size_t)1 << 30)

/* Reads a pprof profile (gzipped, or raw profile.proto) into out, which it
 * initializes: its memory is out's arena, freed by rallo_profile_free().
 * Returns 0, or -1 with a one-line reason in error (out is then empty).
 * On success, error holds a note of what was mapped loosely (sample types
 * ignored or missing, negative values clamped), or "" when nothing was.
 * Sample types are taken by name: alloc_objects, alloc_space, inuse_objects,
 * inuse_space; "objects"/"space" (legacy heapz, tcmalloc) count as in-use.
 * Free counts are derived (alloc - inuse). A profile none of whose types map
 * is refused with a reason naming the types it has. Every id and string index
 * is checked: a hostile file gets an error, never a crash. */
int rallo_read_pprof(const void *data, size_t len, rallo_profile *out, char *error, size_t error_len);
/* The same with a smaller cap on the inflated size (the fuzzer uses it). */
int rallo_read_pprof_capped(const void *data, size_t len, size_t max_inflated, rallo_profile *out,
                            char *error, size_t error_len);

#endif
