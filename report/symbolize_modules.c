/* symbolize_modules.c - what the symbolizer knows of each module of its
 * session, found once: whether it has DWARF at all, and its ELF symbols
 * sorted by address the first time a frame needs them
 * (dwfl_module_addrinfo scans every symbol of the module on each call, which
 * a large C++ program's symbol table makes far too slow for a profile). */
#include <stdlib.h>
#include <string.h>

#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <mimalloc.h>

#include "symbolize_internal.h"
#include "util/array.h"

void rallo_sym_modules_clear(rallo_symbolizer *s) {
    for (size_t i = 0; i < s->nmodules; i++)
        mi_free(s->modules[i].symbols);
    mi_free(s->modules);
    s->modules = NULL;
    s->nmodules = s->cap_modules = 0;
}

/* The index + 1 is kept in the module's libdwfl user data. */
uint16_t rallo_sym_module_index(rallo_symbolizer *s, Dwfl_Module *module) {
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

const char *rallo_sym_symbol_name(rallo_symbolizer *s, uint16_t index, Dwfl_Module *module, uint64_t pc) {
    sym_module *m = index != 0 ? &s->modules[index - 1] : NULL;
    if (m != NULL && !m->symbols_read)
        m->symbols_failed = !module_read_symbols(m);
    if (m != NULL && !m->symbols_failed)
        return module_symbol(m, pc);
    GElf_Off offset;
    GElf_Sym sym;
    return dwfl_module_addrinfo(module, pc, &offset, &sym, NULL, NULL, NULL);
}
