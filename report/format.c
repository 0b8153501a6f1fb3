/* format.c - the five report formats by name and by file extension, the
 * one dispatch every report path (dumps, HTTP, the CLI) writes through, and
 * what every output shows alike: the human form of byte counts, the module and
 * offset of a frame without a symbol. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "writers.h"

typedef struct format_info {
    const char *name;
    const char *extension; /* what dumps are named with */
} format_info;

static const format_info formats[RALLO_FORMAT_COUNT] = {
    [RALLO_FORMAT_HTML] = {"html", "html"},       [RALLO_FORMAT_PPROF] = {"pprof", "pb.gz"},
    [RALLO_FORMAT_FOLDED] = {"folded", "folded"}, [RALLO_FORMAT_TEXT] = {"text", "txt"},
    [RALLO_FORMAT_JSON] = {"json", "json"},
};

/* Extensions a path may end in besides the dump extensions above. */
static const struct {
    const char *suffix;
    rallo_format format;
} extra_suffixes[] = {
    {".htm", RALLO_FORMAT_HTML},
    {".pprof", RALLO_FORMAT_PPROF},
    {".pb", RALLO_FORMAT_PPROF},
    {".text", RALLO_FORMAT_TEXT},
};

bool rallo_format_from_name(const char *name, rallo_format *out) {
    if (name == NULL)
        return false;
    for (int i = 0; i < RALLO_FORMAT_COUNT; i++) {
        if (strcmp(name, formats[i].name) == 0) {
            *out = (rallo_format)i;
            return true;
        }
    }
    return false;
}

static bool ends_with(const char *text, size_t len, const char *suffix) {
    size_t suffix_len = strlen(suffix);
    return len > suffix_len && strcmp(text + len - suffix_len, suffix) == 0;
}

bool rallo_format_from_path(const char *path, rallo_format *out) {
    if (path == NULL)
        return false;
    /* Only the file name's own suffix counts, not a dot in a directory name. */
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    size_t len = strlen(base);
    for (int i = 0; i < RALLO_FORMAT_COUNT; i++) {
        char suffix[16] = ".";
        strncat(suffix, formats[i].extension, sizeof suffix - 2);
        if (ends_with(base, len, suffix)) {
            *out = (rallo_format)i;
            return true;
        }
    }
    for (size_t i = 0; i < sizeof extra_suffixes / sizeof extra_suffixes[0]; i++) {
        if (ends_with(base, len, extra_suffixes[i].suffix)) {
            *out = extra_suffixes[i].format;
            return true;
        }
    }
    return false;
}

const char *rallo_format_name(rallo_format format) {
    return (unsigned)format < RALLO_FORMAT_COUNT ? formats[format].name : "unknown";
}

const char *rallo_format_extension(rallo_format format) {
    return (unsigned)format < RALLO_FORMAT_COUNT ? formats[format].extension : "out";
}

const char *rallo_format_bytes(uint64_t bytes, char *text, size_t size) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = (double)bytes;
    unsigned unit = 0;
    while (value >= 1024.0 && unit < 4) {
        value /= 1024.0;
        unit++;
    }
    if (unit == 0)
        snprintf(text, size, "%" PRIu64 " B", bytes);
    else
        snprintf(text, size, "%.1f %s", value, units[unit]);
    return text;
}

const char *rallo_location_module(const rallo_profile *profile, const rallo_prof_location *location,
                                  uint64_t *offset) {
    if (location->mapping == RALLO_NO_MAPPING || location->mapping >= profile->nmappings) {
        *offset = location->address;
        return NULL;
    }
    const rallo_prof_mapping *mapping = &profile->mappings[location->mapping];
    *offset = location->address - mapping->start + mapping->file_offset;
    const char *path = mapping->path != NULL ? mapping->path : "?";
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

int rallo_write_profile(const rallo_profile *profile, rallo_format format, rallo_buf *out) {
    switch (format) {
    case RALLO_FORMAT_HTML: return rallo_write_html(profile, out);
    case RALLO_FORMAT_PPROF: return rallo_write_pprof(profile, out);
    case RALLO_FORMAT_FOLDED: return rallo_write_folded(profile, out);
    case RALLO_FORMAT_TEXT: return rallo_write_text(profile, out);
    case RALLO_FORMAT_JSON: return rallo_write_json(profile, out);
    default: errno = EINVAL; return -1;
    }
}
