/* rallo.h - the public interface of rallo, a malloc built on mimalloc that can
 * say at any moment who holds the heap. Link librallo ahead of mimalloc (the
 * CMake target rallo::rallo does this) or LD_PRELOAD it. Everything here is
 * safe to call from any thread; none of it is needed for rallo to be the
 * program's allocator. */
#ifndef RALLO_H
#define RALLO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* librallo is built with hidden visibility: everything declared here is its
 * exported API. */
#pragma GCC visibility push(default)

#define RALLO_VERSION_MAJOR 0
#define RALLO_VERSION_MINOR 1

/* Start tracking new allocations. Returns 0, or -1 with errno set (the tracked
 * arena could not be reserved: ENOMEM) after one line on stderr; the program
 * then goes on untracked. */
int rallo_enable(void);
/* Stop tracking new allocations; blocks tracked so far stay counted until freed. */
void rallo_disable(void);
/* 1 while tracking is on, else 0. */
int rallo_is_enabled(void);

/* Mean bytes between samples (exponentially distributed gaps); 0 or 1 tracks
 * every allocation. Sampled blocks carry their weight, so every figure stays an
 * unbiased estimate. Returns 0, or -1 with errno EINVAL/ENOSPC (more than 255
 * distinct intervals used in one process). */
int rallo_set_sample_interval(uint64_t bytes);
uint64_t rallo_get_sample_interval(void);

/* Dump a report. format: "html" "pprof" "folded" "text" "json", or NULL to
 * choose by the path's extension. The file is written under a temporary name
 * beside path and renamed (mode 0600; a symbolic link at path is replaced, not
 * followed). Returns 0, or -1 with errno set after one line on stderr. Safe
 * from any thread, not from a signal handler (RALLO_DUMP_SIGNAL is for that). */
int rallo_dump(const char *path, const char *format);
/* Dump every `seconds` into dir (NULL: RALLO_DUMP_DIR or "."; made, 0700, if
 * missing) as rallo.<pid>.<seq>.<ext>, in the comma list `formats` (NULL: RALLO_DUMP_FORMATS
 * or "html,pprof"); seconds <= 0 stops. -1 with EINVAL for a bad list. */
int rallo_dump_every(double seconds, const char *dir, const char *formats);

/* What tracking has counted since the first enable. With sampling the byte and
 * object figures are unbiased estimates. */
typedef struct rallo_totals {
    uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
    uint64_t live_count, live_bytes, peak_live_bytes;
    uint64_t untracked_count; /* made while enabled but served untracked */
} rallo_totals;
void rallo_get_totals(rallo_totals *out);

/* Why allocations made while tracking was on were served untracked. */
typedef struct rallo_untracked {
    uint64_t arena_full;     /* the tracked arena had no room */
    uint64_t no_arena;       /* the arena could not be reserved */
    uint64_t alignment;      /* alignment above what the arena serves */
    uint64_t too_large;      /* size beyond the header's size field */
    uint64_t thread_exiting; /* the thread was past its exit cleanup */
    uint64_t bad_header;     /* frees of arena pointers whose header did not validate */
} rallo_untracked;
void rallo_get_untracked(rallo_untracked *out);

/* One call site: a distinct stack of return addresses, leaf first. */
typedef struct rallo_site {
    uint32_t site_id;
    uint32_t depth;
    const void *const *frames; /* return addresses, leaf first; valid for the process's life */
    uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
    uint64_t live_count, live_bytes;
} rallo_site;
/* Calls fn for every site that has counted anything; stops early when fn returns
 * nonzero and returns that value. The site is valid only during the call. */
typedef int (*rallo_site_fn)(const rallo_site *site, void *arg);
int rallo_for_each_site(rallo_site_fn fn, void *arg);
/* The census: walks the calling thread's own tracked heap and calls fn once per
 * site with the live objects and bytes read from the block headers (the other
 * fields are 0). Blocks of other threads are not seen. */
int rallo_census(rallo_site_fn fn, void *arg);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
