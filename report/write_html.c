/* write_html.c - the html format: one self-contained page (no network when
 * opened) with the profile's call tree as JSON and the flame graph script that
 * draws it. The data is never written as HTML: names only reach the page as
 * JSON strings (with '<' escaped) and the script puts them in with
 * textContent, so C++ templates, '&' and quotes need nothing more. */
#include "html.h"
#include "html_assets.h"
#include "writers.h"

void rallo_html_assets(rallo_buf *out) {
    rallo_buf_puts(out, "<style>\n");
    rallo_buf_puts(out, rallo_html_flamegraph_css);
    rallo_buf_puts(out, rallo_html_page_css);
    rallo_buf_puts(out, "</style>\n<script>\n");
    rallo_buf_puts(out, rallo_html_flamegraph_js);
    rallo_buf_puts(out, "</script>\n");
}

void rallo_html_page_script(rallo_buf *out) {
    rallo_buf_puts(out, "<script>\n");
    rallo_buf_puts(out, rallo_html_page_js);
    rallo_buf_puts(out, "</script>\n");
}

static const char *program_name(const char *path) {
    if (path == NULL || *path == '\0')
        return "process";
    const char *name = path;
    for (const char *c = path; *c; c++)
        if (*c == '/' && c[1] != '\0')
            name = c + 1;
    return name;
}

int rallo_write_html(const rallo_profile *profile, rallo_buf *out) {
    rallo_buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        /* Nothing may be fetched: no network, and no way for a name to load anything. */
                        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n"
                        "<title>rallo: ");
    /* The command line names which of a program's processes this is. */
    char command[160];
    rallo_buf_html_text(out, profile->nargv > 0 ? rallo_command_line(profile, command, sizeof command)
                                                : program_name(profile->program));
    rallo_buf_printf(out, " (pid %d)</title>\n", (int)profile->pid);
    rallo_html_assets(out);
    rallo_buf_puts(out, "</head>\n<body>\n<noscript>This report draws its flame graph with JavaScript; "
                        "the same data is in the json, text and pprof formats.</noscript>\n"
                        "<div id=\"rallo-app\"></div>\n"
                        "<script type=\"application/json\" id=\"rallo-data\">");
    rallo_html_tree_json(profile, out);
    rallo_buf_puts(out, "</script>\n");
    rallo_html_page_script(out);
    rallo_buf_puts(out, "</body>\n</html>\n");
    return out->failed ? -1 : 0;
}
