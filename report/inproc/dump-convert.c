/* dump-convert.c - the `rallo` command as a helper process: a periodic, signal
 * or exit dump is written in-process as a raw pprof profile, and `rallo
 * _convert` (report/cli/convert.c) names its frames and writes the formats
 * asked for, outside the host: the symbolizer's memory and time are never the
 * host's, and libdw, and whatever libdw would bring (debuginfod: curl, TLS),
 * are never mapped into it.
 *
 * The helper must be invisible to the host's own child reaping: a server like
 * PostgreSQL's postmaster reaps every child with waitpid(-1) and takes one it
 * does not know, if it exits with a status other than 0 or 1, for a crashed
 * backend (and restarts them all); nginx logs it. A child with exit signal 0
 * is a "clone" child, which waitpid(-1) never reports (only __WCLONE or __WALL
 * do) and which sends no SIGCHLD; but execve makes it an ordinary child again.
 * So the helper is a grandchild: an intermediate clone child with exit signal
 * 0 (which never execs) starts it, as posix_spawn would (clone(CLONE_VM |
 * CLONE_VFORK), no copy of the host's memory), and exits at once; this thread
 * reaps the intermediate with __WCLONE, and the helper, orphaned, is reaped by
 * init (or the nearest subreaper), never by the host. The helper holds the
 * write end of a pipe: its end of file says the helper is done. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mimalloc.h>

#include "../util/library_dir.h"
#include "dump.h"

/* The `rallo` command, found at load beside librallo-report.so (the build
 * tree) or in the installation's bin directory; empty when neither has it. */
static char rallo_command[PATH_MAX];

#define HELPER_STACK_SIZE (64 * 1024)
/* Descriptor the helper holds the pipe's write end on (see helper_child). */
#define HELPER_DONE_FD 3

typedef struct helper_start {
    const char *path;
    char *const *argv;
    char *const *envp;
    char *grandchild_stack; /* top of the second stack */
    int done_fd;            /* the pipe's write end */
    int null_fd;            /* /dev/null */
    int spawn_errno;        /* written by the intermediate when clone fails (the memory is shared) */
    int exec_errno;         /* written by the helper when execve fails */
} helper_start;

/* The helper, in the host's memory until execve: only system calls, nothing
 * that touches the host's state. Every signal is blocked (the host blocked
 * them before clone; the command unblocks them). */
static int helper_child(void *arg) {
    helper_start *start = arg;
    /* The host's descriptors (listening sockets, its files, the pipe its
     * stdout may be, whose reader waits for its end) are not the helper's:
     * stdin and stdout are /dev/null, stderr stays so that its messages reach
     * the log, and the pipe's write end, whose closing at the helper's exit is
     * its "done". (Both descriptors are above 9, see helper_spawn.) */
    dup2(start->null_fd, STDIN_FILENO);
    dup2(start->null_fd, STDOUT_FILENO);
    dup2(start->done_fd, HELPER_DONE_FD);
    syscall(SYS_close_range, HELPER_DONE_FD + 1u, ~0u, 0u);
    execve(start->path, start->argv, start->envp);
    start->exec_errno = errno != 0 ? errno : ENOEXEC;
    _exit(127);
}

/* The intermediate: a clone child with exit signal 0 that starts the helper
 * (an ordinary child of its own) and exits as soon as the helper has exec'd. */
static int helper_intermediate(void *arg) {
    helper_start *start = arg;
    pid_t pid = clone(helper_child, start->grandchild_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, start);
    if (pid < 0)
        start->spawn_errno = errno != 0 ? errno : EAGAIN;
    _exit(0);
}

/* The environment without what would make the helper a host of rallo itself
 * (LD_PRELOAD, RALLO_*) or send it to the network (DEBUGINFOD_URLS): the
 * helper names frames from the files on this machine only. NULL-terminated
 * array of the host's own strings; NULL when out of memory. */
static char **helper_environment(void) {
    size_t n = 0;
    for (char **entry = environ; entry != NULL && *entry != NULL; entry++)
        n++;
    char **envp = mi_malloc((n + 1) * sizeof *envp);
    if (envp == NULL)
        return NULL;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const char *entry = environ[i];
        if (entry == NULL)
            break;
        if (strncmp(entry, "LD_PRELOAD=", 11) == 0 || strncmp(entry, "RALLO_", 6) == 0 ||
            strncmp(entry, "DEBUGINFOD_URLS=", 16) == 0)
            continue;
        envp[kept++] = (char *)entry;
    }
    envp[kept] = NULL;
    return envp;
}

/* "html,text,..." for the formats set, in caller's text of size `size`. */
static void format_list(rallo_format_set formats, char *text, size_t size) {
    size_t used = 0;
    text[0] = '\0';
    for (int format = 0; format < RALLO_FORMAT_COUNT; format++) {
        if (!(formats & (1u << format)))
            continue;
        int n = snprintf(text + used, size - used, "%s%s", used ? "," : "",
                         rallo_format_name((rallo_format)format));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

/* Starts the helper; the read end of its pipe (end of file: the helper is
 * done), or -1 with errno (ENOENT: no `rallo` command). */
static int helper_spawn(const char *raw_path, rallo_format_set formats, bool quiet) {
    if (rallo_command[0] == '\0') {
        errno = ENOENT;
        return -1;
    }
    char list[128];
    format_list(formats, list, sizeof list);
    char *argv[] = {rallo_command, "_convert", "--formats", list, (char *)raw_path, NULL, NULL};
    if (quiet) { /* the program says what goes wrong with the directory, once an outage */
        argv[5] = (char *)raw_path;
        argv[4] = "--quiet";
    }
    char **envp = helper_environment();
    int done[2] = {-1, -1}, null_fd = -1;
    char *stacks = mmap(NULL, 2 * HELPER_STACK_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    int err = envp == NULL || stacks == MAP_FAILED ? ENOMEM : 0;
    if (err == 0 && pipe2(done, O_CLOEXEC) != 0)
        err = errno;
    /* Above 9: the child's dup2 onto 0, 1 and 3 never overwrites one of them
     * (a daemon that closed its stdin or stdout gets those numbers back). */
    int write_end = err == 0 ? fcntl(done[1], F_DUPFD_CLOEXEC, 10) : -1;
    if (err == 0 && write_end < 0)
        err = errno;
    if (done[1] >= 0)
        close(done[1]);
    done[1] = write_end;
    if (err == 0) {
        int opened = open("/dev/null", O_RDWR | O_CLOEXEC);
        null_fd = opened >= 0 ? fcntl(opened, F_DUPFD_CLOEXEC, 10) : -1;
        if (null_fd < 0)
            err = errno;
        if (opened >= 0)
            close(opened);
    }
    if (err != 0) {
        mi_free(envp);
        if (stacks != MAP_FAILED)
            munmap(stacks, 2 * HELPER_STACK_SIZE);
        if (done[0] >= 0)
            close(done[0]);
        if (done[1] >= 0)
            close(done[1]);
        errno = err;
        return -1;
    }
    helper_start start = {.path = rallo_command,
                          .argv = argv,
                          .envp = envp,
                          .grandchild_stack = stacks + 2 * HELPER_STACK_SIZE,
                          .done_fd = done[1],
                          .null_fd = null_fd};
    /* No handler of the host's may run in a child while it shares the host's
     * memory: every signal stays blocked until execve. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* CLONE_VFORK: this thread waits until the intermediate has exited, which
     * it does once the helper has exec'd (or failed to), so argv, envp and the
     * stacks are still there when they need them. The low byte of the flags,
     * the exit signal, is 0. */
    pid_t pid = clone(helper_intermediate, stacks + HELPER_STACK_SIZE, CLONE_VM | CLONE_VFORK, &start);
    err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(done[1]);
    close(null_fd);
    if (pid > 0) {
        while (waitpid(pid, NULL, __WCLONE) < 0 && errno == EINTR) {
        }
    }
    munmap(stacks, 2 * HELPER_STACK_SIZE);
    mi_free(envp);
    if (pid < 0 || start.spawn_errno != 0 || start.exec_errno != 0) {
        close(done[0]);
        errno = pid < 0 ? err : start.spawn_errno != 0 ? start.spawn_errno : start.exec_errno;
        return -1;
    }
    return done[0];
}

/* Helpers of numbered dumps still running, by their pipes' read ends, oldest
 * first: at most HELPERS_IN_FLIGHT, so that dumps keep their interval while a
 * helper works (naming a module's frames from its DWARF takes a fresh process
 * up to a few hundred milliseconds) and helpers never pile up when they are
 * slower than the interval. Under in_flight_lock, which fork() takes: a child
 * closes the read ends it inherits, and knows no helper. */
#define HELPERS_IN_FLIGHT 4
/* Longest a numbered dump waits for the oldest helper when all are busy. */
#define HELPER_WAIT_MS (60 * 1000)
static pthread_mutex_t in_flight_lock = PTHREAD_MUTEX_INITIALIZER;
static int in_flight[HELPERS_IN_FLIGHT];
static int in_flight_count;

/* Whether the helper behind this read end has exited, waiting up to timeout_ms. */
static bool helper_done(int done, int timeout_ms) {
    struct pollfd ready = {.fd = done, .events = POLLIN};
    char byte;
    for (int waited = 0;; waited += 100) {
        int slice = timeout_ms - waited < 100 ? timeout_ms - waited : 100;
        if (slice < 0)
            return false;
        int n = poll(&ready, 1, slice);
        if (n > 0 && read(done, &byte, 1) <= 0)
            return true; /* end of file: the helper has exited */
        if (slice == 0)
            return false;
    }
}

/* Adds a helper; forgets those that have exited; when all places are taken,
 * waits for the oldest (without the lock: fork() never waits on a helper). */
static void in_flight_add(int done) {
    pthread_mutex_lock(&in_flight_lock);
    int kept = 0;
    for (int i = 0; i < in_flight_count; i++) {
        if (helper_done(in_flight[i], 0))
            close(in_flight[i]);
        else
            in_flight[kept++] = in_flight[i];
    }
    in_flight_count = kept;
    int oldest = -1;
    if (in_flight_count == HELPERS_IN_FLIGHT) {
        oldest = in_flight[0];
        memmove(in_flight, in_flight + 1, (HELPERS_IN_FLIGHT - 1) * sizeof *in_flight);
        in_flight_count--;
    }
    in_flight[in_flight_count++] = done;
    pthread_mutex_unlock(&in_flight_lock);
    if (oldest >= 0) {
        helper_done(oldest, HELPER_WAIT_MS);
        close(oldest);
    }
}

int _rallo_dump_convert(const char *raw_path, rallo_format_set formats, bool quiet_repeats, bool numbered) {
    /* A set-uid or set-gid process: the helper would run with its privileges
     * but an environment its caller chose (LD_LIBRARY_PATH). The raw profile
     * stays, for `rallo report` to convert. */
    if (getauxval(AT_SECURE) != 0)
        return 0;
    int done = helper_spawn(raw_path, formats, quiet_repeats);
    if (done < 0) {
        int err = errno;
        static _Atomic int told;
        if (!quiet_repeats || atomic_exchange(&told, 1) == 0) {
            char reason[128];
            _rallo_door->warn("cannot start the rallo command to name frames (%s: %s): %s stays a raw pprof "
                              "profile; `rallo report` converts it",
                              rallo_command[0] != '\0' ? rallo_command : "not found beside librallo",
                              strerror_r(err, reason, sizeof reason), raw_path);
        }
        errno = err;
        return -1;
    }
    /* The helper says what went wrong itself, on the same stderr. */
    if (numbered)
        in_flight_add(done);
    else
        close(done);
    return 0;
}

void _rallo_dump_convert_fork_prepare(void) {
    pthread_mutex_lock(&in_flight_lock);
}
void _rallo_dump_convert_fork_parent(void) {
    pthread_mutex_unlock(&in_flight_lock);
}
void _rallo_dump_convert_fork_child(void) {
    for (int i = 0; i < in_flight_count; i++)
        close(in_flight[i]);
    in_flight_count = 0;
    pthread_mutex_init(&in_flight_lock, NULL);
}

/* Where the `rallo` command is: beside this library (the build tree) or in
 * ../bin, ../../bin of it (an installation's lib/ or lib/<multiarch>/). */
__attribute__((constructor)) static void dump_convert_load(void) {
    char library[PATH_MAX];
    if (!rallo_library_dir((const void *)&dump_convert_load, library))
        return;
    static const char *const places[] = {"rallo", "../bin/rallo", "../../bin/rallo"};
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        char candidate[PATH_MAX + 32];
        snprintf(candidate, sizeof candidate, "%s%s", library, places[i]);
        struct stat info;
        if (stat(candidate, &info) == 0 && S_ISREG(info.st_mode) && access(candidate, X_OK) == 0 &&
            realpath(candidate, rallo_command) != NULL)
            return;
    }
    rallo_command[0] = '\0';
}
