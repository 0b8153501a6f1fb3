/* symbolize.c - the symbolizer's entry points: a profile's locations get the
 * lines of their addresses (symbolize_address.c) from the modules its
 * mappings name (symbolize_session.c), each distinct string copied once into
 * the profile's own arena; modules without debug information are told to the
 * caller once per call. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <mimalloc.h>

#include "symbolize_internal.h"
#include "util/array.h"
#include "util/hash.h"
#include "writers.h"

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
    size_t had = u->cap;
    if (!rallo_array_reserve((void **)&u->counts, &u->cap, index + 1, sizeof *u->counts, 16))
        return false;
    memset(u->counts + had, 0, (u->cap - had) * sizeof *u->counts);
    u->counts[index][entry->outcome == OUT_SYMBOL ? 0 : 1]++;
    return true;
}

int rallo_symbolize(rallo_symbolizer *s, rallo_profile *profile, rallo_sym_stats *stats,
                    rallo_sym_problem_fn problem, void *arg) {
    if (stats != NULL)
        memset(stats, 0, sizeof *stats);
    if (rallo_sym_session_report(s, profile, stats, problem, arg) != 0)
        return -1;
    /* Sized for every string the symbolizer has plus those this call adds:
     * at most three a line, at most MAX_INLINE_DEPTH lines a location. */
    string_map map = {0};
    undebugged_counts undebugged = {0};
    size_t slots = 1024;
    while (slots < 2 * (s->nstrings + 2 * profile->nlocations + 64))
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
        sym_entry *entry = rallo_sym_cache_slot(s, location->address);
        if (entry == NULL) {
            result = -1;
            break;
        }
        if (entry->address == 0 || location->address == 0) {
            rallo_sym_lookup(s, location->address, entry);
            if (location->address == 0)
                entry->address = 0; /* address 0 is a new entry's mark: never cached */
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
    rallo_sym_cache_clear(s);
    rallo_sym_modules_clear(s);
    if (s->dwfl != NULL)
        dwfl_end(s->dwfl);
    rallo_sym_strings_free(s);
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
