/* profile.h - the report data model: what every writer (html, pprof, folded,
 * text, json) reads and every reader (the in-process snapshot, the pprof reader
 * of the CLI) fills. Memory for a profile comes from mimalloc directly (mi_*),
 * never through malloc, so building one in-process is never tracked. */
#ifndef RALLO_PROFILE_H
#define RALLO_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rallo.h"

/* One source line of a location; a location holds several when functions were
 * inlined into each other: lines[0] is the innermost (the inlined callee),
 * lines[nlines-1] the function the address really lies in (as in pprof). */
typedef struct rallo_prof_line {
    const char *function; /* demangled; NULL when unknown */
    const char *file;     /* NULL when unknown */
    uint32_t line;        /* 0 when unknown */
} rallo_prof_line;

#define RALLO_NO_MAPPING UINT32_MAX

/* One code address (a return address as captured; symbolizers look up
 * address - 1 so the call, not the next instruction, is named). */
typedef struct rallo_prof_location {
    uint64_t address;
    uint32_t mapping; /* index into rallo_profile.mappings, or RALLO_NO_MAPPING */
    uint32_t nlines;  /* 0: not symbolized; writers then show module+offset */
    rallo_prof_line *lines;
} rallo_prof_location;

typedef struct rallo_prof_mapping {
    uint64_t start, limit, file_offset;
    const char *path;     /* the module's file */
    const char *build_id; /* lowercase hex, or NULL */
} rallo_prof_mapping;

/* ---- sizes, lifetimes, temporaries, threads (issue 15) ----
 * Histograms: index k counts sizes (or ns) x with floor(log2(x)) = k, 0 in 0. */
#define RALLO_PROF_SIZE_BUCKETS 41
#define RALLO_PROF_TIME_BUCKETS 44
typedef struct rallo_prof_thread {
    int32_t tid;
    const char *name;
    bool exited;
    uint64_t alloc_count, alloc_bytes, live_count, live_bytes;
} rallo_prof_thread;
typedef struct rallo_prof_site_thread {
    uint32_t thread; /* index into rallo_profile.threads */
    uint64_t alloc_count, alloc_bytes, live_count, live_bytes;
} rallo_prof_site_thread;
typedef struct rallo_prof_lifetimes {
    uint64_t temp_count, temp_bytes;
    uint64_t size_log2[RALLO_PROF_SIZE_BUCKETS];
    uint64_t lifetime_log2_ns[RALLO_PROF_TIME_BUCKETS];
    uint64_t live_age_log2_ns[RALLO_PROF_TIME_BUCKETS];
    uint32_t nthreads;
    rallo_prof_site_thread *threads;
} rallo_prof_lifetimes;

/* Who frees a site's blocks (RALLO_FREE_SITES): one stack that freed them,
 * with what it freed and how much of it another thread had allocated. */
typedef struct rallo_prof_free_site {
    uint32_t nlocations;
    uint32_t *locations; /* as a site's: leaf first */
    uint64_t count, bytes, cross_thread;
} rallo_prof_free_site;

typedef struct rallo_prof_site {
    uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
    uint64_t live_count, live_bytes;
    uint64_t peak_live_bytes; /* this site's live bytes when the process peaked */
    uint32_t nlocations;
    uint32_t *locations;      /* indices into rallo_profile.locations, leaf first */
    uint32_t site_id;         /* in-process snapshots: the tracking site id; else 0 */
    rallo_prof_lifetimes *lt; /* NULL when not known (profile.has_lifetimes false) */
    uint32_t nfree_sites;     /* profile.has_free_sites: most bytes first */
    rallo_prof_free_site *free_sites;
} rallo_prof_site;

typedef struct rallo_profile {
    int32_t pid;
    uint64_t time_unix_ns;    /* when the snapshot was taken */
    uint64_t sample_interval; /* 0: every allocation */
    const char *program;      /* the process's executable path, or NULL */
    int32_t ppid;             /* its parent when the snapshot was taken; 0: unknown */
    char **argv;              /* its command line then (/proc/self/cmdline), nargv strings */
    size_t nargv;
    rallo_totals totals;
    rallo_untracked untracked;
    uint64_t stacks_cut_short; /* RALLO_UNWIND=fp walks stopped at a frame that is no code */
    rallo_prof_site *sites;
    size_t nsites;
    rallo_prof_location *locations;
    size_t nlocations;
    rallo_prof_mapping *mappings;
    size_t nmappings;
    /* Sizes, lifetimes, temporaries and threads, when known. */
    bool has_lifetimes;
    rallo_prof_thread *threads;
    size_t nthreads;
    uint64_t temp_count, temp_bytes;
    uint64_t size_log2[RALLO_PROF_SIZE_BUCKETS];
    /* Who frees, when recorded; frees whose pair found no room in its table. */
    bool has_free_sites;
    uint64_t free_sites_other_count, free_sites_other_bytes;
    struct rallo_prof_arena *arena; /* owns every string and array above */
} rallo_profile;

#endif
