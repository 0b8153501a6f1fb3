/* diff.h - the comparison of two profiles, site by site, and its writers. */
#ifndef RALLO_DIFF_H
#define RALLO_DIFF_H

#include "writers.h"

typedef struct rallo_diff_side {
    uint64_t live_bytes, live_count, alloc_bytes, alloc_count;
} rallo_diff_side;

typedef struct rallo_diff_site {
    char *key; /* the folded stack, root first */
    rallo_diff_side before, after;
    const rallo_profile *profile; /* where `site` comes from (NEW when present) */
    const rallo_prof_site *site;
} rallo_diff_site;

typedef struct rallo_diff {
    const char *base_path, *new_path;
    const rallo_profile *base, *fresh;
    rallo_diff_site *sites; /* sorted by growth of live bytes, largest first */
    size_t count;
} rallo_diff;

static inline int64_t rallo_diff_live_growth(const rallo_diff_site *site) {
    return (int64_t)site->after.live_bytes - (int64_t)site->before.live_bytes;
}

/* The flame graph page coloured by growth (diff_html.c). 0, or -1 when memory ran out. */
int rallo_diff_html(const rallo_diff *diff, rallo_buf *out);
int rallo_diff_write(const rallo_diff *diff, rallo_format format, rallo_buf *out);

#endif
