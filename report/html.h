/* html.h - the pieces of the HTML report that other pages reuse (the timeline
 * of `rallo report DIR`, the diff view): the flame graph's style and script,
 * and a profile's call tree as JSON.
 *
 * A page is: rallo_html_assets() in <head>, the tree inside
 *   <script type="application/json" id="...">  rallo_html_tree_json()  </script>
 * and a script that calls RalloFlame.buildTree(JSON.parse(...)) and
 * RalloFlame.render(container, tree, options); see report/html/flamegraph.js
 * for the JS side and report/html/page.js for the single-profile page. */
#ifndef RALLO_HTML_H
#define RALLO_HTML_H

#include "buf.h"
#include "profile.h"

/* Appends <style> and <script> elements defining window.RalloFlame (the
 * reusable renderer and number formatting) and its CSS. Needs no network. */
void rallo_html_assets(rallo_buf *out);

/* Appends the page script that builds the single-profile report (header,
 * metric switch, search, flame graph, site tables) from the JSON element
 * with id "rallo-data". Uses RalloFlame, so comes after rallo_html_assets(). */
void rallo_html_page_script(rallo_buf *out);

/* Appends the profile's call tree as one JSON object (root first, frames merged
 * by function, inlined lines expanded, unsymbolized frames as
 * module+0xoffset). Every '<', '>' and '&' in it is written as a \u escape, so
 * it can sit inside a <script> element as is. On out of memory sets
 * out->failed. The layout is documented at the top of html_tree.c. */
void rallo_html_tree_json(const rallo_profile *profile, rallo_buf *out);

/* Appends text as the inside of a JSON string that is safe inside <script>:
 * like rallo_buf_json_string, plus '<' '>' '&' and U+2028/2029 escaped. */
void rallo_html_json_string(rallo_buf *out, const char *text);

#endif
