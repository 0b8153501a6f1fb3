/* http-serve.c - RALLO_HTTP's listening sockets, its thread, and which
 * process serves them. libmicrohttpd parses HTTP; the sockets are ours: we
 * listen, accept and hand each connection over (http-connections.c), so that
 * the listening sockets are close-on-exec, slow clients can be cut off, and a
 * forked child can drop what it inherited. One thread per process, holding
 * rallo's guard for its life, so nothing the server allocates is tracked.
 *
 * The process rule (README, "Reaching each process"):
 *  - every process serves its own abstract unix socket, @rallo/<pid>, to its
 *    own user and root (`rallo list` lists them);
 *  - the TCP port is held by one process at a time. A process that started
 *    with RALLO_HTTP (at exec) binds it, or, if another holds it, retries
 *    quietly and takes it once that one exits or execs;
 *  - a forked child closes its inherited copy and serves its own unix socket;
 *    it competes for the port only once the parent it was forked from has
 *    exited (nginx's daemon master, after the first process returns).
 * So: exec'd children are quiet, a wrapper that execs or exits hands the port
 * on, pg_ctl's postmaster and an upgraded nginx master take it when the
 * former holder goes, and pre-fork workers stay reachable by pid. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <mimalloc.h>

#include "http.h"
#include "snapshot.h"

#define HTTP_CONNECTION_MEMORY (32 * 1024)     /* bounds the request line and headers */
#define HTTP_IDLE_SECONDS 10                   /* libmicrohttpd's own: no progress at all */
#define HTTP_RETRY_NS (250 * 1000 * 1000ull)   /* how often a waiting process tries the port */
#define HTTP_COLLECT_NS (500 * 1000 * 1000ull) /* past mimalloc's delays before freed pages go back */
#define HTTP_SYMBOLIZER_IDLE_NS (5 * 1000 * 1000 * 1000ull) /* no symbolized scrape for this long */
#define HTTP_SOCKET_NAME "rallo/%ld"                        /* abstract: "@rallo/<pid>" */

static struct {
    bool configured; /* RALLO_HTTP accepted: this process and its children serve */
    http_address bound;
    const char *token;
    int tcp_fd;         /* -1 unless this process holds the port */
    int unix_fd;        /* -1 if the per-process socket could not be made */
    uid_t unix_uid;     /* the user it was made by */
    bool may_take_port; /* started at exec, or its forking parent is gone */
    pid_t fork_parent;  /* a forked child: the parent it waits out */
    bool gave_up_port;  /* a bind error other than "in use": said once, not retried */
    bool no_symbols;    /* RALLO_HTTP_SYMBOLIZE=0 */
    uint64_t next_try_ns;
    uint64_t collect_ns; /* when to give back a scrape's memory; 0: nothing to */
    uint64_t release_ns; /* when to free the symbolizer scrapes built; 0: none kept */
    int epoll_fd;
    struct MHD_Daemon *daemon;
} server = {.tcp_fd = -1, .unix_fd = -1, .epoll_fd = -1};

const http_address *_rallo_http_bound(void) {
    return server.configured ? &server.bound : NULL;
}
const char *_rallo_http_token(void) {
    return server.token;
}
bool _rallo_http_symbolize_default(void) {
    return !server.no_symbols;
}
bool _rallo_http_holds_port(void) {
    return server.tcp_fd >= 0;
}

/* Binds the TCP port. Quiet when another process holds it (it is retried);
 * any other failure is said once and not retried. */
static void try_port(void) {
    const http_address *a = &server.bound;
    _rallo_http_connections_lock(); /* a fork sees the socket in tcp_fd, or no socket */
    int fd = socket(a->address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int error = 0;
    if (fd < 0) {
        error = errno;
    } else {
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on); /* TIME_WAIT of a former holder */
        if (bind(fd, (const struct sockaddr *)&a->address, a->len) != 0 || listen(fd, 16) != 0) {
            error = errno;
            close(fd);
            fd = -1;
        }
    }
    server.tcp_fd = fd;
    _rallo_http_connections_unlock();
    if (fd >= 0 || error == EADDRINUSE)
        return;
    server.gave_up_port = true;
    char reason[128];
    _rallo_door->warn("cannot serve RALLO_HTTP on port %u: %s", (unsigned)a->port,
                      strerror_r(error, reason, sizeof reason));
}

/* Listens on the abstract unix socket "@rallo/<pid>": no file to leave behind
 * when a process is killed or cannot remove it (a worker that dropped its
 * privileges), and no directory another user could plant. Who may connect is
 * checked on accept (peer_allowed). */
static void open_unix_socket(void) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    int len = snprintf(address.sun_path + 1, sizeof address.sun_path - 1, HTTP_SOCKET_NAME, (long)getpid());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return;
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
    if (bind(fd, (struct sockaddr *)&address, size) != 0 || listen(fd, 16) != 0) {
        close(fd); /* taken (another pid namespace): this process has the TCP port or nothing */
        return;
    }
    server.unix_fd = fd;
    server.unix_uid = geteuid();
}

/* What a scrape built (the snapshot, the symbolizer, the encoded profile:
 * tens of MiB for 50,000 sites) is freed when its answer has been sent, but
 * mimalloc keeps freed pages for reuse until a delay has passed and it is
 * asked to collect again: so it is asked once now and once after the delay,
 * and the host keeps nothing for a scrape that may never come again. */
void _rallo_http_collect_soon(void) {
    mi_collect(true);
    server.collect_ns = _rallo_http_now_ns() + HTTP_COLLECT_NS;
}

/* The symbolizer (libdw's reading of every module's DWARF: 26 MiB in nginx)
 * serves a burst of symbolized scrapes, and is freed once none has come for
 * HTTP_SYMBOLIZER_IDLE_NS. */
void _rallo_http_symbolized(void) {
    server.release_ns = _rallo_http_now_ns() + HTTP_SYMBOLIZER_IDLE_NS;
}

/* Frees the symbolizer with mimalloc's decommit delay at 0 for the moment:
 * the spans libdw's memory leaves free inside segments still in use go back
 * to the system at once (with the delay, they would wait for a later
 * allocation in those segments, which may never come). Freed pages the
 * program's threads give back meanwhile are decommitted at once too, which
 * only costs them a fault when reused. */
static void release_symbolizer(void) {
    long delay = mi_option_get(mi_option_decommit_delay);
    mi_option_set(mi_option_decommit_delay, 0);
    if (_rallo_symbolize_self_release())
        mi_collect(true);
    mi_option_set(mi_option_decommit_delay, delay);
}

/* The next moment something is due in `timeout` ms from now, at the latest. */
static void due_at(uint64_t when_ns, uint64_t now, MHD_UNSIGNED_LONG_LONG *timeout) {
    if (when_ns != 0 && when_ns > now && *timeout > (when_ns - now) / 1000000 + 1)
        *timeout = (when_ns - now) / 1000000 + 1;
}

static void *http_thread(void *arg) {
    (void)arg;
    _rallo_door->guard_enter(); /* for the thread's life: the server's memory is rallo's own */
    server.daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
        _rallo_http_handle, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_SLOTS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)HTTP_IDLE_SECONDS, MHD_OPTION_NOTIFY_CONNECTION, _rallo_http_connection_notify, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, _rallo_http_request_completed, NULL, MHD_OPTION_END);
    if (server.daemon == NULL) {
        _rallo_door->warn("cannot serve RALLO_HTTP: the HTTP server did not start");
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server.daemon, MHD_DAEMON_INFO_EPOLL_FD);
    server.epoll_fd = info != NULL ? info->epoll_fd : -1;
    for (;;) {
        uint64_t now = _rallo_http_now_ns();
        bool waiting = server.tcp_fd < 0 && !server.gave_up_port;
        if (waiting && !server.may_take_port && getppid() != server.fork_parent)
            server.may_take_port = true;
        if (waiting && server.may_take_port && now >= server.next_try_ns) {
            try_port();
            server.next_try_ns = now + HTTP_RETRY_NS;
        }
        _rallo_http_evict_late(now);
        uint64_t next_resume = _rallo_http_resume_due(now);
        struct pollfd ready[3] = {{.fd = server.epoll_fd, .events = POLLIN},
                                  {.fd = server.tcp_fd, .events = POLLIN},
                                  {.fd = server.unix_fd, .events = POLLIN}};
        MHD_UNSIGNED_LONG_LONG timeout = 1000;
        if (MHD_get_timeout(server.daemon, &timeout) != MHD_YES || timeout > 1000)
            timeout = 1000;
        if (next_resume < timeout)
            timeout = next_resume;
        if (waiting && timeout > HTTP_RETRY_NS / 1000000)
            timeout = HTTP_RETRY_NS / 1000000;
        if (server.release_ns != 0 && now >= server.release_ns) {
            server.release_ns = 0;
            release_symbolizer();
        }
        if (server.collect_ns != 0 && now >= server.collect_ns) {
            mi_collect(true);
            server.collect_ns = 0;
        }
        due_at(server.release_ns, now, &timeout);
        due_at(server.collect_ns, now, &timeout);
        if (poll(ready, 3, (int)timeout) < 0 && errno != EINTR)
            break;
        if (ready[1].revents & POLLIN)
            _rallo_http_accept(server.tcp_fd, server.daemon, server.unix_uid);
        if (ready[2].revents & POLLIN)
            _rallo_http_accept(server.unix_fd, server.daemon, server.unix_uid);
        MHD_run(server.daemon);
    }
    return NULL;
}

static void start_thread(void) {
    pthread_t thread;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the program's signals are not ours to take */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int error = pthread_create(&thread, &attr, http_thread, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (error != 0) {
        char reason[128];
        _rallo_door->warn("cannot start the RALLO_HTTP thread: %s", strerror_r(error, reason, sizeof reason));
    }
}

static void fork_prepare(void) {
    _rallo_http_connections_lock();
}
static void fork_parent(void) {
    _rallo_http_connections_unlock();
}
static void close_copy(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* The child has copies of the parent's sockets and no server thread. It
 * drops the copies (a held copy of the listening socket would keep the port
 * bound after the parent exits, served by nobody), and serves its own. */
static void fork_child(void) {
    _rallo_http_connections_forget();
    close_copy(&server.tcp_fd);
    close_copy(&server.unix_fd);
    close_copy(&server.epoll_fd);
    server.daemon = NULL; /* the parent's, with its state: left alone */
    if (!server.configured)
        return;
    server.may_take_port = false;
    server.fork_parent = getppid();
    server.next_try_ns = 0;
    _rallo_door->guard_enter();
    open_unix_socket();
    start_thread();
    _rallo_door->guard_leave();
}

int _rallo_http_start(const char *spec) rallo_internal;
int _rallo_http_start(const char *spec) {
    if (server.configured)
        return 0;
    _rallo_door->guard_enter();
    int result = -1;
    if (!_rallo_http_parse_address(spec, &server.bound)) {
        _rallo_door->warn("ignoring RALLO_HTTP: expected host:port or :port");
        goto done;
    }
    const char *token = _rallo_door->getenv("RALLO_HTTP_TOKEN");
    server.token = token != NULL && token[0] != '\0' ? mi_strdup(token) : NULL;
    if (!server.bound.loopback && server.token == NULL) {
        _rallo_door->warn("ignoring RALLO_HTTP: an address other than loopback needs RALLO_HTTP_TOKEN "
                          "(profiles show the process's memory layout)");
        goto done;
    }
    const char *symbolize = _rallo_door->getenv("RALLO_HTTP_SYMBOLIZE");
    if (symbolize != NULL && strcmp(symbolize, "0") == 0)
        server.no_symbols = true;
    else if (symbolize != NULL && strcmp(symbolize, "1") != 0)
        _rallo_door->warn("ignoring RALLO_HTTP_SYMBOLIZE: expected 1 or 0");
    server.configured = true;
    server.may_take_port = true; /* started at exec: a candidate from the start */
    try_port();
    open_unix_socket();
    /* Not pthread_atfork: this runs inside dlopen (tracking/fork_forward.c). */
    _rallo_door->fork_handlers_add(fork_prepare, fork_parent, fork_child);
    start_thread();
    result = 0;
done:
    _rallo_door->guard_leave();
    return result;
}

__attribute__((constructor(210))) static void http_load(void) {
    if (!_rallo_door_open())
        return;
    const char *spec = _rallo_door->getenv("RALLO_HTTP");
    if (spec != NULL && spec[0] != '\0')
        _rallo_http_start(spec);
}
