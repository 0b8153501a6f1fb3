/* fuzz_http_address.c - libFuzzer target for the RALLO_HTTP address parser
 * (http_parse_address in report/inproc/http.c, which is ours; the HTTP
 * protocol itself is libmicrohttpd's and is exercised live by
 * tests/security). http.c is compiled in whole; what it calls of the report
 * writers is stubbed (never reached from the parser), and getaddrinfo is
 * replaced by a numeric-only one so that fuzzed host names never go to DNS.
 * Checks: no memory error, and an accepted address is an IPv4/IPv6 one whose
 * port is the decimal number the input ends with. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "../../report/inproc/http.c"

__thread rallo_thread_state _rallo_thread __attribute__((tls_model("initial-exec")));

int rallo_profile_capture(rallo_profile *profile) {
    (void)profile;
    return -1;
}
void rallo_profile_free(rallo_profile *profile) {
    (void)profile;
}
void rallo_buf_init(rallo_buf *buf) {
    memset(buf, 0, sizeof *buf);
}
void rallo_buf_free(rallo_buf *buf) {
    (void)buf;
}
int rallo_write_html(const rallo_profile *profile, rallo_buf *out) {
    (void)profile;
    (void)out;
    return -1;
}
int rallo_write_pprof_view(const rallo_profile *profile, rallo_buf *out, int view) {
    (void)profile;
    (void)out;
    (void)view;
    return -1;
}
int rallo_enable(void) {
    return 0;
}
void rallo_disable(void) {}

/* Numeric hosts only: names fail as if unknown. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
    (void)hints;
    static struct {
        struct addrinfo info;
        struct sockaddr_storage address;
    } one;
    memset(&one, 0, sizeof one);
    int port = atoi(service);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&one.address;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&one.address;
    if (inet_pton(AF_INET, node, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        one.info.ai_addrlen = sizeof *v4;
    } else if (inet_pton(AF_INET6, node, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        one.info.ai_addrlen = sizeof *v6;
    } else {
        return EAI_NONAME;
    }
    one.info.ai_family = one.address.ss_family;
    one.info.ai_addr = (struct sockaddr *)&one.address;
    *res = &one.info;
    return 0;
}
void freeaddrinfo(struct addrinfo *res) {
    (void)res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct sockaddr_storage address;
    socklen_t len = 0;
    if (strlen(text) == size && http_parse_address(text, &address, &len)) {
        const char *colon = strrchr(text, ':');
        unsigned long port = strtoul(colon ? colon + 1 : text, NULL, 10);
        unsigned got = address.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&address)->sin_port)
                                                    : ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
        if ((address.ss_family != AF_INET && address.ss_family != AF_INET6) || port > 65535 || got != port)
            abort();
    }
    free(text);
    return 0;
}
