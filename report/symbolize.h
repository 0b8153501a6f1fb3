/* symbolize.h - names for a profile's code addresses: function (demangled when
 * a C++ demangler is at hand), file:line and inlined frames, from the ELF
 * symbol tables and DWARF of the modules its mappings name (elfutils libdw).
 * Used in-process by the snapshot and offline by the CLI; knows nothing of
 * tracking/. Memory from mimalloc directly; in-process callers hold the
 * tracking guard, since libdw and libelf allocate with malloc. */
#ifndef RALLO_SYMBOLIZE_H
#define RALLO_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "profile.h"

/* What became of a profile's locations: each is counted once per call. */
typedef struct rallo_sym_stats {
    uint64_t with_lines;  /* function and file:line from DWARF */
    uint64_t symbol_only; /* nearest ELF symbol: the module has no debug info for it */
    uint64_t no_symbol;   /* in a module, but no symbol covers it: stays module+offset */
    uint64_t no_module;   /* in no usable module (unknown, missing file, build id differs) */
    uint64_t already;     /* the profile had lines for it already */
    uint64_t modules_missing, modules_mismatched; /* modules that could not be used, and why */
} rallo_sym_stats;

/* Told once per module that cannot be used: its path and why, in a few words
 * ("no such file", "build id differs", ...). */
typedef void (*rallo_sym_problem_fn)(const rallo_prof_mapping *mapping, const char *why, void *arg);

/* Told once per rallo_symbolize call for each module that has no debug
 * information (none in the file, none found by its build id or debug link):
 * how many of the profile's frames in it got only an ELF symbol's name, and
 * how many got no name at all. */
typedef void (*rallo_sym_undebugged_fn)(const char *path, uint64_t named, uint64_t unnamed, void *arg);

typedef struct rallo_symbolizer rallo_symbolizer;

/* A symbolizer with an address cache that lives as long as it does.
 * this_process: the profile's mappings are this process's own modules (the
 * main program is opened through /proc/self/exe, which stays right even if its
 * file was replaced). NULL when out of memory. */
rallo_symbolizer *rallo_symbolizer_new(bool this_process);
void rallo_symbolizer_free(rallo_symbolizer *symbolizer);
/* Who rallo_symbolize tells about modules without debug information (NULL: nobody). */
void rallo_symbolizer_on_undebugged(rallo_symbolizer *symbolizer, rallo_sym_undebugged_fn fn, void *arg);

/* Gives every location of `profile` that has no lines yet the lines of
 * address - 1 (a return address names the call), innermost inlined frame
 * first, strings copied into the profile's arena. Modules come from the
 * profile's mappings; each file's GNU build id must match the mapping's when
 * the mapping has one. A location nothing is known about keeps nlines 0.
 * stats and problem may be NULL. Returns 0, or -1 (ENOMEM) with the profile
 * partly symbolized. */
int rallo_symbolize(rallo_symbolizer *symbolizer, rallo_profile *profile, rallo_sym_stats *stats,
                    rallo_sym_problem_fn problem, void *arg);

/* One-shot offline symbolization of a saved profile (the CLI). */
int rallo_symbolize_offline(rallo_profile *profile, rallo_sym_stats *stats, rallo_sym_problem_fn problem,
                            void *arg);

#endif
