/* label.h - the names a person reads for code: one frame as
 * "function (file:line)", and a site on one line, its frames innermost first
 * with inlined ones included ("leaf (a.c:11) < inlined_into (a.c:28) < ...").
 * The text report, the run summary, `rallo diff` and the timeline legend all
 * name frames and sites with these, so a site reads the same everywhere. */
#ifndef RALLO_LABEL_H
#define RALLO_LABEL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "profile.h"

/* Frames a one-line site label shows unless told otherwise: the leaf and two callers. */
#define RALLO_LABEL_FRAMES 3

/* Appends one source line: "function (file:line)", "??" for an unknown
 * function; the file as its base name when base_name, else as recorded. */
void rallo_label_line(rallo_buf *out, const rallo_prof_line *line, bool base_name);

/* Appends a location with no lines as "module+0xOFFSET" (or "0xADDRESS"). */
void rallo_label_address(rallo_buf *out, const rallo_profile *profile, const rallo_prof_location *location);

/* Writes into text (size > 0) the site's first `frames` frames, innermost
 * first, joined by " < ": every inlined function of a location is a frame of
 * its own, files are base names. Returns text, cut short if it does not fit. */
const char *rallo_site_label(const rallo_profile *profile, const rallo_prof_site *site, unsigned frames,
                             char *text, size_t size);

#endif
