/* http-connections.c - RALLO_HTTP's connections: accepted here and handed
 * to libmicrohttpd, each with a deadline for its request (a client that
 * trickles its headers is cut off) and a cap per client; at a limit, the
 * longest waiting connection that has not finished its request is evicted,
 * so a well-behaved scrape is served while slow clients hang on. Also the
 * connections a ?seconds=N request suspends, and when each resumes. */
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

#define HTTP_MAX_PER_CLIENT 8  /* per peer address; every local client is one */
#define HTTP_HEADER_SECONDS 5  /* from accept (or the last answer) to the whole request */
#define HTTP_ANSWER_SECONDS 60 /* from the request to the whole answer sent */

typedef struct http_connection {
    int fd;         /* -1: free slot */
    bool requested; /* headers in: no longer a slow client */
    bool evicted;   /* shut down, libmicrohttpd yet to notice */
    socklen_t peer_len;
    uint64_t since_ns; /* accepted, or its last answer completed */
    uint64_t deadline_ns;
    struct sockaddr_storage peer;
} http_connection;

/* The connections; the lock orders their changes against fork, whose child
 * closes every one it inherited. Held briefly, never across a request. */
static http_connection connections[HTTP_SLOTS] = {[0 ... HTTP_SLOTS - 1] = {.fd = -1}};
static pthread_mutex_t connections_lock = PTHREAD_MUTEX_INITIALIZER;

/* Connections suspended by a ?seconds=N request, and when each resumes. */
static struct {
    struct MHD_Connection *connection; /* NULL: free */
    uint64_t due_ns;
} suspended[HTTP_SLOTS];

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
static bool peer_allowed(int fd, uid_t local_uid) {
    struct ucred peer;
    socklen_t len = sizeof peer;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0)
        return false;
    return peer.uid == 0 || peer.uid == local_uid || peer.uid == geteuid();
}

static struct sockaddr_storage pending_peer; /* the one being added, for connection_notify */
static socklen_t pending_peer_len;

/* Accepts and hands over, the lock held from accept to the connection's slot
 * (connection_notify's STARTED runs inside MHD_add_connection): a fork never
 * sees an accepted socket that is not in the table. */
void _rallo_http_accept(int listener, struct MHD_Daemon *daemon, uid_t local_uid) {
    for (int round = 0; round < HTTP_MAX_CONNECTIONS; round++) {
        struct sockaddr_storage peer = {0};
        socklen_t len = sizeof peer;
        pthread_mutex_lock(&connections_lock);
        int fd = accept4(listener, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0 && ((peer.ss_family == AF_UNIX && !peer_allowed(fd, local_uid)) || !make_room(&peer))) {
            close(fd);
        } else if (fd >= 0) {
            pending_peer = peer;
            pending_peer_len = len;
            /* It closes fd itself if it cannot take it. */
            MHD_add_connection(daemon, fd, (struct sockaddr *)&peer, len);
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

void _rallo_http_connection_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                                   enum MHD_ConnectionNotificationCode code) {
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) { /* in accept_from, the lock held */
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        for (int i = 0; info != NULL && i < HTTP_SLOTS; i++) {
            if (connections[i].fd >= 0)
                continue;
            uint64_t now = _rallo_http_now_ns();
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
    slot->deadline_ns = _rallo_http_now_ns() + (HTTP_ANSWER_SECONDS + (uint64_t)seconds) * 1000000000ull;
    pthread_mutex_unlock(&connections_lock);
}

/* An answer is out; on a kept-alive connection the next request has the
 * usual time to arrive. */
void _rallo_http_request_completed(void *cls, struct MHD_Connection *connection, void **request_state,
                                   enum MHD_RequestTerminationCode code) {
    (void)cls;
    (void)code;
    _rallo_http_request_free(*request_state);
    *request_state = NULL;
    http_connection *slot = slot_of(connection);
    if (slot == NULL)
        return;
    pthread_mutex_lock(&connections_lock);
    uint64_t now = _rallo_http_now_ns();
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
        suspended[i].due_ns = _rallo_http_now_ns() + (uint64_t)seconds * 1000000000ull;
        MHD_suspend_connection(connection);
        return true;
    }
    return false;
}

/* Resumes the connections that are due; the milliseconds until the next. */
uint64_t _rallo_http_resume_due(uint64_t now) {
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

void _rallo_http_evict_late(uint64_t now) {
    pthread_mutex_lock(&connections_lock);
    for (int i = 0; i < HTTP_SLOTS; i++)
        if (connections[i].fd >= 0 && !connections[i].evicted && now >= connections[i].deadline_ns)
            evict(&connections[i]);
    pthread_mutex_unlock(&connections_lock);
}

void _rallo_http_connections_lock(void) {
    pthread_mutex_lock(&connections_lock);
}
void _rallo_http_connections_unlock(void) {
    pthread_mutex_unlock(&connections_lock);
}

void _rallo_http_connections_forget(void) {
    pthread_mutex_init(&connections_lock, NULL);
    for (int i = 0; i < HTTP_SLOTS; i++) {
        if (connections[i].fd >= 0)
            close(connections[i].fd);
        connections[i].fd = -1;
    }
    memset(suspended, 0, sizeof suspended);
}
