/* dump_check.h - what the dump tests share: running dump_target under
 * LD_PRELOAD=librallo.so with a chosen environment, and checking a dump file of
 * each format with a trusted outside tool (python3's json, gzip and go tool
 * pprof) or the format's own contract. */
#ifndef RALLO_DUMP_CHECK_H
#define RALLO_DUMP_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct target_run {
    pid_t pid;
    int exit_code; /* -1: killed by a signal */
    int signal;
    char out[16384], err[16384];
} target_run;

/* A fresh directory under $TMPDIR (or /tmp); the caller owns the string. */
char *make_temp_dir(const char *tag);
void remove_tree(const char *dir);

/* Starts dump_target with args (NULL-terminated) and extra "NAME=VALUE"
 * variables (NULL-terminated); RALLO_* and LD_PRELOAD from our own environment
 * are dropped. stdout/stderr go to files in work_dir. drop_root: run as nobody. */
pid_t start_target(const char *work_dir, const char *const *env, const char *const *args, bool drop_root);
/* Waits (at most timeout seconds) until no dumping program's helper (`rallo
 * _convert`) works on a dump under dir: the formats of periodic, signal and
 * exit dumps but the raw pprof are written by one, after the program's own dump. */
void wait_for_helpers(const char *dir, double timeout);
/* Whether finish_target waits for the helpers (default true). */
extern bool dump_check_waits_for_helpers;
/* Waits (at most timeout seconds, then SIGKILL), then for the helpers of dumps
 * under work_dir, and reads stdout/stderr back. */
void finish_target(const char *work_dir, pid_t pid, double timeout, target_run *run);
void run_target(const char *work_dir, const char *const *env, const char *const *args, target_run *run);
/* The lines of stderr that come from rallo ("rallo: ..."). */
int count_rallo_lines(const char *err);

/* Each returns true when the file is complete and parses. */
bool check_json(const char *path, const char *work_dir);
bool check_pprof(const char *path, const char *work_dir, char *raw_out, size_t raw_cap);
bool check_folded(const char *path);
bool check_text(const char *path);
bool check_html(const char *path);
/* By extension. */
bool check_dump_file(const char *path, const char *work_dir);
bool file_mode_is(const char *path, unsigned mode);
/* Counts files named rallo.<pid>.<seq>.<ext> in dir for pid; fills the highest
 * numeric seq seen and whether every one of them checks. */
int count_dumps(const char *dir, long pid, const char *work_dir, int *max_seq, bool *all_valid);
/* Sleeps in small steps until path exists; false after timeout seconds. */
bool wait_for_file(const char *path, double timeout);

#endif
