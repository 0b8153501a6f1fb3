/* symbolize_internal.h - what the symbolizer's files share (symbolize.c, the
 * entry points; symbolize_session.c, the Dwfl session built from a profile's
 * mappings; symbolize_modules.c, what each module has; symbolize_address.c,
 * one address's lines): the symbolizer's state and the functions one file
 * calls in another. Not for anyone outside the symbolizer. */
#ifndef RALLO_SYMBOLIZE_INTERNAL_H
#define RALLO_SYMBOLIZE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <elfutils/libdwfl.h>

#include "profile.h"
#include "symbolize.h"
#include "util/index.h"

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
    sym_entry *cache;    /* each address looked up, in the order first asked for */
    size_t ncache, cap_cache;
    rallo_index cache_index; /* by address */
    char **strings;          /* interned strings */
    size_t nstrings, cap_strings;
    rallo_index strings_index; /* by text */
    sym_module *modules;       /* of the current session */
    size_t nmodules, cap_modules;
    rallo_sym_undebugged_fn undebugged;
    void *undebugged_arg;
};

/* ---- symbolize_address.c ---- */

/* The cache entry for address: its answer, or a new entry (address 0) to
 * fill, valid until the next call. NULL when out of memory. */
sym_entry *rallo_sym_cache_slot(rallo_symbolizer *s, uint64_t address);
void rallo_sym_cache_clear(rallo_symbolizer *s);
/* Fills entry with what is known of address (see symbolize_address.c). */
void rallo_sym_lookup(rallo_symbolizer *s, uint64_t address, sym_entry *entry);
/* Frees the interned strings (every entry's lines point into them). */
void rallo_sym_strings_free(rallo_symbolizer *s);

/* ---- symbolize_session.c ---- */

/* Builds the Dwfl session from the profile's mappings, unless the same set is
 * already reported; a changed set starts over. 0, or -1 (ENOMEM). */
int rallo_sym_session_report(rallo_symbolizer *s, const rallo_profile *profile, rallo_sym_stats *stats,
                             rallo_sym_problem_fn problem, void *arg);

/* ---- symbolize_modules.c ---- */

/* The symbolizer's record of a module of the session: its index + 1, made on
 * first use. 0 when out of memory or out of indices. */
uint16_t rallo_sym_module_index(rallo_symbolizer *s, Dwfl_Module *module);
/* The ELF symbol that holds pc in the module (index from
 * rallo_sym_module_index; 0: none known), or NULL. */
const char *rallo_sym_symbol_name(rallo_symbolizer *s, uint16_t index, Dwfl_Module *module, uint64_t pc);
void rallo_sym_modules_clear(rallo_symbolizer *s);

#endif
