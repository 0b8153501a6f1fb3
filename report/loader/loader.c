/* loader.c - what librallo itself carries of report/: the dump calls behind
 * rallo_dump() and rallo_dump_every() (allocator/api.c), which load librallo-report.so (installed beside
 * librallo) on first use, and a constructor that loads it at start-up when the environment asks for dumps,
 * the toggle signal or no-follow, and librallo-http.so when it asks for the
 * HTTP endpoint. report/ lives in libraries of its own so that zlib and
 * protobuf-c are mapped only into processes that dump, libmicrohttpd (with
 * gnutls behind it) only into those that serve, and libdw only into those
 * that ask for names in-process (librallo-report.so loads it for rallo_dump()),
 * not into every process that only wants rallo's malloc. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "../../tracking/door.h"
#include "../../tracking/fork.h"
#include "../../tracking/options.h"
#include "../../tracking/thread.h"
#include "../util/library_dir.h"
#include "loader.h"

#define REPORT_LIBRARY "librallo-report.so"
#define HTTP_LIBRARY "librallo-http.so"

typedef int (*report_dump_fn)(const char *path, const char *format);
typedef int (*report_dump_every_fn)(double seconds, const char *dir, const char *formats);
typedef bool (*report_door_open_fn)(void);

/* Found at load, while the path librallo was loaded by still means what it
 * meant (a relative LD_PRELOAD path breaks once the program changes directory). */
static char report_library_path[PATH_MAX];
/* Guards loading the library; a failed load is tried again on the next call
 * (it fails when memory is exhausted, and may work once there is room). */
static pthread_mutex_t report_load_lock = PTHREAD_MUTEX_INITIALIZER;
static report_dump_fn report_dump;
static report_dump_every_fn report_dump_every;
static _Atomic bool report_loaded;

static void report_library_locate(void) {
    char dir[PATH_MAX];
    if (!rallo_library_dir((const void *)&report_library_locate, dir))
        return;
    size_t dir_len = strlen(dir);
    if (dir_len + sizeof REPORT_LIBRARY > sizeof report_library_path)
        return;
    memcpy(report_library_path, dir, dir_len);
    memcpy(report_library_path + dir_len, REPORT_LIBRARY, sizeof REPORT_LIBRARY);
}

static void report_load(void) {
    /* dlopen and the library's constructors allocate: rallo's own memory. */
    _rallo_guard_enter();
    if (report_library_path[0] == '\0') {
        _rallo_warn("cannot tell where librallo is installed: no reports");
        errno = ENOENT;
    } else {
        void *library = dlopen(report_library_path, RTLD_NOW | RTLD_LOCAL);
        if (library == NULL) {
            int missing = access(report_library_path, R_OK) != 0;
            _rallo_warn("cannot load %s: no reports", dlerror());
            errno = missing ? ENOENT : ENOMEM;
        } else {
            report_dump = (report_dump_fn)dlsym(library, "_rallo_report_dump");
            report_dump_every = (report_dump_every_fn)dlsym(library, "_rallo_report_dump_every");
            report_door_open_fn door_open = (report_door_open_fn)dlsym(library, "_rallo_report_door_open");
            if (report_dump == NULL || report_dump_every == NULL || door_open == NULL) {
                _rallo_warn("%s is not the one this librallo was built with: no reports",
                            report_library_path);
                errno = ENOSYS;
            } else if (!door_open()) {
                errno = ENOSYS; /* the library has said why, in one line */
            } else {
                atomic_store_explicit(&report_loaded, true, memory_order_release);
            }
        }
    }
    _rallo_guard_leave();
}

static bool report_ready(void) {
    if (rallo_likely(atomic_load_explicit(&report_loaded, memory_order_acquire)))
        return true;
    pthread_mutex_lock(&report_load_lock);
    if (!atomic_load_explicit(&report_loaded, memory_order_relaxed))
        report_load();
    int error = errno;
    pthread_mutex_unlock(&report_load_lock);
    errno = error;
    return atomic_load_explicit(&report_loaded, memory_order_acquire);
}

/* fork() waits for a load in progress (fork_forward.c says why), then runs
 * the loaded libraries' handlers, which they registered through the door. */
static void report_loader_atfork_prepare(void) {
    pthread_mutex_lock(&report_load_lock);
    _rallo_fork_forward_prepare();
}
static void report_loader_atfork_parent(void) {
    _rallo_fork_forward_parent();
    pthread_mutex_unlock(&report_load_lock);
}
static void report_loader_atfork_child(void) {
    _rallo_fork_forward_child();
    pthread_mutex_init(&report_load_lock, NULL);
}

int _rallo_loader_dump(const char *path, const char *format) {
    return report_ready() ? report_dump(path, format) : -1;
}

int _rallo_loader_dump_every(double seconds, const char *dir, const char *formats) {
    return report_ready() ? report_dump_every(seconds, dir, formats) : -1;
}

/* The HTTP endpoint's library, beside librallo-report.so; its constructor
 * starts the endpoint. */
static void http_load(void) {
    size_t len = strlen(report_library_path);
    size_t dir_len = len - (sizeof REPORT_LIBRARY - 1);
    if (len == 0 || dir_len + sizeof HTTP_LIBRARY > sizeof report_library_path)
        return;
    char path[PATH_MAX];
    memcpy(path, report_library_path, dir_len);
    memcpy(path + dir_len, HTTP_LIBRARY, sizeof HTTP_LIBRARY);
    _rallo_guard_enter();
    pthread_mutex_lock(&report_load_lock); /* fork() waits for it, as for the report library */
    if (dlopen(path, RTLD_NOW | RTLD_LOCAL) == NULL)
        _rallo_warn("cannot load %s: no RALLO_HTTP endpoint", dlerror());
    pthread_mutex_unlock(&report_load_lock);
    _rallo_guard_leave();
}

static bool variable_set(const char *name) {
    const char *value = _rallo_getenv(name);
    return value != NULL && value[0] != '\0';
}

/* After init.c's (101): the tracking options are read and tracking may be on. */
__attribute__((constructor(150))) static void report_loader_load(void) {
    report_library_locate();
    pthread_atfork(report_loader_atfork_prepare, report_loader_atfork_parent, report_loader_atfork_child);
    static const char *const wants_report[] = {
        "RALLO_DUMP_INTERVAL", "RALLO_DUMP_ON_EXIT",  "RALLO_DUMP_SIGNAL", "RALLO_DUMP_DIR",
        "RALLO_DUMP_FORMATS",  "RALLO_TOGGLE_SIGNAL", "RALLO_FOLLOW"};
    for (size_t i = 0; i < sizeof wants_report / sizeof wants_report[0]; i++) {
        if (variable_set(wants_report[i])) {
            report_ready();
            break;
        }
    }
    if (variable_set("RALLO_HTTP"))
        http_load();
}
