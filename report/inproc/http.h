/* http.h - what the RALLO_HTTP files share: http-address.c (the address and
 * which Host names it answers to), http.c (the requests), http-pprof.c (Go's
 * query, the delta, the index), http-connections.c (deadlines, eviction,
 * suspension), http-serve.c (the sockets, the thread, and the process rule:
 * who serves the port). */
#ifndef RALLO_HTTP_H
#define RALLO_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "../../tracking/door.h"
#include "profile.h"

/* RALLO_HTTP, parsed. */
typedef struct http_address {
    struct sockaddr_storage address;
    socklen_t len;
    char host[256]; /* the host as written ("" when none was), for the Host check */
    bool loopback;  /* 127.0.0.0/8 or ::1: reachable from this machine only */
    bool wildcard;  /* 0.0.0.0 or ::: every interface */
    uint16_t port;
} http_address;

/* http-address.c */
/* "host:port", ":port", "port" or "[v6]:port"; without a host, 127.0.0.1.
 * False for anything else, `out` then undefined. */
bool _rallo_http_parse_address(const char *text, http_address *out) rallo_internal;
/* Whether a Host header value (or an Origin's host[:port]) names this server:
 * a loopback name or address, or the address it was bound to as written.
 * Bound to a wildcard, any name (the token is the check there). */
bool _rallo_http_host_allowed(const char *host, size_t len, const http_address *bound) rallo_internal;

/* http-pprof.c */
#define HTTP_MAX_SECONDS 60 /* the longest ?seconds=N */
#define HTTP_MAX_SECONDS_TEXT "60"
typedef struct http_query {
    unsigned seconds; /* 0: the profile of now; N: what happened in the next N seconds */
    bool debug;       /* text instead of pprof */
    bool symbolize;   /* false: addresses and mappings (with build IDs) only */
} http_query;
/* The query of a profile request; false with a one-line reason for a 400. */
bool _rallo_http_parse_query(struct MHD_Connection *connection, http_query *query,
                             const char **error) rallo_internal;
/* `now` less `before` (cumulative values; in-use ones stay now's), sites
 * matched by their addresses. 0, or -1 when memory ran out. */
int _rallo_http_subtract(rallo_profile *now, const rallo_profile *before) rallo_internal;
/* (http-serve.c) A scrape's memory was freed: the server thread hands the
 * pages back to the system shortly (mimalloc returns freed pages only after
 * a delay, and only when asked again once it has passed). */
void _rallo_http_collect_soon(void) rallo_internal;
/* (http-serve.c) A scrape was symbolized: the symbolizer is kept for the
 * next one, and freed once none has come for a few seconds. */
void _rallo_http_symbolized(void) rallo_internal;
/* The /debug/pprof/ page. */
const char *_rallo_http_index(void) rallo_internal;

/* http.c */
/* The request handler (libmicrohttpd's access handler). */
enum MHD_Result _rallo_http_handle(void *cls, struct MHD_Connection *connection, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **request_state) rallo_internal;
/* Frees what a request kept (its request_state) once it is over. */
void _rallo_http_request_free(void *request_state) rallo_internal;

#define HTTP_MAX_CONNECTIONS 16
#define HTTP_SLOTS (3 * HTTP_MAX_CONNECTIONS) /* live ones, and evicted ones until closed */

static inline uint64_t _rallo_http_now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

/* http-connections.c */
/* Accepts what waits on `listener` and hands it to the daemon (a local
 * socket's peer only if it is root or local_uid, or this process's user). */
void _rallo_http_accept(int listener, struct MHD_Daemon *daemon, uid_t local_uid) rallo_internal;
/* libmicrohttpd's callbacks: a connection started or closed; a request over. */
void _rallo_http_connection_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                                   enum MHD_ConnectionNotificationCode code) rallo_internal;
void _rallo_http_request_completed(void *cls, struct MHD_Connection *connection, void **request_state,
                                   enum MHD_RequestTerminationCode code) rallo_internal;
/* Cuts off the connections past their deadline. */
void _rallo_http_evict_late(uint64_t now) rallo_internal;
/* Resumes the suspended connections that are due; milliseconds until the
 * next one (0: call MHD_run at once; UINT64_MAX: none waits). */
uint64_t _rallo_http_resume_due(uint64_t now) rallo_internal;
/* The lock a fork takes (fork_prepare), so the child sees whole state. */
void _rallo_http_connections_lock(void) rallo_internal;
void _rallo_http_connections_unlock(void) rallo_internal;
/* In a forked child: closes the inherited connections, forgets them. */
void _rallo_http_connections_forget(void) rallo_internal;
/* The connection's request headers are in: it no longer counts as slow, and
 * has `seconds` more than the usual time to get its answer out. */
void _rallo_http_request_started(struct MHD_Connection *connection, unsigned seconds) rallo_internal;
/* Suspends a connection and resumes it `seconds` from now. False when no
 * more can wait (the handler then answers at once). */
bool _rallo_http_resume_in(struct MHD_Connection *connection, unsigned seconds) rallo_internal;

/* http-serve.c */
/* What the handler needs of the server: the configured address, the token
 * (NULL when none), and whether this process holds the TCP port now. */
const http_address *_rallo_http_bound(void) rallo_internal;
const char *_rallo_http_token(void) rallo_internal;
bool _rallo_http_holds_port(void) rallo_internal;
/* RALLO_HTTP_SYMBOLIZE: whether profiles carry names unless a request says. */
bool _rallo_http_symbolize_default(void) rallo_internal;

#endif
