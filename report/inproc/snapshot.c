/* snapshot.c - a profile of this process now, as addresses: the per-site
 * counters copied (allocating threads are held up by nothing but that copy: no
 * lock of theirs is taken), each site's live bytes at the peak, and the loaded
 * modules as mappings with GNU build ids. No symbols: naming frames is
 * symbolize-self.c's (in-process, on request) or the `rallo` command's. Runs
 * under the tracking guard: whatever this code allocates stays untracked. */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <mimalloc.h>

#include "../util/array.h"
#include "../../tracking/door.h"
#include "snapshot.h"

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

/* address -> location index, deduplicating frames shared by many stacks;
 * grown as distinct addresses come, so its size follows the code the stacks
 * pass through, not the number of stacks. */
typedef struct location_index {
    uint64_t *addresses; /* 0: empty slot (no frame has address 0) */
    uint32_t *indices;
    size_t mask, used;
    rallo_prof_location *locations; /* mi_realloc'd; copied into the profile at the end */
    size_t capacity;
} location_index;

static bool location_index_grow(location_index *index) {
    size_t slots = index->mask != 0 ? 2 * (index->mask + 1) : 1024;
    uint64_t *addresses = mi_zalloc(slots * sizeof *addresses);
    uint32_t *indices = mi_malloc(slots * sizeof *indices);
    if (addresses == NULL || indices == NULL) {
        mi_free(addresses);
        mi_free(indices);
        return false;
    }
    for (size_t old = 0; index->mask != 0 && old <= index->mask; old++) {
        if (index->addresses[old] == 0)
            continue;
        uint64_t hash = index->addresses[old] * 0x9E3779B97F4A7C15ull;
        size_t slot = (size_t)(hash ^ (hash >> 29)) & (slots - 1);
        while (addresses[slot] != 0)
            slot = (slot + 1) & (slots - 1);
        addresses[slot] = index->addresses[old];
        indices[slot] = index->indices[old];
    }
    mi_free(index->addresses);
    mi_free(index->indices);
    index->addresses = addresses;
    index->indices = indices;
    index->mask = slots - 1;
    return true;
}

/* The location of address; UINT32_MAX when out of memory. */
static uint32_t location_intern(const rallo_profile *profile, location_index *index, uint64_t address) {
    if (2 * (index->used + 1) > index->mask + 1 && !location_index_grow(index))
        return UINT32_MAX;
    uint64_t hash = address * 0x9E3779B97F4A7C15ull;
    size_t slot = (size_t)(hash ^ (hash >> 29)) & index->mask;
    while (index->addresses[slot] != 0) {
        if (index->addresses[slot] == address)
            return index->indices[slot];
        slot = (slot + 1) & index->mask;
    }
    if (!rallo_array_reserve((void **)&index->locations, &index->capacity, index->used + 1,
                             sizeof *index->locations, 256))
        return UINT32_MAX;
    uint32_t location = (uint32_t)index->used++;
    index->locations[location] =
        (rallo_prof_location){.address = address, .mapping = mapping_of(profile, address)};
    index->addresses[slot] = address;
    index->indices[slot] = location;
    return location;
}

/* Room for the copy, made before the dump lock is taken: mapped, touched and
 * kept out of forked children (MADV_DONTFORK), so that copying into it under
 * the lock never faults. A page fault waits for the process's mmap lock, which
 * fork() holds while it copies the address space: a copy that faulted under
 * the dump lock made each fork wait for the forks before it. */
static void *copy_room_map(size_t bytes) {
    void *room = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (room == MAP_FAILED)
        return NULL;
    (void)madvise(room, bytes, MADV_DONTFORK);
    return room;
}

static void copy_room_unmap(rallo_snapshot_copy *copy) {
    if (copy->sums != NULL)
        munmap(copy->sums, copy->room_sites * sizeof *copy->sums);
    if (copy->at_peak != NULL)
        munmap(copy->at_peak, copy->room_sites * sizeof *copy->at_peak);
    copy->sums = NULL;
    copy->at_peak = NULL;
}

int _rallo_snapshot_copy_prepare(rallo_snapshot_copy *copy) {
    memset(copy, 0, sizeof *copy);
    /* Sites made before the lock is taken fit; any made after miss this dump. */
    uint32_t sites = _rallo_door->site_count();
    copy->room_sites = (size_t)sites + sites / 16 + 64;
    copy->sums = copy_room_map(copy->room_sites * sizeof *copy->sums);
    copy->at_peak = copy_room_map(copy->room_sites * sizeof *copy->at_peak);
    if (copy->sums == NULL || copy->at_peak == NULL) {
        copy_room_unmap(copy);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* The first half: what allocating threads write, copied. */
static void counters_copy(rallo_snapshot_copy *copy) {
    uint32_t room = copy->room_sites > UINT32_MAX ? UINT32_MAX : (uint32_t)copy->room_sites;
    /* This copy is the only moment that touches what allocating threads write. */
    copy->nsites = _rallo_door->sites_snapshot(copy->sums, room);
    uint64_t peak_live = 0;
    _rallo_door->peak_sites(copy->at_peak, copy->nsites, &peak_live);
    copy->peak_live_bytes = _rallo_door->peak_live_bytes();
}

/* The second half: sites and their locations, from the copy and the depot
 * (whose stacks never change once published). */
static int sites_build(rallo_profile *profile, const rallo_snapshot_copy *copy) {
    const rallo_site_sums *sums = copy->sums;
    uint32_t nsites = copy->nsites;
    location_index index = {0};
    int result = -1;
    size_t counted = 0, frames = 0;
    for (uint32_t id = RALLO_SITE_OTHER; id < nsites; id++) {
        if (sums[id].alloc_weight == 0 && sums[id].free_weight == 0)
            continue;
        uint32_t depth;
        (void)_rallo_door->site_frames(id, &depth);
        frames += depth;
        counted++;
    }
    /* Every site's locations in one array (a site's own would round each
     * stack up to 16 bytes and cost an allocation a site). */
    profile->sites = rallo_profile_alloc(profile, (counted ? counted : 1) * sizeof *profile->sites);
    uint32_t *locations = rallo_profile_alloc(profile, (frames ? frames : 1) * sizeof *locations);
    if (profile->sites == NULL || locations == NULL)
        goto done;

    rallo_totals *totals = &profile->totals;
    for (uint32_t id = RALLO_SITE_OTHER; id < nsites && profile->nsites < counted; id++) {
        if (sums[id].alloc_weight == 0 && sums[id].free_weight == 0)
            continue;
        rallo_prof_site *site = &profile->sites[profile->nsites++]; /* zeroed */
        rallo_site_figures figures = _rallo_site_figures(&sums[id]);
        RALLO_SITE_FIGURES_ADD(site, &figures);
        site->site_id = id;
        site->peak_live_bytes = copy->at_peak[id];
        uint32_t depth;
        const uintptr_t *pcs = _rallo_door->site_frames(id, &depth);
        if (depth > frames)
            goto done; /* a stack is never rewritten once published: not reached */
        site->locations = locations;
        locations += depth;
        frames -= depth;
        for (uint32_t f = 0; f < depth; f++) {
            if (pcs[f] == 0)
                continue;
            uint32_t location = location_intern(profile, &index, pcs[f]);
            if (location == UINT32_MAX)
                goto done;
            site->locations[site->nlocations++] = location;
        }
        RALLO_SITE_FIGURES_ADD(totals, site);
    }
    profile->locations =
        rallo_profile_alloc(profile, (index.used ? index.used : 1) * sizeof *profile->locations);
    if (profile->locations == NULL)
        goto done;
    if (index.used > 0)
        memcpy(profile->locations, index.locations, index.used * sizeof *profile->locations);
    profile->nlocations = index.used;
    totals->peak_live_bytes = copy->peak_live_bytes;
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
    mi_free(index.addresses);
    mi_free(index.indices);
    mi_free(index.locations);
    return result;
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

int _rallo_snapshot_copy_take(rallo_profile *out, rallo_snapshot_copy *copy) {
    _rallo_door->guard_enter();
    int saved_errno = errno;
    rallo_profile_init(out);
    process_identity(out);
    rallo_get_untracked(&out->untracked);
    out->stacks_cut_short = _rallo_door->stacks_cut_short();
    /* Mappings first: each location is given its mapping as it is made. */
    int result = mappings_capture(out);
    if (result == 0)
        counters_copy(copy);
    if (result != 0) {
        _rallo_snapshot_copy_drop(out, copy);
        saved_errno = ENOMEM;
    }
    errno = saved_errno;
    _rallo_door->guard_leave();
    return result;
}

void _rallo_snapshot_copy_drop(rallo_profile *out, rallo_snapshot_copy *copy) {
    _rallo_door->guard_enter();
    copy_room_unmap(copy);
    rallo_profile_free(out);
    _rallo_door->guard_leave();
}

int _rallo_snapshot_copy_finish(rallo_profile *out, rallo_snapshot_copy *copy) {
    _rallo_door->guard_enter();
    int saved_errno = errno;
    int result = sites_build(out, copy);
    if (result == 0)
        result = _rallo_snapshot_lifetimes(out);
    if (result == 0)
        result = _rallo_snapshot_free_sites(out);
    const rallo_untracked *u = &out->untracked;
    out->totals.untracked_count =
        u->arena_full + u->no_arena + u->alignment + u->too_large + u->thread_exiting;
    copy_room_unmap(copy);
    if (result != 0) {
        rallo_profile_free(out);
        saved_errno = ENOMEM;
    }
    errno = saved_errno;
    _rallo_door->guard_leave();
    return result;
}

int _rallo_profile_snapshot(rallo_profile *out) {
    rallo_snapshot_copy copy;
    if (_rallo_snapshot_copy_prepare(&copy) != 0) {
        rallo_profile_init(out);
        return -1;
    }
    if (_rallo_snapshot_copy_take(out, &copy) != 0)
        return -1;
    return _rallo_snapshot_copy_finish(out, &copy);
}
