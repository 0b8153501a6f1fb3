/* http-pprof.c - what the endpoint adds to a profile to behave as Go's
 * net/http/pprof, which scrapers (Parca, Grafana Alloy) are written against:
 * the index page, the query (?seconds=N, ?debug=N, ?gc=1, ?symbolize=0), and the delta
 * profile of ?seconds=N (two snapshots N seconds apart, subtracted). */
#include <stdio.h>
#include <string.h>

#include <mimalloc.h>

#include "http.h"

/* A whole decimal number, digits only (no sign, suffix or space), as Go's
 * strconv.Atoi takes for these parameters. */
static bool whole_number(const char *text, uint64_t *out) {
    uint64_t value = 0;
    size_t digits = 0;
    for (; text[digits] != '\0'; digits++) {
        if (text[digits] < '0' || text[digits] > '9' || digits >= 9)
            return false;
        value = value * 10 + (uint64_t)(text[digits] - '0');
    }
    *out = value;
    return digits > 0;
}

bool _rallo_http_parse_query(struct MHD_Connection *connection, http_query *query, const char **error) {
    memset(query, 0, sizeof *query);
    const char *seconds = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "seconds");
    const char *debug = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "debug");
    uint64_t value = 0;
    if (seconds != NULL && seconds[0] != '\0') { /* as Go: a positive whole number */
        if (!whole_number(seconds, &value) || value == 0) {
            *error = "invalid value for \"seconds\"\n";
            return false;
        }
        if (value > HTTP_MAX_SECONDS) {
            *error = "profile duration exceeds the limit of " HTTP_MAX_SECONDS_TEXT " seconds\n";
            return false;
        }
        query->seconds = (unsigned)value;
    }
    if (debug != NULL && debug[0] != '\0') {
        if (!whole_number(debug, &value)) {
            *error = "invalid value for \"debug\"\n";
            return false;
        }
        query->debug = value > 0;
    }
    query->symbolize = _rallo_http_symbolize_default();
    const char *symbolize = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "symbolize");
    if (symbolize != NULL && symbolize[0] != '\0') {
        if (strcmp(symbolize, "0") != 0 && strcmp(symbolize, "1") != 0) {
            *error = "invalid value for \"symbolize\": 0 or 1\n";
            return false;
        }
        query->symbolize = symbolize[0] == '1';
    }
    return true; /* gc=1 (Go runs a collection first) has nothing to do here */
}

/* A site's stack as a hash of its addresses (two captures have their own
 * location tables, so sites are matched by what they hold). */
static uint64_t stack_hash(const rallo_profile *profile, const rallo_prof_site *site) {
    uint64_t hash = 1469598103934665603ull ^ site->nlocations;
    for (uint32_t i = 0; i < site->nlocations; i++) {
        hash ^= profile->locations[site->locations[i]].address;
        hash *= 1099511628211ull;
        hash ^= hash >> 29;
    }
    return hash;
}

static bool same_stack(const rallo_profile *a, const rallo_prof_site *x, const rallo_profile *b,
                       const rallo_prof_site *y) {
    if (x->nlocations != y->nlocations)
        return false;
    for (uint32_t i = 0; i < x->nlocations; i++)
        if (a->locations[x->locations[i]].address != b->locations[y->locations[i]].address)
            return false;
    return true;
}

static uint64_t less(uint64_t now, uint64_t before) {
    return now > before ? now - before : 0;
}

int _rallo_http_subtract(rallo_profile *now, const rallo_profile *before) {
    size_t size = 16;
    while (size < 2 * before->nsites)
        size *= 2;
    uint32_t *slots = mi_calloc(size, sizeof *slots); /* before's site index + 1; 0: empty */
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < before->nsites; i++) {
        size_t slot = stack_hash(before, &before->sites[i]) & (size - 1);
        while (slots[slot] != 0)
            slot = (slot + 1) & (size - 1);
        slots[slot] = (uint32_t)i + 1;
    }
    size_t kept = 0;
    for (size_t i = 0; i < now->nsites; i++) {
        rallo_prof_site site = now->sites[i];
        for (size_t slot = stack_hash(now, &site) & (size - 1); slots[slot] != 0;
             slot = (slot + 1) & (size - 1)) {
            const rallo_prof_site *old = &before->sites[slots[slot] - 1];
            if (!same_stack(now, &site, before, old))
                continue;
            site.alloc_count = less(site.alloc_count, old->alloc_count);
            site.alloc_bytes = less(site.alloc_bytes, old->alloc_bytes);
            site.free_count = less(site.free_count, old->free_count);
            site.free_bytes = less(site.free_bytes, old->free_bytes);
            break;
        }
        /* In use: the state at the end, as it is (never a negative count). */
        if (site.alloc_count != 0 || site.live_count != 0)
            now->sites[kept++] = site;
    }
    now->nsites = kept;
    mi_free(slots);
    rallo_totals *totals = &now->totals;
    totals->alloc_count = less(totals->alloc_count, before->totals.alloc_count);
    totals->alloc_bytes = less(totals->alloc_bytes, before->totals.alloc_bytes);
    totals->free_count = less(totals->free_count, before->totals.free_count);
    totals->free_bytes = less(totals->free_bytes, before->totals.free_bytes);
    return 0;
}

const char *_rallo_http_index(void) {
    return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>/debug/pprof/</title></head><body>\n"
           "<p>rallo: profiles of this process's heap, as Go's net/http/pprof serves them.</p>\n"
           "<table>\n"
           "<tr><td><a href=\"allocs?debug=1\">allocs</a></td><td>A sampling of all past memory allocations "
           "(alloc_space first)</td></tr>\n"
           "<tr><td><a href=\"heap?debug=1\">heap</a></td><td>A sampling of memory allocations of live "
           "objects "
           "(inuse_space first)</td></tr>\n"
           "</table>\n"
           "<p>pprof (gzipped profile.proto) without <code>?debug=1</code>; <code>?seconds=N</code>: what "
           "was "
           "allocated during the next N seconds (at most " HTTP_MAX_SECONDS_TEXT
           "). <a href=\"/\">The flame graph of now</a>.</p>\n"
           "</body></html>\n";
}
