/* lifetime.c - thread records (slot, tid, name kept past the thread's exit),
 * their per-site entries made on first use, the slow cases of counting sizes,
 * lifetimes and temporaries (sampled blocks, frees of another thread's block,
 * threads past the last slot), and the cycle counter's calibration. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <mimalloc.h>

#include "lifetime.h"

__thread rallo_lt_tls _rallo_lt __attribute__((tls_model("initial-exec")));
_Atomic uint64_t _rallo_lt_ns_per_unit_q32 = 0;

static _Atomic(rallo_lt_thread *) lt_threads[RALLO_LT_THREADS];
/* Slots handed out so far (may run past RALLO_LT_THREADS: those threads use
 * slot 0). Lock-free, so a fork while another thread registers leaves the
 * child nothing to wait for. */
static _Atomic uint32_t lt_next_slot = 1;

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The kernel knows the counter's rate but tells it to no program portably:
 * measured here against CLOCK_MONOTONIC over a short spin. */
static void calibrate_once(void) {
    /* A fixed number of readings (about half a millisecond), not a time: the
     * same instructions every run, which callgrind's comparisons need. */
    uint64_t ns0 = monotonic_ns(), tsc0 = __rdtsc();
    uint64_t ns1 = ns0, tsc1 = tsc0;
    for (int i = 0; i < 20000; i++) {
        ns1 = monotonic_ns();
        tsc1 = __rdtsc();
    }
    double ns_per_tick = tsc1 > tsc0 && ns1 > ns0 ? (double)(ns1 - ns0) / (double)(tsc1 - tsc0) : 1.0;
    double q32 = ns_per_tick * (double)(1ull << RALLO_LT_STAMP_SHIFT) * 4294967296.0;
    atomic_store_explicit(&_rallo_lt_ns_per_unit_q32, q32 < 1.0 ? 1 : (uint64_t)q32, memory_order_relaxed);
}

/* Threads starting together may each calibrate: any result will do. */
void _rallo_lt_calibrate(void) {
    if (atomic_load_explicit(&_rallo_lt_ns_per_unit_q32, memory_order_relaxed) == 0)
        calibrate_once();
}

static rallo_lt_thread *record_new(int32_t tid) {
    uint32_t leaf_count = (_rallo_options.max_sites + RALLO_LT_LEAF_SITES - 1) / RALLO_LT_LEAF_SITES;
    rallo_lt_thread *record = mi_zalloc(sizeof *record);
    if (record == NULL)
        return NULL;
    void *leaves = mmap(NULL, leaf_count * sizeof record->leaves[0], PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (leaves == MAP_FAILED) {
        mi_free(record);
        return NULL;
    }
    record->tid = tid;
    record->leaf_count = leaf_count;
    record->leaves = leaves;
    return record;
}

/* Slot 0 (threads past the last slot, and any whose record could not be
 * made) is shared: made by the first thread to need it. */
static rallo_lt_thread *slot_zero(void) {
    rallo_lt_thread *shared = atomic_load_explicit(&lt_threads[0], memory_order_acquire);
    if (shared != NULL)
        return shared;
    rallo_lt_thread *fresh = record_new(0);
    if (fresh == NULL)
        return NULL;
    snprintf(fresh->name, sizeof fresh->name, "(other threads)");
    if (!atomic_compare_exchange_strong(&lt_threads[0], &shared, fresh)) {
        munmap(fresh->leaves, fresh->leaf_count * sizeof fresh->leaves[0]);
        mi_free(fresh);
        return shared;
    }
    return fresh;
}

static void thread_gone(void *arg) {
    (void)arg;
    rallo_lt_thread *record = _rallo_lt.record;
    if (record == NULL || _rallo_lt.slot == 0)
        return;
    char name[16] = {0};
    if (prctl(PR_GET_NAME, name) == 0)
        memcpy(record->name, name, sizeof record->name);
    atomic_store_explicit(&record->exited, 1, memory_order_release);
}

uint32_t _rallo_lt_slot_slow(void) {
    _rallo_lt_calibrate();
    rallo_lt_tls *tls = &_rallo_lt;
    int32_t tid = (int32_t)syscall(SYS_gettid);
    uint32_t slot = atomic_fetch_add_explicit(&lt_next_slot, 1, memory_order_relaxed);
    rallo_lt_thread *record = slot < RALLO_LT_THREADS ? record_new(tid) : NULL;
    if (record != NULL) {
        atomic_store_explicit(&lt_threads[slot], record, memory_order_release);
        tls->slot = slot;
    } else {
        record = slot_zero();
        tls->slot = 0;
    }
    tls->record = record;
    if (record != NULL && tls->slot != 0) {
        char name[16] = {0};
        if (prctl(PR_GET_NAME, name) == 0)
            memcpy(record->name, name, sizeof record->name);
        _rallo_at_thread_exit(thread_gone, NULL);
    }
    return tls->slot;
}

/* A site's entry in a record, making its leaf if need be. Leaves of slot 0
 * can be made by two threads at once: the loser frees its copy. */
static rallo_lt_site *site_make(rallo_lt_thread *record, uint32_t site_id) {
    if (record == NULL)
        return NULL;
    rallo_lt_site *site = _rallo_lt_site_in(record, site_id);
    uint32_t leaf_index = site_id / RALLO_LT_LEAF_SITES;
    if (site != NULL || leaf_index >= record->leaf_count)
        return site;
    _rallo_guard_enter();
    rallo_lt_leaf *fresh = mi_zalloc_aligned(sizeof *fresh, 64);
    rallo_lt_leaf *expected = NULL;
    if (fresh != NULL && !atomic_compare_exchange_strong(&record->leaves[leaf_index], &expected, fresh)) {
        mi_free(fresh);
        fresh = expected;
    }
    _rallo_guard_leave();
    return fresh != NULL ? &fresh->sites[site_id % RALLO_LT_LEAF_SITES] : NULL;
}

/* Plain stores where this thread owns the record, atomic adds elsewhere. */
static inline void add(bool owned, _Atomic uint64_t *counter, uint64_t value) {
    if (owned)
        _rallo_counter_bump(counter, value);
    else
        atomic_fetch_add_explicit(counter, value, memory_order_relaxed);
}

static rallo_lt_thread *record_of_slot(uint32_t slot) {
    return slot < RALLO_LT_THREADS ? atomic_load_explicit(&lt_threads[slot], memory_order_acquire) : NULL;
}

void _rallo_lt_alloc_slow(void *user, uint32_t site_id, uint64_t size, rallo_epoch epoch) {
    rallo_lt_tls *tls = &_rallo_lt;
    uint64_t count_weight, bytes;
    _rallo_weight_of(epoch, size, &count_weight, &bytes);
    rallo_lt_site *site = site_make(tls->record, site_id);
    if (site != NULL) {
        bool owned = tls->slot != 0;
        add(owned, &site->alloc_bytes, bytes);
        add(owned, &site->size_log2[_rallo_lt_size_bucket(size)], count_weight);
    }
    tls->last_alloc = user;
    tls->last_countdown = _rallo_thread.sample_countdown;
}

void _rallo_lt_free_slow(const void *user, uint32_t site_id, uint64_t size, rallo_epoch epoch, uint32_t slot,
                         uint64_t stamp) {
    rallo_lt_tls *tls = &_rallo_lt;
    uint64_t count_weight, bytes;
    _rallo_weight_of(epoch, size, &count_weight, &bytes);
    bool own_block = slot == tls->slot && tls->record != NULL && slot != 0;
    /* The allocating thread's figures: its own entry, or another's (atomic). */
    rallo_lt_site *alloc_site = site_make(own_block ? tls->record : record_of_slot(slot), site_id);
    if (alloc_site != NULL) {
        if (!own_block)
            add(false, &alloc_site->xfree_count_weight, count_weight);
        add(own_block, own_block ? &alloc_site->free_bytes : &alloc_site->xfree_bytes, bytes);
    }
    /* The lifetime goes to the freeing thread's entry (slot 0 when it has none). */
    rallo_lt_thread *freer = tls->record != NULL ? tls->record : record_of_slot(0);
    bool freer_owned = tls->record != NULL && tls->slot != 0;
    rallo_lt_site *free_site = own_block ? alloc_site : site_make(freer, site_id);
    if (free_site != NULL) {
        uint64_t units = (_rallo_lt_now() - stamp) & RALLO_LT_STAMP_MASK;
        add(freer_owned, &free_site->life_log2[_rallo_lt_time_bucket(_rallo_lt_units_ns(units))],
            count_weight);
        if (!own_block)
            add(freer_owned, &free_site->foreign_count_weight, count_weight);
    }
    if (own_block && user == tls->last_alloc && _rallo_thread.sample_countdown == tls->last_countdown &&
        alloc_site != NULL) {
        add(true, &alloc_site->temp_count_weight, count_weight);
        add(true, &alloc_site->temp_bytes, bytes);
    }
    if (user == tls->last_alloc)
        tls->last_alloc = NULL;
}

uint32_t _rallo_lt_thread_count(void) {
    uint32_t count = atomic_load_explicit(&lt_next_slot, memory_order_acquire);
    return count < RALLO_LT_THREADS ? count : RALLO_LT_THREADS;
}

const rallo_lt_thread *_rallo_lt_thread_record(uint32_t slot) {
    return record_of_slot(slot);
}

const rallo_lt_site *_rallo_lt_thread_site(const rallo_lt_thread *record, uint32_t site_id) {
    return record != NULL ? _rallo_lt_site_in((rallo_lt_thread *)record, site_id) : NULL;
}

uint64_t _rallo_lt_stamp_now(void) {
    return _rallo_lt_now();
}

uint64_t _rallo_lt_ns_of_units(uint64_t units) {
    return _rallo_lt_units_ns(units & RALLO_LT_STAMP_MASK);
}

bool _rallo_lt_thread_name(const rallo_lt_thread *record, char *out, size_t room) {
    if (record == NULL || room == 0)
        return false;
    if (record->tid == 0 || atomic_load_explicit(&record->exited, memory_order_acquire)) {
        snprintf(out, room, "%.16s", record->name);
        return true;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)record->tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, out, room - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (got <= 0) {
        snprintf(out, room, "%.16s", record->name);
        return true;
    }
    out[got] = '\0';
    out[strcspn(out, "\n")] = '\0';
    return true;
}
