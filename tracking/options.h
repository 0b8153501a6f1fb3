/* options.h - rallo's configuration (options.c), read once at load with one
 * parser for each kind of value, a bad value reported once and ignored; and
 * the environment, warning and signal helpers every room shares. */
#ifndef RALLO_OPTIONS_H
#define RALLO_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/compiler.h"

#define RALLO_EXTRA_LIFETIMES 1u
#define RALLO_EXTRA_FREE_SITES 2u
typedef struct rallo_options {
    bool enable_at_start;  /* RALLO_ENABLE */
    uint64_t sample_bytes; /* RALLO_SAMPLE: 0 = every allocation */
    uint32_t depth;        /* RALLO_DEPTH */
    uint64_t arena_bytes;  /* RALLO_ARENA_SIZE */
    uint32_t max_sites;    /* RALLO_MAX_SITES */
    uint64_t depot_bytes;  /* RALLO_DEPOT_SIZE */
    uint32_t unwind;       /* RALLO_UNWIND: a rallo_unwind_mode */
    bool lifetimes;        /* RALLO_LIFETIMES: sizes, lifetimes, temporaries, threads */
    bool free_sites;       /* RALLO_FREE_SITES: who frees (free_sites.h) */
    /* What the tracked path does beyond counting, in one byte the free path
     * tests once: RALLO_EXTRA_LIFETIMES | RALLO_EXTRA_FREE_SITES. With either,
     * headers name the allocating thread and frees take the long way. */
    uint8_t block_extras;
    /* Set in the environment: taken as given, not fitted to an address-space limit. */
    bool arena_bytes_given, depot_bytes_given, max_sites_given;
} rallo_options;
/* How call sites are unwound: frame pointers only; .eh_frame call-frame
 * information only; frame pointers in modules built with them, CFI elsewhere. */
typedef enum rallo_unwind_mode { RALLO_UNWIND_FP, RALLO_UNWIND_DWARF, RALLO_UNWIND_AUTO } rallo_unwind_mode;
/* Parses "fp", "dwarf" or "auto". */
bool _rallo_unwind_mode_parse(const char *text, uint32_t *mode) rallo_internal;
extern rallo_options _rallo_options rallo_internal;
void _rallo_options_load(void) rallo_internal;
/* Turns RALLO_FREE_SITES off (its tables could not be reserved), before any
 * block is tracked. */
void _rallo_options_free_sites_off(void) rallo_internal;
/* Parses an unsigned size with an optional k/m/g/t suffix (powers of 1024).
 * Returns false, leaving *out alone, on anything else. */
bool _rallo_parse_size(const char *text, uint64_t *out) rallo_internal;
/* Parses a boolean: 1/0, true/false, yes/no, on/off in any case, and "" for
 * false. Returns false, leaving *out alone, on anything else. */
bool _rallo_parse_bool(const char *text, bool *out) rallo_internal;
/* getenv that ignores the environment of set-uid/set-gid processes. */
const char *_rallo_getenv(const char *name) rallo_internal;
/* Installs rallo's handler for signo, the signal `variable` (RALLO_TOGGLE_SIGNAL,
 * RALLO_DUMP_SIGNAL) names, and watches it (signal_watch.c): a program that
 * later installs its own handler for it keeps it, and rallo says so once.
 * Refused, with one line, when a handler is there already. 0, or -1 after
 * that line. */
int _rallo_signal_take(int signo, void (*handler)(int), const char *variable) rallo_internal;
/* One line on stderr, without allocating: "rallo: <message>\n". */
void _rallo_warn(const char *fmt, ...) rallo_internal __attribute__((format(printf, 1, 2)));

#endif
