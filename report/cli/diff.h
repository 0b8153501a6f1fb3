/* diff.h - the comparison of two profiles, site by site, and its writers. */
#ifndef RALLO_DIFF_H
#define RALLO_DIFF_H

#include "stack_union.h"
#include "writers.h"

typedef struct rallo_diff_side {
    uint64_t live_bytes, live_count, alloc_bytes, alloc_count;
} rallo_diff_side;

typedef struct rallo_diff_site {
    rallo_diff_side before, after;
} rallo_diff_site;

typedef struct rallo_diff {
    const char *base_path, *new_path;
    const rallo_profile *base, *fresh;
    /* Both profiles' stacks, each once, sorted by growth of live bytes,
     * largest first. A site's frames are those of NEW's site when NEW has the
     * stack, its values NEW's (the tree the page draws); the profile's header
     * (pid, program, totals...) is NEW's. */
    stack_union u;
    rallo_diff_site *sites; /* per site of u: BASE's and NEW's values */
    size_t count;           /* u.profile.nsites */
} rallo_diff;

static inline int64_t rallo_diff_live_growth(const rallo_diff_site *site) {
    return (int64_t)site->after.live_bytes - (int64_t)site->before.live_bytes;
}

/* The flame graph page coloured by growth (diff_html.c). 0, or -1 when memory ran out. */
int rallo_diff_html(const rallo_diff *diff, rallo_buf *out);
int rallo_diff_write(const rallo_diff *diff, rallo_format format, rallo_buf *out);

#endif
