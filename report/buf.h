/* buf.h - a growable output buffer with a sticky error: writers append to it
 * without checking each call, and whoever delivers it (a file, an HTTP reply)
 * checks `failed` once. Memory from mimalloc directly. */
#ifndef RALLO_BUF_H
#define RALLO_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rallo_buf {
    char *data;
    size_t len, cap;
    bool failed; /* an allocation failed: the content is incomplete */
} rallo_buf;

void rallo_buf_init(rallo_buf *buf);
void rallo_buf_free(rallo_buf *buf);
void rallo_buf_put(rallo_buf *buf, const void *bytes, size_t len);
void rallo_buf_puts(rallo_buf *buf, const char *text);
void rallo_buf_putc(rallo_buf *buf, char c);
void rallo_buf_printf(rallo_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends text as the inside of a JSON string (quotes not included). */
void rallo_buf_json_string(rallo_buf *buf, const char *text);
/* Appends text as a quoted JSON string, or null when text is NULL. */
void rallo_buf_json_string_or_null(rallo_buf *buf, const char *text);
/* Appends text with &, <, >, " and ' escaped for HTML. */
void rallo_buf_html_text(rallo_buf *buf, const char *text);

#endif
