/* dump.c - rallo_dump() and the sets of files periodic, signal and exit dumps
 * write. Every dump takes its snapshot under the dump lock (the only thing
 * fork() and exit() ever wait for) and writes outside it. rallo_dump() names
 * its frames in-process (librallo-symbolize.so, loaded on the first such
 * call); a set is written as a raw pprof profile (addresses, mappings, build
 * ids) and handed to the `rallo` command for names and the other formats
 * (dump-convert.c), so a dumping process never maps libdw nor builds a
 * symbolizer. Errors are reported in one stderr line. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mimalloc.h>

#include "dump.h"
#include "snapshot.h"

/* Held while a snapshot is copied, never while anything is written: fork()
 * takes it (dumper.c), so a child never inherits a snapshot half copied, and
 * numbered dumps get their sequence numbers in the order of their snapshots.
 * A dump that was being written when the process forked is simply not the
 * child's: the thread writing it does not exist there. */
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
static _Atomic uint64_t warned_errnos[4];

void _rallo_dump_forget_warnings(void) {
    for (size_t i = 0; i < sizeof warned_errnos / sizeof warned_errnos[0]; i++)
        atomic_store(&warned_errnos[i], 0);
}

static bool first_warning_for(int err) {
    unsigned index = err > 0 && err < 256 ? (unsigned)err : 0;
    uint64_t bit = 1ull << (index % 64);
    return (atomic_fetch_or(&warned_errnos[index / 64], bit) & bit) == 0;
}

/* The path and the error always travel as %s arguments: neither a path nor a
 * format name from the environment ever becomes a printf format. */
static void report_failure(const char *what, const char *path, int err, bool quiet_repeats) {
    if (quiet_repeats && !first_warning_for(err))
        return;
    char reason[128];
    const char *text = strerror_r(err, reason, sizeof reason);
    _rallo_door->warn("%s %s: %s", what, path, text);
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

int _rallo_dump_set_write(rallo_profile *profile, const char *dir_name, const char *seq,
                          rallo_format_set formats, bool quiet_repeats, bool numbered) {
    rallo_dump_dir dir;
    if (_rallo_dump_dir_open(dir_name, &dir) != 0) {
        rallo_profile_free(profile);
        return -1; /* it said why, once */
    }
    char name[96];
    snprintf(name, sizeof name, "rallo.%ld.%s.%s", (long)getpid(), seq,
             rallo_format_extension(RALLO_FORMAT_PPROF));
    size_t cap = strlen(dir.path) + sizeof name + 2;
    char *path = mi_malloc(cap);
    if (path == NULL) {
        rallo_profile_free(profile);
        _rallo_dump_dir_close(&dir);
        errno = ENOMEM;
        return -1;
    }
    snprintf(path, cap, "%s%s%s", dir.path, dir.path[strlen(dir.path) - 1] == '/' ? "" : "/", name);
    /* The raw profile goes where the pprof dump goes: if nothing converts it,
     * it is still the whole dump, and `rallo report` names its frames. */
    int rc = write_one(profile, RALLO_FORMAT_PPROF, &dir, name);
    int saved = errno;
    rallo_profile_free(profile);
    _rallo_dump_dir_close(&dir);
    if (rc != 0)
        report_failure("cannot write", path, saved, quiet_repeats);
    else if (_rallo_dump_convert(path, formats, quiet_repeats, numbered) != 0) {
        rc = -1;
        saved = errno;
    }
    mi_free(path);
    if (rc != 0)
        errno = saved;
    else if (quiet_repeats)
        _rallo_dump_forget_warnings(); /* the outage is over: the next one is told again */
    return rc;
}

void _rallo_dump_snapshot_failed(const char *dir, const char *seq, bool quiet_repeats) {
    int saved = errno != 0 ? errno : ENOMEM;
    char path[4096];
    snprintf(path, sizeof path, "%s/rallo.%ld.%s", dir != NULL && dir[0] != '\0' ? dir : ".", (long)getpid(),
             seq);
    report_failure("cannot take a snapshot for", path, saved, quiet_repeats);
    errno = saved;
}

/* ---- rallo_dump(): names looked up in-process, on request ---- */

typedef void (*symbolize_self_fn)(rallo_profile *profile);
static pthread_mutex_t symbolizer_load_lock = PTHREAD_MUTEX_INITIALIZER;
static symbolize_self_fn symbolize_self;
static bool symbolizer_load_failed;

/* librallo-symbolize.so (libdw) beside this library, loaded on the first
 * rallo_dump(); NULL when it cannot be (the dump then keeps addresses). */
static symbolize_self_fn symbolizer_get(void) {
    pthread_mutex_lock(&symbolizer_load_lock);
    if (symbolize_self == NULL && !symbolizer_load_failed) {
        char path[4096];
        Dl_info self;
        const char *slash = NULL;
        if (dladdr((void *)&symbolizer_get, &self) != 0 && self.dli_fname != NULL)
            slash = strrchr(self.dli_fname, '/');
        if (slash != NULL && snprintf(path, sizeof path, "%.*s/librallo-symbolize.so",
                                      (int)(slash - self.dli_fname), self.dli_fname) < (int)sizeof path) {
            void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (library != NULL)
                symbolize_self = (symbolize_self_fn)dlsym(library, "_rallo_symbolize_self");
        }
        if (symbolize_self == NULL) {
            symbolizer_load_failed = true;
            _rallo_door->warn("cannot load librallo-symbolize.so (%s): rallo_dump() keeps addresses "
                              "(rallo report names them)",
                              slash != NULL ? "not found or not loadable"
                                            : "librallo-report.so's place unknown");
        }
    }
    symbolize_self_fn fn = symbolize_self;
    pthread_mutex_unlock(&symbolizer_load_lock);
    return fn;
}

/* fork() waits for librallo-symbolize.so's load in progress, if any (see
 * tracking/fork_forward.c): the child may then load it, or anything else. */
void _rallo_dump_symbolizer_fork_prepare(void) {
    pthread_mutex_lock(&symbolizer_load_lock);
}
void _rallo_dump_symbolizer_fork_parent(void) {
    pthread_mutex_unlock(&symbolizer_load_lock);
}

void _rallo_dump_symbolizer_reinit(void) {
    pthread_mutex_init(&symbolizer_load_lock, NULL);
}

rallo_export int _rallo_report_dump(const char *path, const char *format_name) {
    if (path == NULL || path[0] == '\0') {
        _rallo_door->warn("rallo_dump: no path given");
        errno = EINVAL;
        return -1;
    }
    rallo_format format;
    if (format_name != NULL ? !rallo_format_from_name(format_name, &format)
                            : !rallo_format_from_path(path, &format)) {
        if (format_name != NULL)
            _rallo_door->warn("rallo_dump: unknown format \"%.64s\" (html, pprof, folded, text, json)",
                              format_name);
        else
            _rallo_door->warn("rallo_dump: cannot tell the format of %s from its extension "
                              "(.html .pb.gz .pprof .folded .txt .json)",
                              path);
        errno = EINVAL;
        return -1;
    }
    /* Whatever the snapshot, symbolizer and writers allocate is rallo's own. */
    _rallo_door->guard_enter();
    rallo_profile profile;
    rallo_snapshot_copy copy;
    int rc = _rallo_snapshot_copy_prepare(&copy);
    _rallo_dump_lock();
    if (rc == 0)
        rc = _rallo_snapshot_copy_take(&profile, &copy);
    _rallo_dump_unlock();
    if (rc == 0)
        rc = _rallo_snapshot_copy_finish(&profile, &copy);
    int saved = errno;
    if (rc != 0) {
        saved = saved != 0 ? saved : ENOMEM;
        report_failure("cannot take a snapshot for", path, saved, false);
    } else {
        symbolize_self_fn symbolize = symbolizer_get();
        if (symbolize != NULL)
            symbolize(&profile);
        rc = write_one(&profile, format, NULL, path);
        saved = errno;
        if (rc != 0)
            report_failure("cannot write", path, saved, false);
        rallo_profile_free(&profile);
    }
    _rallo_door->guard_leave();
    errno = saved;
    return rc;
}
