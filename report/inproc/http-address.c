/* http-address.c - RALLO_HTTP's address (host:port) and the Host names the
 * endpoint answers to: loopback names and the address as written, so that a
 * page whose name was re-pointed at 127.0.0.1 (DNS rebinding) is refused. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "http.h"

static bool v4_loopback(const struct in_addr *address) {
    return (ntohl(address->s_addr) >> 24) == 127;
}

static bool v6_loopback(const struct in6_addr *address) {
    if (IN6_IS_ADDR_LOOPBACK(address))
        return true;
    if (IN6_IS_ADDR_V4MAPPED(address)) {
        struct in_addr v4;
        memcpy(&v4, &address->s6_addr[12], sizeof v4);
        return v4_loopback(&v4);
    }
    return false;
}

bool _rallo_http_parse_address(const char *text, http_address *out) {
    memset(out, 0, sizeof *out);
    char host[sizeof out->host] = "127.0.0.1";
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
            memcpy(out->host, host, host_len + 1);
        }
        port = colon + 1;
    }
    uint64_t port_number = 0;
    if (!_rallo_door->parse_size(port, &port_number) || port_number > 65535)
        return false;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    if (getaddrinfo(host, port, &hints, &found) != 0 || found == NULL)
        return false;
    if (found->ai_addrlen > sizeof out->address) {
        freeaddrinfo(found);
        return false;
    }
    memcpy(&out->address, found->ai_addr, found->ai_addrlen);
    out->len = found->ai_addrlen;
    freeaddrinfo(found);
    out->port = (uint16_t)port_number;
    if (out->address.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&out->address;
        out->loopback = v4_loopback(&v4->sin_addr);
        out->wildcard = v4->sin_addr.s_addr == htonl(INADDR_ANY);
    } else if (out->address.ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&out->address;
        out->loopback = v6_loopback(&v6->sin6_addr);
        out->wildcard = IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr);
    } else {
        return false;
    }
    return true;
}

/* Whether a numeric host is loopback or the bound address itself. */
static bool numeric_allowed(const char *name, const http_address *bound) {
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, name, &v4) == 1) {
        const struct sockaddr_in *own = (const struct sockaddr_in *)&bound->address;
        return v4_loopback(&v4) || (bound->address.ss_family == AF_INET && own->sin_addr.s_addr == v4.s_addr);
    }
    if (inet_pton(AF_INET6, name, &v6) == 1) {
        const struct sockaddr_in6 *own = (const struct sockaddr_in6 *)&bound->address;
        return v6_loopback(&v6) ||
               (bound->address.ss_family == AF_INET6 && memcmp(&own->sin6_addr, &v6, sizeof v6) == 0);
    }
    return false;
}

bool _rallo_http_host_allowed(const char *host, size_t len, const http_address *bound) {
    if (bound->wildcard)
        return true;
    const char *name = host;
    size_t name_len = len;
    const char *rest;
    if (len > 0 && host[0] == '[') { /* [v6] or [v6]:port */
        const char *close = memchr(host, ']', len);
        if (close == NULL)
            return false;
        name = host + 1;
        name_len = (size_t)(close - name);
        rest = close + 1;
    } else {
        const char *colon = memchr(host, ':', len);
        if (colon != NULL)
            name_len = (size_t)(colon - host);
        rest = host + name_len;
    }
    if (rest != host + len) { /* a port: digits only */
        if (*rest != ':' || rest + 1 == host + len)
            return false;
        for (const char *digit = rest + 1; digit < host + len; digit++)
            if (*digit < '0' || *digit > '9')
                return false;
    }
    char text[256];
    if (name_len == 0 || name_len >= sizeof text)
        return false;
    memcpy(text, name, name_len);
    if (text[name_len - 1] == '.') /* "localhost." is "localhost" */
        name_len--;
    text[name_len] = '\0';
    if (name_len == 0 || memchr(text, '\0', name_len) != NULL)
        return false;
    if (strcasecmp(text, "localhost") == 0)
        return true;
    if (bound->host[0] != '\0' && strcasecmp(text, bound->host) == 0)
        return true;
    return numeric_allowed(text, bound);
}
