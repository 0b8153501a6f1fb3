/* writers.h - formats: names, file extensions, and the five writers; the
 * profile's own memory; building a profile in-process; symbolizing; reading
 * pprof back. Every report path goes through these. */
#ifndef RALLO_WRITERS_H
#define RALLO_WRITERS_H

#include "buf.h"
#include "profile.h"

typedef enum rallo_format {
    RALLO_FORMAT_HTML,
    RALLO_FORMAT_PPROF,
    RALLO_FORMAT_FOLDED,
    RALLO_FORMAT_TEXT,
    RALLO_FORMAT_JSON,
    RALLO_FORMAT_COUNT
} rallo_format;

/* "html" "pprof" "folded" "text" "json" -> format; false for anything else. */
bool rallo_format_from_name(const char *name, rallo_format *out);
/* By a path's extension: .html .pb.gz/.pprof .folded .txt .json */
bool rallo_format_from_path(const char *path, rallo_format *out);
const char *rallo_format_name(rallo_format format);
/* The dump file extension: "html" "pb.gz" "folded" "txt" "json". */
const char *rallo_format_extension(rallo_format format);
/* A byte count as a person reads it, "1023 B", "1.5 MiB" (one decimal,
 * binary units up to TiB), in text; returns text. */
const char *rallo_format_bytes(uint64_t bytes, char *text, size_t size);
/* Where a frame without a symbol lies, which every writer shows as
 * "module+0xOFFSET": returns its module's file name (the base name; "?" when
 * the mapping has none) with *offset its offset in that file, or NULL with
 * *offset the bare address when it lies in no known mapping ("0xADDRESS"). */
const char *rallo_location_module(const rallo_profile *profile, const rallo_prof_location *location,
                                  uint64_t *offset);

/* Each returns 0, or -1 when the buffer failed (out of memory). */
int rallo_write_profile(const rallo_profile *profile, rallo_format format, rallo_buf *out);
int rallo_write_html(const rallo_profile *profile, rallo_buf *out);
int rallo_write_pprof(const rallo_profile *profile, rallo_buf *out);
int rallo_write_folded(const rallo_profile *profile, rallo_buf *out); /* default metric: live bytes */
/* Appends a site's stack as folded frames, root first (the key `rallo diff`
 * matches sites by, since addresses move between runs). */
void rallo_folded_stack(const rallo_profile *profile, const rallo_prof_site *site, rallo_buf *out);
/* What a folded line's value counts, or a text ranking ranks by
 * (rallo_write_folded uses RALLO_METRIC_LIVE_BYTES). PEAK_BYTES: a site's live
 * bytes when the process's live bytes peaked. */
enum {
    RALLO_METRIC_LIVE_BYTES,
    RALLO_METRIC_LIVE_COUNT,
    RALLO_METRIC_ALLOC_BYTES,
    RALLO_METRIC_ALLOC_COUNT,
    RALLO_METRIC_PEAK_BYTES
};
/* The CLI's --metric names: "live" (bytes), "allocated" (bytes), "counts"
 * (allocations), "peak" (bytes at the peak); false for anything else. */
bool rallo_metric_from_name(const char *name, int *metric);
uint64_t rallo_metric_value(const rallo_prof_site *site, int metric);
/* A site's value for a ranking by `metric` (rallo_metric_value, or a writer's own). */
typedef uint64_t (*rallo_site_value_fn)(const rallo_prof_site *site, int metric);
/* Writes into top[] the indices of the (at most) `want` sites whose value is
 * largest and not 0, largest first, ties in the profile's order; returns how
 * many (top_sites.c). */
size_t rallo_top_sites(const rallo_profile *profile, rallo_site_value_fn value, int metric, size_t *top,
                       size_t want);
int rallo_write_folded_metric(const rallo_profile *profile, rallo_buf *out, int metric);
int rallo_write_text(const rallo_profile *profile, rallo_buf *out);
/* What the text report shows: `top` sites per ranking (0: 10), `depth` frames
 * a site (0: 5), one ranking by `metric`, or the two by live and allocated
 * bytes when metric is -1. */
typedef struct rallo_text_options {
    size_t top;
    uint32_t depth;
    int metric;
} rallo_text_options;
int rallo_write_text_options(const rallo_profile *profile, rallo_buf *out, const rallo_text_options *options);
int rallo_write_json(const rallo_profile *profile, rallo_buf *out);
/* The totals and the untracked counts as JSON objects, in the one form the
 * JSON report, the flame graph page's meta and the timeline share. */
void rallo_json_totals(rallo_buf *out, const rallo_totals *totals);
void rallo_json_untracked(rallo_buf *out, const rallo_untracked *untracked);

/* ---- a profile's memory (profile.c): one bump arena, freed at once ---- */
void rallo_profile_init(rallo_profile *profile);
void *rallo_profile_alloc(rallo_profile *profile, size_t bytes); /* zeroed; NULL when out of memory */
char *rallo_profile_strdup(rallo_profile *profile, const char *text);
void rallo_profile_free(rallo_profile *profile);

/* ---- who a profile is of, and what it can say (process_info.c) ---- */
/* Keeps a command line given as /proc/PID/cmdline holds it (NUL-separated)
 * in the profile's arena as argv; 0, or -1 when out of memory. */
int rallo_profile_set_argv(rallo_profile *profile, const char *args, size_t len);
/* The command line for one line of text: arguments shell-quoted where needed,
 * control characters as \xNN, "..." where cut; the program's path when the
 * profile has no argv. Returns text. */
const char *rallo_command_line(const rallo_profile *profile, char *text, size_t size);
/* How many samples a profile rests on, its live blocks and its allocations:
 * exact counts when every allocation is tracked; with sampling, at most these
 * (each sample weighs at least one block and at least one interval's bytes). */
void rallo_profile_samples(const rallo_profile *profile, uint64_t *live, uint64_t *allocated);
/* The peak's bytes that the per-site at-peak breakdown does not account for
 * (that breakdown is a copy taken when live memory last grew 1% past the
 * previous copy, so it can trail the peak by up to ~1%); 0 when it adds up. */
uint64_t rallo_profile_peak_unattributed(const rallo_profile *profile);

/* ---- in-process (report/inproc/snapshot.c) ----
 * A profile of this process now: the counters' snapshot, the loaded modules as
 * mappings (with build ids), every frame symbolized. 0, or -1 with errno. */
int rallo_profile_capture(rallo_profile *out);

#endif
