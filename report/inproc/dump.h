/* dump.h - what the dump files of report/inproc/ share: writing one profile to
 * a file atomically (dump-file.c), dumping under the one dump lock (dump.c),
 * reading the RALLO_DUMP_* environment (dump-options.c) and the dumper thread
 * (dumper.c). Everything here runs with the tracking guard held. */
#ifndef RALLO_DUMP_H
#define RALLO_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tracking.h"
#include "writers.h"

#define rallo_export __attribute__((visibility("default")))

/* A set of formats: bit (1u << format). */
typedef uint32_t rallo_format_set;
#define RALLO_FORMATS_DEFAULT ((1u << RALLO_FORMAT_HTML) | (1u << RALLO_FORMAT_PPROF))

/* ---- dump-file.c ----
 * Writes len bytes to path so that path either keeps what it had or holds all
 * of the new bytes: a temporary file in the same directory (O_EXCL|O_NOFOLLOW,
 * mode 0600), written in full, fsync'd, renamed over path. A symbolic link at
 * path is replaced, never followed. An existing character device or FIFO at path
 * (say /dev/null) is written in place instead. 0, or -1 with errno; no message. */
int _rallo_dump_write_file(const char *path, const void *data, size_t len) rallo_internal;

/* ---- dump.c ----
 * The lock every dump holds from snapshot to rename, so dumps from any thread
 * and the dumper never interleave. Taken around fork (see dumper.c). */
void _rallo_dump_lock(void) rallo_internal;
void _rallo_dump_unlock(void) rallo_internal;
void _rallo_dump_lock_reinit(void) rallo_internal;
/* With the dump lock held: captures one profile and writes it to
 * DIR/rallo.<pid>.<seq>.<ext> for every format in `formats`. A failure is
 * reported on stderr once per distinct errno when `quiet_repeats`, else always.
 * 0 when every file was written, else -1 with errno of the first failure. */
int _rallo_dump_set_locked(const char *dir, const char *seq, rallo_format_set formats,
                           bool quiet_repeats) rallo_internal;
/* Forgets which errors were already reported (a forked child starts afresh). */
void _rallo_dump_forget_warnings(void) rallo_internal;

/* ---- dump-options.c ---- */
typedef struct rallo_dump_options {
    const char *dir;          /* RALLO_DUMP_DIR; NULL: "." */
    double interval;          /* RALLO_DUMP_INTERVAL seconds; 0: off */
    rallo_format_set formats; /* RALLO_DUMP_FORMATS */
    bool on_exit;             /* RALLO_DUMP_ON_EXIT */
    int signal;               /* RALLO_DUMP_SIGNAL; 0: none */
} rallo_dump_options;
/* Reads the RALLO_DUMP_* variables; a bad one gets one stderr line and keeps
 * its default. */
void _rallo_dump_options_load(rallo_dump_options *out) rallo_internal;
/* Parses "html,pprof,..." (spaces around names allowed, duplicates harmless).
 * false on an empty list or an unknown name; bad_name and bad_len then point at
 * the offending name inside text (length 0 for an empty list). */
bool _rallo_parse_formats(const char *text, rallo_format_set *out, const char **bad_name,
                          size_t *bad_len) rallo_internal;
/* Seconds as a decimal number, finite, 0 or more. */
bool _rallo_parse_seconds(const char *text, double *out) rallo_internal;
/* "USR2", "SIGUSR2", "usr2", "RTMIN+3", "RTMAX-2" or a number: only USR1,
 * USR2 and real-time signals, which mean nothing to a program until it says
 * so. 0 for anything else. */
int _rallo_parse_signal(const char *text) rallo_internal;
/* The one line for a RALLO_*_SIGNAL value _rallo_parse_signal refused. */
void _rallo_signal_refused(const char *variable, const char *text) rallo_internal;

#endif
