/* diff_write.c - the writers of a diff: text sorted by growth, folded growth,
 * JSON ({"base","new","sites":[{"live_bytes_growth","live_count_growth",
 * "alloc_bytes_growth","alloc_count_growth","stack" (folded, root first),
 * "frames":[{"function","file","line"}] (leaf first)}]}); html is
 * diff_html.c's. */
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"
#include "diff.h"
#include "label.h"

static void signed_bytes(rallo_buf *out, int64_t delta) {
    char text[32];
    rallo_buf_printf(out, "%c%s", delta < 0 ? '-' : '+',
                     rallo_format_bytes((uint64_t)(delta < 0 ? -delta : delta), text, sizeof text));
}

static void write_text(const rallo_diff *diff, rallo_buf *out) {
    rallo_buf_printf(out, "rallo diff v1\nbase: %s\nnew:  %s\n\n", diff->base_path, diff->new_path);
    const rallo_totals *before = &diff->base->totals, *after = &diff->fresh->totals;
    rallo_buf_puts(out, "live bytes    ");
    signed_bytes(out, (int64_t)after->live_bytes - (int64_t)before->live_bytes);
    rallo_buf_printf(out, "  (%" PRIu64 " -> %" PRIu64 ")\nlive blocks   %+" PRId64 "\nallocated     ",
                     before->live_bytes, after->live_bytes,
                     (int64_t)after->live_count - (int64_t)before->live_count);
    signed_bytes(out, (int64_t)after->alloc_bytes - (int64_t)before->alloc_bytes);
    rallo_buf_printf(out, "  in %+" PRId64 " allocations\n",
                     (int64_t)after->alloc_count - (int64_t)before->alloc_count);
    for (int pass = 0; pass < 2; pass++) {
        rallo_buf_puts(out, pass == 0 ? "\nwhat grew (live bytes):\n" : "\nwhat shrank (live bytes):\n");
        size_t shown = 0;
        for (size_t n = 0; n < diff->count && shown < 25; n++) {
            size_t i = pass == 0 ? n : diff->count - 1 - n;
            const rallo_diff_site *site = &diff->sites[i];
            int64_t growth = rallo_diff_live_growth(site);
            if (pass == 0 ? growth <= 0 : growth >= 0)
                continue;
            char name[768];
            rallo_buf_printf(out, "  %+14" PRId64 " B  %+9" PRId64 " blocks  %s\n", growth,
                             (int64_t)site->after.live_count - (int64_t)site->before.live_count,
                             cli_site_name(&diff->u.profile, &diff->u.profile.sites[i], name, sizeof name));
            shown++;
        }
        if (shown == 0)
            rallo_buf_puts(out, "  (nothing)\n");
    }
}

static void write_folded(const rallo_diff *diff, rallo_buf *out) {
    /* Folded values cannot be negative: the growth of live bytes only. Two
     * sites in one function (two lines) are two lines with the same frames. */
    for (size_t i = 0; i < diff->count; i++) {
        int64_t growth = rallo_diff_live_growth(&diff->sites[i]);
        if (growth <= 0)
            continue;
        rallo_folded_stack(&diff->u.profile, &diff->u.profile.sites[i], out);
        rallo_buf_printf(out, " %" PRId64 "\n", growth);
    }
}

/* The site's frames as the JSON report has them, leaf first, inlined ones
 * expanded, without addresses (they differ between BASE and NEW). */
static void json_frames(rallo_buf *out, const rallo_profile *profile, const rallo_prof_site *site) {
    rallo_buf_puts(out, "\"frames\":[");
    size_t written = 0;
    for (uint32_t i = 0; i < site->nlocations; i++) {
        const rallo_prof_location *location = &profile->locations[site->locations[i]];
        uint32_t nlines = location->nlines > 0 ? location->nlines : 1;
        for (uint32_t j = 0; j < nlines; j++) {
            const rallo_prof_line *line = location->nlines > 0 ? &location->lines[j] : NULL;
            rallo_buf_puts(out, written++ == 0 ? "{\"function\":\"" : ",{\"function\":\"");
            if (line != NULL && line->function != NULL) {
                rallo_buf_json_string(out, line->function);
            } else {
                rallo_buf label;
                rallo_buf_init(&label);
                rallo_label_address(&label, profile, location);
                rallo_buf_putc(&label, '\0');
                rallo_buf_json_string(out, label.failed ? "?" : label.data);
                rallo_buf_free(&label);
            }
            rallo_buf_puts(out, "\",\"file\":");
            rallo_buf_json_string_or_null(out, line != NULL ? line->file : NULL);
            rallo_buf_printf(out, ",\"line\":%" PRIu32 "}", line != NULL ? line->line : 0);
        }
    }
    rallo_buf_putc(out, ']');
}

static void write_json(const rallo_diff *diff, rallo_buf *out) {
    rallo_buf_puts(out, "{\"base\":\"");
    rallo_buf_json_string(out, diff->base_path);
    rallo_buf_puts(out, "\",\"new\":\"");
    rallo_buf_json_string(out, diff->new_path);
    rallo_buf_puts(out, "\",\"sites\":[");
    for (size_t i = 0; i < diff->count; i++) {
        const rallo_diff_site *site = &diff->sites[i];
        rallo_buf_printf(out,
                         "%s{\"live_bytes_growth\":%" PRId64 ",\"live_count_growth\":%" PRId64
                         ",\"alloc_bytes_growth\":%" PRId64 ",\"alloc_count_growth\":%" PRId64
                         ",\"stack\":\"",
                         i ? "," : "", rallo_diff_live_growth(site),
                         (int64_t)site->after.live_count - (int64_t)site->before.live_count,
                         (int64_t)site->after.alloc_bytes - (int64_t)site->before.alloc_bytes,
                         (int64_t)site->after.alloc_count - (int64_t)site->before.alloc_count);
        rallo_buf folded;
        rallo_buf_init(&folded);
        rallo_folded_stack(&diff->u.profile, &diff->u.profile.sites[i], &folded);
        rallo_buf_putc(&folded, '\0');
        rallo_buf_json_string(out, folded.failed ? "" : folded.data);
        out->failed |= folded.failed;
        rallo_buf_free(&folded);
        rallo_buf_puts(out, "\",");
        json_frames(out, &diff->u.profile, &diff->u.profile.sites[i]);
        rallo_buf_putc(out, '}');
    }
    rallo_buf_puts(out, "]}\n");
}

int rallo_diff_write(const rallo_diff *diff, rallo_format format, rallo_buf *out) {
    switch (format) {
    case RALLO_FORMAT_FOLDED: write_folded(diff, out); break;
    case RALLO_FORMAT_JSON: write_json(diff, out); break;
    case RALLO_FORMAT_HTML: return rallo_diff_html(diff, out);
    default: write_text(diff, out); break;
    }
    return out->failed ? -1 : 0;
}
