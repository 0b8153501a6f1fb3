/* label.c - one frame and one site as a person reads them (see label.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "label.h"
#include "writers.h"

static const char *base_name_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

void rallo_label_line(rallo_buf *out, const rallo_prof_line *line, bool base_name) {
    rallo_buf_puts(out, line->function != NULL ? line->function : "??");
    if (line->file != NULL && line->line != 0)
        rallo_buf_printf(out, " (%s:%" PRIu32 ")", base_name ? base_name_of(line->file) : line->file,
                         line->line);
    else if (line->file != NULL)
        rallo_buf_printf(out, " (%s)", base_name ? base_name_of(line->file) : line->file);
}

void rallo_label_address(rallo_buf *out, const rallo_profile *profile, const rallo_prof_location *location) {
    uint64_t offset;
    const char *module = rallo_location_module(profile, location, &offset);
    if (module != NULL)
        rallo_buf_printf(out, "%s+0x%" PRIx64, module, offset);
    else
        rallo_buf_printf(out, "0x%" PRIx64, offset);
}

const char *rallo_site_label(const rallo_profile *profile, const rallo_prof_site *site, unsigned frames,
                             char *text, size_t size) {
    if (site->nlocations == 0) {
        snprintf(text, size, "[no stack]");
        return text;
    }
    rallo_buf label;
    rallo_buf_init(&label);
    unsigned shown = 0;
    for (uint32_t i = 0; i < site->nlocations && shown < frames; i++) {
        const rallo_prof_location *location = &profile->locations[site->locations[i]];
        if (location->nlines == 0) {
            rallo_buf_puts(&label, shown++ ? " < " : "");
            rallo_label_address(&label, profile, location);
            continue;
        }
        /* lines[0] is the innermost inlined function, lines[nlines-1] the one the code lies in. */
        for (uint32_t j = 0; j < location->nlines && shown < frames; j++) {
            rallo_buf_puts(&label, shown++ ? " < " : "");
            rallo_label_line(&label, &location->lines[j], true);
        }
    }
    if (label.failed || label.len == 0) {
        snprintf(text, size, "%s", label.failed ? "[out of memory]" : "[no stack]");
    } else {
        size_t len = label.len < size ? label.len : size - 1;
        memcpy(text, label.data, len);
        text[len] = '\0';
    }
    rallo_buf_free(&label);
    return text;
}
