/* symbolize_session.c - the symbolizer's libdwfl session: each module a
 * profile's mappings name is opened once (regular files only), its GNU build
 * id checked against the mapping's, its load bias found, and it is reported
 * to libdwfl; the same set of mappings keeps the session (and the cache). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <mimalloc.h>

#include "debuginfo.h"
#include "safe_open.h"
#include "symbolize_internal.h"
#include "util/hash.h"

static const Dwfl_Callbacks dwfl_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = rallo_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

static bool is_main_program(const rallo_profile *profile, const rallo_prof_mapping *mapping) {
    return profile->program != NULL && mapping->path != NULL && strcmp(profile->program, mapping->path) == 0;
}

static void hex_of(const unsigned char *bytes, size_t len, char *out, size_t out_size) {
    static const char digits[] = "0123456789abcdef";
    size_t i = 0;
    for (; i < len && 2 * i + 2 < out_size; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * i] = '\0';
}

/* Checks the mapping's file (open as fd) for its build id, and finds the load
 * bias that puts file_offset at start. Returns NULL and sets *why when unusable. */
static const char *module_bias(int fd, const rallo_prof_mapping *mapping, uint64_t *bias) {
    const char *why = NULL;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    size_t phnum = 0;
    if (elf == NULL || elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &phnum) != 0) {
        why = "not an ELF file";
        goto done;
    }
    if (mapping->build_id != NULL && mapping->build_id[0] != '\0') {
        const void *id = NULL;
        ssize_t len = dwelf_elf_gnu_build_id(elf, &id);
        char hex[2 * 64 + 1];
        hex_of(id, len > 0 ? (size_t)len : 0, hex, sizeof hex);
        if (len <= 0 || strcasecmp(hex, mapping->build_id) != 0) {
            why = "build id differs";
            goto done;
        }
    }
    why = "no loadable segment at the mapping's offset";
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr phdr;
        if (gelf_getphdr(elf, (int)i, &phdr) == NULL || phdr.p_type != PT_LOAD)
            continue;
        uint64_t page_start = phdr.p_offset & ~(uint64_t)0xfff;
        if (mapping->file_offset < page_start || mapping->file_offset >= phdr.p_offset + phdr.p_filesz)
            continue;
        /* start holds file byte file_offset, which the segment puts at p_vaddr + (file_offset - p_offset). */
        *bias = mapping->start - phdr.p_vaddr - mapping->file_offset + phdr.p_offset;
        why = NULL;
        break;
    }
done:
    if (elf != NULL)
        elf_end(elf);
    return why;
}

static uint64_t modules_signature(const rallo_profile *profile) {
    uint64_t hash = 0x9E3779B97F4A7C15ull ^ profile->nmappings;
    for (size_t i = 0; i < profile->nmappings; i++) {
        const rallo_prof_mapping *m = &profile->mappings[i];
        hash = rallo_hash_mix(hash ^ m->start) + m->limit;
        hash = rallo_hash_mix(hash ^ m->file_offset) +
               (m->path != NULL ? rallo_hash_string(rallo_hash_seed(), m->path) : 0);
        hash += m->build_id != NULL ? rallo_hash_string(rallo_hash_seed(), m->build_id) : 0;
    }
    return hash;
}

static int by_path_then_index(const void *a, const void *b, void *arg) {
    const rallo_prof_mapping *mappings = arg;
    size_t left = *(const size_t *)a, right = *(const size_t *)b;
    int order = strcmp(mappings[left].path, mappings[right].path);
    return order != 0 ? order : left < right ? -1 : left > right;
}

/* Which mappings name the same file as an earlier one, found by sorting (a
 * profile's mappings are anyone's: however many it has, they must not cost
 * n^2 string compares). NULL when out of memory: then every mapping is reported. */
static bool *repeated_paths(const rallo_profile *profile) {
    size_t *order = mi_mallocn(profile->nmappings + 1, sizeof *order);
    bool *repeated = mi_zalloc((profile->nmappings + 1) * sizeof *repeated);
    size_t named = 0;
    for (size_t i = 0; order != NULL && i < profile->nmappings; i++)
        if (profile->mappings[i].path != NULL)
            order[named++] = i;
    if (order != NULL && repeated != NULL && named > 1) {
        qsort_r(order, named, sizeof *order, by_path_then_index, profile->mappings);
        for (size_t k = 1; k < named; k++)
            repeated[order[k]] =
                strcmp(profile->mappings[order[k]].path, profile->mappings[order[k - 1]].path) == 0;
    }
    mi_free(order);
    return repeated;
}

/* A changed set of mappings starts over: a module unloaded and another loaded
 * at its address would make cached answers wrong. */
int rallo_sym_session_report(rallo_symbolizer *s, const rallo_profile *profile, rallo_sym_stats *stats,
                             rallo_sym_problem_fn problem, void *arg) {
    uint64_t signature = modules_signature(profile);
    if (s->dwfl != NULL && signature == s->modules_signature)
        return 0;
    rallo_sym_cache_clear(s);
    rallo_sym_modules_clear(s);
    if (s->dwfl != NULL)
        dwfl_end(s->dwfl);
    s->dwfl = dwfl_begin(&dwfl_callbacks);
    if (s->dwfl == NULL) {
        errno = ENOMEM;
        return -1;
    }
    s->modules_signature = signature;
    bool *repeated = repeated_paths(profile);
    dwfl_report_begin(s->dwfl);
    for (size_t i = 0; i < profile->nmappings; i++) {
        const rallo_prof_mapping *mapping = &profile->mappings[i];
        if (mapping->path == NULL || mapping->path[0] != '/')
            continue; /* [vdso], anonymous code: nothing on disk to read */
        /* A module with several mappings is reported once, from its first. */
        if (repeated != NULL && repeated[i])
            continue;
        const char *open_path =
            s->this_process && is_main_program(profile, mapping) ? "/proc/self/exe" : mapping->path;
        uint64_t bias = 0;
        const char *why = NULL;
        /* Opened once, by us, regular files only: libdwfl is handed the
         * descriptor (and keeps it when it takes the module). */
        int fd = rallo_open_regular(open_path, &why);
        if (fd >= 0 && (why = module_bias(fd, mapping, &bias)) == NULL) {
            if (dwfl_report_elf(s->dwfl, mapping->path, open_path, fd, bias, false) != NULL)
                fd = -1;
            else
                why = dwfl_errmsg(-1);
        }
        if (fd >= 0)
            close(fd);
        if (why != NULL) {
            if (stats != NULL) {
                if (strcmp(why, "build id differs") == 0)
                    stats->modules_mismatched++;
                else
                    stats->modules_missing++;
            }
            if (problem != NULL)
                problem(mapping, why, arg);
        }
    }
    dwfl_report_end(s->dwfl, NULL, NULL);
    mi_free(repeated);
    return 0;
}
