/* snapshot.c - a profile of this process now: the per-site counters copied
 * (allocating threads are held up by nothing but that copy: no lock of theirs
 * is taken), each site's live bytes at the peak, the loaded modules as
 * mappings with GNU build ids, and every frame symbolized. Runs under the
 * tracking guard: whatever this code or libdw/libelf allocate stays untracked. */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mimalloc.h>

#include "../../tracking/tracking.h"
#include "symbolize.h"
#include "writers.h"

/* ---- mappings: the executable segments of every loaded module ---- */

typedef struct module_list {
    rallo_profile *profile;
    rallo_prof_mapping *items; /* mi_realloc'd while dl_iterate_phdr runs */
    size_t count, capacity;
    bool failed;
} module_list;

static const char *note_build_id(rallo_profile *profile, const struct dl_phdr_info *info,
                                 const ElfW(Phdr) * note) {
    const unsigned char *at = (const unsigned char *)(info->dlpi_addr + note->p_vaddr);
    const unsigned char *end = at + note->p_memsz;
    while (at + sizeof(ElfW(Nhdr)) <= end) {
        const ElfW(Nhdr) *header = (const ElfW(Nhdr) *)at;
        const unsigned char *name = at + sizeof *header;
        const unsigned char *desc = name + ((header->n_namesz + 3) & ~3u);
        const unsigned char *next = desc + ((header->n_descsz + 3) & ~3u);
        if (next > end)
            break;
        if (header->n_type == NT_GNU_BUILD_ID && header->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
            header->n_descsz > 0 && header->n_descsz <= 64) {
            char *hex = rallo_profile_alloc(profile, 2 * header->n_descsz + 1);
            if (hex == NULL)
                return NULL;
            static const char digits[] = "0123456789abcdef";
            for (uint32_t i = 0; i < header->n_descsz; i++) {
                hex[2 * i] = digits[desc[i] >> 4];
                hex[2 * i + 1] = digits[desc[i] & 15];
            }
            return hex;
        }
        at = next;
    }
    return NULL;
}

static int module_visit(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    module_list *list = arg;
    rallo_profile *profile = list->profile;
    /* The first module is the main program, whose dlpi_name is empty. */
    const char *path = info->dlpi_name != NULL && info->dlpi_name[0] != '\0' ? info->dlpi_name : NULL;
    if (path == NULL && list->count == 0)
        path = profile->program;
    if (path == NULL)
        return 0;
    const char *build_id = NULL, *path_copy = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_NOTE && build_id == NULL)
            build_id = note_build_id(profile, info, &info->dlpi_phdr[i]);
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD || !(segment->p_flags & PF_X))
            continue;
        if (list->count == list->capacity) {
            size_t capacity = list->capacity ? 2 * list->capacity : 64;
            rallo_prof_mapping *grown = mi_realloc(list->items, capacity * sizeof *grown);
            if (grown == NULL) {
                list->failed = true;
                return 1;
            }
            list->items = grown;
            list->capacity = capacity;
        }
        if (path_copy == NULL)
            path_copy = path == profile->program ? path : rallo_profile_strdup(profile, path);
        /* Page-aligned, as /proc/self/maps shows it (what pprof tools expect). */
        uint64_t page_skew = segment->p_offset & 0xfff;
        rallo_prof_mapping *mapping = &list->items[list->count++];
        mapping->start = info->dlpi_addr + segment->p_vaddr - page_skew;
        mapping->limit = info->dlpi_addr + segment->p_vaddr + segment->p_memsz;
        mapping->file_offset = segment->p_offset - page_skew;
        mapping->path = path_copy;
        mapping->build_id = build_id;
    }
    return 0;
}

static int mappings_capture(rallo_profile *profile) {
    module_list list = {.profile = profile};
    dl_iterate_phdr(module_visit, &list);
    if (list.failed) {
        mi_free(list.items);
        return -1;
    }
    if (list.count > 0) {
        profile->mappings = rallo_profile_alloc(profile, list.count * sizeof *profile->mappings);
        if (profile->mappings == NULL) {
            mi_free(list.items);
            return -1;
        }
        memcpy(profile->mappings, list.items, list.count * sizeof *profile->mappings);
        profile->nmappings = list.count;
    }
    mi_free(list.items);
    return 0;
}

static uint32_t mapping_of(const rallo_profile *profile, uint64_t address) {
    for (size_t i = 0; i < profile->nmappings; i++)
        if (address >= profile->mappings[i].start && address < profile->mappings[i].limit)
            return (uint32_t)i;
    return RALLO_NO_MAPPING;
}

/* ---- sites and locations ---- */

/* address -> location index, deduplicating frames shared by many stacks. */
typedef struct location_index {
    uint64_t *addresses; /* 0: empty slot (no frame has address 0) */
    uint32_t *indices;
    size_t mask;
} location_index;

static uint32_t location_intern(rallo_profile *profile, location_index *index, uint64_t address) {
    uint64_t hash = address * 0x9E3779B97F4A7C15ull;
    size_t slot = (size_t)(hash ^ (hash >> 29)) & index->mask;
    while (index->addresses[slot] != 0) {
        if (index->addresses[slot] == address)
            return index->indices[slot];
        slot = (slot + 1) & index->mask;
    }
    uint32_t location = (uint32_t)profile->nlocations++;
    profile->locations[location].address = address;
    profile->locations[location].mapping = mapping_of(profile, address);
    index->addresses[slot] = address;
    index->indices[slot] = location;
    return location;
}

static void site_fill(rallo_prof_site *site, const rallo_site_sums *sums) {
    rallo_site_figures figures = _rallo_site_figures(sums);
    site->alloc_count = figures.alloc_count;
    site->alloc_bytes = figures.alloc_bytes;
    site->free_count = figures.free_count;
    site->free_bytes = figures.free_bytes;
    site->live_count = figures.live_count;
    site->live_bytes = figures.live_bytes;
}

static int sites_capture(rallo_profile *profile) {
    uint32_t capacity = _rallo_site_count();
    rallo_site_sums *sums = mi_malloc((size_t)capacity * sizeof *sums);
    uint64_t *at_peak = mi_malloc((size_t)capacity * sizeof *at_peak);
    location_index index = {0};
    int result = -1;
    if (sums == NULL || at_peak == NULL)
        goto done;
    /* This copy is the only moment that touches what allocating threads write. */
    uint32_t nsites = _rallo_sites_snapshot(sums, capacity);
    uint64_t peak_live = 0;
    _rallo_peak_sites(at_peak, nsites, &peak_live);

    size_t counted = 0, frames = 0;
    for (uint32_t id = RALLO_SITE_OTHER; id < nsites; id++) {
        if (sums[id].alloc_count == 0 && sums[id].free_count == 0)
            continue;
        uint32_t depth;
        _rallo_site_frames(id, &depth);
        counted++;
        frames += depth;
    }
    profile->sites = rallo_profile_alloc(profile, (counted ? counted : 1) * sizeof *profile->sites);
    profile->locations = rallo_profile_alloc(profile, (frames ? frames : 1) * sizeof *profile->locations);
    size_t slots = 64;
    while (slots < 2 * frames)
        slots *= 2;
    index.addresses = mi_zalloc(slots * sizeof *index.addresses);
    index.indices = mi_malloc(slots * sizeof *index.indices);
    index.mask = slots - 1;
    if (profile->sites == NULL || profile->locations == NULL || index.addresses == NULL ||
        index.indices == NULL)
        goto done;

    rallo_totals *totals = &profile->totals;
    for (uint32_t id = RALLO_SITE_OTHER; id < nsites && profile->nsites < counted; id++) {
        if (sums[id].alloc_count == 0 && sums[id].free_count == 0)
            continue;
        rallo_prof_site *site = &profile->sites[profile->nsites++];
        site_fill(site, &sums[id]);
        site->peak_live_bytes = at_peak[id];
        uint32_t depth;
        const uintptr_t *pcs = _rallo_site_frames(id, &depth);
        site->locations = rallo_profile_alloc(profile, (depth ? depth : 1) * sizeof *site->locations);
        if (site->locations == NULL)
            goto done;
        for (uint32_t f = 0; f < depth; f++)
            if (pcs[f] != 0)
                site->locations[site->nlocations++] = location_intern(profile, &index, pcs[f]);
        rallo_totals_add_site(totals, site);
    }
    totals->peak_live_bytes = _rallo_peak_live_bytes();
    /* Live now at or above the recorded peak (a program that never frees): this
     * moment is the peak, and its breakdown is exact. The peak is never less
     * than what its breakdown adds up to. */
    bool now_is_peak = totals->live_bytes >= totals->peak_live_bytes;
    uint64_t attributed = 0;
    for (size_t i = 0; i < profile->nsites; i++) {
        if (now_is_peak)
            profile->sites[i].peak_live_bytes = profile->sites[i].live_bytes;
        attributed += profile->sites[i].peak_live_bytes;
    }
    if (totals->peak_live_bytes < attributed)
        totals->peak_live_bytes = attributed;
    if (totals->peak_live_bytes < totals->live_bytes)
        totals->peak_live_bytes = totals->live_bytes;
    result = 0;
done:
    mi_free(sums);
    mi_free(at_peak);
    mi_free(index.addresses);
    mi_free(index.indices);
    return result;
}

/* ---- symbols: one symbolizer (and its cache) for the process's life ---- */

static pthread_mutex_t symbolizer_lock = PTHREAD_MUTEX_INITIALIZER;
static rallo_symbolizer *symbolizer_shared;

/* libdw does not survive running out of memory mid-lookup (it crashed the host
 * under a tight RLIMIT_AS), so symbols are only looked up with headroom left:
 * 64 MiB of address space that can be mapped now. Without it the dump keeps
 * addresses and mappings, which `rallo report` symbolizes later. */
#define SYMBOLIZE_HEADROOM ((size_t)64 << 20)

static bool symbolize_has_headroom(void) {
    void *probe = mmap(NULL, SYMBOLIZE_HEADROOM, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED)
        return false;
    munmap(probe, SYMBOLIZE_HEADROOM);
    return true;
}

static void symbolize_self(rallo_profile *profile) {
    if (!symbolize_has_headroom()) {
        static _Atomic int warned_no_headroom;
        if (atomic_exchange(&warned_no_headroom, 1) == 0)
            _rallo_warn(
                "memory is nearly exhausted: dumps keep addresses only (rallo report symbolizes them)");
        return;
    }
    /* Report threads only ever meet here. One already busy (or a lock left
     * held across fork) costs a fresh symbolizer, never a wait. */
    if (pthread_mutex_trylock(&symbolizer_lock) == 0) {
        if (symbolizer_shared == NULL)
            symbolizer_shared = rallo_symbolizer_new(true);
        if (symbolizer_shared != NULL)
            rallo_symbolize(symbolizer_shared, profile, NULL, NULL, NULL);
        pthread_mutex_unlock(&symbolizer_lock);
        return;
    }
    rallo_symbolizer *own = rallo_symbolizer_new(true);
    if (own != NULL) {
        rallo_symbolize(own, profile, NULL, NULL, NULL);
        rallo_symbolizer_free(own);
    }
}

static void process_identity(rallo_profile *profile) {
    profile->pid = (int32_t)getpid();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    profile->time_unix_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
    profile->sample_interval = rallo_get_sample_interval();
    if (profile->sample_interval == 1)
        profile->sample_interval = 0;
    char path[4096];
    ssize_t len = readlink("/proc/self/exe", path, sizeof path - 1);
    if (len > 0) {
        path[len] = '\0';
        profile->program = rallo_profile_strdup(profile, path);
    }
    /* The command line as it stands now (a server may have rewritten it), so
     * dumps of one program's many processes can be told apart. */
    profile->ppid = (int32_t)getppid();
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, path, sizeof path) : -1;
    if (got > 0)
        rallo_profile_set_argv(profile, path, (size_t)got);
    if (fd >= 0)
        close(fd);
}

int rallo_profile_capture(rallo_profile *out) {
    _rallo_guard_enter();
    int saved_errno = errno;
    rallo_profile_init(out);
    process_identity(out);
    rallo_get_untracked(&out->untracked);
    out->stacks_cut_short = _rallo_stacks_cut_short();
    /* Mappings first: each location is given its mapping as it is made. */
    int result = mappings_capture(out);
    if (result == 0)
        result = sites_capture(out);
    const rallo_untracked *u = &out->untracked;
    out->totals.untracked_count =
        u->arena_full + u->no_arena + u->alignment + u->too_large + u->thread_exiting;
    if (result == 0)
        symbolize_self(out);
    if (result != 0) {
        rallo_profile_free(out);
        saved_errno = ENOMEM;
    }
    errno = saved_errno;
    _rallo_guard_leave();
    return result;
}
