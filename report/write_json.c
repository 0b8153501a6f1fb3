/* write_json.c - the JSON report, for scripts: the schema of DESIGN.md
 * ({"pid", "sample_interval", "totals": {...}, "sites": [{"alloc_count",
 * "alloc_bytes", "live_count", "live_bytes", "frames": [{"addr", "function",
 * "file", "line"}]}]}), plus fields it allows to be added: "program",
 * "time_unix_ns", "ppid", "argv" (the command line when the dump was taken),
 * "samples": {"live", "allocated"} (what the figures rest on: exact counts when
 * every allocation is tracked, at most these when sampled), totals'
 * "untracked_count", an "untracked" object of reasons,
 * per site "free_count", "free_bytes", "peak_live_bytes", and "mappings".
 * With sizes and lifetimes known (in-process snapshots), per site
 * "lifetime_log2_ns", "live_age_log2_ns", "size_log2" (counts; index k counts
 * values x with floor(log2(x)) = k, 0 in bucket 0; trailing zeros left out),
 * "temporary": {"count", "bytes"} and "threads": [{"tid", "name",
 * "alloc_count", "alloc_bytes", "live_count", "live_bytes"}]; at the top,
 * "threads" (each thread's totals, and "exited"), "temporary" and "size_log2".
 * With who frees recorded (RALLO_FREE_SITES), per site "free_sites": [{"frames",
 * "count", "bytes", "cross_thread"}] (most bytes first), and at the top
 * "free_sites_other": {"count", "bytes"}, the frees whose pair found no room.
 * Frames are leaf first, an inlined call expanded into one frame per function
 * (innermost first, all with the same "addr"). "addr" is a hex string; a frame
 * with no symbol has "function": "module+0xOFFSET" and "file": null, "line": 0. */
#include <inttypes.h>

#include "writers.h"

static void json_unsymbolized_name(rallo_buf *out, const rallo_profile *profile,
                                   const rallo_prof_location *location) {
    uint64_t offset;
    const char *module = rallo_location_module(profile, location, &offset);
    rallo_buf_putc(out, '"');
    if (module != NULL) {
        rallo_buf_json_string(out, module);
        rallo_buf_putc(out, '+');
    }
    rallo_buf_printf(out, "0x%" PRIx64 "\"", offset);
}

static void json_frames(rallo_buf *out, const rallo_profile *profile, uint32_t nlocations,
                        const uint32_t *locations) {
    rallo_buf_puts(out, "\"frames\":[");
    bool first = true;
    for (uint32_t i = 0; i < nlocations; i++) {
        const rallo_prof_location *location = &profile->locations[locations[i]];
        uint32_t nlines = location->nlines > 0 ? location->nlines : 1;
        for (uint32_t j = 0; j < nlines; j++) {
            rallo_buf_printf(out, "%s{\"addr\":\"0x%" PRIx64 "\",\"function\":", first ? "" : ",",
                             location->address);
            first = false;
            const rallo_prof_line *line = location->nlines > 0 ? &location->lines[j] : NULL;
            if (line != NULL && line->function != NULL)
                rallo_buf_json_string_or_null(out, line->function);
            else
                json_unsymbolized_name(out, profile, location);
            rallo_buf_puts(out, ",\"file\":");
            rallo_buf_json_string_or_null(out, line != NULL ? line->file : NULL);
            rallo_buf_printf(out, ",\"line\":%" PRIu32 "}", line != NULL ? line->line : 0);
        }
    }
    rallo_buf_putc(out, ']');
}

void rallo_json_totals(rallo_buf *out, const rallo_totals *t) {
    rallo_buf_printf(out,
                     "{\"alloc_count\":%" PRIu64 ",\"alloc_bytes\":%" PRIu64 ",\"free_count\":%" PRIu64
                     ",\"free_bytes\":%" PRIu64 ",\"live_count\":%" PRIu64 ",\"live_bytes\":%" PRIu64
                     ",\"peak_live_bytes\":%" PRIu64 ",\"untracked_count\":%" PRIu64 "}",
                     t->alloc_count, t->alloc_bytes, t->free_count, t->free_bytes, t->live_count,
                     t->live_bytes, t->peak_live_bytes, t->untracked_count);
}

void rallo_json_untracked(rallo_buf *out, const rallo_untracked *u) {
    rallo_buf_printf(out,
                     "{\"arena_full\":%" PRIu64 ",\"no_arena\":%" PRIu64 ",\"alignment\":%" PRIu64
                     ",\"too_large\":%" PRIu64 ",\"thread_exiting\":%" PRIu64 ",\"bad_header\":%" PRIu64 "}",
                     u->arena_full, u->no_arena, u->alignment, u->too_large, u->thread_exiting,
                     u->bad_header);
}

static void json_histogram(rallo_buf *out, const char *name, const uint64_t *counts, size_t n) {
    while (n > 0 && counts[n - 1] == 0)
        n--;
    rallo_buf_printf(out, ",\"%s\":[", name);
    for (size_t k = 0; k < n; k++)
        rallo_buf_printf(out, "%s%" PRIu64, k ? "," : "", counts[k]);
    rallo_buf_putc(out, ']');
}

static void json_thread(rallo_buf *out, bool first, const rallo_prof_thread *thread, uint64_t alloc_count,
                        uint64_t alloc_bytes, uint64_t live_count, uint64_t live_bytes) {
    rallo_buf_printf(out, "%s{\"tid\":%" PRId32 ",\"name\":", first ? "" : ",", thread->tid);
    rallo_buf_json_string_or_null(out, thread->name);
    rallo_buf_printf(out,
                     ",\"alloc_count\":%" PRIu64 ",\"alloc_bytes\":%" PRIu64 ",\"live_count\":%" PRIu64
                     ",\"live_bytes\":%" PRIu64,
                     alloc_count, alloc_bytes, live_count, live_bytes);
}

static void json_site_lifetimes(rallo_buf *out, const rallo_profile *profile,
                                const rallo_prof_lifetimes *lt) {
    json_histogram(out, "lifetime_log2_ns", lt->lifetime_log2_ns, RALLO_PROF_TIME_BUCKETS);
    json_histogram(out, "live_age_log2_ns", lt->live_age_log2_ns, RALLO_PROF_TIME_BUCKETS);
    rallo_buf_printf(out, ",\"temporary\":{\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", lt->temp_count,
                     lt->temp_bytes);
    json_histogram(out, "size_log2", lt->size_log2, RALLO_PROF_SIZE_BUCKETS);
    rallo_buf_puts(out, ",\"threads\":[");
    for (uint32_t i = 0; i < lt->nthreads; i++) {
        const rallo_prof_site_thread *t = &lt->threads[i];
        if (t->thread >= profile->nthreads)
            continue;
        json_thread(out, i == 0, &profile->threads[t->thread], t->alloc_count, t->alloc_bytes, t->live_count,
                    t->live_bytes);
        rallo_buf_putc(out, '}');
    }
    rallo_buf_putc(out, ']');
}

static void json_process_lifetimes(rallo_buf *out, const rallo_profile *profile) {
    rallo_buf_puts(out, ",\n\"threads\":[");
    bool first = true;
    for (size_t i = 0; i < profile->nthreads; i++) {
        const rallo_prof_thread *t = &profile->threads[i];
        if (t->alloc_count == 0)
            continue;
        json_thread(out, first, t, t->alloc_count, t->alloc_bytes, t->live_count, t->live_bytes);
        rallo_buf_printf(out, ",\"exited\":%s}", t->exited ? "true" : "false");
        first = false;
    }
    rallo_buf_printf(out, "],\n\"temporary\":{\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
                     profile->temp_count, profile->temp_bytes);
    json_histogram(out, "size_log2", profile->size_log2, RALLO_PROF_SIZE_BUCKETS);
}

/* Who frees the site's blocks, most bytes first. */
static void json_free_sites(rallo_buf *out, const rallo_profile *profile, const rallo_prof_site *site) {
    rallo_buf_puts(out, ",\"free_sites\":[");
    for (uint32_t i = 0; i < site->nfree_sites; i++) {
        const rallo_prof_free_site *f = &site->free_sites[i];
        rallo_buf_puts(out, i ? ",{" : "{");
        json_frames(out, profile, f->nlocations, f->locations);
        rallo_buf_printf(out, ",\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"cross_thread\":%" PRIu64 "}",
                         f->count, f->bytes, f->cross_thread);
    }
    rallo_buf_putc(out, ']');
}

static void json_mappings(rallo_buf *out, const rallo_profile *profile) {
    rallo_buf_puts(out, "\"mappings\":[");
    for (size_t i = 0; i < profile->nmappings; i++) {
        const rallo_prof_mapping *m = &profile->mappings[i];
        rallo_buf_printf(out,
                         "%s{\"start\":\"0x%" PRIx64 "\",\"limit\":\"0x%" PRIx64 "\",\"offset\":\"0x%" PRIx64
                         "\",\"path\":",
                         i ? "," : "", m->start, m->limit, m->file_offset);
        rallo_buf_json_string_or_null(out, m->path);
        rallo_buf_puts(out, ",\"build_id\":");
        rallo_buf_json_string_or_null(out, m->build_id);
        rallo_buf_putc(out, '}');
    }
    rallo_buf_putc(out, ']');
}

int rallo_write_json(const rallo_profile *profile, rallo_buf *out) {
    rallo_buf_printf(
        out, "{\"pid\":%" PRId32 ",\"sample_interval\":%" PRIu64 ",\"time_unix_ns\":%" PRIu64 ",\"program\":",
        profile->pid, profile->sample_interval, profile->time_unix_ns);
    rallo_buf_json_string_or_null(out, profile->program);
    rallo_buf_printf(out, ",\"ppid\":%" PRId32 ",\"argv\":[", profile->ppid);
    for (size_t i = 0; i < profile->nargv; i++) {
        rallo_buf_puts(out, i ? "," : "");
        rallo_buf_json_string_or_null(out, profile->argv[i]);
    }
    uint64_t live_samples, sampled;
    rallo_profile_samples(profile, &live_samples, &sampled);
    rallo_buf_printf(out, "],\"samples\":{\"live\":%" PRIu64 ",\"allocated\":%" PRIu64 "}", live_samples,
                     sampled);
    rallo_buf_puts(out, ",\n");
    rallo_buf_puts(out, "\"totals\":");
    rallo_json_totals(out, &profile->totals);
    rallo_buf_puts(out, ",\n\"untracked\":");
    rallo_json_untracked(out, &profile->untracked);
    if (profile->has_lifetimes)
        json_process_lifetimes(out, profile);
    if (profile->has_free_sites)
        rallo_buf_printf(out, ",\n\"free_sites_other\":{\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
                         profile->free_sites_other_count, profile->free_sites_other_bytes);
    rallo_buf_puts(out, ",\n\"sites\":[");
    for (size_t i = 0; i < profile->nsites; i++) {
        const rallo_prof_site *s = &profile->sites[i];
        rallo_buf_printf(out,
                         "%s\n{\"alloc_count\":%" PRIu64 ",\"alloc_bytes\":%" PRIu64
                         ",\"free_count\":%" PRIu64 ",\"free_bytes\":%" PRIu64 ",\"live_count\":%" PRIu64
                         ",\"live_bytes\":%" PRIu64 ",\"peak_live_bytes\":%" PRIu64,
                         i ? "," : "", s->alloc_count, s->alloc_bytes, s->free_count, s->free_bytes,
                         s->live_count, s->live_bytes, s->peak_live_bytes);
        if (profile->has_lifetimes && s->lt != NULL)
            json_site_lifetimes(out, profile, s->lt);
        if (profile->has_free_sites)
            json_free_sites(out, profile, s);
        rallo_buf_putc(out, ',');
        json_frames(out, profile, s->nlocations, s->locations);
        rallo_buf_putc(out, '}');
    }
    rallo_buf_puts(out, "],\n");
    json_mappings(out, profile);
    rallo_buf_puts(out, "}\n");
    return out->failed ? -1 : 0;
}
