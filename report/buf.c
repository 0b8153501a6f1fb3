/* buf.c - the growable output buffer every writer appends to. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mimalloc.h>

#include "buf.h"
#include "util/array.h"

void rallo_buf_init(rallo_buf *buf) {
    memset(buf, 0, sizeof *buf);
}

void rallo_buf_free(rallo_buf *buf) {
    mi_free(buf->data);
    memset(buf, 0, sizeof *buf);
}

static bool buf_reserve(rallo_buf *buf, size_t extra) {
    if (buf->failed)
        return false;
    if (!rallo_array_reserve((void **)&buf->data, &buf->cap, buf->len + extra + 1, 1, 4096)) {
        buf->failed = true;
        return false;
    }
    return true;
}

void rallo_buf_put(rallo_buf *buf, const void *bytes, size_t len) {
    if (!buf_reserve(buf, len))
        return;
    memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void rallo_buf_puts(rallo_buf *buf, const char *text) {
    rallo_buf_put(buf, text, strlen(text));
}

void rallo_buf_putc(rallo_buf *buf, char c) {
    rallo_buf_put(buf, &c, 1);
}

void rallo_buf_printf(rallo_buf *buf, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, args);
    va_end(args);
    if (n < 0) {
        buf->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        rallo_buf_put(buf, small, (size_t)n);
        return;
    }
    if (!buf_reserve(buf, (size_t)n))
        return;
    va_start(args, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, args);
    va_end(args);
    buf->len += (size_t)n;
}

void rallo_buf_json_string(rallo_buf *buf, const char *text) {
    if (text == NULL)
        return;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        switch (*c) {
        case '"': rallo_buf_puts(buf, "\\\""); break;
        case '\\': rallo_buf_puts(buf, "\\\\"); break;
        case '\n': rallo_buf_puts(buf, "\\n"); break;
        case '\r': rallo_buf_puts(buf, "\\r"); break;
        case '\t': rallo_buf_puts(buf, "\\t"); break;
        default:
            if (*c < 0x20 || *c == 0x7f)
                rallo_buf_printf(buf, "\\u%04x", *c);
            else
                rallo_buf_putc(buf, (char)*c);
        }
    }
}

void rallo_buf_json_string_or_null(rallo_buf *buf, const char *text) {
    if (text == NULL) {
        rallo_buf_puts(buf, "null");
        return;
    }
    rallo_buf_putc(buf, '"');
    rallo_buf_json_string(buf, text);
    rallo_buf_putc(buf, '"');
}

void rallo_buf_html_text(rallo_buf *buf, const char *text) {
    if (text == NULL)
        return;
    for (const char *c = text; *c; c++) {
        switch (*c) {
        case '&': rallo_buf_puts(buf, "&amp;"); break;
        case '<': rallo_buf_puts(buf, "&lt;"); break;
        case '>': rallo_buf_puts(buf, "&gt;"); break;
        case '"': rallo_buf_puts(buf, "&quot;"); break;
        case '\'': rallo_buf_puts(buf, "&#39;"); break;
        default: rallo_buf_putc(buf, *c);
        }
    }
}
