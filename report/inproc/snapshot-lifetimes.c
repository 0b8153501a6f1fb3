/* snapshot-lifetimes.c - a snapshot's sizes, lifetimes, temporaries and
 * threads: each site's figures summed over the thread records of
 * tracking/lifetime.c, each thread's over its sites. Read while threads go on,
 * like the counters: a free may be seen before its allocation, so a live
 * figure never goes negative. Live ages come from a walk of the calling
 * thread's own heap (lifetime-census.c in allocator/), the only heap that can
 * be walked safely. */
#include <string.h>

#include <mimalloc.h>

#include "../../tracking/door.h" /* and lifetime.h, its types */
#include "snapshot.h"

static uint64_t count_of(uint64_t weight) {
    return _rallo_count_of_weight(weight);
}

static uint64_t sum(const _Atomic uint64_t *counts, size_t n) {
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += atomic_load_explicit(&counts[i], memory_order_relaxed);
    return total;
}

/* One thread's figures for one site. */
typedef struct entry_figures {
    uint64_t alloc_count_weight, alloc_bytes, free_count_weight, free_bytes;
} entry_figures;

static entry_figures entry_read(const rallo_lt_site *e) {
    entry_figures f;
    f.alloc_count_weight = sum(e->size_log2, RALLO_LT_SIZE_BUCKETS);
    f.alloc_bytes = atomic_load_explicit(&e->alloc_bytes, memory_order_relaxed);
    uint64_t lived = sum(e->life_log2, RALLO_LT_TIME_BUCKETS);
    uint64_t foreign = atomic_load_explicit(&e->foreign_count_weight, memory_order_relaxed);
    f.free_count_weight = (lived > foreign ? lived - foreign : 0) +
                          atomic_load_explicit(&e->xfree_count_weight, memory_order_relaxed);
    f.free_bytes = atomic_load_explicit(&e->free_bytes, memory_order_relaxed) +
                   atomic_load_explicit(&e->xfree_bytes, memory_order_relaxed);
    return f;
}

static void figures_set(const entry_figures *f, uint64_t *alloc_count, uint64_t *alloc_bytes,
                        uint64_t *live_count, uint64_t *live_bytes) {
    *alloc_count = count_of(f->alloc_count_weight);
    *alloc_bytes = f->alloc_bytes;
    *live_count = f->alloc_count_weight > f->free_count_weight
                      ? count_of(f->alloc_count_weight - f->free_count_weight)
                      : 0;
    *live_bytes = f->alloc_bytes > f->free_bytes ? f->alloc_bytes - f->free_bytes : 0;
}

static int threads_fill(rallo_profile *profile, uint32_t nrecords) {
    profile->threads = rallo_profile_alloc(profile, (nrecords ? nrecords : 1) * sizeof *profile->threads);
    if (profile->threads == NULL)
        return -1;
    for (uint32_t slot = 0; slot < nrecords; slot++) {
        const rallo_lt_thread *record = _rallo_door->lt_thread_record(slot);
        rallo_prof_thread *thread = &profile->threads[slot];
        char name[64] = "";
        if (record != NULL)
            _rallo_door->lt_thread_name(record, name, sizeof name);
        thread->tid = record != NULL ? record->tid : 0;
        thread->name = rallo_profile_strdup(profile, name);
        thread->exited = record != NULL && atomic_load_explicit(&record->exited, memory_order_acquire);
    }
    profile->nthreads = nrecords;
    return 0;
}

/* A site's figures over every thread record. */
static int site_fill(rallo_profile *profile, rallo_prof_site *site, uint32_t nrecords,
                     rallo_prof_site_thread *scratch) {
    rallo_prof_lifetimes *lt = rallo_profile_alloc(profile, sizeof *lt);
    if (lt == NULL)
        return -1;
    uint64_t temp_weight = 0, size_weight[RALLO_LT_SIZE_BUCKETS] = {0},
             life_weight[RALLO_LT_TIME_BUCKETS] = {0};
    uint32_t nthreads = 0;
    for (uint32_t slot = 0; slot < nrecords; slot++) {
        const rallo_lt_site *e =
            _rallo_door->lt_thread_site(_rallo_door->lt_thread_record(slot), site->site_id);
        if (e == NULL)
            continue;
        temp_weight += atomic_load_explicit(&e->temp_count_weight, memory_order_relaxed);
        lt->temp_bytes += atomic_load_explicit(&e->temp_bytes, memory_order_relaxed);
        for (uint32_t k = 0; k < RALLO_LT_SIZE_BUCKETS; k++)
            size_weight[k] += atomic_load_explicit(&e->size_log2[k], memory_order_relaxed);
        for (uint32_t k = 0; k < RALLO_LT_TIME_BUCKETS; k++)
            life_weight[k] += atomic_load_explicit(&e->life_log2[k], memory_order_relaxed);
        entry_figures f = entry_read(e);
        if (f.alloc_count_weight == 0)
            continue;
        rallo_prof_site_thread *t = &scratch[nthreads++];
        t->thread = slot;
        figures_set(&f, &t->alloc_count, &t->alloc_bytes, &t->live_count, &t->live_bytes);
        rallo_prof_thread *whole = &profile->threads[slot];
        whole->alloc_count += t->alloc_count;
        whole->alloc_bytes += t->alloc_bytes;
        whole->live_count += t->live_count;
        whole->live_bytes += t->live_bytes;
    }
    lt->temp_count = count_of(temp_weight);
    for (uint32_t k = 0; k < RALLO_LT_SIZE_BUCKETS; k++) {
        lt->size_log2[k] = count_of(size_weight[k]);
        profile->size_log2[k] += lt->size_log2[k];
    }
    for (uint32_t k = 0; k < RALLO_LT_TIME_BUCKETS; k++)
        lt->lifetime_log2_ns[k] = count_of(life_weight[k]);
    profile->temp_count += lt->temp_count;
    profile->temp_bytes += lt->temp_bytes;
    lt->threads = rallo_profile_alloc(profile, (nthreads ? nthreads : 1) * sizeof *lt->threads);
    if (lt->threads == NULL)
        return -1;
    memcpy(lt->threads, scratch, nthreads * sizeof *lt->threads);
    lt->nthreads = nthreads;
    site->lt = lt;
    return 0;
}

/* Live ages: the calling thread's own heap (see the top of this file). */
static void live_ages(rallo_profile *profile) {
    uint32_t nsites = 0;
    for (size_t i = 0; i < profile->nsites; i++)
        if (profile->sites[i].site_id >= nsites)
            nsites = profile->sites[i].site_id + 1;
    uint64_t *ages_weight =
        mi_zalloc((size_t)(nsites ? nsites : 1) * RALLO_LT_TIME_BUCKETS * sizeof *ages_weight);
    if (ages_weight == NULL)
        return;
    if (_rallo_door->census_ages != NULL)
        _rallo_door->census_ages(ages_weight, nsites);
    for (size_t i = 0; i < profile->nsites; i++) {
        rallo_prof_site *site = &profile->sites[i];
        for (uint32_t k = 0; k < RALLO_LT_TIME_BUCKETS && site->lt != NULL; k++)
            site->lt->live_age_log2_ns[k] =
                count_of(ages_weight[(size_t)site->site_id * RALLO_LT_TIME_BUCKETS + k]);
    }
    mi_free(ages_weight);
}

int _rallo_snapshot_lifetimes(rallo_profile *profile) {
    if (!_rallo_door->lifetimes_on())
        return 0;
    uint32_t nrecords = _rallo_door->lt_thread_count();
    if (threads_fill(profile, nrecords) != 0)
        return -1;
    rallo_prof_site_thread *scratch = mi_malloc((nrecords ? nrecords : 1) * sizeof *scratch);
    if (scratch == NULL)
        return -1;
    int result = 0;
    for (size_t i = 0; i < profile->nsites && result == 0; i++)
        result = site_fill(profile, &profile->sites[i], nrecords, scratch);
    mi_free(scratch);
    if (result == 0)
        live_ages(profile);
    profile->has_lifetimes = result == 0;
    return result;
}
