/* symbolize.c - code addresses to function, file:line and inlined frames with
 * elfutils libdw: modules are reported to a Dwfl session from the profile's
 * mappings (each file's build id checked), each address is looked up once and
 * cached, and the cached lines are copied into the profile's own arena.
 *
 * Per module, what it lacks is found once: whether it has DWARF at all, and
 * its ELF symbols sorted by address the first time a frame needs them
 * (dwfl_module_addrinfo scans every symbol on each call: 30,000 of them for
 * cc1plus, seconds for a profile's frames). A line is taken only from a
 * compilation unit whose ranges hold the address: libdwfl hands out the
 * preceding unit's last line for an address in a gap between units.
 *
 * C++ names: libdw gives linkage (mangled) names. librallo must not need
 * libstdc++, so __cxa_demangle is looked up lazily with dlsym: present in any
 * C++ program (libstdc++ is loaded), and the offline CLI loads libstdc++.so.6
 * itself when it exists. Without it names stay mangled. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <mimalloc.h>

#include "debuginfo.h"
#include "safe_open.h"
#include "util/array.h"
#include "util/hash.h"
#include "symbolize.h"
#include "writers.h"

#define MAX_INLINE_DEPTH 32

typedef enum sym_outcome { OUT_LINES, OUT_SYMBOL, OUT_NO_SYMBOL, OUT_NO_MODULE } sym_outcome;

/* One address's answer; strings are interned in the symbolizer. */
typedef struct sym_entry {
    uint64_t address; /* 0: empty slot */
    uint32_t nlines;
    uint16_t outcome;
    uint16_t module; /* index in the symbolizer's modules + 1; 0: none */
    rallo_prof_line *lines;
} sym_entry;

/* One ELF symbol of a module's table, at its load address. */
typedef struct sym_symbol {
    uint64_t start, end; /* end == start: the symbol has no size */
    uint64_t cover_end;  /* the largest end of this and every symbol before it */
    const char *name;    /* libelf's, valid while the Dwfl session lives */
    int rank;            /* global 2, weak 1, local 0: the name preferred among aliases */
} sym_symbol;

/* What is known of one module of the session, found once. */
typedef struct sym_module {
    Dwfl_Module *module;
    const char *path;
    bool has_dwarf;
    bool symbols_read, symbols_failed;
    sym_symbol *symbols; /* sorted by start, then rank (highest first) */
    size_t nsymbols;
} sym_module;

#define MAX_MODULES 0xfffe

struct rallo_symbolizer {
    bool this_process;
    Dwfl *dwfl;
    uint64_t modules_signature; /* of the mappings the session was built from */
    uint64_t cache_seed; /* rallo_hash_seed: a profile's addresses and names cannot be chosen to collide */
    sym_entry *cache;
    size_t cache_mask, cache_used;
    char **strings; /* interned strings, open addressing */
    size_t strings_mask, strings_used;
    sym_module *modules; /* of the current session */
    size_t nmodules, cap_modules;
    rallo_sym_undebugged_fn undebugged;
    void *undebugged_arg;
};

/* ---- hashing and the two tables ---- */

/* Returns the symbolizer's copy of text (NULL for NULL, or when out of memory). */
static const char *intern(rallo_symbolizer *s, const char *text) {
    if (text == NULL || *text == '\0')
        return NULL;
    if ((s->strings_used + 1) * 2 > s->strings_mask + 1 || s->strings == NULL) {
        size_t slots = s->strings == NULL ? 1024 : (s->strings_mask + 1) * 2;
        char **grown = mi_zalloc(slots * sizeof *grown);
        if (grown == NULL)
            return NULL;
        for (size_t i = 0; s->strings != NULL && i <= s->strings_mask; i++) {
            if (s->strings[i] == NULL)
                continue;
            size_t slot = rallo_hash_string(s->cache_seed, s->strings[i]) & (slots - 1);
            while (grown[slot] != NULL)
                slot = (slot + 1) & (slots - 1);
            grown[slot] = s->strings[i];
        }
        mi_free(s->strings);
        s->strings = grown;
        s->strings_mask = slots - 1;
    }
    size_t slot = rallo_hash_string(s->cache_seed, text) & s->strings_mask;
    while (s->strings[slot] != NULL) {
        if (strcmp(s->strings[slot], text) == 0)
            return s->strings[slot];
        slot = (slot + 1) & s->strings_mask;
    }
    char *copy = mi_strdup(text);
    if (copy == NULL)
        return NULL;
    s->strings[slot] = copy;
    s->strings_used++;
    return copy;
}

static void cache_clear(rallo_symbolizer *s) {
    for (size_t i = 0; s->cache != NULL && i <= s->cache_mask; i++)
        mi_free(s->cache[i].lines);
    mi_free(s->cache);
    s->cache = NULL;
    s->cache_mask = s->cache_used = 0;
}

static void modules_clear(rallo_symbolizer *s) {
    for (size_t i = 0; i < s->nmodules; i++)
        mi_free(s->modules[i].symbols);
    mi_free(s->modules);
    s->modules = NULL;
    s->nmodules = s->cap_modules = 0;
}

/* The slot for address: its entry, or the empty slot to fill. NULL when out of memory. */
static sym_entry *cache_slot(rallo_symbolizer *s, uint64_t address) {
    if (s->cache == NULL || (s->cache_used + 1) * 2 > s->cache_mask + 1) {
        size_t slots = s->cache == NULL ? 1024 : (s->cache_mask + 1) * 2;
        sym_entry *grown = mi_zalloc(slots * sizeof *grown);
        if (grown == NULL)
            return NULL;
        for (size_t i = 0; s->cache != NULL && i <= s->cache_mask; i++) {
            if (s->cache[i].address == 0)
                continue;
            size_t slot = rallo_hash_mix(s->cache[i].address ^ s->cache_seed) & (slots - 1);
            while (grown[slot].address != 0)
                slot = (slot + 1) & (slots - 1);
            grown[slot] = s->cache[i];
        }
        mi_free(s->cache);
        s->cache = grown;
        s->cache_mask = slots - 1;
    }
    size_t slot = rallo_hash_mix(address ^ s->cache_seed) & s->cache_mask;
    while (s->cache[slot].address != 0 && s->cache[slot].address != address)
        slot = (slot + 1) & s->cache_mask;
    return &s->cache[slot];
}

/* ---- demangling ---- */

typedef char *(*cxa_demangle_fn)(const char *mangled, char *buf, size_t *len, int *status);
static _Atomic(cxa_demangle_fn) demangler;
static _Atomic int demangler_looked_up;

static cxa_demangle_fn demangler_get(bool may_load) {
    if (!atomic_load_explicit(&demangler_looked_up, memory_order_acquire)) {
        cxa_demangle_fn fn = (cxa_demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
        /* Loading libstdc++ into a host program that does not use it would be
         * a side effect; the CLI is ours, so there it is fine. */
        if (fn == NULL && may_load) {
            void *lib = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
            if (lib != NULL)
                fn = (cxa_demangle_fn)dlsym(lib, "__cxa_demangle");
        }
        atomic_store_explicit(&demangler, fn, memory_order_relaxed);
        atomic_store_explicit(&demangler_looked_up, 1, memory_order_release);
    }
    return atomic_load_explicit(&demangler, memory_order_relaxed);
}

static const char *intern_function(rallo_symbolizer *s, const char *name) {
    if (name == NULL)
        return NULL;
    if (name[0] == '_' && name[1] == 'Z') {
        cxa_demangle_fn demangle = demangler_get(!s->this_process);
        if (demangle != NULL) {
            int status = -1;
            char *plain = demangle(name, NULL, NULL, &status);
            if (plain != NULL && status == 0) {
                const char *interned = intern(s, plain);
                free(plain); /* the demangler's malloc: the caller's guard keeps it untracked */
                return interned;
            }
            free(plain);
        }
    }
    return intern(s, name);
}

/* ---- modules ---- */

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
 * profile's mappings are anyone's: 40,000 of them must not cost n^2 string
 * compares). NULL when out of memory: then every mapping is reported. */
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

/* Builds the Dwfl session from the profile's mappings, unless the same set is
 * already reported; a changed set starts over (a module unloaded and another
 * loaded at its address would make cached answers wrong). */
static int modules_report(rallo_symbolizer *s, const rallo_profile *profile, rallo_sym_stats *stats,
                          rallo_sym_problem_fn problem, void *arg) {
    uint64_t signature = modules_signature(profile);
    if (s->dwfl != NULL && signature == s->modules_signature)
        return 0;
    cache_clear(s);
    modules_clear(s);
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

/* ---- what each module has: DWARF or not, its ELF symbols sorted ---- */

/* The symbolizer's record of a module of the session (its index + 1 is kept
 * in the module's libdwfl user data), made the first time one of its
 * addresses is looked up. 0 when out of memory or out of indices. */
static uint16_t module_index(rallo_symbolizer *s, Dwfl_Module *module) {
    void **userdata = NULL;
    const char *path = dwfl_module_info(module, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
    if (userdata != NULL && *userdata != NULL)
        return (uint16_t)(uintptr_t)*userdata;
    if (userdata == NULL || s->nmodules >= MAX_MODULES)
        return 0;
    if (!rallo_array_reserve((void **)&s->modules, &s->cap_modules, s->nmodules + 1, sizeof *s->modules, 16))
        return 0;
    sym_module *m = &s->modules[s->nmodules++];
    memset(m, 0, sizeof *m);
    m->module = module;
    m->path = path;
    Dwarf_Addr bias;
    m->has_dwarf = dwfl_module_getdwarf(module, &bias) != NULL; /* finds separate debug files too */
    *userdata = (void *)(uintptr_t)s->nmodules;
    return (uint16_t)s->nmodules;
}

static int by_start_then_rank(const void *a, const void *b) {
    const sym_symbol *left = a, *right = b;
    if (left->start != right->start)
        return left->start < right->start ? -1 : 1;
    bool left_sized = left->end > left->start, right_sized = right->end > right->start;
    if (left_sized != right_sized)
        return left_sized ? -1 : 1;
    return right->rank - left->rank;
}

/* Reads the module's symbol table once, keeping what can name code. On
 * failure the table stays empty and lookups fall back to libdwfl's. */
static bool module_read_symbols(sym_module *m) {
    m->symbols_read = true;
    int count = dwfl_module_getsymtab(m->module);
    if (count <= 1)
        return true;
    m->symbols = mi_malloc((size_t)count * sizeof *m->symbols);
    if (m->symbols == NULL)
        return false;
    size_t n = 0;
    for (int i = 1; i < count; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        GElf_Word shndx;
        const char *name = dwfl_module_getsym_info(m->module, i, &sym, &addr, &shndx, NULL, NULL);
        int type = GELF_ST_TYPE(sym.st_info);
        /* What libdwfl's own lookup considers: named, defined, in a loaded
         * section (not absolute, like libstdc++'s version names at 0). */
        if (name == NULL || name[0] == '\0' || shndx == SHN_UNDEF || shndx == SHN_ABS ||
            shndx == (GElf_Word)-1 || type == STT_SECTION || type == STT_FILE || type == STT_TLS)
            continue;
        int bind = GELF_ST_BIND(sym.st_info);
        m->symbols[n++] = (sym_symbol){.start = addr,
                                       .end = addr + sym.st_size,
                                       .name = name,
                                       .rank = bind == STB_GLOBAL ? 2
                                               : bind == STB_WEAK ? 1
                                                                  : 0};
    }
    m->nsymbols = n;
    if (n > 1)
        qsort(m->symbols, n, sizeof *m->symbols, by_start_then_rank);
    for (size_t i = 0; i < n; i++) {
        uint64_t before = i > 0 ? m->symbols[i - 1].cover_end : 0;
        m->symbols[i].cover_end = m->symbols[i].end > before ? m->symbols[i].end : before;
    }
    return true;
}

/* The name of the symbol that holds pc: the sized one nearest below it (the
 * best-bound alias among those at one address), else a size-less symbol at
 * the nearest address below, as libdwfl's lookup answers. NULL: none. */
static const char *module_symbol(const sym_module *m, uint64_t pc) {
    size_t low = 0, high = m->nsymbols;
    while (low < high) { /* the first symbol starting above pc */
        size_t mid = low + (high - low) / 2;
        if (m->symbols[mid].start <= pc)
            low = mid + 1;
        else
            high = mid;
    }
    for (size_t i = low; i-- > 0 && m->symbols[i].cover_end > pc;) {
        if (m->symbols[i].end > pc) {
            while (i > 0 && m->symbols[i - 1].start == m->symbols[i].start && m->symbols[i - 1].end > pc)
                i--;
            return m->symbols[i].name;
        }
    }
    if (low == 0)
        return NULL;
    size_t first = low - 1;
    while (first > 0 && m->symbols[first - 1].start == m->symbols[low - 1].start)
        first--;
    return m->symbols[first].end == m->symbols[first].start ? m->symbols[first].name : NULL;
}

static const char *symbol_name(rallo_symbolizer *s, uint16_t index, Dwfl_Module *module, uint64_t pc) {
    sym_module *m = index != 0 ? &s->modules[index - 1] : NULL;
    if (m != NULL && !m->symbols_read)
        m->symbols_failed = !module_read_symbols(m);
    if (m != NULL && !m->symbols_failed)
        return module_symbol(m, pc);
    GElf_Off offset;
    GElf_Sym sym;
    return dwfl_module_addrinfo(module, pc, &offset, &sym, NULL, NULL, NULL);
}

/* ---- one address ---- */

static const char *die_function_name(Dwarf_Die *die) {
    Dwarf_Attribute attr;
    const char *name = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) != NULL ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr) != NULL)
        name = dwarf_formstring(&attr);
    if (name == NULL && dwarf_attr_integrate(die, DW_AT_name, &attr) != NULL)
        name = dwarf_formstring(&attr);
    return name;
}

/* Where an inlined subroutine was called from: the caller's file:line. */
static void die_call_site(Dwarf_Die *cudie, Dwarf_Die *inlined, const char **file, int *line) {
    Dwarf_Attribute attr;
    Dwarf_Word value;
    *file = NULL;
    *line = 0;
    if (dwarf_attr(inlined, DW_AT_call_line, &attr) != NULL && dwarf_formudata(&attr, &value) == 0)
        *line = (int)value;
    Dwarf_Files *files;
    size_t nfiles;
    if (dwarf_attr(inlined, DW_AT_call_file, &attr) != NULL && dwarf_formudata(&attr, &value) == 0 &&
        dwarf_getsrcfiles(cudie, &files, &nfiles) == 0 && value < nfiles)
        *file = dwarf_filesrc(files, value, NULL, NULL);
}

static void entry_add_line(rallo_symbolizer *s, sym_entry *entry, rallo_prof_line *lines,
                           const char *function, const char *file, int line) {
    if (entry->nlines >= MAX_INLINE_DEPTH)
        return;
    rallo_prof_line *out = &lines[entry->nlines++];
    out->function = intern_function(s, function);
    out->file = intern(s, file);
    out->line = line > 0 ? (uint32_t)line : 0;
}

static void symbolize_address(rallo_symbolizer *s, uint64_t address, sym_entry *entry) {
    entry->address = address;
    entry->nlines = 0;
    entry->lines = NULL;
    entry->module = 0;
    Dwfl_Module *module = address > 0 ? dwfl_addrmodule(s->dwfl, address - 1) : NULL;
    if (module == NULL) {
        entry->outcome = OUT_NO_MODULE;
        return;
    }
    entry->module = module_index(s, module);
    const sym_module *m = entry->module != 0 ? &s->modules[entry->module - 1] : NULL;
    Dwarf_Addr pc = address - 1; /* the call instruction, not the one after it */
    rallo_prof_line lines[MAX_INLINE_DEPTH] = {{0}};

    /* The unit that holds pc, checked against its ranges (see the top). */
    Dwarf_Addr bias = 0;
    Dwarf_Die *cudie = m == NULL || m->has_dwarf ? dwfl_module_addrdie(module, pc, &bias) : NULL;
    if (cudie != NULL && dwarf_haspc(cudie, pc - bias) <= 0)
        cudie = NULL;
    const char *file = NULL;
    int line = 0;
    Dwfl_Line *source = cudie != NULL ? dwfl_module_getsrc(module, pc) : NULL;
    if (source != NULL)
        file = dwfl_lineinfo(source, NULL, &line, NULL, NULL, NULL);

    Dwarf_Die *scopes = NULL;
    int nscopes = cudie != NULL ? dwarf_getscopes(cudie, pc - bias, &scopes) : 0;
    /* dwarf_getscopes continues past an inlined instance with the scopes of
     * its abstract definition; the concrete chain of callers it was inlined
     * into is the DIE's own parents, from dwarf_getscopes_die. */
    if (nscopes > 0) {
        Dwarf_Die innermost = scopes[0];
        free(scopes);
        scopes = NULL;
        nscopes = dwarf_getscopes_die(&innermost, &scopes);
    }
    /* Innermost scope first: each inlined subroutine names the function and
     * the line inside it; its call site is the line in the next one out. */
    for (int i = 0; i < nscopes; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine)
            continue;
        entry_add_line(s, entry, lines, die_function_name(&scopes[i]), file, line);
        if (tag == DW_TAG_subprogram)
            break;
        die_call_site(cudie, &scopes[i], &file, &line);
    }
    free(scopes); /* libdw's malloc */

    /* No DWARF for it, or a nameless outermost function: the ELF symbol. */
    if (entry->nlines == 0 || lines[entry->nlines - 1].function == NULL) {
        const char *symbol = symbol_name(s, entry->module, module, pc);
        if (entry->nlines == 0 && (symbol != NULL || file != NULL))
            entry_add_line(s, entry, lines, symbol, file, line);
        else if (entry->nlines > 0)
            lines[entry->nlines - 1].function = intern_function(s, symbol);
    }
    bool any_file = false, any_function = false;
    for (uint32_t i = 0; i < entry->nlines; i++) {
        any_file |= lines[i].file != NULL;
        any_function |= lines[i].function != NULL;
    }
    entry->outcome = any_file ? OUT_LINES : any_function ? OUT_SYMBOL : OUT_NO_SYMBOL;
    if (!any_file && !any_function)
        entry->nlines = 0;
    if (entry->nlines > 0) {
        entry->lines = mi_malloc(entry->nlines * sizeof *entry->lines);
        if (entry->lines == NULL)
            entry->nlines = 0;
        else
            memcpy(entry->lines, lines, entry->nlines * sizeof *entry->lines);
    }
}

/* ---- copying into the profile: each distinct string once ---- */

typedef struct string_map {
    const char **from;
    const char **to;
    size_t mask;
} string_map;

static const char *profile_string(rallo_profile *profile, string_map *map, const char *text) {
    if (text == NULL)
        return NULL;
    size_t slot = rallo_hash_mix((uintptr_t)text) & map->mask;
    for (size_t probes = 0; probes <= map->mask; probes++, slot = (slot + 1) & map->mask) {
        if (map->from[slot] == text)
            return map->to[slot];
        if (map->from[slot] == NULL) {
            const char *copy = rallo_profile_strdup(profile, text);
            if (copy == NULL)
                return NULL;
            map->from[slot] = text;
            map->to[slot] = copy;
            return copy;
        }
    }
    return rallo_profile_strdup(profile, text); /* table full: unreachable by its sizing */
}

/* Per module of the session, this call's frames that got a name only, and
 * none (for rallo_sym_undebugged_fn). */
typedef struct undebugged_counts {
    uint64_t (*counts)[2];
    size_t cap;
} undebugged_counts;

static bool count_undebugged(undebugged_counts *u, const sym_entry *entry) {
    size_t index = entry->module - 1u;
    if (index >= u->cap) {
        size_t cap = u->cap ? u->cap : 16;
        while (cap <= index)
            cap *= 2;
        uint64_t(*grown)[2] = mi_rezalloc(u->counts, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        u->counts = grown;
        u->cap = cap;
    }
    u->counts[index][entry->outcome == OUT_SYMBOL ? 0 : 1]++;
    return true;
}

int rallo_symbolize(rallo_symbolizer *s, rallo_profile *profile, rallo_sym_stats *stats,
                    rallo_sym_problem_fn problem, void *arg) {
    if (stats != NULL)
        memset(stats, 0, sizeof *stats);
    if (modules_report(s, profile, stats, problem, arg) != 0)
        return -1;
    /* Sized for every string the symbolizer has plus those this call adds:
     * at most three a line, at most MAX_INLINE_DEPTH lines a location. */
    string_map map = {0};
    undebugged_counts undebugged = {0};
    size_t slots = 1024;
    while (slots < 2 * (s->strings_used + 2 * profile->nlocations + 64))
        slots *= 2;
    map.from = mi_zalloc(slots * sizeof *map.from);
    map.to = mi_malloc(slots * sizeof *map.to);
    map.mask = slots - 1;
    int result = 0;
    if (map.from == NULL || map.to == NULL) {
        result = -1;
        goto done;
    }
    for (size_t i = 0; i < profile->nlocations; i++) {
        rallo_prof_location *location = &profile->locations[i];
        if (location->nlines > 0) {
            if (stats != NULL)
                stats->already++;
            continue;
        }
        sym_entry *entry = cache_slot(s, location->address);
        if (entry == NULL) {
            result = -1;
            break;
        }
        if (entry->address == 0 || location->address == 0) {
            symbolize_address(s, location->address, entry);
            if (location->address != 0)
                s->cache_used++;
            else
                entry->address = 0; /* address 0 is the empty slot's mark: never cached */
        }
        if (stats != NULL) {
            uint64_t *counter[] = {&stats->with_lines, &stats->symbol_only, &stats->no_symbol,
                                   &stats->no_module};
            (*counter[entry->outcome])++;
        }
        if (entry->module != 0 && (entry->outcome == OUT_SYMBOL || entry->outcome == OUT_NO_SYMBOL) &&
            !count_undebugged(&undebugged, entry))
            result = -1;
        if (entry->nlines == 0)
            continue;
        rallo_prof_line *lines = rallo_profile_alloc(profile, entry->nlines * sizeof *lines);
        if (lines == NULL) {
            result = -1;
            break;
        }
        for (uint32_t j = 0; j < entry->nlines; j++) {
            lines[j].function = profile_string(profile, &map, entry->lines[j].function);
            lines[j].file = profile_string(profile, &map, entry->lines[j].file);
            lines[j].line = entry->lines[j].line;
        }
        location->lines = lines;
        location->nlines = entry->nlines;
    }
done:
    for (size_t i = 0; s->undebugged != NULL && i < undebugged.cap && i < s->nmodules; i++) {
        const uint64_t *count = undebugged.counts[i];
        if (count[0] + count[1] > 0 && !s->modules[i].has_dwarf)
            s->undebugged(s->modules[i].path, count[0], count[1], s->undebugged_arg);
    }
    mi_free(undebugged.counts);
    mi_free(map.from);
    mi_free(map.to);
    if (result != 0)
        errno = ENOMEM;
    return result;
}

rallo_symbolizer *rallo_symbolizer_new(bool this_process) {
    static _Atomic int elf_ready;
    if (!atomic_exchange(&elf_ready, 1))
        elf_version(EV_CURRENT);
    rallo_symbolizer *s = mi_zalloc(sizeof *s);
    if (s != NULL) {
        s->this_process = this_process;
        s->cache_seed = rallo_hash_seed();
    }
    return s;
}

void rallo_symbolizer_on_undebugged(rallo_symbolizer *s, rallo_sym_undebugged_fn fn, void *arg) {
    s->undebugged = fn;
    s->undebugged_arg = arg;
}

void rallo_symbolizer_free(rallo_symbolizer *s) {
    if (s == NULL)
        return;
    cache_clear(s);
    modules_clear(s);
    if (s->dwfl != NULL)
        dwfl_end(s->dwfl);
    for (size_t i = 0; s->strings != NULL && i <= s->strings_mask; i++)
        mi_free(s->strings[i]);
    mi_free(s->strings);
    mi_free(s);
}

int rallo_symbolize_offline(rallo_profile *profile, rallo_sym_stats *stats, rallo_sym_problem_fn problem,
                            void *arg) {
    rallo_symbolizer *s = rallo_symbolizer_new(false);
    if (s == NULL) {
        errno = ENOMEM;
        return -1;
    }
    int result = rallo_symbolize(s, profile, stats, problem, arg);
    rallo_symbolizer_free(s);
    return result;
}
