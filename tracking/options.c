/* options.c - rallo's configuration: one table of RALLO_* variables read once
 * at load with one parser each, a bad value reported once and ignored. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tracking.h"

rallo_options _rallo_options = {
    .enable_at_start = false,
    .sample_bytes = 0,
    .depth = 64,
    .arena_bytes = 1ull << 40,
    .max_sites = 1u << 20,
    .depot_bytes = 256ull << 20,
    .unwind = RALLO_UNWIND_AUTO,
};

/* Copies text into out (cap bytes, NUL included) with every control character
 * written as \xNN: C0 controls, DEL, and the C1 controls as UTF-8 encodes them
 * (C2 80..C2 9F), so no value from the environment, a file name or a request
 * can move the cursor, retitle a terminal or forge a line. Returns the length. */
static size_t escape_controls(const char *text, char *out, size_t cap) {
    static const char hex[] = "0123456789abcdef";
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        unsigned char c = *p;
        bool c1 = c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
        size_t need = c < 0x20 || c == 0x7f ? 4 : c1 ? 8 : 1;
        if (len + need >= cap)
            break;
        if (need == 1) {
            out[len++] = (char)c;
            continue;
        }
        size_t bytes = c1 ? 2 : 1;
        for (size_t i = 0; i < bytes; i++) {
            out[len++] = '\\';
            out[len++] = 'x';
            out[len++] = hex[p[i] >> 4];
            out[len++] = hex[p[i] & 15];
        }
        p += bytes - 1;
    }
    out[len] = '\0';
    return len;
}

void _rallo_warn(const char *fmt, ...) {
    /* Stack buffers and write(2): stdio may allocate, and this runs inside malloc.
     * The whole formatted message is escaped, so every value in it is, wherever
     * it came from; messages themselves are one line and hold no control character. */
    char message[512];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    if (n < 0)
        return;
    char line[1024];
    static const char prefix[7] = {'r', 'a', 'l', 'l', 'o', ':', ' '}; /* no NUL: the message follows */
    memcpy(line, prefix, sizeof prefix);
    size_t len =
        sizeof prefix + escape_controls(message, line + sizeof prefix, sizeof line - sizeof prefix - 1);
    line[len++] = '\n';
    ssize_t written = write(STDERR_FILENO, line, len);
    (void)written;
}

const char *_rallo_getenv(const char *name) {
    /* secure_getenv returns NULL in set-uid/set-gid processes (AT_SECURE). */
    return secure_getenv(name);
}

bool _rallo_parse_size(const char *text, uint64_t *out) {
    if (text == NULL || *text < '0' || *text > '9')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text)
        return false;
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    case 't':
    case 'T':
        shift = 40;
        end++;
        break;
    default: break;
    }
    if (shift != 0 && (*end == 'b' || *end == 'B'))
        end++;
    if (*end != '\0')
        return false;
    if (shift != 0 && value > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)value << shift;
    return true;
}

bool _rallo_unwind_mode_parse(const char *text, uint32_t *mode) {
    if (strcmp(text, "fp") == 0)
        *mode = RALLO_UNWIND_FP;
    else if (strcmp(text, "dwarf") == 0)
        *mode = RALLO_UNWIND_DWARF;
    else if (strcmp(text, "auto") == 0)
        *mode = RALLO_UNWIND_AUTO;
    else
        return false;
    return true;
}

bool _rallo_parse_bool(const char *text, bool *out) {
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off", ""};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return true;
        }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return true;
        }
    return false;
}

typedef enum option_kind { OPTION_BOOL, OPTION_SIZE, OPTION_U32, OPTION_UNWIND } option_kind;

typedef struct option_desc {
    const char *name;
    option_kind kind;
    void *target;
    uint64_t min, max; /* inclusive bounds for sizes and numbers */
    bool *given;       /* set when the variable's value is taken, if not NULL */
} option_desc;

static const option_desc option_table[] = {
    {"RALLO_ENABLE", OPTION_BOOL, &_rallo_options.enable_at_start, 0, 1, NULL},
    {"RALLO_LIFETIMES", OPTION_BOOL, &_rallo_options.lifetimes, 0, 1, NULL},
    {"RALLO_FREE_SITES", OPTION_BOOL, &_rallo_options.free_sites, 0, 1, NULL},
    {"RALLO_SAMPLE", OPTION_SIZE, &_rallo_options.sample_bytes, 0, 1ull << 40, NULL},
    {"RALLO_DEPTH", OPTION_U32, &_rallo_options.depth, 1, RALLO_MAX_DEPTH, NULL},
    {"RALLO_ARENA_SIZE", OPTION_SIZE, &_rallo_options.arena_bytes, 64ull << 20, 1ull << 46,
     &_rallo_options.arena_bytes_given},
    {"RALLO_MAX_SITES", OPTION_U32, &_rallo_options.max_sites, 16, 1u << 24, &_rallo_options.max_sites_given},
    {"RALLO_DEPOT_SIZE", OPTION_SIZE, &_rallo_options.depot_bytes, 1ull << 20, 16ull << 30,
     &_rallo_options.depot_bytes_given},
    {"RALLO_UNWIND", OPTION_UNWIND, &_rallo_options.unwind, 0, 2, NULL},
};

static bool option_parse(const option_desc *option, const char *text) {
    uint64_t value = 0;
    if (option->kind == OPTION_UNWIND) {
        if (_rallo_unwind_mode_parse(text, option->target))
            return true;
        _rallo_warn("ignoring %s: expected fp, dwarf or auto", option->name);
        return false;
    }
    if (option->kind == OPTION_BOOL) {
        if (_rallo_parse_bool(text, option->target))
            return true;
        _rallo_warn("ignoring %s: expected 1 or 0 (true/false, yes/no, on/off)", option->name);
        return false;
    }
    if (!_rallo_parse_size(text, &value)) {
        _rallo_warn("ignoring %s: not a number%s", option->name,
                    option->kind == OPTION_SIZE ? " of bytes (suffixes k, m, g, t)" : "");
        return false;
    }
    if (value < option->min || value > option->max) {
        _rallo_warn("ignoring %s=%llu: outside %llu..%llu", option->name, (unsigned long long)value,
                    (unsigned long long)option->min, (unsigned long long)option->max);
        return false;
    }
    if (option->kind == OPTION_SIZE)
        *(uint64_t *)option->target = value;
    else
        *(uint32_t *)option->target = (uint32_t)value;
    if (option->given != NULL)
        *option->given = true;
    return true;
}

void _rallo_options_load(void) {
    for (size_t i = 0; i < sizeof option_table / sizeof option_table[0]; i++) {
        const char *text = _rallo_getenv(option_table[i].name);
        if (text != NULL)
            option_parse(&option_table[i], text);
    }
    _rallo_options.block_extras = (uint8_t)((_rallo_options.lifetimes ? RALLO_EXTRA_LIFETIMES : 0) |
                                            (_rallo_options.free_sites ? RALLO_EXTRA_FREE_SITES : 0));
}

void _rallo_options_free_sites_off(void) {
    _rallo_options.free_sites = false;
    _rallo_options.block_extras &= (uint8_t)~RALLO_EXTRA_FREE_SITES;
}
