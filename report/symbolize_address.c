/* symbolize_address.c - one code address to its lines: the function (its C++
 * name demangled), file:line and the inlined frames around it, from the
 * module's DWARF, else the nearest ELF symbol; each address's answer is
 * cached, its strings interned, for as long as the symbolizer lives.
 *
 * A line is taken only from a compilation unit whose ranges hold the address:
 * libdwfl hands out the preceding unit's last line for an address in a gap
 * between units.
 *
 * C++ names: libdw gives linkage (mangled) names. librallo must not need
 * libstdc++, so __cxa_demangle is looked up lazily with dlsym: present in any
 * C++ program (libstdc++ is loaded), and the offline CLI loads libstdc++.so.6
 * itself when it exists. Without it names stay mangled. */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <mimalloc.h>

#include "symbolize_internal.h"
#include "util/array.h"
#include "util/hash.h"
#include "util/index.h"

/* ---- the interned strings and the address cache ---- */

static uint64_t string_hash(const void *owner, size_t element) {
    const rallo_symbolizer *s = owner;
    return rallo_hash_string(s->cache_seed, s->strings[element]);
}

/* Returns the symbolizer's copy of text (NULL for NULL, or when out of memory). */
static const char *intern(rallo_symbolizer *s, const char *text) {
    if (text == NULL || *text == '\0')
        return NULL;
    if (!rallo_index_reserve(&s->strings_index, s->nstrings, 0, 1024, string_hash, s))
        return NULL;
    size_t slot = rallo_index_slot(&s->strings_index, rallo_hash_string(s->cache_seed, text));
    for (; s->strings_index.slots[slot] != 0; slot = rallo_index_next(&s->strings_index, slot)) {
        char *known = s->strings[s->strings_index.slots[slot] - 1];
        if (strcmp(known, text) == 0)
            return known;
    }
    if (!rallo_array_reserve((void **)&s->strings, &s->cap_strings, s->nstrings + 1, sizeof *s->strings,
                             1024))
        return NULL;
    char *copy = mi_strdup(text);
    if (copy == NULL)
        return NULL;
    s->strings[s->nstrings] = copy;
    s->strings_index.slots[slot] = (uint32_t)s->nstrings + 1;
    s->nstrings++;
    return copy;
}

void rallo_sym_strings_free(rallo_symbolizer *s) {
    for (size_t i = 0; i < s->nstrings; i++)
        mi_free(s->strings[i]);
    mi_free(s->strings);
    s->strings = NULL;
    s->nstrings = s->cap_strings = 0;
    rallo_index_free(&s->strings_index);
}

static uint64_t address_hash(uint64_t seed, uint64_t address) {
    return rallo_hash_mix(address ^ seed);
}

static uint64_t entry_hash(const void *owner, size_t element) {
    const rallo_symbolizer *s = owner;
    return address_hash(s->cache_seed, s->cache[element].address);
}

void rallo_sym_cache_clear(rallo_symbolizer *s) {
    for (size_t i = 0; i < s->ncache; i++)
        mi_free(s->cache[i].lines);
    mi_free(s->cache);
    s->cache = NULL;
    s->ncache = s->cap_cache = 0;
    rallo_index_free(&s->cache_index);
}

sym_entry *rallo_sym_cache_slot(rallo_symbolizer *s, uint64_t address) {
    if (!rallo_index_reserve(&s->cache_index, s->ncache, 0, 1024, entry_hash, s))
        return NULL;
    size_t slot = rallo_index_slot(&s->cache_index, address_hash(s->cache_seed, address));
    for (; s->cache_index.slots[slot] != 0; slot = rallo_index_next(&s->cache_index, slot)) {
        sym_entry *known = &s->cache[s->cache_index.slots[slot] - 1];
        if (known->address == address)
            return known;
    }
    if (!rallo_array_reserve((void **)&s->cache, &s->cap_cache, s->ncache + 1, sizeof *s->cache, 1024))
        return NULL;
    sym_entry *fresh = &s->cache[s->ncache];
    memset(fresh, 0, sizeof *fresh);
    s->cache_index.slots[slot] = (uint32_t)s->ncache + 1;
    s->ncache++;
    return fresh;
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

void rallo_sym_lookup(rallo_symbolizer *s, uint64_t address, sym_entry *entry) {
    entry->address = address;
    entry->nlines = 0;
    entry->lines = NULL;
    entry->module = 0;
    Dwfl_Module *module = address > 0 ? dwfl_addrmodule(s->dwfl, address - 1) : NULL;
    if (module == NULL) {
        entry->outcome = OUT_NO_MODULE;
        return;
    }
    entry->module = rallo_sym_module_index(s, module);
    const sym_module *m = entry->module != 0 ? &s->modules[entry->module - 1] : NULL;
    Dwarf_Addr pc = address - 1; /* the call instruction, not the one after it */
    rallo_prof_line lines[MAX_INLINE_DEPTH] = {{0}};

    /* The unit that holds pc, checked against its ranges (see the top of this file). */
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
        const char *symbol = rallo_sym_symbol_name(s, entry->module, module, pc);
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
