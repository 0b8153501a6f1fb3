/* http.c - RALLO_HTTP=host:port: a small HTTP endpoint in rallo's own thread,
 * serving GET /debug/pprof/heap and /debug/pprof/allocs (pprof with Go's
 * default sample type for each, so Parca's and Grafana Alloy's scrape defaults
 * work unchanged), GET / (the flame graph of now), and POST
 * /debug/rallo/enable|disable. HTTP parsing is GNU libmicrohttpd's, driven from
 * our own thread (its epoll fd polled here) so that the thread holds rallo's
 * guard for its whole life and nothing the server allocates is tracked.
 * Loopback unless a host is named; bounded connections, request memory and
 * time per connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <mimalloc.h>

#include "../../tracking/tracking.h"
#include "pprof.h"
#include "writers.h"

#define HTTP_MAX_CONNECTIONS 16
#define HTTP_MAX_PER_IP 8
#define HTTP_CONNECTION_MEMORY (32 * 1024) /* bounds the request line and headers */
#define HTTP_TIMEOUT_SECONDS 10            /* slow clients are dropped */

static struct MHD_Daemon *http_daemon;

typedef enum http_page { PAGE_HEAP, PAGE_ALLOCS, PAGE_HTML } http_page;

static enum MHD_Result http_reply(struct MHD_Connection *connection, unsigned status, const char *type,
                                  void *data, size_t len, bool owned) {
    struct MHD_Response *response =
        owned ? MHD_create_response_from_buffer_with_free_callback(len, data, mi_free)
              : MHD_create_response_from_buffer(len, data, MHD_RESPMEM_PERSISTENT);
    if (response == NULL) {
        if (owned)
            mi_free(data);
        return MHD_NO;
    }
    MHD_add_response_header(response, "Content-Type", type);
    MHD_add_response_header(response, "Cache-Control", "no-store");
    enum MHD_Result result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result http_text(struct MHD_Connection *connection, unsigned status, const char *text) {
    return http_reply(connection, status, "text/plain; charset=utf-8", (void *)text, strlen(text), false);
}

static enum MHD_Result http_profile(struct MHD_Connection *connection, http_page page) {
    rallo_profile profile;
    if (rallo_profile_capture(&profile) != 0)
        return http_text(connection, 500, "rallo: cannot take a snapshot now\n");
    rallo_buf out;
    rallo_buf_init(&out);
    const char *type = "application/octet-stream";
    if (page == PAGE_HTML) {
        rallo_write_html(&profile, &out);
        type = "text/html; charset=utf-8";
    } else {
        rallo_write_pprof_view(&profile, &out,
                               page == PAGE_HEAP ? RALLO_PPROF_VIEW_HEAP : RALLO_PPROF_VIEW_ALLOCS);
    }
    rallo_profile_free(&profile);
    if (out.failed) {
        rallo_buf_free(&out);
        return http_text(connection, 500, "rallo: out of memory writing the profile\n");
    }
    /* The response takes the buffer and frees it when sent. */
    return http_reply(connection, 200, type, out.data, out.len, true);
}

static enum MHD_Result http_handle(void *cls, struct MHD_Connection *connection, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **request_state) {
    (void)cls;
    (void)version;
    (void)upload_data;
    /* First call: headers only. Answer on the second, once any body was read
     * (and discarded: no endpoint takes one). */
    if (*request_state == NULL) {
        *request_state = connection;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (strcmp(url, "/debug/pprof/heap") == 0 || strcmp(url, "/debug/pprof/allocs") == 0 ||
        strcmp(url, "/") == 0) {
        if (!get)
            return http_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
        return http_profile(connection, url[1] == '\0'                          ? PAGE_HTML
                                        : strcmp(url, "/debug/pprof/heap") == 0 ? PAGE_HEAP
                                                                                : PAGE_ALLOCS);
    }
    if (strcmp(url, "/debug/rallo/enable") == 0 || strcmp(url, "/debug/rallo/disable") == 0) {
        if (!post)
            return http_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST\n");
        if (url[13] == 'e') {
            if (rallo_enable() != 0)
                return http_text(connection, 500, "rallo: tracking could not be enabled (see stderr)\n");
            return http_text(connection, 200, "tracking enabled\n");
        }
        rallo_disable();
        return http_text(connection, 200, "tracking disabled\n");
    }
    return http_text(connection, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void *http_thread(void *arg) {
    (void)arg;
    _rallo_guard_enter(); /* for the thread's life: the server's memory is rallo's own */
    int epoll_fd = -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http_daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info != NULL)
        epoll_fd = info->epoll_fd;
    for (;;) {
        struct pollfd ready = {.fd = epoll_fd, .events = POLLIN};
        MHD_UNSIGNED_LONG_LONG timeout = 1000;
        if (MHD_get_timeout(http_daemon, &timeout) != MHD_YES || timeout > 1000)
            timeout = 1000;
        if (poll(&ready, 1, (int)timeout) < 0 && errno != EINTR)
            break;
        MHD_run(http_daemon);
    }
    return NULL;
}

/* "host:port", ":port" or "port"; the host may be an address or a name, and
 * "[v6]:port". Without a host: loopback. */
static bool http_parse_address(const char *text, struct sockaddr_storage *address, socklen_t *len) {
    char host[256] = "127.0.0.1";
    const char *port = text;
    const char *colon = strrchr(text, ':');
    if (colon != NULL) {
        size_t host_len = (size_t)(colon - text);
        if (host_len >= sizeof host)
            return false;
        if (host_len > 0) {
            const char *start = text;
            if (text[0] == '[' && host_len >= 2 && text[host_len - 1] == ']') {
                start++;
                host_len -= 2;
            }
            memcpy(host, start, host_len);
            host[host_len] = '\0';
        }
        port = colon + 1;
    }
    uint64_t port_number = 0;
    if (!_rallo_parse_size(port, &port_number) || port_number > 65535)
        return false;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    if (getaddrinfo(host, port, &hints, &found) != 0 || found == NULL)
        return false;
    memcpy(address, found->ai_addr, found->ai_addrlen);
    *len = found->ai_addrlen;
    freeaddrinfo(found);
    return true;
}

int _rallo_http_start(const char *spec) rallo_internal;
int _rallo_http_start(const char *spec) {
    if (http_daemon != NULL)
        return 0;
    _rallo_guard_enter();
    struct sockaddr_storage address;
    socklen_t len = 0;
    int result = -1;
    if (!http_parse_address(spec, &address, &len)) {
        _rallo_warn("ignoring RALLO_HTTP: expected host:port or :port");
        goto done;
    }
    unsigned flags = MHD_USE_EPOLL;
    if (address.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    http_daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, http_handle, NULL, MHD_OPTION_SOCK_ADDR, &address, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_MAX_PER_IP,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)HTTP_TIMEOUT_SECONDS, MHD_OPTION_END);
    if (http_daemon == NULL) {
        _rallo_warn("cannot serve RALLO_HTTP: %s", strerror(errno ? errno : EADDRINUSE));
        goto done;
    }
    pthread_t thread;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the program's signals are not ours to take */
    int error = pthread_create(&thread, NULL, http_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (error != 0) {
        _rallo_warn("cannot start the RALLO_HTTP thread: %s", strerror(error));
        MHD_stop_daemon(http_daemon);
        http_daemon = NULL;
        goto done;
    }
    pthread_detach(thread);
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
