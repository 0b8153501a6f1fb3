/* dump.h - what the dump files of report/inproc/ share: writing one profile to
 * a file atomically (dump-file.c), dumping under the one dump lock (dump.c),
 * reading the RALLO_DUMP_* environment (dump-options.c) and the dumper thread
 * (dumper.c). Everything here runs with the tracking guard held. */
#ifndef RALLO_DUMP_H
#define RALLO_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "door.h"
#include "writers.h"

#define rallo_export __attribute__((visibility("default")))

/* ---- what librallo's loader (report/loader/loader.c) finds by name ----
 * rallo_dump and rallo_dump_every (include/rallo.h), once the door is open. */
int _rallo_report_dump(const char *path, const char *format_name) rallo_export;
int _rallo_report_dump_every(double seconds, const char *dir, const char *formats) rallo_export;

/* A set of formats: bit (1u << format). */
typedef uint32_t rallo_format_set;
#define RALLO_FORMATS_DEFAULT ((1u << RALLO_FORMAT_HTML) | (1u << RALLO_FORMAT_PPROF))

/* ---- dump-file.c ----
 * Writes len bytes to dir_fd/name so that name either keeps what it had or
 * holds all of the new bytes: a new temporary file beside it (O_EXCL|O_NOFOLLOW,
 * mode 0600), written in full, fsync'd, renamed over name. Nothing already at
 * name is opened: a link, FIFO or socket there is replaced (one stderr line,
 * once a process), one that cannot be replaced fails with EEXIST. dir_path only
 * names the directory in that line. 0, or -1 with errno. */
int _rallo_dump_write_at(int dir_fd, const char *dir_path, const char *name, const void *data,
                         size_t len) rallo_internal;
/* rallo_dump's path, as the caller named it (its directory is not checked): as
 * _rallo_dump_write_at, except that a character device at path (/dev/null,
 * /dev/full) is written into. 0, or -1 with errno; no message. */
int _rallo_dump_write_file(const char *path, const void *data, size_t len) rallo_internal;

/* ---- dump-dir.c ----
 * The directory of periodic, signal and exit dumps, open and checked. */
typedef struct rallo_dump_dir {
    int fd;     /* O_DIRECTORY descriptor the files are made in */
    char *path; /* the name expanded, for messages; mimalloc memory */
} rallo_dump_dir;
/* dir with %u (the effective user's name), %p (the pid) and %% expanded, at
 * the time of the call; NULL or "" is ".". mimalloc memory; NULL when out of it. */
char *_rallo_dump_dir_expand(const char *dir) rallo_internal;
/* Expands dir_template, makes the directory when missing (one level, 0700),
 * opens it without following a link and refuses it unless it belongs to the
 * effective user and others cannot write to it (or it has the sticky bit). A
 * refusal is one stderr line saying what to do, once a process and directory.
 * Removes the temporaries of dead processes in it. 0, or -1 with errno. */
int _rallo_dump_dir_open(const char *dir_template, rallo_dump_dir *out) rallo_internal;
void _rallo_dump_dir_close(rallo_dump_dir *dir) rallo_internal;

/* ---- dump.c ----
 * The lock every dump holds while its snapshot is copied (and only then), so a
 * numbered dump's sequence number follows its snapshot's order. Taken around
 * fork (see dumper.c): fork() waits for a snapshot copy, never for a write. */
void _rallo_dump_lock(void) rallo_internal;
void _rallo_dump_unlock(void) rallo_internal;
void _rallo_dump_lock_reinit(void) rallo_internal;
/* Without the dump lock: writes a snapshot (taken under it) as the raw pprof
 * profile DIR/rallo.<pid>.<seq>.pb.gz and has the `rallo` command name its
 * frames and write every format in `formats` beside it (dump-convert.c;
 * `numbered`: a periodic or signal dump, from the dumper thread). Never waits
 * for the helper but when `numbered` and all its places are taken. Frees the
 * profile. A failure is
 * reported on stderr once per distinct errno when `quiet_repeats`, else
 * always. 0 when every file was written, else -1 with errno of the first failure. */
int _rallo_dump_set_write(rallo_profile *profile, const char *dir, const char *seq, rallo_format_set formats,
                          bool quiet_repeats, bool numbered) rallo_internal;
/* Says that the snapshot for DIR/rallo.<pid>.<seq> failed (errno), as above. */
void _rallo_dump_snapshot_failed(const char *dir, const char *seq, bool quiet_repeats) rallo_internal;
/* Forgets which errors were already reported (a forked child starts afresh). */
void _rallo_dump_forget_warnings(void) rallo_internal;
/* A forked child: the loading of librallo-symbolize.so may have been under way. */
void _rallo_dump_symbolizer_reinit(void) rallo_internal;
/* Around fork (dumper.c's handlers): wait for the symbolizer's load. */
void _rallo_dump_symbolizer_fork_prepare(void) rallo_internal;
void _rallo_dump_symbolizer_fork_parent(void) rallo_internal;

/* ---- dump-convert.c ----
 * Starts `rallo _convert --formats LIST RAW` on a raw profile just written, as
 * a helper process the host's own child reaping never sees. The exit dump
 * (numbered false) never waits for it; numbered dumps (the dumper thread only)
 * keep up to four in flight and wait for the oldest when all four are busy. A
 * helper that cannot be started: one line (once when quiet_repeats), the raw
 * profile stays, -1 with errno. Nothing is started in a set-uid process. */
int _rallo_dump_convert(const char *raw_path, rallo_format_set formats, bool quiet_repeats,
                        bool numbered) rallo_internal;
/* Around fork (from dumper.c's handlers): a child closes the helpers' pipes it
 * inherits and knows no helper. */
void _rallo_dump_convert_fork_prepare(void) rallo_internal;
void _rallo_dump_convert_fork_parent(void) rallo_internal;
void _rallo_dump_convert_fork_child(void) rallo_internal;

/* ---- dump-options.c ---- */
#define RALLO_DUMP_INTERVAL_MIN 0.1 /* seconds: RALLO_DUMP_INTERVAL's floor */
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
