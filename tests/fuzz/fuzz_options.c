/* fuzz_options.c - libFuzzer target for rallo's environment parser:
 * tracking/options.c compiled in directly. The input is "NAME\0VALUE" for one
 * variable of the option table (NAME taken modulo the table), or a bare value
 * for _rallo_parse_size. Checks: the parser never reads past the value, a
 * parsed size agrees with an independent decimal reading, and a loaded option
 * is either left at its default or set inside its bounds. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tracking.h"

static const char *const names[] = {"RALLO_ENABLE",    "RALLO_SAMPLE",     "RALLO_DEPTH", "RALLO_ARENA_SIZE",
                                    "RALLO_MAX_SITES", "RALLO_DEPOT_SIZE", "RALLO_UNWIND"};
enum { NAMES = sizeof names / sizeof names[0] };

/* An independent reading: decimal digits, an optional k/m/g/t (+b), nothing else. */
static bool reference_size(const char *text, uint64_t *out) {
    if (*text < '0' || *text > '9')
        return false;
    unsigned __int128 value = 0;
    while (*text >= '0' && *text <= '9') {
        value = value * 10 + (unsigned)(*text++ - '0');
        if (value > UINT64_MAX)
            return false;
    }
    unsigned shift = 0;
    switch (*text) {
    case 'k':
    case 'K': shift = 10; break;
    case 'm':
    case 'M': shift = 20; break;
    case 'g':
    case 'G': shift = 30; break;
    case 't':
    case 'T': shift = 40; break;
    default: break;
    }
    if (shift != 0) {
        text++;
        if (*text == 'b' || *text == 'B')
            text++;
    }
    if (*text != '\0')
        return false;
    value <<= shift;
    if (value > UINT64_MAX)
        return false;
    *out = (uint64_t)value;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || size > 4096)
        return 0;
    char *text = malloc(size + 1); /* exactly sized: ASan catches any overread */
    memcpy(text, data, size);
    text[size] = '\0';

    uint64_t got = 12345, want = 0;
    bool parsed = _rallo_parse_size(text, &got);
    bool reference = reference_size(text, &want);
    if (parsed != reference || (parsed && got != want) || (!parsed && got != 12345))
        abort();

    /* "NAME-index \0 VALUE": set one variable, load the table. */
    size_t name_len = strnlen(text, size);
    if (name_len < size) {
        const char *value = text + name_len + 1;
        const char *name = names[(unsigned char)text[0] % NAMES];
        rallo_options defaults = {false, 0, 64, 1ull << 40, 1u << 20, 256ull << 20, RALLO_UNWIND_FP};
        _rallo_options = defaults;
        setenv(name, value, 1);
        _rallo_options_load();
        unsetenv(name);
        rallo_options o = _rallo_options;
        if (o.depth < 1 || o.depth > RALLO_MAX_DEPTH || o.arena_bytes < (64ull << 20) ||
            o.arena_bytes > (1ull << 46) || o.max_sites < 16 || o.max_sites > (1u << 24) ||
            o.depot_bytes < (1ull << 20) || o.depot_bytes > (16ull << 30) || o.sample_bytes > (1ull << 40) ||
            o.unwind > RALLO_UNWIND_AUTO)
            abort();
    }
    free(text);
    return 0;
}
