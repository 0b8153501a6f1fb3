/* sites.h - what the tracking tests share: a copy of every site's counters
 * (taken with tracking off, into static memory, so reading never allocates
 * tracked blocks), and finding a site by the function its leaf frame is in.
 * Frames are matched with dladdr: test programs are linked with -rdynamic, so
 * every non-static function is in the dynamic symbol table and a return
 * address resolves to the function that contains it. */
#ifndef RALLO_TEST_SITES_H
#define RALLO_TEST_SITES_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rallo.h>

#define SITES_MAX 4096
#define FRAMES_MAX 16

typedef struct site_copy {
    rallo_site site;
    const void *frames[FRAMES_MAX];
} site_copy;

typedef struct sites_snapshot {
    uint32_t count;
    site_copy sites[SITES_MAX];
} sites_snapshot;

static int sites_copy_one(const rallo_site *site, void *arg) {
    sites_snapshot *snap = arg;
    if (snap->count == SITES_MAX)
        return 1;
    site_copy *copy = &snap->sites[snap->count++];
    copy->site = *site;
    uint32_t depth = site->depth < FRAMES_MAX ? site->depth : FRAMES_MAX;
    for (uint32_t i = 0; i < depth; i++)
        copy->frames[i] = site->frames[i];
    copy->site.depth = depth;
    copy->site.frames = copy->frames;
    return 0;
}

/* Snapshot of the counters (fn = rallo_for_each_site) or the census. */
static inline void sites_take(sites_snapshot *snap, int (*each)(rallo_site_fn, void *)) {
    snap->count = 0;
    each(sites_copy_one, snap);
}

/* The name of the function that contains code address pc, or "". */
static inline const char *function_of(const void *pc) {
    Dl_info info;
    if (dladdr(pc, &info) == 0 || info.dli_sname == NULL)
        return "";
    return info.dli_sname;
}

/* Does frame i of the site lie in function `name`? */
static inline int frame_in(const rallo_site *site, uint32_t i, const char *name) {
    return i < site->depth && strcmp(function_of(site->frames[i]), name) == 0;
}

static inline int stack_has(const rallo_site *site, const char *name) {
    for (uint32_t i = 0; i < site->depth; i++)
        if (frame_in(site, i, name))
            return 1;
    return 0;
}

/* The site whose leaf frame is in function `leaf`; NULL if none, and the test
 * fails if there is more than one. */
static inline const rallo_site *site_by_leaf(const sites_snapshot *snap, const char *leaf, int *how_many) {
    const rallo_site *found = NULL;
    *how_many = 0;
    for (uint32_t i = 0; i < snap->count; i++)
        if (frame_in(&snap->sites[i].site, 0, leaf)) {
            found = &snap->sites[i].site;
            (*how_many)++;
        }
    return found;
}

static inline const rallo_site *site_by_id(const sites_snapshot *snap, uint32_t id) {
    for (uint32_t i = 0; i < snap->count; i++)
        if (snap->sites[i].site.site_id == id)
            return &snap->sites[i].site;
    return NULL;
}

#endif

/* For a failing test: every site with its frames, by function name. */
static inline void sites_print(const sites_snapshot *snap) {
    for (uint32_t i = 0; i < snap->count; i++) {
        const rallo_site *site = &snap->sites[i].site;
        fprintf(stderr, "site %u: %llu allocs %llu bytes, %llu live:", site->site_id,
                (unsigned long long)site->alloc_count, (unsigned long long)site->alloc_bytes,
                (unsigned long long)site->live_count);
        for (uint32_t f = 0; f < site->depth; f++)
            fprintf(stderr, " %s(%p)", function_of(site->frames[f]), site->frames[f]);
        fprintf(stderr, "\n");
    }
}
