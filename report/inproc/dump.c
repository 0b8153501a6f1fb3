/* dump.c - rallo_dump() and dumping a set of files: one profile captured under
 * the dump lock, written in each format, errors reported in one stderr line. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mimalloc.h>

#include "dump.h"

/* One dump at a time from snapshot to rename: two dumps at once would only
 * compete for the symbolizer and the disk, and sequence numbers stay ordered. */
static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;

void _rallo_dump_lock(void) {
    pthread_mutex_lock(&dump_lock);
}
void _rallo_dump_unlock(void) {
    pthread_mutex_unlock(&dump_lock);
}
void _rallo_dump_lock_reinit(void) {
    pthread_mutex_init(&dump_lock, NULL);
}

/* Errno values already reported by repeated (periodic or signal) dumps: a dump
 * every 0.2 s into a full disk says so once, not five times a second. A whole
 * set of dumps written ends the outage, so a later one is told again. */
static uint64_t warned_errnos[4];

void _rallo_dump_forget_warnings(void) {
    memset(warned_errnos, 0, sizeof warned_errnos);
}

static bool first_warning_for(int err) {
    unsigned index = err > 0 && err < 256 ? (unsigned)err : 0;
    uint64_t bit = 1ull << (index % 64);
    if (warned_errnos[index / 64] & bit)
        return false;
    warned_errnos[index / 64] |= bit;
    return true;
}

/* The path and the error always travel as %s arguments: neither a path nor a
 * format name from the environment ever becomes a printf format. */
static void report_failure(const char *what, const char *path, int err, bool quiet_repeats) {
    if (quiet_repeats && !first_warning_for(err))
        return;
    char reason[128];
    const char *text = strerror_r(err, reason, sizeof reason);
    _rallo_warn("%s %s: %s", what, path, text);
}

/* Renders one format of a captured profile and writes it to dir/name, or to
 * name as the caller gave it when dir is NULL. 0, or -1 with errno; no message. */
static int write_one(const rallo_profile *profile, rallo_format format, const rallo_dump_dir *dir,
                     const char *name) {
    rallo_buf out;
    rallo_buf_init(&out);
    int rc = rallo_write_profile(profile, format, &out);
    if (rc != 0 || out.failed) {
        rallo_buf_free(&out);
        errno = ENOMEM;
        return -1;
    }
    rc = dir != NULL ? _rallo_dump_write_at(dir->fd, dir->path, name, out.data, out.len)
                     : _rallo_dump_write_file(name, out.data, out.len);
    int saved = errno;
    rallo_buf_free(&out);
    errno = saved;
    return rc;
}

int _rallo_dump_set_locked(const char *dir_name, const char *seq, rallo_format_set formats,
                           bool quiet_repeats) {
    rallo_dump_dir dir;
    if (_rallo_dump_dir_open(dir_name, &dir) != 0)
        return -1; /* it said why, once */
    size_t cap = strlen(dir.path) + strlen(seq) + 64;
    char *path = mi_malloc(cap);
    if (path == NULL) {
        _rallo_dump_dir_close(&dir);
        errno = ENOMEM;
        return -1;
    }
    const char *sep = dir.path[strlen(dir.path) - 1] == '/' ? "" : "/";
    rallo_profile profile;
    rallo_profile_init(&profile);
    if (rallo_profile_capture(&profile) != 0) {
        int saved = errno != 0 ? errno : ENOMEM;
        snprintf(path, cap, "%s%srallo.%ld.%s", dir.path, sep, (long)getpid(), seq);
        report_failure("cannot take a snapshot for", path, saved, quiet_repeats);
        rallo_profile_free(&profile);
        mi_free(path);
        _rallo_dump_dir_close(&dir);
        errno = saved;
        return -1;
    }
    /* One line for the set, however many formats failed: the first one's error. */
    int failed = 0, first_error = 0;
    for (int format = 0; format < RALLO_FORMAT_COUNT; format++) {
        if (!(formats & (1u << format)))
            continue;
        char name[96];
        snprintf(name, sizeof name, "rallo.%ld.%s.%s", (long)getpid(), seq,
                 rallo_format_extension((rallo_format)format));
        if (write_one(&profile, (rallo_format)format, &dir, name) != 0 && failed++ == 0) {
            first_error = errno;
            snprintf(path, cap, "%s%s%s", dir.path, sep, name);
        }
    }
    rallo_profile_free(&profile);
    if (failed > 1)
        snprintf(path + strlen(path), cap - strlen(path), " (and %d more formats)", failed - 1);
    if (failed > 0)
        report_failure("cannot write", path, first_error, quiet_repeats);
    mi_free(path);
    _rallo_dump_dir_close(&dir);
    if (failed > 0)
        errno = first_error;
    else if (quiet_repeats)
        _rallo_dump_forget_warnings(); /* the outage is over: the next one is told again */
    return failed > 0 ? -1 : 0;
}

rallo_export int _rallo_report_dump(const char *path, const char *format_name) {
    if (path == NULL || path[0] == '\0') {
        _rallo_warn("rallo_dump: no path given");
        errno = EINVAL;
        return -1;
    }
    rallo_format format;
    if (format_name != NULL ? !rallo_format_from_name(format_name, &format)
                            : !rallo_format_from_path(path, &format)) {
        if (format_name != NULL)
            _rallo_warn("rallo_dump: unknown format \"%.64s\" (html, pprof, folded, text, json)",
                        format_name);
        else
            _rallo_warn("rallo_dump: cannot tell the format of %s from its extension "
                        "(.html .pb.gz .pprof .folded .txt .json)",
                        path);
        errno = EINVAL;
        return -1;
    }
    /* Whatever the snapshot, symbolizer and writers allocate is rallo's own. */
    _rallo_guard_enter();
    _rallo_dump_lock();
    rallo_profile profile;
    rallo_profile_init(&profile);
    int rc = rallo_profile_capture(&profile);
    int saved = errno;
    if (rc != 0) {
        report_failure("cannot take a snapshot for", path, saved != 0 ? saved : ENOMEM, false);
        saved = saved != 0 ? saved : ENOMEM;
    } else {
        rc = write_one(&profile, format, NULL, path);
        saved = errno;
        if (rc != 0)
            report_failure("cannot write", path, saved, false);
    }
    rallo_profile_free(&profile);
    _rallo_dump_unlock();
    _rallo_guard_leave();
    errno = saved;
    return rc;
}
