/* read_pprof_inflate.c - the pprof reader's gunzip, capped: a first pass
 * only counts what the input inflates to, so a decompression bomb costs no
 * memory to refuse, and a profile takes its own size once, never a doubling
 * buffer's. zlib's memory is mimalloc's. */
#include <string.h>

#include <mimalloc.h>
#include <zlib.h>

#include "read_pprof_internal.h"
#include "util/zlib_alloc.h"

/* One pass over a gzip (or zlib) stream, members one after another: into
 * out (out_size bytes) when out is given, else only counting into a scratch
 * window. *inflated gets the size; false with an error when corrupt,
 * truncated, or past cap. */
static bool inflate_pass(pprof_reader *r, const unsigned char *data, size_t len, size_t cap,
                         unsigned char *out, size_t out_size, size_t *inflated) {
    enum { WINDOW = 1 << 16 };
    unsigned char *window = out == NULL ? mi_malloc(WINDOW) : NULL;
    if (out == NULL && window == NULL)
        return rallo_pprof_fail(r, "out of memory inflating");
    z_stream z;
    memset(&z, 0, sizeof z);
    rallo_zlib_use_mimalloc(&z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) { /* 32: detect gzip or zlib headers */
        mi_free(window);
        return rallo_pprof_fail(r, "out of memory starting zlib");
    }
    size_t used = 0, consumed = 0;
    bool ok = true;
    while (ok) {
        if (used > cap) {
            ok = rallo_pprof_fail(r, "inflates past the %zu MiB cap (a decompression bomb?)", cap >> 20);
            break;
        }
        size_t in_chunk = len - consumed > (1u << 30) ? (1u << 30) : len - consumed;
        unsigned char *next = out != NULL ? out + used : window;
        size_t room = out != NULL ? out_size - used : WINDOW;
        size_t out_chunk = room > (1u << 30) ? (1u << 30) : room;
        if (out_chunk == 0) { /* the counting pass said less: the input changed */
            ok = rallo_pprof_fail(r, "inflates to more than it did a moment ago");
            break;
        }
        z.next_in = (Bytef *)(data + consumed);
        z.avail_in = (uInt)in_chunk;
        z.next_out = next;
        z.avail_out = (uInt)out_chunk;
        int rc = inflate(&z, Z_NO_FLUSH);
        consumed += in_chunk - z.avail_in;
        used += out_chunk - z.avail_out;
        if (rc == Z_STREAM_END) {
            if (consumed == len)
                break;
            /* Another gzip member may follow (as `cat a.gz b.gz` makes). */
            if (len - consumed >= 2 && data[consumed] == 0x1f && data[consumed + 1] == 0x8b) {
                inflateReset(&z);
                continue;
            }
            ok = rallo_pprof_fail(r, "%zu bytes of trailing garbage after the gzip stream", len - consumed);
        } else if (rc == Z_BUF_ERROR && consumed == len) {
            ok = rallo_pprof_fail(r, "truncated gzip stream (%zu bytes read, %zu inflated)", len, used);
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            ok = rallo_pprof_fail(r, "corrupt gzip stream: %s", z.msg != NULL ? z.msg : "inflate failed");
        }
    }
    inflateEnd(&z);
    mi_free(window);
    *inflated = used;
    return ok && (used <= cap ||
                  rallo_pprof_fail(r, "inflates past the %zu MiB cap (a decompression bomb?)", cap >> 20));
}

bool rallo_pprof_inflate(pprof_reader *r, const unsigned char *data, size_t len, size_t cap,
                         unsigned char **out, size_t *out_len) {
    size_t size = 0, filled = 0;
    if (!inflate_pass(r, data, len, cap, NULL, 0, &size))
        return false;
    unsigned char *buf = mi_malloc(size + 1);
    if (buf == NULL)
        return rallo_pprof_fail(r, "out of memory inflating to %zu bytes", size);
    /* One byte of room beyond: a stream that now inflates further fails the cap. */
    if (!inflate_pass(r, data, len, size, buf, size + 1, &filled)) {
        mi_free(buf);
        return false;
    }
    *out = buf;
    *out_len = filled;
    return true;
}
