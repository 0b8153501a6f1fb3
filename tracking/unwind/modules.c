/* modules.c - which loaded module holds a pc, where its code and its
 * call-frame search table are. glibc's _dl_find_object (lock-free,
 * async-signal-safe, always current with dlopen/dlclose) names the module; a
 * lock-free registry keyed by what it reports (map start and end,
 * .eh_frame_hdr address) holds a small record of each. A module seen for the
 * first time is read inside dl_iterate_phdr's callback, where the loader
 * keeps it mapped, so a dlclose on another thread can never unmap what is
 * being read. Records are
 * never freed: a module loaded again at another address gets a new one. No
 * lock of ours is ever held, so no signal or fork can leave one held. Modules
 * that can never be unloaded while librallo is loaded are marked pinned. */
#include <dlfcn.h>
#include <link.h>
#include <mimalloc.h>
#include <stdatomic.h>
#include <unistd.h>

#include "unwind_dwarf.h"

/* Open addressing on map_start; at most 3/4 full. */
#define MODULE_SLOTS 4096u
static _Atomic(rallo_module *) module_slots[MODULE_SLOTS];
static _Atomic uint32_t module_count = 0;
static _Atomic int module_full_warned = 0;

static uint32_t module_hash(uintptr_t map_start) {
    uint64_t h = (uint64_t)map_start * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 40) & (MODULE_SLOTS - 1);
}

static bool module_is(const rallo_module *m, const rallo_module_key *key) {
    return m->map_start == key->map_start && m->map_end == key->map_end &&
           m->eh_frame_hdr == key->eh_frame_hdr;
}

static rallo_module *module_lookup(const rallo_module_key *key) {
    uint32_t slot = module_hash(key->map_start);
    for (uint32_t probe = 0; probe < MODULE_SLOTS; probe++, slot = (slot + 1) & (MODULE_SLOTS - 1)) {
        rallo_module *m = atomic_load_explicit(&module_slots[slot], memory_order_acquire);
        if (m == NULL)
            return NULL;
        if (module_is(m, key))
            return m;
    }
    return NULL;
}

/* Publishes `fresh`; returns the record that won (another thread may have
 * compiled the same module meanwhile: then `fresh` is freed). */
static rallo_module *module_publish(rallo_module *fresh, const rallo_module_key *key) {
    uint32_t slot = module_hash(fresh->map_start);
    for (uint32_t probe = 0; probe < MODULE_SLOTS; probe++, slot = (slot + 1) & (MODULE_SLOTS - 1)) {
        rallo_module *m = atomic_load_explicit(&module_slots[slot], memory_order_acquire);
        if (m == NULL) {
            rallo_module *expected = NULL;
            if (atomic_compare_exchange_strong_explicit(&module_slots[slot], &expected, fresh,
                                                        memory_order_acq_rel, memory_order_acquire))
                return fresh;
            m = expected;
        }
        if (module_is(m, key)) {
            mi_free(fresh);
            return m;
        }
    }
    mi_free(fresh);
    return NULL;
}

/* The pinned modules: the main program, and those holding a function of
 * libc, the loader, libmimalloc and librallo (its dependencies stay as long as
 * it does). Found once; until then (or in a child forked while another thread
 * was finding them) no module counts as pinned, which is only slower. */
#define PINNED_MAX 5
static rallo_module_key pinned_keys[PINNED_MAX];
static uint32_t pinned_count;
static _Atomic int pinned_state = 0; /* 0: not yet, 1: being found, 2: found */

/* dl_iterate_phdr visits the main program first: one address inside it. */
static int main_program_visit(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_LOAD) {
            *(uintptr_t *)arg = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
            break;
        }
    return 1;
}

/* Called with the guard held (dl_iterate_phdr may allocate). */
static rallo_noinline void pinned_find(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&pinned_state, &expected, 1))
        return;
    uintptr_t probes[PINNED_MAX] = {0, (uintptr_t)&getpid, (uintptr_t)&_dl_find_object, (uintptr_t)&mi_free,
                                    (uintptr_t)&_rallo_module_identify};
    dl_iterate_phdr(main_program_visit, &probes[0]);
    for (uint32_t i = 0; i < PINNED_MAX; i++) {
        rallo_module_key key;
        if (probes[i] == 0 || !_rallo_module_identify(probes[i], &key))
            continue;
        bool known = false;
        for (uint32_t j = 0; j < pinned_count; j++)
            known |= pinned_keys[j].map_start == key.map_start;
        if (!known)
            pinned_keys[pinned_count++] = key;
    }
    atomic_store_explicit(&pinned_state, 2, memory_order_release);
}

static bool module_pinned(const rallo_module_key *key) {
    if (atomic_load_explicit(&pinned_state, memory_order_acquire) != 2)
        return false;
    for (uint32_t i = 0; i < pinned_count; i++)
        if (pinned_keys[i].map_start == key->map_start && pinned_keys[i].map_end == key->map_end &&
            pinned_keys[i].eh_frame_hdr == key->eh_frame_hdr)
            return true;
    return false;
}

typedef struct module_search {
    uintptr_t pc;
    const rallo_module_key *key;
    rallo_module *module;
} module_search;

static int module_record_visit(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    module_search *search = arg;
    rallo_module *module = search->module;
    cfi_source source = {.bias = info->dlpi_addr, .map_start = search->key->map_start};
    bool holds_pc = false;
    module->text_count = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + segment->p_vaddr;
        if (segment->p_type == PT_GNU_EH_FRAME)
            source.eh_frame_hdr = (const uint8_t *)start;
        if (segment->p_type != PT_LOAD)
            continue;
        if (search->pc >= start && search->pc - start < segment->p_memsz)
            holds_pc = true;
        if ((segment->p_flags & PF_X) && module->text_count < MODULE_MAX_TEXT) {
            module->text_start[module->text_count] = start;
            module->text_end[module->text_count++] = start + segment->p_memsz;
        }
        if ((segment->p_flags & PF_R) && source.segment_count < CFI_MAX_SEGMENTS) {
            /* Only the file-backed part: the rest (.bss) holds no CFI. */
            source.segment_start[source.segment_count] = start;
            source.segment_end[source.segment_count++] = start + segment->p_filesz;
        }
    }
    /* The same module _dl_find_object named, not one loaded since in its place. */
    if (!holds_pc || (const void *)source.eh_frame_hdr != search->key->eh_frame_hdr)
        return 0;
    module->source = source;
    _rallo_cfi_table_open(&module->source, &module->table);
    return 1;
}

/* Records the module `key` names (pc lies in it); the guard is held by our caller. */
static rallo_noinline rallo_module *module_record(uintptr_t pc, const rallo_module_key *key) {
    if (atomic_load_explicit(&module_count, memory_order_relaxed) >= MODULE_SLOTS / 4 * 3) {
        if (atomic_exchange(&module_full_warned, 1) == 0)
            _rallo_warn("more than %u modules seen: new ones are unwound by frame pointers only",
                        MODULE_SLOTS / 4 * 3);
        return NULL;
    }
    if (atomic_load_explicit(&pinned_state, memory_order_relaxed) == 0)
        pinned_find();
    rallo_module *fresh = mi_zalloc(sizeof *fresh);
    if (fresh == NULL)
        return NULL;
    fresh->map_start = key->map_start;
    fresh->map_end = key->map_end;
    fresh->eh_frame_hdr = key->eh_frame_hdr;
    fresh->pinned = module_pinned(key);
    module_search search = {.pc = pc, .key = key, .module = fresh};
    if (dl_iterate_phdr(module_record_visit, &search) == 0) {
        /* Unloaded between the two look-ups: nothing to record. */
        mi_free(fresh);
        return NULL;
    }
    atomic_fetch_add_explicit(&module_count, 1, memory_order_relaxed);
    return module_publish(fresh, key);
}

bool _rallo_module_identify(uintptr_t pc, rallo_module_key *key) {
    struct dl_find_object found;
    if (_dl_find_object((void *)pc, &found) != 0)
        return false;
    key->map_start = (uintptr_t)found.dlfo_map_start;
    key->map_end = (uintptr_t)found.dlfo_map_end;
    key->eh_frame_hdr = found.dlfo_eh_frame;
    return true;
}

const rallo_module *_rallo_module_get(uintptr_t pc, const rallo_module_key *key) {
    rallo_module *m = module_lookup(key);
    if (rallo_likely(m != NULL))
        return m;
    return module_record(pc, key);
}

bool _rallo_module_row(const rallo_module *module, uintptr_t pc, cfi_row *row) {
    return _rallo_cfi_row_at(&module->source, &module->table, pc, row);
}

bool _rallo_module_text_holds(const rallo_module *module, uintptr_t pc) {
    for (uint32_t i = 0; i < module->text_count; i++)
        if (pc - module->text_start[i] < module->text_end[i] - module->text_start[i])
            return true;
    return false;
}
