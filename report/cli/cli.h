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
int cli_list(int argc, char **argv); /* list.c: the processes serving RALLO_HTTP */
/* `rallo _convert [--quiet] --formats LIST DUMP.pb.gz`: the helper a dumping program starts. */
int cli_convert(int argc, char **argv);
/* Names the frames of the raw dump DUMP.pb.gz (as a periodic, signal or exit
 * dump writes it) and writes each format in `formats` (bit 1u << rallo_format)
 * beside it as DUMP.<ext>; the raw file is replaced by the named pprof when
 * pprof is among them, else removed once the others are written; only into
 * the directory the raw file was read from. 0, or -1 after one error line
 * (none when quiet: a periodic dump, whose program reports its directory's
 * troubles once per outage). namer: NULL, or the batch's (convert_batch.c). */
typedef struct cli_namer cli_namer;
int cli_convert_dump(const char *raw_path, unsigned formats, bool quiet, cli_namer *namer);
/* Writes len bytes to dir_fd/name through a new temporary beside it
 * (O_EXCL|O_NOFOLLOW, 0600) renamed over name (convert.c). 0, or -1 with errno. */
int cli_write_replacing(int dir_fd, const char *name, const void *data, size_t len);
/* "html,pprof,..." as a set of formats; -1 after one error line. */
int cli_convert_parse_formats(const char *text, unsigned *formats);
/* (convert_batch.c) Hands the dump to the directory's converting helper, or
 * becomes it: converts every dump handed to it, naming frames with one
 * symbolizer whose cache serves every process of a program (namer), until
 * none has come for a moment. 0, or -1 when this dump was not converted. */
int cli_convert_batched(const char *raw_path, const char *formats, bool quiet);
/* Names the profile's frames with the namer's symbolizer (NULL: a one-shot one). */
int cli_namer_name(cli_namer *namer, rallo_profile *profile);
/* `rallo report DIR`: the timeline page of one process's dumps (pid 0: the one
 * with most dumps) to out_path (NULL: DIR/rallo.<pid>.timeline.html). */
int cli_timeline(const char *dir, int pid, const char *out_path);

/* ---- the processes a dump directory holds (processes.c) ---- */
#include <stdio.h>
#include <time.h>

typedef struct cli_process {
    int pid, ppid;           /* ppid 0: not recorded */
    char *path;              /* its latest dump: the exit dump (final) when there is one */
    unsigned long seq;       /* that dump's sequence number; ULONG_MAX: final */
    size_t ndumps;           /* its pprof dumps in the directory */
    bool final;              /* it left an exit dump */
    time_t mtime;            /* when that dump was written */
    char *command, *program; /* its command line for one line of text; its executable */
    rallo_totals totals;
    uint64_t sample_interval;
} cli_process;

typedef struct cli_process_list {
    cli_process *items;
    size_t count, cap;
} cli_process_list;

/* A dump's file name, "rallo.<pid>.<seq>.pb.gz" (seq 1, 2, ...) or
 * "rallo.<pid>.final.pb.gz" (seq ULONG_MAX): its pid and seq; false for any
 * other name (other formats, temporary files). processes.c. */
bool cli_dump_name_parse(const char *name, int *pid, unsigned long *seq);
/* Every process with pprof dumps (rallo.<pid>.<seq|final>.pb.gz) in dir, read
 * from its latest dump, biggest first (peak live bytes, then bytes
 * allocated). -1 after an error line when dir cannot be read. */
int cli_processes_scan(const char *dir, cli_process_list *list);
/* Keeps the processes whose keep[i] is set, in order. */
void cli_processes_keep(cli_process_list *list, const bool *keep);
void cli_processes_free(cli_process_list *list);
/* The table: pid, peak, allocated, live at the end, command line. With fold,
 * processes that allocated under 1% of the biggest (and under 1 MiB), and
 * any past the twelfth row, share one line; always_show is never folded. */
void cli_processes_print(FILE *out, const cli_process_list *list, int always_show, bool fold);

/* "rallo: <message>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reads a whole file into mi_malloc'd memory; NULL after an error line naming it. */
char *cli_read_file(const char *path, size_t *len);
/* Loads a saved pprof profile and symbolizes what it lacks from its mappings;
 * -1 after an error line naming the file. */
int cli_load_profile(const char *path, rallo_profile *out, bool symbolize);
/* Writes buf to path ("-" or NULL: stdout); -1 after an error line. */
int cli_write_output(const char *path, const rallo_buf *buf);
/* The same for a name rallo chose itself in a directory it was given (the
 * timeline beside the dumps): never through a symbolic link planted there. */
int cli_write_output_named_here(const char *path, const rallo_buf *buf);
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
