/* cli.h - what the subcommands of the `rallo` command share: errors that name
 * the file, reading whole files, loading a profile, writing the output. */
#ifndef RALLO_CLI_H
#define RALLO_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "writers.h"

int cli_run(int argc, char **argv);
int cli_report(int argc, char **argv);
int cli_diff(int argc, char **argv);
/* `rallo report DIR`: the timeline page of one process's dumps (pid 0: the one
 * with most dumps) to out_path (NULL: DIR/rallo.<pid>.timeline.html). */
int cli_timeline(const char *dir, int pid, const char *out_path);

/* "rallo: <message>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reads a whole file into mi_malloc'd memory; NULL after an error line naming it. */
char *cli_read_file(const char *path, size_t *len);
/* Loads a saved pprof profile and symbolizes what it lacks from its mappings;
 * -1 after an error line naming the file. */
int cli_load_profile(const char *path, rallo_profile *out, bool symbolize);
/* Writes buf to path ("-" or NULL: stdout); -1 after an error line. */
int cli_write_output(const char *path, const rallo_buf *buf);
/* The one-line name a site is shown by (summary, diff, timeline legend): its
 * leaf and callers with inlined frames, as rallo_site_label (label.h) makes it. */
const char *cli_site_name(const rallo_profile *profile, const rallo_prof_site *site, char *text, size_t size);

/* Modules without debug information, as rallo_symbolize reports them
 * (missing_symbols.c). */
typedef struct cli_undebugged_module {
    char *path;
    uint64_t named, unnamed; /* frames named by the symbol table only; frames with no name */
    char *package;           /* the Debian package that owns it, or NULL */
} cli_undebugged_module;
typedef struct cli_undebugged {
    cli_undebugged_module *modules;
    size_t count, cap;
} cli_undebugged;
/* A rallo_sym_undebugged_fn: arg is a cli_undebugged, zeroed before the first call. */
void cli_undebugged_note(const char *path, uint64_t named, uint64_t unnamed, void *arg);
/* Names each module once on stderr and how to get its symbols, then empties
 * u; returns the frames with no name it accounted for. */
uint64_t cli_undebugged_report(const char *profile_path, cli_undebugged *u);

#endif
