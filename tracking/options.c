/* options.c - rallo's configuration: one table of RALLO_* variables read once
 * at load with one parser each, a bad value reported once and ignored. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void _rallo_warn(const char *fmt, ...) {
    /* A stack buffer and write(2): stdio may allocate, and this runs inside malloc. */
    char line[512];
    static const char prefix[7] = {'r', 'a', 'l', 'l', 'o', ':', ' '}; /* no NUL: the message follows */
    memcpy(line, prefix, sizeof prefix);
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(line + 7, sizeof line - 8, fmt, args);
    va_end(args);
    if (n < 0)
        return;
    size_t len = 7 + ((size_t)n < sizeof line - 8 ? (size_t)n : sizeof line - 9);
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

typedef enum option_kind { OPTION_BOOL, OPTION_SIZE, OPTION_U32, OPTION_UNWIND } option_kind;

typedef struct option_desc {
    const char *name;
    option_kind kind;
    void *target;
    uint64_t min, max; /* inclusive bounds for sizes and numbers */
} option_desc;

static const option_desc option_table[] = {
    {"RALLO_ENABLE", OPTION_BOOL, &_rallo_options.enable_at_start, 0, 1},
    {"RALLO_SAMPLE", OPTION_SIZE, &_rallo_options.sample_bytes, 0, 1ull << 40},
    {"RALLO_DEPTH", OPTION_U32, &_rallo_options.depth, 1, RALLO_MAX_DEPTH},
    {"RALLO_ARENA_SIZE", OPTION_SIZE, &_rallo_options.arena_bytes, 64ull << 20, 1ull << 46},
    {"RALLO_MAX_SITES", OPTION_U32, &_rallo_options.max_sites, 16, 1u << 24},
    {"RALLO_DEPOT_SIZE", OPTION_SIZE, &_rallo_options.depot_bytes, 1ull << 20, 16ull << 30},
    {"RALLO_UNWIND", OPTION_UNWIND, &_rallo_options.unwind, 0, 2},
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
        if (strcmp(text, "1") == 0 || strcmp(text, "yes") == 0 || strcmp(text, "true") == 0 ||
            strcmp(text, "on") == 0)
            value = 1;
        else if (strcmp(text, "0") == 0 || strcmp(text, "no") == 0 || strcmp(text, "false") == 0 ||
                 strcmp(text, "off") == 0 || text[0] == '\0')
            value = 0;
        else {
            _rallo_warn("ignoring %s: expected 1 or 0", option->name);
            return false;
        }
        *(bool *)option->target = value != 0;
        return true;
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
    return true;
}

void _rallo_options_load(void) {
    for (size_t i = 0; i < sizeof option_table / sizeof option_table[0]; i++) {
        const char *text = _rallo_getenv(option_table[i].name);
        if (text != NULL)
            option_parse(&option_table[i], text);
    }
}
