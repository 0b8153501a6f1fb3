/* diff_html.c - `rallo diff -f html`: one self-contained page with a flame
 * graph of both profiles' stacks where each frame is coloured by how its live
 * bytes changed from BASE to NEW (red: grew, blue: shrank, grey: unchanged)
 * and, by default, is as wide as the size of that change (|growth| summed
 * over its sites, so a leak and a release are both visible); a switch shows
 * NEW's live bytes as widths instead. The tooltip gives before and after.
 * Data (#rallo-diff): {"version":1,"base","new","base_totals","new_totals",
 *   "tree": html_tree.c's JSON with NEW's values per site,
 *   "before":{"live_bytes":[],"live_count":[],"alloc_bytes":[],"alloc_count":[]}}
 * (BASE's values, one per site of the tree). Drawn by report/html/diff.js. */
#include <inttypes.h>

#include "cli.h"
#include "diff.h"
#include "html.h"
#include "html_assets.h"

static void put_totals(rallo_buf *out, const rallo_totals *t) {
    rallo_buf_printf(out,
                     "{\"alloc_count\":%" PRIu64 ",\"alloc_bytes\":%" PRIu64 ",\"live_count\":%" PRIu64
                     ",\"live_bytes\":%" PRIu64 ",\"peak_live_bytes\":%" PRIu64 "}",
                     t->alloc_count, t->alloc_bytes, t->live_count, t->live_bytes, t->peak_live_bytes);
}

static void put_before(rallo_buf *out, const char *key, const rallo_diff_site *sites, size_t count,
                       size_t field) {
    rallo_buf_printf(out, "%s\"%s\":[", field ? "," : "", key);
    for (size_t i = 0; i < count; i++) {
        const rallo_diff_side *before = &sites[i].before;
        const uint64_t values[4] = {before->live_bytes, before->live_count, before->alloc_bytes,
                                    before->alloc_count};
        rallo_buf_printf(out, "%s%" PRIu64, i ? "," : "", values[field]);
    }
    rallo_buf_putc(out, ']');
}

int rallo_diff_html(const rallo_diff *diff, rallo_buf *out) {
    rallo_buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n"
                        "<title>rallo diff: ");
    rallo_buf_html_text(out, diff->new_path);
    rallo_buf_puts(out, "</title>\n");
    rallo_html_assets(out);
    rallo_buf_puts(out, "</head>\n<body>\n<noscript>This diff draws its flame graph with JavaScript; "
                        "`rallo diff` without -f html prints it as text.</noscript>\n"
                        "<div id=\"rallo-app\"></div>\n<script type=\"application/json\" id=\"rallo-diff\">"
                        "{\"version\":1,\"base\":\"");
    rallo_html_json_string(out, diff->base_path);
    rallo_buf_puts(out, "\",\"new\":\"");
    rallo_html_json_string(out, diff->new_path);
    rallo_buf_puts(out, "\",\"base_totals\":");
    put_totals(out, &diff->base->totals);
    rallo_buf_puts(out, ",\"new_totals\":");
    put_totals(out, &diff->fresh->totals);
    rallo_buf_puts(out, ",\"tree\":");
    rallo_html_tree_json(&diff->u.profile, out);
    rallo_buf_puts(out, ",\"before\":{");
    static const char *const keys[] = {"live_bytes", "live_count", "alloc_bytes", "alloc_count"};
    for (size_t field = 0; field < 4; field++)
        put_before(out, keys[field], diff->sites, diff->count, field);
    rallo_buf_puts(out, "}}</script>\n<script>\n");
    rallo_buf_puts(out, rallo_html_diff_js);
    rallo_buf_puts(out, "</script>\n</body>\n</html>\n");
    return out->failed ? -1 : 0;
}
