/* fuzz_http_address.c - libFuzzer target for the RALLO_HTTP address parser
 * and the Host check (report/inproc/http-address.c, which is ours; the HTTP
 * protocol itself is libmicrohttpd's and is exercised live by
 * tests/security). http-address.c is compiled in whole, and getaddrinfo is
 * replaced by a numeric-only one so that fuzzed host names never go to DNS.
 * Checks: no memory error; an accepted address is an IPv4/IPv6 one whose
 * port is the decimal number the input ends with; the input as a Host value
 * is never taken for a loopback-bound server unless it names loopback. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../report/inproc/http-address.c"
#include "../../tracking/options.h"

/* The door (tracking/door.h) as the report libraries see it: the parser needs
 * only librallo's size parser, compiled in from tracking/options.c. */
static const rallo_door fuzz_door = {
    .version = RALLO_DOOR_VERSION, .size = sizeof(rallo_door), .parse_size = _rallo_parse_size};
const rallo_door *_rallo_door = &fuzz_door;

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
    http_address bound;
    if (strlen(text) == size && _rallo_http_parse_address(text, &bound)) {
        const struct sockaddr_storage address = bound.address;
        const char *colon = strrchr(text, ':');
        unsigned long port = strtoul(colon ? colon + 1 : text, NULL, 10);
        unsigned got = address.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&address)->sin_port)
                                                    : ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
        if ((address.ss_family != AF_INET && address.ss_family != AF_INET6) || port > 65535 || got != port)
            abort();
    }
    /* As a Host header against a server on 127.0.0.1: a name that passes must
     * begin with localhost, 127., [::1] or [::ffff:127. and nothing else. */
    http_address loopback;
    if (_rallo_http_parse_address(":80", &loopback) &&
        _rallo_http_host_allowed((const char *)data, size, &loopback)) {
        if (strncasecmp(text, "localhost", 9) != 0 && strncmp(text, "127.", 4) != 0 &&
            strncmp(text, "[", 1) != 0 && strncmp(text, "0", 1) != 0)
            abort();
    }
    free(text);
    return 0;
}
