/* http-serve.c - RALLO_HTTP's sockets and connections, and which process
 * serves them. libmicrohttpd parses HTTP; the sockets are ours: we listen,
 * accept and hand each connection over (MHD_add_connection), so that the
 * listening sockets are close-on-exec, slow clients can be cut off by
 * deadline and evicted when others wait, and a forked child can drop what it
 * inherited. One thread per process, holding rallo's guard for its life, so
 * nothing the server allocates is tracked.
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
#include <netinet/in.h>
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

#define HTTP_MAX_CONNECTIONS 16
#define HTTP_SLOTS (3 * HTTP_MAX_CONNECTIONS) /* live ones, and evicted ones until closed */
#define HTTP_MAX_PER_CLIENT 8                 /* per peer address; every local client is one */
#define HTTP_CONNECTION_MEMORY (32 * 1024)    /* bounds the request line and headers */
#define HTTP_IDLE_SECONDS 10                  /* libmicrohttpd's own: no progress at all */
#define HTTP_HEADER_SECONDS 5                 /* from accept (or the last answer) to the whole request */
#define HTTP_ANSWER_SECONDS 60                /* from the request to the whole answer sent */
#define HTTP_RETRY_NS (250 * 1000 * 1000ull)  /* how often a waiting process tries the port */
#define HTTP_SOCKET_NAME "rallo/%ld"          /* abstract: "@rallo/<pid>" */

typedef struct http_connection {
    int fd; /* -1: free slot */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    uint64_t since_ns; /* accepted, or its last answer completed */
    uint64_t deadline_ns;
    bool requested; /* headers in: no longer a slow client */
    bool evicted;   /* shut down, libmicrohttpd yet to notice */
} http_connection;

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
    uint64_t next_try_ns;
    int epoll_fd;
    struct MHD_Daemon *daemon;
} server = {.tcp_fd = -1, .unix_fd = -1, .epoll_fd = -1};

/* The connections; the lock orders their changes against fork, whose child
 * closes every one it inherited. Held briefly, never across a request. */
static http_connection connections[HTTP_SLOTS];
static pthread_mutex_t connections_lock = PTHREAD_MUTEX_INITIALIZER;

/* Connections suspended by a ?seconds=N request, and when each resumes. */
static struct {
    struct MHD_Connection *connection; /* NULL: free */
    uint64_t due_ns;
} suspended[HTTP_SLOTS];

static uint64_t now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

const http_address *_rallo_http_bound(void) {
    return server.configured ? &server.bound : NULL;
}
const char *_rallo_http_token(void) {
    return server.token;
}
bool _rallo_http_holds_port(void) {
    return server.tcp_fd >= 0;
}

static bool same_client(const http_connection *a, const struct sockaddr_storage *peer) {
    if (a->peer.ss_family != peer->ss_family)
        return false;
    if (peer->ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->peer)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)peer)->sin_addr.s_addr;
    if (peer->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)&a->peer)->sin6_addr,
                      &((const struct sockaddr_in6 *)peer)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return true; /* every local-socket client is one client */
}

/* Cuts a connection off: libmicrohttpd sees the end of its stream and closes
 * it (and tells connection_notify). */
static void evict(http_connection *slot) {
    shutdown(slot->fd, SHUT_RDWR);
    slot->evicted = true;
}

/* Makes room for one more connection from `peer`: at a limit, the longest
 * waiting connection that has not finished its request goes (a well-behaved
 * client sends its request at once, so it is never the oldest such one).
 * False when there is none to evict: the newcomer is refused. */
static bool make_room(const struct sockaddr_storage *peer) {
    unsigned total = 0, same = 0, free_slots = 0;
    http_connection *oldest = NULL, *oldest_same = NULL;
    for (int i = 0; i < HTTP_SLOTS; i++) {
        http_connection *slot = &connections[i];
        free_slots += slot->fd < 0;
        if (slot->fd < 0 || slot->evicted)
            continue;
        total++;
        bool mine = same_client(slot, peer);
        same += mine;
        if (slot->requested)
            continue;
        if (oldest == NULL || slot->since_ns < oldest->since_ns)
            oldest = slot;
        if (mine && (oldest_same == NULL || slot->since_ns < oldest_same->since_ns))
            oldest_same = slot;
    }
    if (free_slots == 0) /* evicted ones not yet closed: refuse until they are */
        return false;
    if (same >= HTTP_MAX_PER_CLIENT) {
        if (oldest_same == NULL)
            return false;
        evict(oldest_same);
        total--;
    }
    if (total >= HTTP_MAX_CONNECTIONS) {
        if (oldest == NULL || oldest->evicted)
            return false;
        evict(oldest);
    }
    return true;
}

/* The per-process socket answers its own user (as it was when the socket
 * was made, and as it is now) and root; anyone else is hung up on. */
static bool peer_allowed(int fd) {
    struct ucred peer;
    socklen_t len = sizeof peer;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0)
        return false;
    return peer.uid == 0 || peer.uid == server.unix_uid || peer.uid == geteuid();
}

static struct sockaddr_storage pending_peer; /* the one being added, for connection_notify */
static socklen_t pending_peer_len;

/* Accepts and hands over, the lock held from accept to the connection's slot
 * (connection_notify's STARTED runs inside MHD_add_connection): a fork never
 * sees an accepted socket that is not in the table. */
static void accept_from(int listener) {
    for (int round = 0; round < HTTP_MAX_CONNECTIONS; round++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        pthread_mutex_lock(&connections_lock);
        int fd = accept4(listener, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0 && ((peer.ss_family == AF_UNIX && !peer_allowed(fd)) || !make_room(&peer))) {
            close(fd);
        } else if (fd >= 0) {
            pending_peer = peer;
            pending_peer_len = len;
            /* It closes fd itself if it cannot take it. */
            MHD_add_connection(server.daemon, fd, (struct sockaddr *)&peer, len);
        }
        pthread_mutex_unlock(&connections_lock);
        if (fd < 0)
            return;
    }
}

static http_connection *slot_of(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != NULL ? info->socket_context : NULL;
}

static void connection_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                              enum MHD_ConnectionNotificationCode code) {
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) { /* in accept_from, the lock held */
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        for (int i = 0; info != NULL && i < HTTP_SLOTS; i++) {
            if (connections[i].fd >= 0)
                continue;
            uint64_t now = now_ns();
            connections[i] = (http_connection){.fd = info->connect_fd,
                                               .peer = pending_peer,
                                               .peer_len = pending_peer_len,
                                               .since_ns = now,
                                               .deadline_ns = now + HTTP_HEADER_SECONDS * 1000000000ull};
            *socket_context = &connections[i];
            break;
        }
        return;
    }
    pthread_mutex_lock(&connections_lock);
    if (*socket_context != NULL) { /* closed: before libmicrohttpd closes the socket */
        ((http_connection *)*socket_context)->fd = -1;
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&connections_lock);
}

void _rallo_http_request_started(struct MHD_Connection *connection, unsigned seconds) {
    http_connection *slot = slot_of(connection);
    if (slot == NULL)
        return;
    pthread_mutex_lock(&connections_lock);
    slot->requested = true;
    slot->deadline_ns = now_ns() + (HTTP_ANSWER_SECONDS + (uint64_t)seconds) * 1000000000ull;
    pthread_mutex_unlock(&connections_lock);
}

/* An answer is out; on a kept-alive connection the next request has the
 * usual time to arrive. */
static void request_completed(void *cls, struct MHD_Connection *connection, void **request_state,
                              enum MHD_RequestTerminationCode code) {
    (void)cls;
    (void)code;
    _rallo_http_request_free(*request_state);
    *request_state = NULL;
    http_connection *slot = slot_of(connection);
    if (slot == NULL)
        return;
    pthread_mutex_lock(&connections_lock);
    uint64_t now = now_ns();
    slot->requested = false;
    slot->since_ns = now;
    slot->deadline_ns = now + HTTP_HEADER_SECONDS * 1000000000ull;
    pthread_mutex_unlock(&connections_lock);
}

bool _rallo_http_resume_in(struct MHD_Connection *connection, unsigned seconds) {
    for (int i = 0; i < HTTP_SLOTS; i++) {
        if (suspended[i].connection != NULL)
            continue;
        suspended[i].connection = connection;
        suspended[i].due_ns = now_ns() + (uint64_t)seconds * 1000000000ull;
        MHD_suspend_connection(connection);
        return true;
    }
    return false;
}

/* Resumes the connections that are due; the milliseconds until the next. */
static uint64_t resume_due(uint64_t now) {
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < HTTP_SLOTS; i++) {
        if (suspended[i].connection == NULL)
            continue;
        if (now >= suspended[i].due_ns) {
            MHD_resume_connection(suspended[i].connection);
            suspended[i].connection = NULL;
            next = 0; /* MHD_run at once: its wake-up is not in the poll */
        } else if (suspended[i].due_ns - now < next) {
            next = suspended[i].due_ns - now;
        }
    }
    return next == UINT64_MAX || next == 0 ? next : next / 1000000 + 1;
}

static void evict_late(uint64_t now) {
    pthread_mutex_lock(&connections_lock);
    for (int i = 0; i < HTTP_SLOTS; i++)
        if (connections[i].fd >= 0 && !connections[i].evicted && now >= connections[i].deadline_ns)
            evict(&connections[i]);
    pthread_mutex_unlock(&connections_lock);
}

/* Binds the TCP port. Quiet when another process holds it (it is retried);
 * any other failure is said once and not retried. */
static void try_port(void) {
    const http_address *a = &server.bound;
    pthread_mutex_lock(&connections_lock); /* a fork sees the socket in tcp_fd, or no socket */
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
    pthread_mutex_unlock(&connections_lock);
    if (fd >= 0 || error == EADDRINUSE)
        return;
    server.gave_up_port = true;
    char reason[128];
    _rallo_warn("cannot serve RALLO_HTTP on port %u: %s", (unsigned)a->port,
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

static void *http_thread(void *arg) {
    (void)arg;
    _rallo_guard_enter(); /* for the thread's life: the server's memory is rallo's own */
    server.daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
        _rallo_http_handle, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_SLOTS,
        /* evicted ones linger a moment */ MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_SECONDS, MHD_OPTION_NOTIFY_CONNECTION,
        connection_notify, NULL, MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL, MHD_OPTION_END);
    if (server.daemon == NULL) {
        _rallo_warn("cannot serve RALLO_HTTP: the HTTP server did not start");
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server.daemon, MHD_DAEMON_INFO_EPOLL_FD);
    server.epoll_fd = info != NULL ? info->epoll_fd : -1;
    for (;;) {
        uint64_t now = now_ns();
        bool waiting = server.tcp_fd < 0 && !server.gave_up_port;
        if (waiting && !server.may_take_port && getppid() != server.fork_parent)
            server.may_take_port = true;
        if (waiting && server.may_take_port && now >= server.next_try_ns) {
            try_port();
            server.next_try_ns = now + HTTP_RETRY_NS;
        }
        evict_late(now);
        uint64_t next_resume = resume_due(now);
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
        if (poll(ready, 3, (int)timeout) < 0 && errno != EINTR)
            break;
        if (ready[1].revents & POLLIN)
            accept_from(server.tcp_fd);
        if (ready[2].revents & POLLIN)
            accept_from(server.unix_fd);
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
        _rallo_warn("cannot start the RALLO_HTTP thread: %s", strerror_r(error, reason, sizeof reason));
    }
}

static void fork_prepare(void) {
    pthread_mutex_lock(&connections_lock);
}
static void fork_parent(void) {
    pthread_mutex_unlock(&connections_lock);
}
/* The child has copies of the parent's sockets and no server thread. It
 * drops the copies (a held copy of the listening socket would keep the port
 * bound after the parent exits, served by nobody), and serves its own. */
static void fork_child(void) {
    pthread_mutex_init(&connections_lock, NULL);
    int *inherited[] = {&server.tcp_fd, &server.unix_fd, &server.epoll_fd};
    for (size_t i = 0; i < sizeof inherited / sizeof inherited[0]; i++) {
        if (*inherited[i] >= 0)
            close(*inherited[i]);
        *inherited[i] = -1;
    }
    for (int i = 0; i < HTTP_SLOTS; i++) {
        if (connections[i].fd >= 0)
            close(connections[i].fd);
        connections[i].fd = -1;
    }
    server.daemon = NULL; /* the parent's, with its state: left alone */
    memset(suspended, 0, sizeof suspended);
    if (!server.configured)
        return;
    server.may_take_port = false;
    server.fork_parent = getppid();
    server.next_try_ns = 0;
    _rallo_guard_enter();
    open_unix_socket();
    start_thread();
    _rallo_guard_leave();
}

int _rallo_http_start(const char *spec) rallo_internal;
int _rallo_http_start(const char *spec) {
    if (server.configured)
        return 0;
    for (int i = 0; i < HTTP_SLOTS; i++)
        connections[i].fd = -1;
    _rallo_guard_enter();
    int result = -1;
    if (!_rallo_http_parse_address(spec, &server.bound)) {
        _rallo_warn("ignoring RALLO_HTTP: expected host:port or :port");
        goto done;
    }
    const char *token = _rallo_getenv("RALLO_HTTP_TOKEN");
    server.token = token != NULL && token[0] != '\0' ? mi_strdup(token) : NULL;
    if (!server.bound.loopback && server.token == NULL) {
        _rallo_warn("ignoring RALLO_HTTP: an address other than loopback needs RALLO_HTTP_TOKEN "
                    "(profiles show the process's memory layout)");
        goto done;
    }
    server.configured = true;
    server.may_take_port = true; /* started at exec: a candidate from the start */
    try_port();
    open_unix_socket();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    start_thread();
    result = 0;
done:
    _rallo_guard_leave();
    return result;
}

__attribute__((constructor(210))) static void http_load(void) {
    const char *spec = _rallo_getenv("RALLO_HTTP");
    if (spec != NULL && spec[0] != '\0')
        _rallo_http_start(spec);
}
