/* read_pprof.c - the pprof reader's entry points: a gzipped (or raw)
 * profile.proto into a rallo_profile, for `rallo report` and `rallo diff`. The
 * input is untrusted: inflation is capped (read_pprof_inflate.c), protobuf-c
 * unpacks within a memory budget (here), and every id, index and count is
 * checked before it is used (read_pprof_messages.c), so a hostile file gets a
 * one-line error and never a crash. Memory: scratch from mimalloc, the result
 * in the profile's arena. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mimalloc.h>

#include "pprof.h"
#include "read_pprof_internal.h"
#include "writers.h"

bool rallo_pprof_fail(pprof_reader *r, const char *fmt, ...) {
    if (r->error_len == 0)
        return false;
    int n = snprintf(r->error, r->error_len, "pprof: ");
    if (n < 0 || (size_t)n >= r->error_len)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error + n, r->error_len - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

void rallo_pprof_note(pprof_reader *r, const char *fmt, ...) {
    size_t used = strlen(r->notes);
    if (used + 3 >= sizeof r->notes)
        return;
    if (used != 0) {
        memcpy(r->notes + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->notes + used, sizeof r->notes - used, fmt, ap);
    va_end(ap);
}

/* ---- protobuf-c's allocator: mimalloc, within a budget ---- */

typedef struct unpack_budget {
    size_t used, limit;
    bool exceeded;
} unpack_budget;

static void *budget_alloc(void *data, size_t size) {
    unpack_budget *b = data;
    if (size > b->limit - b->used) {
        b->exceeded = true;
        return NULL;
    }
    void *p = mi_malloc(size);
    if (p != NULL)
        b->used += mi_usable_size(p);
    return p;
}

static void budget_free(void *data, void *p) {
    unpack_budget *b = data;
    if (p != NULL)
        b->used -= mi_usable_size(p);
    mi_free(p);
}

int rallo_read_pprof_capped(const void *data, size_t len, size_t max_inflated, rallo_profile *out,
                            char *error, size_t error_len) {
    pprof_reader r;
    memset(&r, 0, sizeof r);
    r.out = out;
    r.error = error;
    r.error_len = error_len;
    if (error_len > 0)
        error[0] = '\0';
    rallo_profile_init(out);
    const unsigned char *bytes = data;
    unsigned char *inflated = NULL;
    size_t plain_len = len;
    if (data == NULL || len == 0) {
        rallo_pprof_fail(&r, "empty input");
        return -1;
    }
    if (len >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
        if (!rallo_pprof_inflate(&r, bytes, len, max_inflated, &inflated, &plain_len))
            return -1;
        bytes = inflated;
    } else if (len > max_inflated) {
        rallo_pprof_fail(&r, "%zu bytes of raw profile.proto: past the %zu MiB cap", len, max_inflated >> 20);
        return -1;
    }
    /* Unpacked messages cost at most ~40 bytes per encoded byte: 48 per byte
     * and 16 MiB over it is a budget no real profile reaches; past it, or past
     * RALLO_PPROF_MAX_UNPACKED, the input is not a profile worth reading. */
    size_t limit = RALLO_PPROF_MAX_UNPACKED;
    if (plain_len < (limit - (16u << 20)) / 48)
        limit = plain_len * 48 + (16u << 20);
    unpack_budget budget = {.used = 0, .limit = limit};
    ProtobufCAllocator allocator = {.alloc = budget_alloc, .free = budget_free, .allocator_data = &budget};
    pb_profile *pb = perftools__profiles__profile__unpack(&allocator, plain_len, bytes);
    bool gzipped = inflated != NULL;
    mi_free(inflated);
    if (pb == NULL) {
        if (budget.exceeded)
            rallo_pprof_fail(&r, "decoding needs more than %zu MiB: refused", budget.limit >> 20);
        else
            rallo_pprof_fail(&r, "not a profile.proto message (%zu bytes%s could not be decoded)", plain_len,
                             gzipped ? " after gunzip" : "");
        return -1;
    }
    r.pb = pb;
    bool ok = rallo_pprof_convert(&r);
    perftools__profiles__profile__free_unpacked(pb, &allocator);
    if (!ok) {
        if (error_len > 0 && error[0] == '\0')
            snprintf(error, error_len, "pprof: out of memory");
        rallo_profile_free(out);
        return -1;
    }
    if (error_len > 0)
        snprintf(error, error_len, "%s", r.notes);
    return 0;
}

int rallo_read_pprof(const void *data, size_t len, rallo_profile *out, char *error, size_t error_len) {
    return rallo_read_pprof_capped(data, len, RALLO_PPROF_MAX_INFLATED, out, error, error_len);
}
