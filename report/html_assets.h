/* html_assets.h - the HTML pages' style and script, kept readable in
 * report/html/ and compiled into C strings (html_assets.c, generated in the
 * build tree by report/html/embed.cmake): declared here once for every page
 * that embeds them (write_html.c, cli/timeline.c, cli/diff_html.c). */
#ifndef RALLO_HTML_ASSETS_H
#define RALLO_HTML_ASSETS_H

/* The single-profile page and the flame graph every page reuses. */
extern const char rallo_html_flamegraph_css[];
extern const char rallo_html_page_css[];
extern const char rallo_html_flamegraph_js[];
extern const char rallo_html_page_js[];
/* The timeline of `rallo report DIR`. */
extern const char rallo_html_timeline_css[];
extern const char rallo_html_timeline_js[];
/* The diff view of `rallo diff -f html`. */
extern const char rallo_html_diff_js[];

#endif
