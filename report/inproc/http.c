/* http.c - the requests RALLO_HTTP answers: GET /debug/pprof/heap and
 * /debug/pprof/allocs (pprof with Go's default sample type for each, so
 * Parca's and Grafana Alloy's scrape defaults work unchanged), GET / (the
 * flame graph of now), GET /debug/pprof/ (the index), with Go's query
 * (?seconds=N, ?debug=1, ?symbolize=0, see http-pprof.c), POST /debug/rallo/enable|disable, and GET
 * /debug/rallo/process (who this is, for `rallo list`). Every request is
 * checked first: the bearer token off loopback, a Host naming this server
 * (DNS rebinding), no POST from another origin (a web page toggling
 * tracking). The sockets and connections are http-serve.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <mimalloc.h>

#include "http.h"
#include "pprof.h"
#include "snapshot.h"
#include "writers.h"

typedef enum http_page { PAGE_HEAP, PAGE_ALLOCS, PAGE_HTML } http_page;

/* A profile's answer, freed once sent; what the scrape built is then handed
 * back to the system (http-serve.c). */
static void answer_free(void *data) {
    mi_free(data);
    _rallo_http_collect_soon();
}

static enum MHD_Result http_reply(struct MHD_Connection *connection, unsigned status, const char *type,
                                  void *data, size_t len, bool owned) {
    struct MHD_Response *response =
        owned ? MHD_create_response_from_buffer_with_free_callback(len, data, answer_free)
              : MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_COPY);
    if (response == NULL) {
        if (owned)
            answer_free(data);
        return MHD_NO;
    }
    MHD_add_response_header(response, "Content-Type", type);
    MHD_add_response_header(response, "Cache-Control", "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(response, "WWW-Authenticate", "Bearer");
    enum MHD_Result result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result http_text(struct MHD_Connection *connection, unsigned status, const char *text) {
    return http_reply(connection, status, "text/plain; charset=utf-8", (void *)text, strlen(text), false);
}

/* What a request keeps between the handler's calls: the first snapshot of a
 * ?seconds=N profile, taken before the connection is suspended. */
typedef struct http_request {
    bool have_before;
    rallo_profile before;
} http_request;

void _rallo_http_request_free(void *request_state) {
    http_request *request = request_state;
    if (request == NULL)
        return;
    if (request->have_before) {
        rallo_profile_free(&request->before);
        _rallo_http_collect_soon();
    }
    mi_free(request);
}

static enum MHD_Result http_profile(struct MHD_Connection *connection, http_page page,
                                    http_request *request) {
    http_query query = {.symbolize = true};
    const char *error = NULL;
    if (page != PAGE_HTML && !_rallo_http_parse_query(connection, &query, &error))
        return http_text(connection, MHD_HTTP_BAD_REQUEST, error);
    if (query.seconds > 0 && !request->have_before) {
        /* The first snapshot now, the second when the connection resumes;
         * other clients are served meanwhile. */
        if (_rallo_profile_snapshot(&request->before) != 0)
            return http_text(connection, 500, "rallo: cannot take a snapshot now\n");
        request->have_before = true;
        _rallo_http_request_started(connection, query.seconds);
        if (_rallo_http_resume_in(connection, query.seconds))
            return MHD_YES;
        return http_text(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "rallo: too many profiles in progress\n");
    }
    /* Snapshots are addresses (a delta is matched by them); names are looked
     * up once, in the answer, and only when asked for: ?symbolize=0 builds no
     * symbolizer in this process. */
    rallo_profile profile;
    if (_rallo_profile_snapshot(&profile) != 0)
        return http_text(connection, 500, "rallo: cannot take a snapshot now\n");
    rallo_buf out;
    rallo_buf_init(&out);
    if (request->have_before && _rallo_http_subtract(&profile, &request->before) != 0)
        out.failed = true;
    if (!out.failed && (page == PAGE_HTML || query.symbolize)) {
        _rallo_symbolize_self(&profile);
        _rallo_http_symbolized();
    }
    const char *type = "application/octet-stream";
    if (!out.failed && page == PAGE_HTML) {
        rallo_write_html(&profile, &out);
        type = "text/html; charset=utf-8";
    } else if (!out.failed && query.debug) {
        rallo_write_text(&profile, &out);
        type = "text/plain; charset=utf-8";
    } else if (!out.failed) {
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

/* One line for `rallo list`: pid, parent, and what this process does with
 * the TCP port (serves it, or waits for it, see http-serve.c). */
static enum MHD_Result http_process(struct MHD_Connection *connection) {
    char line[160];
    const http_address *bound = _rallo_http_bound();
    char port[8] = "-";
    if (bound != NULL)
        snprintf(port, sizeof port, "%u", (unsigned)bound->port);
    snprintf(line, sizeof line, "pid %ld ppid %ld port %s %s\n", (long)getpid(), (long)getppid(), port,
             bound == NULL              ? "none"
             : _rallo_http_holds_port() ? "serving"
                                        : "waiting");
    return http_text(connection, 200, line);
}

/* Equal strings in a time that does not depend on where they differ. */
static bool same_secret(const char *given, const char *secret) {
    size_t given_len = strlen(given), secret_len = strlen(secret);
    unsigned char difference = given_len != secret_len;
    for (size_t i = 0; i < secret_len; i++)
        difference |= (unsigned char)(secret[i] ^ given[i < given_len ? i : 0]);
    return difference == 0;
}

/* Whether the request may go on; if not, the refusal is queued in *result. */
static bool http_admit(struct MHD_Connection *connection, const char *method, enum MHD_Result *result) {
    const union MHD_ConnectionInfo *peer =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    bool local_socket = peer != NULL && peer->client_addr != NULL && peer->client_addr->sa_family == AF_UNIX;
    const http_address *bound = _rallo_http_bound();
    if (!local_socket && bound != NULL) { /* the per-process socket is guarded by its directory */
        const char *token = _rallo_http_token();
        if (token != NULL) {
            const char *given = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization");
            if (given == NULL || strncasecmp(given, "Bearer ", 7) != 0 || !same_secret(given + 7, token)) {
                *result = http_text(connection, MHD_HTTP_UNAUTHORIZED, "a bearer token is required\n");
                return false;
            }
        }
        const char *host = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Host");
        if (host != NULL && !_rallo_http_host_allowed(host, strlen(host), bound)) {
            *result = http_text(connection, MHD_HTTP_FORBIDDEN, "this Host is not served here\n");
            return false;
        }
    }
    /* A browser names the page's origin on every POST; curl and scrapers send none. */
    const char *origin = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Origin");
    if (origin != NULL && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        const char *host = strncmp(origin, "http://", 7) == 0    ? origin + 7
                           : strncmp(origin, "https://", 8) == 0 ? origin + 8
                                                                 : NULL;
        http_address loopback_only = {.host = ""};
        if (host == NULL ||
            !_rallo_http_host_allowed(host, strlen(host), bound != NULL ? bound : &loopback_only)) {
            *result = http_text(connection, MHD_HTTP_FORBIDDEN, "cross-origin requests are refused\n");
            return false;
        }
    }
    return true;
}

enum MHD_Result _rallo_http_handle(void *cls, struct MHD_Connection *connection, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **request_state) {
    (void)cls;
    (void)version;
    (void)upload_data;
    /* First call: headers only. Refuse now, or answer on the second, once any
     * body was read (and discarded: no endpoint takes one). */
    if (*request_state == NULL) {
        *request_state = mi_zalloc(sizeof(http_request));
        if (*request_state == NULL)
            return MHD_NO;
        _rallo_http_request_started(connection, 0);
        enum MHD_Result refused = MHD_NO;
        if (!http_admit(connection, method, &refused))
            return refused;
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
        return http_profile(connection,
                            url[1] == '\0'                          ? PAGE_HTML
                            : strcmp(url, "/debug/pprof/heap") == 0 ? PAGE_HEAP
                                                                    : PAGE_ALLOCS,
                            *request_state);
    }
    if (strcmp(url, "/debug/pprof/") == 0 || strcmp(url, "/debug/pprof") == 0) {
        if (!get)
            return http_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
        const char *page = _rallo_http_index();
        return http_reply(connection, 200, "text/html; charset=utf-8", (void *)page, strlen(page), false);
    }
    if (strcmp(url, "/debug/rallo/process") == 0) {
        if (!get)
            return http_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
        return http_process(connection);
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
