/* free_sites.c - the tables of (allocation site, free site) pairs behind
 * RALLO_FREE_SITES (free_sites.h): reserved once, untouched until used (the
 * pages a thread's pairs land on are all it costs), claimed by each thread on
 * its first counted free with one atomic add: no lock, no system call and no
 * allocation on the free path. */
#include <sys/mman.h>

#include "free_sites.h"
#include "unwind/unwind_fp.h"

__thread rallo_fs_tls _rallo_fs __attribute__((tls_model("initial-exec")));

/* RALLO_FS_TABLES own tables, then the shared one. */
static rallo_fs_table *fs_tables;
/* Tables handed out so far (may run past RALLO_FS_TABLES: those threads share). */
static _Atomic uint32_t fs_next_table;
static _Atomic bool fs_shared_used;

bool _rallo_fs_reserve(void) {
    if (!_rallo_options.free_sites || fs_tables != NULL)
        return true;
    size_t bytes = (RALLO_FS_TABLES + 1) * sizeof(rallo_fs_table);
    void *room =
        mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (room == MAP_FAILED) {
        _rallo_warn("cannot reserve the free-site tables (%zu bytes): RALLO_FREE_SITES is off", bytes);
        _rallo_options_free_sites_off();
        return false;
    }
    fs_tables = room;
    return true;
}

void _rallo_fs_count_slow(uint64_t key, uint64_t count_weight, uint64_t bytes, bool cross) {
    rallo_fs_tls *tls = &_rallo_fs;
    if (fs_tables == NULL)
        return;
    uint32_t index = atomic_fetch_add_explicit(&fs_next_table, 1, memory_order_relaxed);
    tls->shared = index >= RALLO_FS_TABLES;
    if (tls->shared) {
        index = RALLO_FS_TABLES;
        atomic_store_explicit(&fs_shared_used, true, memory_order_release);
    }
    tls->table = &fs_tables[index];
    _rallo_fs_count_table(tls->table, tls->shared, key, count_weight, bytes, cross);
}

/* Plain stores where this thread owns the table, atomic adds in the shared one. */
static inline void add(bool shared, _Atomic uint64_t *counter, uint64_t value) {
    if (rallo_likely(!shared))
        _rallo_counter_bump(counter, value);
    else
        atomic_fetch_add_explicit(counter, value, memory_order_relaxed);
}

/* Open addressing from the key's hash, at most RALLO_FS_PROBES entries on.
 * Keys are published (release) before their figures grow: a reader may see
 * a pair with nothing counted yet, never figures under the wrong pair. */
void _rallo_fs_count_table(rallo_fs_table *table, bool shared, uint64_t key, uint64_t count_weight,
                           uint64_t bytes, bool cross) {
    uint64_t hash = key * 0x9E3779B97F4A7C15ull;
    uint32_t at = (uint32_t)(hash >> (64 - RALLO_FS_ENTRIES_LOG2));
    for (uint32_t probe = 0; probe < RALLO_FS_PROBES; probe++) {
        rallo_fs_entry *entry = &table->entries[(at + probe) & (RALLO_FS_ENTRIES - 1)];
        uint64_t held = atomic_load_explicit(&entry->key, memory_order_acquire);
        if (held == 0) {
            if (!shared) {
                atomic_store_explicit(&entry->key, key, memory_order_release);
                held = key;
            } else if (atomic_compare_exchange_strong(&entry->key, &held, key)) {
                held = key;
            } /* else held is the key another thread put there first */
        }
        if (held != key)
            continue;
        add(shared, &entry->count_weight, count_weight);
        add(shared, &entry->bytes, bytes);
        if (cross)
            add(shared, &entry->cross_weight, count_weight);
        return;
    }
    add(shared, &table->other_count_weight, count_weight);
    add(shared, &table->other_bytes, bytes);
}

void _rallo_fs_count_here(uint32_t alloc_site, uint64_t size, rallo_epoch epoch, uint32_t slot) {
    _rallo_guard_enter();
    rallo_site_ref here = _rallo_capture_site_here();
    _rallo_fs_count(alloc_site, here.site_id, size, epoch, slot);
    _rallo_guard_leave();
}

uint32_t _rallo_fs_table_count(void) {
    return fs_tables != NULL ? RALLO_FS_TABLES + 1 : 0;
}

const rallo_fs_table *_rallo_fs_table(uint32_t index) {
    uint32_t claimed = atomic_load_explicit(&fs_next_table, memory_order_acquire);
    if (fs_tables == NULL || index > RALLO_FS_TABLES)
        return NULL;
    if (index == RALLO_FS_TABLES)
        return atomic_load_explicit(&fs_shared_used, memory_order_acquire) ? &fs_tables[index] : NULL;
    return index < claimed ? &fs_tables[index] : NULL;
}
