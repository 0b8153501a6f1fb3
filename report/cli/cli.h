/* cli.h - what the subcommands of the `rallo` command share: errors that name
 * the file, reading whole files, loading a profile, writing the output. */
#ifndef RALLO_CLI_H
#define RALLO_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "writers.h"

int cli_run(int argc, char **argv);
int cli_report(int argc, char **argv);
int cli_diff(int argc, char **argv);
/* `rallo _convert [--quiet] --formats LIST DUMP.pb.gz`: the helper a dumping program starts. */
int cli_convert(int argc, char **argv);
/* Names the frames of the raw dump DUMP.pb.gz (as a periodic, signal or exit
 * dump writes it) and writes each format in `formats` (bit 1u << rallo_format)
 * beside it as DUMP.<ext>; the raw file is replaced by the named pprof when
 * pprof is among them, else removed once the others are written; only into
 * the directory the raw file was read from. 0, or -1 after one error line
 * (none when quiet: a periodic dump, whose program reports its directory's
 * troubles once per outage). */
int cli_convert_dump(const char *raw_path, unsigned formats, bool quiet);
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
/* The name a site is shown by: its first symbolized frame that is not an
 * allocator entry point, else module+offset. */
const char *cli_site_name(const rallo_profile *profile, const rallo_prof_site *site, char *text, size_t size);

#endif
