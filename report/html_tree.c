/* html_tree.c - a profile's call tree as the JSON the HTML flame graph reads.
 *
 * Stacks are merged root first into a tree whose nodes are functions (a frame
 * of a caller that calls two things from two lines is one node, as in every
 * flame graph; the node remembers its first file:line and a flag when others
 * were merged in). Inlined lines of a location become frames of their own;
 * frames without symbols are "module+0xoffset" (the mapping's file name and
 * the offset in that file). The tree is built here, not in the browser, so a
 * page with 50,000 sites parses a few flat arrays instead of every stack.
 *
 * Layout (every array of an object has the same length; -1 means none):
 *   {"version":1,
 *    "meta":{"pid","program","time_unix_ms","sample_interval","command","samples":{"live","allocated"},
 *            "totals":{alloc_count,alloc_bytes,free_count,free_bytes,
 *                      live_count,live_bytes,peak_live_bytes,untracked_count},
 *            "untracked":{arena_full,no_arena,alignment,too_large,
 *                         thread_exiting,bad_header}},
 *    "strings":[...],                       names, files and modules
 *    "nodes":{"parent":[],"name":[],"file":[],"line":[],"module":[],"flags":[]},
 *    "sites":{"node":[],"file":[],"line":[],"alloc_count":[],"alloc_bytes":[],
 *             "free_count":[],"free_bytes":[],"live_count":[],"live_bytes":[],
 *             "peak_live_bytes":[], and with lifetimes known "temp_count":[],
 *             "temp_bytes":[] (temporary allocations, README), "size_log2":[[]],
 *             "lifetime_log2_ns":[[]] (log2 histograms, trailing zeros left out)}}
 * Node 0 is the root ("all"); a node's parent always has a smaller index, so
 * one backwards pass sums the sites' values up the tree. A site's node is its
 * leaf frame; its file/line are that frame's exact ones. Node flags: 1 other
 * lines merged in, 2 inlined, 4 not symbolized. */
#include <string.h>

#include <mimalloc.h>

#include "util/array.h"
#include "util/index.h"
#include "util/hash.h"
#include "html.h"
#include "writers.h"

enum { NODE_MIXED_LINES = 1, NODE_INLINED = 2, NODE_UNSYMBOLIZED = 4 };
#define NONE UINT32_MAX

/* ---- interned strings: ids into one pool, found again by hash ---- */
typedef struct str_table {
    rallo_buf pool;    /* the strings, NUL terminated */
    uint32_t *offsets; /* id -> offset in pool */
    uint32_t count;
    size_t cap;
    rallo_index index; /* of the ids, by text */
    uint64_t seed;     /* rallo_hash_seed: the strings come from a profile anyone can write */
} str_table;

/* ---- the tree under construction ---- */
typedef struct tree_node {
    uint32_t parent, name, file, line, module;
    uint8_t flags;
} tree_node;

typedef struct frame_key { /* one frame of a location, root side last */
    uint32_t name, file, line, module;
    uint8_t flags;
} frame_key;

typedef struct tree_builder {
    str_table strings;
    tree_node *nodes;
    uint32_t nnodes;
    size_t cap;
    rallo_index index;               /* of the nodes but the root, by (parent, name) */
    uint32_t *loc_first, *loc_count; /* per location: its frames in `frames` */
    frame_key *frames;
    size_t nframes, frames_cap;
    bool failed;
} tree_builder;

static uint64_t hash_pair(uint64_t seed, uint32_t a, uint32_t b) {
    return rallo_hash_mix(((uint64_t)a << 32 | b) ^ seed);
}

static const char *str_at(const str_table *t, uint32_t id) {
    return t->pool.data + t->offsets[id];
}

static uint64_t str_hash(const void *owner, size_t id) {
    const str_table *t = owner;
    return rallo_hash_string(t->seed, str_at(t, (uint32_t)id));
}

/* The id of text[0..len), added when new; NONE when out of memory. */
static uint32_t str_intern(tree_builder *b, const char *text, size_t len) {
    str_table *t = &b->strings;
    if (!rallo_index_reserve(&t->index, t->count, 0, 4096, str_hash, t)) {
        b->failed = true;
        return NONE;
    }
    size_t i = rallo_index_slot(&t->index, rallo_hash_bytes(t->seed, text, len));
    for (; t->index.slots[i] != 0; i = rallo_index_next(&t->index, i)) {
        const char *s = str_at(t, t->index.slots[i] - 1);
        if (strncmp(s, text, len) == 0 && s[len] == '\0')
            return t->index.slots[i] - 1;
    }
    if (!rallo_array_reserve((void **)&t->offsets, &t->cap, t->count + 1, sizeof *t->offsets, 1024) ||
        t->pool.len > UINT32_MAX) {
        b->failed = true;
        return NONE;
    }
    t->offsets[t->count] = (uint32_t)t->pool.len;
    rallo_buf_put(&t->pool, text, len);
    rallo_buf_putc(&t->pool, '\0');
    if (t->pool.failed) {
        b->failed = true;
        return NONE;
    }
    t->index.slots[i] = t->count + 1;
    return t->count++;
}

static uint32_t str_intern_z(tree_builder *b, const char *text) {
    return text == NULL ? NONE : str_intern(b, text, strlen(text));
}

static const char *path_basename(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* "module+0xoffset" (the offset in the module's file), or "0xaddress". */
static uint32_t unsymbolized_name(tree_builder *b, const rallo_profile *p, const rallo_prof_location *loc) {
    char text[512];
    static const char hex[] = "0123456789abcdef";
    size_t len = 0;
    uint64_t value;
    const char *module = rallo_location_module(p, loc, &value);
    if (module != NULL) {
        len = strlen(module);
        if (len > sizeof text - 32)
            len = sizeof text - 32;
        memcpy(text, module, len);
        text[len++] = '+';
    }
    text[len++] = '0';
    text[len++] = 'x';
    char digits[16];
    int n = 0;
    do {
        digits[n++] = hex[value & 15];
        value >>= 4;
    } while (value != 0);
    while (n > 0)
        text[len++] = digits[--n];
    return str_intern(b, text, len);
}

static uint32_t module_of(tree_builder *b, const rallo_profile *p, const rallo_prof_location *loc) {
    if (loc->mapping == RALLO_NO_MAPPING || loc->mapping >= p->nmappings ||
        p->mappings[loc->mapping].path == NULL)
        return NONE;
    return str_intern_z(b, path_basename(p->mappings[loc->mapping].path));
}

static frame_key *push_frame(tree_builder *b) {
    if (!rallo_array_reserve((void **)&b->frames, &b->frames_cap, b->nframes + 1, sizeof *b->frames, 4096)) {
        b->failed = true;
        return NULL;
    }
    return &b->frames[b->nframes++];
}

/* Every location's frames, root side first (the function the address lies in,
 * then what was inlined into it, innermost last), computed once. */
static bool build_location_frames(tree_builder *b, const rallo_profile *p) {
    b->loc_first = mi_malloc((p->nlocations + 1) * sizeof *b->loc_first);
    b->loc_count = mi_malloc((p->nlocations + 1) * sizeof *b->loc_count);
    if (b->loc_first == NULL || b->loc_count == NULL)
        return false;
    for (size_t i = 0; i < p->nlocations && !b->failed; i++) {
        const rallo_prof_location *loc = &p->locations[i];
        uint32_t module = module_of(b, p, loc);
        b->loc_first[i] = (uint32_t)b->nframes;
        if (loc->nlines == 0 || loc->lines == NULL) {
            frame_key *f = push_frame(b);
            if (f != NULL)
                *f = (frame_key){unsymbolized_name(b, p, loc), NONE, 0, module, NODE_UNSYMBOLIZED};
        }
        for (uint32_t k = loc->nlines; loc->lines != NULL && k-- > 0;) {
            const rallo_prof_line *line = &loc->lines[k];
            frame_key *f = push_frame(b);
            if (f == NULL)
                break;
            f->name = line->function ? str_intern_z(b, line->function) : unsymbolized_name(b, p, loc);
            f->file = str_intern_z(b, line->file);
            f->line = line->line;
            f->module = module;
            f->flags = (uint8_t)((k + 1 < loc->nlines ? NODE_INLINED : 0) |
                                 (line->function ? 0 : NODE_UNSYMBOLIZED));
        }
        b->loc_count[i] = (uint32_t)b->nframes - b->loc_first[i];
    }
    return !b->failed;
}

static uint64_t node_hash(const void *owner, size_t id) {
    const tree_builder *b = owner;
    return hash_pair(b->strings.seed, b->nodes[id].parent, b->nodes[id].name);
}

/* The child of `parent` for frame f, created when new; NONE when out of memory. */
static uint32_t child_for(tree_builder *b, uint32_t parent, const frame_key *f) {
    if (!rallo_index_reserve(&b->index, b->nnodes, 1, 8192, node_hash, b)) {
        b->failed = true;
        return NONE;
    }
    size_t i = rallo_index_slot(&b->index, hash_pair(b->strings.seed, parent, f->name));
    for (; b->index.slots[i] != 0; i = rallo_index_next(&b->index, i)) {
        tree_node *n = &b->nodes[b->index.slots[i] - 1];
        if (n->parent == parent && n->name == f->name) {
            if (n->file != f->file || n->line != f->line)
                n->flags |= NODE_MIXED_LINES;
            return b->index.slots[i] - 1;
        }
    }
    if (!rallo_array_reserve((void **)&b->nodes, &b->cap, b->nnodes + 1, sizeof *b->nodes, 1024)) {
        b->failed = true;
        return NONE;
    }
    b->nodes[b->nnodes] = (tree_node){parent, f->name, f->file, f->line, f->module, f->flags};
    b->index.slots[i] = b->nnodes + 1;
    return b->nnodes++;
}

/* ---- JSON output ---- */
static void put_u64(rallo_buf *out, uint64_t v) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    char text[24];
    for (int i = 0; i < n; i++)
        text[i] = digits[n - 1 - i];
    rallo_buf_put(out, text, (size_t)n);
}

/* A log2 histogram as an array, trailing zeros left out ([] for none). */
static void put_histogram(rallo_buf *out, const uint64_t *counts, size_t n) {
    while (counts != NULL && n > 0 && counts[n - 1] == 0)
        n--;
    rallo_buf_putc(out, '[');
    for (size_t k = 0; counts != NULL && k < n; k++) {
        if (k)
            rallo_buf_putc(out, ',');
        put_u64(out, counts[k]);
    }
    rallo_buf_putc(out, ']');
}

static void put_id(rallo_buf *out, uint32_t id) {
    if (id == NONE)
        rallo_buf_puts(out, "-1");
    else
        put_u64(out, id);
}

void rallo_html_json_string(rallo_buf *out, const char *text) {
    if (text == NULL)
        return;
    const unsigned char *c = (const unsigned char *)text;
    while (*c) {
        const unsigned char *run = c;
        while (*c >= 0x20 && *c != 0x7f && *c != '"' && *c != '\\' && *c != '<' && *c != '>' && *c != '&' &&
               !(c[0] == 0xe2 && c[1] == 0x80 && (c[2] == 0xa8 || c[2] == 0xa9)))
            c++;
        rallo_buf_put(out, run, (size_t)(c - run));
        if (*c == '\0')
            break;
        switch (*c) {
        case '"': rallo_buf_puts(out, "\\\""); break;
        case '\\': rallo_buf_puts(out, "\\\\"); break;
        case '\n': rallo_buf_puts(out, "\\n"); break;
        case '\t': rallo_buf_puts(out, "\\t"); break;
        case 0xe2: /* U+2028, U+2029: line breaks to old JS parsers */
            rallo_buf_printf(out, "\\u%04x", c[2] == 0xa8 ? 0x2028 : 0x2029);
            c += 2;
            break;
        default: rallo_buf_printf(out, "\\u%04x", *c); break;
        }
        c++;
    }
}

static void put_string_value(rallo_buf *out, const char *text) {
    if (text == NULL) {
        rallo_buf_puts(out, "null");
        return;
    }
    rallo_buf_putc(out, '"');
    rallo_html_json_string(out, text);
    rallo_buf_putc(out, '"');
}

static void put_meta(const rallo_profile *p, rallo_buf *out) {
    rallo_buf_printf(out, "\"meta\":{\"pid\":%d,\"program\":", (int)p->pid);
    put_string_value(out, p->program);
    rallo_buf_printf(out, ",\"time_unix_ms\":%llu,\"sample_interval\":%llu,",
                     (unsigned long long)(p->time_unix_ns / 1000000), (unsigned long long)p->sample_interval);
    /* Which process (its command line), and what the figures rest on. */
    char command[1024];
    rallo_buf_puts(out, "\"command\":");
    put_string_value(out, p->nargv > 0 ? rallo_command_line(p, command, sizeof command) : NULL);
    uint64_t live_samples, sampled;
    rallo_profile_samples(p, &live_samples, &sampled);
    rallo_buf_printf(out, ",\"samples\":{\"live\":%llu,\"allocated\":%llu},",
                     (unsigned long long)live_samples, (unsigned long long)sampled);
    rallo_buf_puts(out, "\"totals\":");
    rallo_json_totals(out, &p->totals);
    rallo_buf_puts(out, ",\"untracked\":");
    rallo_json_untracked(out, &p->untracked);
    rallo_buf_putc(out, '}');
}

/* One JSON array of `count` items, each written by `put_item` with its index
 * in i: the tree's node columns and the sites' columns alike. */
#define PUT_ARRAY(prefix, count, put_item)                                                                   \
    do {                                                                                                     \
        rallo_buf_puts(out, prefix "[");                                                                     \
        for (size_t i = 0; i < (count); i++) {                                                               \
            if (i)                                                                                           \
                rallo_buf_putc(out, ',');                                                                    \
            put_item;                                                                                        \
        }                                                                                                    \
        rallo_buf_putc(out, ']');                                                                            \
    } while (0)
/* The tree's nodes, a JSON array a column (the page reads them so). */
enum { NODE_COLUMNS = 6 };
static const char *const node_column_keys[NODE_COLUMNS] = {"parent", "name",   "file",
                                                           "line",   "module", "flags"};
static uint32_t node_column(const tree_node *n, int column) {
    switch (column) {
    case 0: return n->parent;
    case 1: return n->name;
    case 2: return n->file;
    case 3: return n->line;
    case 4: return n->module;
    default: return n->flags;
    }
}
#define PUT_SITE_ARRAY(key, expr)                                                                            \
    PUT_ARRAY(",\"" key "\":", p->nsites, {                                                                  \
        const rallo_prof_site *s = &p->sites[i];                                                             \
        (void)s;                                                                                             \
        expr;                                                                                                \
    })

static void put_tree(const rallo_profile *p, const tree_builder *b, const uint32_t *site_node,
                     const uint32_t *site_frame, rallo_buf *out) {
    rallo_buf_puts(out, "{\"version\":1,");
    put_meta(p, out);
    rallo_buf_puts(out, ",\"strings\":[");
    for (uint32_t i = 0; i < b->strings.count; i++) {
        rallo_buf_puts(out, i ? ",\"" : "\"");
        rallo_html_json_string(out, str_at(&b->strings, i));
        rallo_buf_putc(out, '"');
    }
    rallo_buf_puts(out, "],\"nodes\":{");
    for (int column = 0; column < NODE_COLUMNS; column++) {
        rallo_buf_printf(out, "%s\"%s\":", column ? "," : "", node_column_keys[column]);
        PUT_ARRAY("", b->nnodes, put_id(out, node_column(&b->nodes[i], column)));
    }
    rallo_buf_puts(out, "},\"sites\":{\"node\":[");
    for (size_t i = 0; i < p->nsites; i++) {
        if (i)
            rallo_buf_putc(out, ',');
        put_id(out, site_node[i]);
    }
    rallo_buf_putc(out, ']');
    PUT_SITE_ARRAY("file", put_id(out, site_frame[i] == NONE ? NONE : b->frames[site_frame[i]].file));
    PUT_SITE_ARRAY("line", put_u64(out, site_frame[i] == NONE ? 0 : b->frames[site_frame[i]].line));
    PUT_SITE_ARRAY("alloc_count", put_u64(out, s->alloc_count));
    PUT_SITE_ARRAY("alloc_bytes", put_u64(out, s->alloc_bytes));
    PUT_SITE_ARRAY("free_count", put_u64(out, s->free_count));
    PUT_SITE_ARRAY("free_bytes", put_u64(out, s->free_bytes));
    PUT_SITE_ARRAY("live_count", put_u64(out, s->live_count));
    PUT_SITE_ARRAY("live_bytes", put_u64(out, s->live_bytes));
    PUT_SITE_ARRAY("peak_live_bytes", put_u64(out, s->peak_live_bytes));
    if (p->has_lifetimes) {
        PUT_SITE_ARRAY("temp_count", put_u64(out, s->lt != NULL ? s->lt->temp_count : 0));
        PUT_SITE_ARRAY("temp_bytes", put_u64(out, s->lt != NULL ? s->lt->temp_bytes : 0));
        PUT_SITE_ARRAY("size_log2",
                       put_histogram(out, s->lt != NULL ? s->lt->size_log2 : NULL, RALLO_PROF_SIZE_BUCKETS));
        PUT_SITE_ARRAY("lifetime_log2_ns", put_histogram(out, s->lt != NULL ? s->lt->lifetime_log2_ns : NULL,
                                                         RALLO_PROF_TIME_BUCKETS));
    }
    rallo_buf_puts(out, "}}");
}

static void builder_free(tree_builder *b) {
    rallo_buf_free(&b->strings.pool);
    mi_free(b->strings.offsets);
    rallo_index_free(&b->strings.index);
    mi_free(b->nodes);
    rallo_index_free(&b->index);
    mi_free(b->loc_first);
    mi_free(b->loc_count);
    mi_free(b->frames);
}

void rallo_html_tree_json(const rallo_profile *p, rallo_buf *out) {
    tree_builder b;
    memset(&b, 0, sizeof b);
    rallo_buf_init(&b.strings.pool);
    b.strings.seed = rallo_hash_seed();
    uint32_t *site_node = mi_malloc((p->nsites + 1) * sizeof *site_node);
    uint32_t *site_frame = mi_malloc((p->nsites + 1) * sizeof *site_frame);
    frame_key root = {str_intern_z(&b, "all"), NONE, 0, NONE, 0};
    if (site_node == NULL || site_frame == NULL || !build_location_frames(&b, p) ||
        !rallo_array_reserve((void **)&b.nodes, &b.cap, 1, sizeof *b.nodes, 1024))
        b.failed = true;
    if (!b.failed) {
        b.nodes[0] = (tree_node){NONE, root.name, NONE, 0, NONE, 0};
        b.nnodes = 1;
    }
    for (size_t s = 0; s < p->nsites && !b.failed; s++) {
        const rallo_prof_site *site = &p->sites[s];
        uint32_t node = 0, leaf_frame = NONE;
        for (uint32_t k = site->nlocations; k-- > 0 && node != NONE;) { /* leaf first: walk backwards */
            uint32_t loc = site->locations[k];
            if (loc >= p->nlocations)
                continue;
            for (uint32_t f = 0; f < b.loc_count[loc] && node != NONE; f++) {
                leaf_frame = b.loc_first[loc] + f;
                node = child_for(&b, node, &b.frames[leaf_frame]);
            }
        }
        site_node[s] = node;
        site_frame[s] = leaf_frame;
    }
    if (b.failed)
        out->failed = true;
    else
        put_tree(p, &b, site_node, site_frame, out);
    builder_free(&b);
    mi_free(site_node);
    mi_free(site_frame);
}
