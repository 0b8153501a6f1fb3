/* dumper.c - the dumper thread and what drives it: the RALLO_DUMP_* settings
 * read at load, rallo_dump_every(), the dump signal, fork and exit. Periodic
 * and signal dumps run in one background thread that holds the tracking guard
 * for its whole life (nothing it allocates is tracked) and blocks every signal;
 * the signal handler only posts a semaphore (async-signal-safe, and no file
 * descriptor a daemon's close-everything loop could take away). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mimalloc.h>

#include "dump.h"
#include "snapshot.h"

static rallo_dump_options env; /* as read at load */

/* Where and how periodic, signal and exit dumps go; under config_lock. */
static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    double interval; /* seconds; 0: no periodic dumps */
    char *dir;       /* mimalloc memory; NULL: "." */
    rallo_format_set formats;
    uint64_t generation; /* bumped by rallo_dump_every: the thread restarts its clock */
    bool thread_running;
} config;

/* Under the dump lock: the sequence number of the last numbered dump in this
 * process, and whether exit has begun (no numbered dump after the final one). */
static uint64_t sequence;
static bool exiting;

static sem_t wake;
static _Atomic int signal_pending;

static void copy_destination(char **dir, rallo_format_set *formats) {
    pthread_mutex_lock(&config_lock);
    *dir = config.dir != NULL ? mi_strdup(config.dir) : NULL;
    *formats = config.formats;
    pthread_mutex_unlock(&config_lock);
}

/* One numbered dump (periodic or signal) of every configured format: the
 * snapshot under the dump lock, the raw profile written after it, the other
 * formats by a helper (dump-convert.c: a few in flight at most; when they are
 * slower than the interval, the thread waits and the dumps missed meanwhile
 * are skipped). */
static void dump_numbered(void) {
    char *dir = NULL;
    rallo_format_set formats = 0;
    copy_destination(&dir, &formats);
    char seq[24];
    rallo_profile profile;
    rallo_snapshot_copy copy;
    int rc = _rallo_snapshot_copy_prepare(&copy);
    _rallo_dump_lock();
    if (exiting) {
        _rallo_dump_unlock();
        if (rc == 0) {
            rallo_profile_init(&profile);
            _rallo_snapshot_copy_drop(&profile, &copy);
        }
        mi_free(dir);
        return;
    }
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)++sequence);
    if (rc == 0)
        rc = _rallo_snapshot_copy_take(&profile, &copy);
    _rallo_dump_unlock();
    if (rc == 0)
        rc = _rallo_snapshot_copy_finish(&profile, &copy);
    if (rc == 0)
        _rallo_dump_set_write(&profile, dir, seq, formats, true, true);
    else
        _rallo_dump_snapshot_failed(dir, seq, true);
    mi_free(dir);
}

static struct timespec now_plus(double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double whole = floor(seconds);
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)((seconds - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static bool reached(const struct timespec *deadline) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static void *dumper_main(void *unused) {
    (void)unused;
    _rallo_door->guard_enter(); /* for life: the thread never leaves rallo */
    pthread_setname_np(pthread_self(), "rallo-dumper");
    /* The program's threads come first: building and writing a dump of many
     * sites takes CPU time that a busy program should not wait for. (Linux
     * gives each thread its own nice value.) */
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), getpriority(PRIO_PROCESS, (id_t)gettid()) + 10);
    uint64_t generation = UINT64_MAX;
    double interval = 0;
    struct timespec next = {0, 0};
    for (;;) {
        pthread_mutex_lock(&config_lock);
        if (config.generation != generation) {
            generation = config.generation;
            interval = config.interval;
            next = now_plus(interval);
        }
        pthread_mutex_unlock(&config_lock);

        int rc = interval > 0 ? sem_clockwait(&wake, CLOCK_MONOTONIC, &next) : sem_wait(&wake);
        if (rc != 0 && errno != ETIMEDOUT && errno != EINTR)
            continue;
        bool signal_due = atomic_exchange(&signal_pending, 0) != 0;
        bool periodic_due = interval > 0 && reached(&next);
        if (periodic_due) /* the next one an interval after this one starts; missed ones are skipped */
            next = now_plus(interval);
        if (signal_due || periodic_due)
            dump_numbered();
    }
    return NULL;
}

/* Starts the thread unless it runs; config_lock held. Every signal is blocked
 * while it is created, so it never runs a handler of the program's. */
static int start_dumper_locked(void) {
    if (config.thread_running)
        return 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    _rallo_door->guard_enter(); /* its stack and TLS are rallo's, not the caller's */
    int rc = pthread_create(&thread, &attr, dumper_main, NULL);
    _rallo_door->guard_leave();
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        char reason[128];
        _rallo_door->warn("cannot start the dumper thread: %s", strerror_r(rc, reason, sizeof reason));
        errno = rc;
        return -1;
    }
    config.thread_running = true;
    return 0;
}

static void dump_signal_handler(int signo) {
    (void)signo;
    int saved = errno;
    atomic_store(&signal_pending, 1);
    sem_post(&wake);
    errno = saved;
}

rallo_export int _rallo_report_dump_every(double seconds, const char *dir, const char *formats) {
    if (isnan(seconds)) {
        errno = EINVAL;
        return -1;
    }
    rallo_format_set set = env.formats;
    if (formats != NULL) {
        const char *bad = NULL;
        size_t bad_len = 0;
        if (!_rallo_parse_formats(formats, &set, &bad, &bad_len)) {
            _rallo_door->warn("rallo_dump_every: bad format list \"%.64s\" (html, pprof, folded, text, json)",
                              formats);
            errno = EINVAL;
            return -1;
        }
    }
    if (seconds > 1e9)
        seconds = 1e9;
    int rc = 0;
    pthread_mutex_lock(&config_lock);
    if (seconds > 0) {
        const char *new_dir = dir != NULL && dir[0] != '\0' ? dir : env.dir;
        char *copy = new_dir != NULL ? mi_strdup(new_dir) : NULL;
        if (new_dir != NULL && copy == NULL) {
            pthread_mutex_unlock(&config_lock);
            errno = ENOMEM;
            return -1;
        }
        mi_free(config.dir);
        config.dir = copy;
        config.formats = set;
        config.interval = seconds;
        rc = start_dumper_locked();
    } else {
        config.interval = 0;
    }
    config.generation++;
    pthread_mutex_unlock(&config_lock);
    sem_post(&wake);
    return rc;
}

/* The exit dump: its snapshot waits for another dump's snapshot at most, and
 * its own writing is a raw profile; the helper that names it is not waited for. */
static void dump_at_exit(void) {
    char *dir = NULL;
    rallo_format_set formats = 0;
    _rallo_door->guard_enter();
    if (env.on_exit)
        copy_destination(&dir, &formats);
    rallo_profile profile;
    rallo_snapshot_copy copy;
    int rc = env.on_exit ? _rallo_snapshot_copy_prepare(&copy) : 0;
    _rallo_dump_lock();
    exiting = true; /* the dumper starts nothing while the process tears down */
    if (env.on_exit && rc == 0)
        rc = _rallo_snapshot_copy_take(&profile, &copy);
    _rallo_dump_unlock();
    if (env.on_exit) {
        if (rc == 0)
            rc = _rallo_snapshot_copy_finish(&profile, &copy);
        if (rc == 0)
            _rallo_dump_set_write(&profile, dir, "final", formats, false, false);
        else
            _rallo_dump_snapshot_failed(dir, "final", false);
    }
    mi_free(dir);
    _rallo_door->guard_leave();
}

/* Fork: no snapshot may be half copied in the child, so the prepare handler
 * waits for the one being copied, and for nothing else: a dump being written
 * (or named by its helper) holds no lock, and in the child it simply does not
 * exist, as the thread writing it does not. (Registered after init.c's
 * handlers, so it runs before them: the dump lock is always taken before the
 * counters' lock.) */
static void fork_prepare(void) {
    _rallo_dump_lock();
    pthread_mutex_lock(&config_lock);
    _rallo_dump_convert_fork_prepare();
    _rallo_dump_symbolizer_fork_prepare();
}
static void fork_parent(void) {
    _rallo_dump_symbolizer_fork_parent();
    _rallo_dump_convert_fork_parent();
    pthread_mutex_unlock(&config_lock);
    _rallo_dump_unlock();
}
/* The child has no dumper thread. One that wants dumps (an interval, or the
 * signal) gets its own now: nothing else of rallo's runs in a child that only
 * allocates. Its dumps are named by its own pid and count from 1 again. */
static void fork_child(void) {
    _rallo_dump_convert_fork_child();
    pthread_mutex_init(&config_lock, NULL);
    _rallo_dump_lock_reinit();
    _rallo_dump_symbolizer_reinit();
    sem_destroy(&wake);
    sem_init(&wake, 0, 0);
    atomic_store(&signal_pending, 0);
    sequence = 0;
    _rallo_dump_forget_warnings();
    config.thread_running = false;
    if (config.interval > 0 || env.signal != 0) {
        config.generation++;
        start_dumper_locked();
    }
}

/* After init.c's constructor (101), which has read the tracking options. */
__attribute__((constructor(200))) static void dumper_load(void) {
    if (!_rallo_door_open())
        return;
    _rallo_dump_options_load(&env);
    config.dir = env.dir != NULL ? mi_strdup(env.dir) : NULL;
    config.formats = env.formats;
    config.interval = env.interval;
    sem_init(&wake, 0, 0);
    /* Not pthread_atfork: this runs inside dlopen (tracking/fork_forward.c). */
    _rallo_door->fork_handlers_add(fork_prepare, fork_parent, fork_child);
    atexit(dump_at_exit);
    if (env.signal != 0 &&
        _rallo_door->signal_take(env.signal, dump_signal_handler, "RALLO_DUMP_SIGNAL") != 0)
        env.signal = 0; /* the line saying why was said */
    if (config.interval > 0 || env.signal != 0) {
        pthread_mutex_lock(&config_lock);
        start_dumper_locked();
        pthread_mutex_unlock(&config_lock);
    }
}
