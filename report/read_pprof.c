/* read_pprof.c - the pprof reader: a gzipped (or raw) profile.proto into a
 * rallo_profile, for `rallo report` and `rallo diff`. The input is untrusted:
 * inflation is capped, protobuf-c unpacks within a memory budget, and every
 * id, index and count is checked before it is used, so a hostile file gets a
 * one-line error and never a crash. Memory: scratch from mimalloc, the result
 * in the profile's arena. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>
#include <zlib.h>

#include "util/zlib_alloc.h"
#include "pprof.h"
#include "profile.pb-c.h"
#include "writers.h"

typedef Perftools__Profiles__Profile pb_profile;
typedef Perftools__Profiles__Sample pb_sample;
typedef Perftools__Profiles__Location pb_location;
typedef Perftools__Profiles__Function pb_function;
typedef Perftools__Profiles__Mapping pb_mapping;

/* rallo's four values, in the order of rallo_write_pprof()'s sample types. */
enum { V_ALLOC_COUNT, V_ALLOC_BYTES, V_LIVE_COUNT, V_LIVE_BYTES, V_COUNT };
static const char *const value_names[V_COUNT] = {"alloc_objects", "alloc_space", "inuse_objects",
                                                 "inuse_space"};

typedef struct reader {
    const pb_profile *pb;
    rallo_profile *out;
    char *error;
    size_t error_len;
    char notes[512];            /* what was mapped loosely, handed back on success */
    char **strings;             /* the string table copied into out on first use */
    int value_slot[V_COUNT];    /* sample value index per rallo value, -1: absent */
    uint64_t sums[V_COUNT + 1]; /* every sample's values (and peaks) added up so far */
    bool clamped_negative;
} reader;

static bool fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(reader *r, const char *fmt, ...) {
    if (r->error_len == 0)
        return false;
    int n = snprintf(r->error, r->error_len, "pprof: ");
    if (n < 0 || (size_t)n >= r->error_len)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error + n, r->error_len - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

static void note(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(reader *r, const char *fmt, ...) {
    size_t used = strlen(r->notes);
    if (used + 3 >= sizeof r->notes)
        return;
    if (used != 0) {
        memcpy(r->notes + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->notes + used, sizeof r->notes - used, fmt, ap);
    va_end(ap);
}

/* ---- inflate, capped ---- */

/* One pass over a gzip (or zlib) stream, members one after another: into
 * out (out_size bytes) when out is given, else only counting into a scratch
 * window. *inflated gets the size; false with an error when corrupt,
 * truncated, or past cap. */
static bool inflate_pass(reader *r, const unsigned char *data, size_t len, size_t cap, unsigned char *out,
                         size_t out_size, size_t *inflated) {
    enum { WINDOW = 1 << 16 };
    unsigned char *window = out == NULL ? mi_malloc(WINDOW) : NULL;
    if (out == NULL && window == NULL)
        return fail(r, "out of memory inflating");
    z_stream z;
    memset(&z, 0, sizeof z);
    rallo_zlib_use_mimalloc(&z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) { /* 32: detect gzip or zlib headers */
        mi_free(window);
        return fail(r, "out of memory starting zlib");
    }
    size_t used = 0, consumed = 0;
    bool ok = true;
    while (ok) {
        if (used > cap) {
            ok = fail(r, "inflates past the %zu MiB cap (a decompression bomb?)", cap >> 20);
            break;
        }
        size_t in_chunk = len - consumed > (1u << 30) ? (1u << 30) : len - consumed;
        unsigned char *next = out != NULL ? out + used : window;
        size_t room = out != NULL ? out_size - used : WINDOW;
        size_t out_chunk = room > (1u << 30) ? (1u << 30) : room;
        if (out_chunk == 0) { /* the counting pass said less: the input changed */
            ok = fail(r, "inflates to more than it did a moment ago");
            break;
        }
        z.next_in = (Bytef *)(data + consumed);
        z.avail_in = (uInt)in_chunk;
        z.next_out = next;
        z.avail_out = (uInt)out_chunk;
        int rc = inflate(&z, Z_NO_FLUSH);
        consumed += in_chunk - z.avail_in;
        used += out_chunk - z.avail_out;
        if (rc == Z_STREAM_END) {
            if (consumed == len)
                break;
            /* Another gzip member may follow (as `cat a.gz b.gz` makes). */
            if (len - consumed >= 2 && data[consumed] == 0x1f && data[consumed + 1] == 0x8b) {
                inflateReset(&z);
                continue;
            }
            ok = fail(r, "%zu bytes of trailing garbage after the gzip stream", len - consumed);
        } else if (rc == Z_BUF_ERROR && consumed == len) {
            ok = fail(r, "truncated gzip stream (%zu bytes read, %zu inflated)", len, used);
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            ok = fail(r, "corrupt gzip stream: %s", z.msg != NULL ? z.msg : "inflate failed");
        }
    }
    inflateEnd(&z);
    mi_free(window);
    *inflated = used;
    return ok && (used <= cap || fail(r, "inflates past the %zu MiB cap (a decompression bomb?)", cap >> 20));
}

/* Inflates into *out (mi_malloc'd, exactly the inflated size): a first pass
 * only counts, so a bomb is refused at the cap having allocated nothing, and
 * a profile takes its own size once, never a doubling buffer's. */
static bool inflate_capped(reader *r, const unsigned char *data, size_t len, size_t cap, unsigned char **out,
                           size_t *out_len) {
    size_t size = 0, filled = 0;
    if (!inflate_pass(r, data, len, cap, NULL, 0, &size))
        return false;
    unsigned char *buf = mi_malloc(size + 1);
    if (buf == NULL)
        return fail(r, "out of memory inflating to %zu bytes", size);
    /* One byte of room beyond: a stream that now inflates further fails the cap. */
    if (!inflate_pass(r, data, len, size, buf, size + 1, &filled)) {
        mi_free(buf);
        return false;
    }
    *out = buf;
    *out_len = filled;
    return true;
}

/* ---- protobuf-c's allocator: mimalloc, within a budget ---- */

typedef struct unpack_budget {
    size_t used, limit;
    bool exceeded;
} unpack_budget;

static void *budget_alloc(void *data, size_t size) {
    unpack_budget *b = data;
    if (size > b->limit - b->used) {
        b->exceeded = true;
        return NULL;
    }
    void *p = mi_malloc(size);
    if (p != NULL)
        b->used += mi_usable_size(p);
    return p;
}

static void budget_free(void *data, void *p) {
    unpack_budget *b = data;
    if (p != NULL)
        b->used -= mi_usable_size(p);
    mi_free(p);
}

/* ---- ids: pprof's are any nonzero numbers; map each to its index ----
 * The ids come from the file, so the index must not have a worst case an
 * attacker can choose (a fixed hash let 200,000 colliding ids take seconds):
 * ids 1..n, as every writer makes them, index an array directly; any other
 * set is radix-sorted (linear) and found by binary search. */

typedef struct id_entry {
    uint64_t id;
    size_t index;
} id_entry;

typedef struct id_index {
    uint32_t *dense;   /* ids 1..count: dense[id - 1] = index + 1 */
    id_entry *sorted;  /* otherwise: every (id, index), by id */
    id_entry *scratch; /* filled by the caller before id_index_build */
    size_t count;
} id_index;

static bool id_index_init(id_index *x, size_t count) {
    if (count >= UINT32_MAX)
        return false;
    x->count = count;
    x->scratch = mi_mallocn(count ? count : 1, sizeof *x->scratch);
    return x->scratch != NULL;
}

static void id_index_free(id_index *x) {
    mi_free(x->dense);
    mi_free(x->sorted);
    mi_free(x->scratch);
}

/* Least significant byte first, skipping the bytes every id shares. */
static bool radix_sort(id_entry **entries, size_t count) {
    uint64_t all_or = 0, all_and = ~(uint64_t)0;
    for (size_t i = 0; i < count; i++) {
        all_or |= (*entries)[i].id;
        all_and &= (*entries)[i].id;
    }
    id_entry *from = *entries, *to = mi_mallocn(count ? count : 1, sizeof *to);
    if (to == NULL)
        return false;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if ((((all_or ^ all_and) >> shift) & 0xff) == 0)
            continue;
        size_t start[257] = {0};
        for (size_t i = 0; i < count; i++)
            start[((from[i].id >> shift) & 0xff) + 1]++;
        for (size_t b = 1; b < 257; b++)
            start[b] += start[b - 1];
        for (size_t i = 0; i < count; i++)
            to[start[(from[i].id >> shift) & 0xff]++] = from[i];
        id_entry *swap = from;
        from = to;
        to = swap;
    }
    mi_free(to);
    *entries = from;
    return true;
}

/* Indexes the scratch entries (ids nonzero). false when out of memory, or
 * with *duplicate set to an id that appears twice. */
static bool id_index_build(id_index *x, uint64_t *duplicate) {
    *duplicate = 0;
    bool dense = true;
    for (size_t i = 0; i < x->count && dense; i++)
        dense = x->scratch[i].id <= x->count;
    if (dense) {
        x->dense = mi_zalloc((x->count ? x->count : 1) * sizeof *x->dense);
        if (x->dense == NULL)
            return false;
        for (size_t i = 0; i < x->count; i++) {
            uint32_t *slot = &x->dense[x->scratch[i].id - 1];
            if (*slot != 0) {
                *duplicate = x->scratch[i].id;
                return false;
            }
            *slot = (uint32_t)x->scratch[i].index + 1;
        }
        mi_free(x->scratch);
        x->scratch = NULL;
        return true;
    }
    if (!radix_sort(&x->scratch, x->count))
        return false;
    x->sorted = x->scratch;
    x->scratch = NULL;
    for (size_t i = 1; i < x->count; i++)
        if (x->sorted[i].id == x->sorted[i - 1].id) {
            *duplicate = x->sorted[i].id;
            return false;
        }
    return true;
}

static bool id_index_get(const id_index *x, uint64_t id, size_t *index) {
    if (x->dense != NULL) {
        if (id == 0 || id > x->count || x->dense[id - 1] == 0)
            return false;
        *index = x->dense[id - 1] - 1;
        return true;
    }
    size_t low = 0, high = x->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (x->sorted[mid].id < id)
            low = mid + 1;
        else
            high = mid;
    }
    if (low == x->count || x->sorted[low].id != id)
        return false;
    *index = x->sorted[low].index;
    return true;
}

/* Indexes what the caller put in scratch: false with an error naming what. */
static bool index_ids(reader *r, id_index *x, const char *what) {
    uint64_t duplicate = 0;
    if (id_index_build(x, &duplicate))
        return true;
    if (duplicate != 0)
        return fail(r, "%s id %" PRIu64 " appears twice", what, duplicate);
    return fail(r, "out of memory indexing %ss", what);
}

/* ---- strings ---- */

static bool string_ok(reader *r, int64_t index, const char *what) {
    if (index < 0 || (uint64_t)index >= r->pb->n_string_table)
        return fail(r, "%s names string %" PRId64 ", outside the table of %zu", what, index,
                    r->pb->n_string_table);
    return true;
}

/* The string at a checked index, copied into the profile once; NULL for "". */
static bool string_at(reader *r, int64_t index, const char *what, const char **text) {
    if (!string_ok(r, index, what))
        return false;
    const char *s = r->pb->string_table[index];
    if (s == NULL || s[0] == '\0') {
        *text = NULL;
        return true;
    }
    if (r->strings[index] == NULL && (r->strings[index] = rallo_profile_strdup(r->out, s)) == NULL)
        return fail(r, "out of memory copying strings");
    *text = r->strings[index];
    return true;
}

/* ---- the messages ---- */

static bool map_sample_types(reader *r) {
    const pb_profile *pb = r->pb;
    for (int v = 0; v < V_COUNT; v++)
        r->value_slot[v] = -1;
    /* Exact names first; then "objects"/"space" (heapz, tcmalloc: in use). */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < pb->n_sample_type; i++) {
            const Perftools__Profiles__ValueType *vt = pb->sample_type[i];
            if (!string_ok(r, vt->type, "a sample type") || !string_ok(r, vt->unit, "a sample unit"))
                return false;
            const char *name = pb->string_table[vt->type];
            int v = -1;
            for (int k = 0; k < V_COUNT && pass == 0; k++)
                if (strcmp(name, value_names[k]) == 0)
                    v = k;
            if (pass == 1 && strcmp(name, "objects") == 0)
                v = V_LIVE_COUNT;
            if (pass == 1 && strcmp(name, "space") == 0)
                v = V_LIVE_BYTES;
            if (v >= 0 && r->value_slot[v] < 0)
                r->value_slot[v] = (int)i;
            else if (v >= 0 && pass == 0)
                note(r, "sample type %s appears twice: the first is used", name);
        }
    }
    bool any = false;
    for (int v = 0; v < V_COUNT; v++)
        any |= r->value_slot[v] >= 0;
    if (!any) {
        char have[256] = "";
        for (size_t i = 0; i < pb->n_sample_type && strlen(have) + 2 < sizeof have; i++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s/%s", i ? ", " : "",
                     pb->string_table[pb->sample_type[i]->type], pb->string_table[pb->sample_type[i]->unit]);
        return fail(r,
                    "no heap sample type (alloc_objects, alloc_space, inuse_objects, inuse_space, objects, "
                    "space) in this profile; it has: %s",
                    pb->n_sample_type ? have : "none");
    }
    for (size_t i = 0; i < pb->n_sample_type; i++) {
        bool used = false;
        for (int v = 0; v < V_COUNT; v++)
            used |= r->value_slot[v] == (int)i;
        if (!used)
            note(r, "sample type %s ignored", pb->string_table[pb->sample_type[i]->type]);
    }
    for (int v = 0; v < V_COUNT; v++)
        if (r->value_slot[v] < 0)
            note(r, "no %s in the profile: read as 0", value_names[v]);
    return true;
}

static bool read_mappings(reader *r, id_index *ids) {
    const pb_profile *pb = r->pb;
    rallo_profile *out = r->out;
    if (pb->n_mapping >= RALLO_NO_MAPPING)
        return fail(r, "%zu mappings: too many", pb->n_mapping);
    if (!id_index_init(ids, pb->n_mapping))
        return fail(r, "out of memory indexing mappings");
    out->mappings = rallo_profile_alloc(out, (pb->n_mapping ? pb->n_mapping : 1) * sizeof *out->mappings);
    if (out->mappings == NULL)
        return fail(r, "out of memory for %zu mappings", pb->n_mapping);
    for (size_t i = 0; i < pb->n_mapping; i++) {
        const pb_mapping *pm = pb->mapping[i];
        rallo_prof_mapping *m = &out->mappings[i];
        if (pm->id == 0)
            return fail(r, "mapping %zu has id 0", i);
        ids->scratch[i] = (id_entry){pm->id, i};
        m->start = pm->memory_start;
        m->limit = pm->memory_limit;
        m->file_offset = pm->file_offset;
        if (!string_at(r, pm->filename, "a mapping's file name", &m->path) ||
            !string_at(r, pm->build_id, "a mapping's build id", &m->build_id))
            return false;
    }
    out->nmappings = pb->n_mapping;
    return index_ids(r, ids, "mapping");
}

static bool read_functions(reader *r, id_index *ids) {
    const pb_profile *pb = r->pb;
    if (!id_index_init(ids, pb->n_function))
        return fail(r, "out of memory indexing functions");
    for (size_t i = 0; i < pb->n_function; i++) {
        const pb_function *f = pb->function[i];
        if (f->id == 0)
            return fail(r, "function %zu has id 0", i);
        ids->scratch[i] = (id_entry){f->id, i};
        if (!string_ok(r, f->name, "a function's name") ||
            !string_ok(r, f->system_name, "a function's system name") ||
            !string_ok(r, f->filename, "a function's file name"))
            return false;
    }
    return index_ids(r, ids, "function");
}

static bool read_line(reader *r, const Perftools__Profiles__Line *pl, const id_index *functions,
                      rallo_prof_line *line) {
    if (pl->function_id != 0) {
        size_t fi;
        if (!id_index_get(functions, pl->function_id, &fi))
            return fail(r, "a line names function id %" PRIu64 ", which does not exist", pl->function_id);
        const pb_function *f = r->pb->function[fi];
        if (!string_at(r, f->name, "a function's name", &line->function) ||
            !string_at(r, f->filename, "a function's file name", &line->file))
            return false;
        if (line->function == NULL &&
            !string_at(r, f->system_name, "a function's system name", &line->function))
            return false;
    }
    line->line = pl->line < 0 ? 0 : pl->line > UINT32_MAX ? UINT32_MAX : (uint32_t)pl->line;
    return true;
}

static bool read_locations(reader *r, id_index *ids, const id_index *mappings, const id_index *functions) {
    const pb_profile *pb = r->pb;
    rallo_profile *out = r->out;
    if (pb->n_location > UINT32_MAX)
        return fail(r, "%zu locations: too many", pb->n_location);
    if (!id_index_init(ids, pb->n_location))
        return fail(r, "out of memory indexing locations");
    out->locations = rallo_profile_alloc(out, (pb->n_location ? pb->n_location : 1) * sizeof *out->locations);
    if (out->locations == NULL)
        return fail(r, "out of memory for %zu locations", pb->n_location);
    for (size_t i = 0; i < pb->n_location; i++) {
        if (pb->location[i]->id == 0)
            return fail(r, "location %zu has id 0", i);
        ids->scratch[i] = (id_entry){pb->location[i]->id, i};
    }
    if (!index_ids(r, ids, "location"))
        return false;
    for (size_t i = 0; i < pb->n_location; i++) {
        const pb_location *pl = pb->location[i];
        rallo_prof_location *loc = &out->locations[i];
        loc->address = pl->address;
        loc->mapping = RALLO_NO_MAPPING;
        if (pl->mapping_id != 0) {
            size_t mi;
            if (!id_index_get(mappings, pl->mapping_id, &mi))
                return fail(r, "location id %" PRIu64 " names mapping id %" PRIu64 ", which does not exist",
                            pl->id, pl->mapping_id);
            loc->mapping = (uint32_t)mi;
        }
        if (pl->n_line > UINT32_MAX)
            return fail(r, "location id %" PRIu64 " has too many lines", pl->id);
        if (pl->n_line == 0)
            continue;
        loc->lines = rallo_profile_alloc(out, pl->n_line * sizeof *loc->lines);
        if (loc->lines == NULL)
            return fail(r, "out of memory for lines");
        for (size_t l = 0; l < pl->n_line; l++)
            if (!read_line(r, pl->line[l], functions, &loc->lines[l]))
                return false;
        loc->nlines = (uint32_t)pl->n_line;
    }
    out->nlocations = pb->n_location;
    return true;
}

static uint64_t sample_value(reader *r, const pb_sample *ps, int v) {
    if (r->value_slot[v] < 0)
        return 0;
    int64_t x = ps->value[r->value_slot[v]];
    if (x < 0) {
        r->clamped_negative = true;
        return 0;
    }
    return (uint64_t)x;
}

/* Adds a sample's value to its running sum. Every sum the writers, the flame
 * graph's tree and `rallo diff` make of a profile is at most the sum over all
 * its samples, so one that stays within int64 (pprof's own type) keeps every
 * total exact: past that the profile is refused, never wrapped. */
static bool sum_fits(reader *r, size_t sample, int v, uint64_t value) {
    uint64_t *sum = &r->sums[v];
    if (!__builtin_add_overflow(*sum, value, sum) && *sum <= INT64_MAX)
        return true;
    return fail(r, "sample %zu: the %s values add up past 2^63-1, where totals would wrap: refused", sample,
                v < V_COUNT ? value_names[v] : "peak_live_bytes");
}

static bool read_samples(reader *r, const id_index *locations) {
    const pb_profile *pb = r->pb;
    rallo_profile *out = r->out;
    out->sites = rallo_profile_alloc(out, (pb->n_sample ? pb->n_sample : 1) * sizeof *out->sites);
    if (out->sites == NULL)
        return fail(r, "out of memory for %zu samples", pb->n_sample);
    for (size_t i = 0; i < pb->n_sample; i++) {
        const pb_sample *ps = pb->sample[i];
        rallo_prof_site *site = &out->sites[i];
        if (ps->n_value != pb->n_sample_type)
            return fail(r, "sample %zu has %zu values for %zu sample types", i, ps->n_value,
                        pb->n_sample_type);
        if (ps->n_location_id > UINT32_MAX)
            return fail(r, "sample %zu has too many locations", i);
        site->alloc_count = sample_value(r, ps, V_ALLOC_COUNT);
        site->alloc_bytes = sample_value(r, ps, V_ALLOC_BYTES);
        site->live_count = sample_value(r, ps, V_LIVE_COUNT);
        site->live_bytes = sample_value(r, ps, V_LIVE_BYTES);
        if (!sum_fits(r, i, V_ALLOC_COUNT, site->alloc_count) ||
            !sum_fits(r, i, V_ALLOC_BYTES, site->alloc_bytes) ||
            !sum_fits(r, i, V_LIVE_COUNT, site->live_count) ||
            !sum_fits(r, i, V_LIVE_BYTES, site->live_bytes))
            return false;
        /* pprof has no frees: what was allocated and is not live was freed. */
        site->free_count = site->alloc_count > site->live_count ? site->alloc_count - site->live_count : 0;
        site->free_bytes = site->alloc_bytes > site->live_bytes ? site->alloc_bytes - site->live_bytes : 0;
        if (ps->n_location_id > 0) {
            site->locations = rallo_profile_alloc(out, ps->n_location_id * sizeof *site->locations);
            if (site->locations == NULL)
                return fail(r, "out of memory for sample locations");
        }
        for (size_t l = 0; l < ps->n_location_id; l++) {
            size_t li;
            if (!id_index_get(locations, ps->location_id[l], &li))
                return fail(r, "sample %zu names location id %" PRIu64 ", which does not exist", i,
                            ps->location_id[l]);
            site->locations[l] = (uint32_t)li;
        }
        site->nlocations = (uint32_t)ps->n_location_id;
        for (size_t k = 0; k < ps->n_label; k++) {
            const Perftools__Profiles__Label *label = ps->label[k];
            if (!string_ok(r, label->key, "a label key") || !string_ok(r, label->str, "a label value") ||
                !string_ok(r, label->num_unit, "a label unit"))
                return false;
            if (strcmp(pb->string_table[label->key], "peak_live_bytes") == 0 && label->num > 0) {
                site->peak_live_bytes = (uint64_t)label->num;
                if (!sum_fits(r, i, V_COUNT, site->peak_live_bytes))
                    return false;
            }
        }
    }
    out->nsites = pb->n_sample;
    return true;
}

/* The value after "key=" in a space-separated comment, or 0. */
static uint64_t comment_field(const char *text, const char *key) {
    size_t klen = strlen(key);
    for (const char *p = text; (p = strstr(p, key)) != NULL; p += klen)
        if ((p == text || p[-1] == ' ') && p[klen] == '=')
            return strtoull(p + klen + 1, NULL, 10);
    return 0;
}

/* rallo's own comments (see write_pprof.c); a profile from elsewhere has none
 * and gets totals summed from its samples. */
static bool read_comments(reader *r) {
    const pb_profile *pb = r->pb;
    rallo_profile *out = r->out;
    bool have_totals = false, have_interval = false;
    size_t nargv = 0;
    for (size_t i = 0; i < pb->n_comment; i++)
        if (string_ok(r, pb->comment[i], "a comment") &&
            strncmp(pb->string_table[pb->comment[i]], "rallo.argv=", 11) == 0)
            nargv++;
    if (nargv > 0 && (out->argv = rallo_profile_alloc(out, nargv * sizeof *out->argv)) == NULL)
        return fail(r, "out of memory");
    for (size_t i = 0; i < pb->n_comment; i++) {
        if (!string_ok(r, pb->comment[i], "a comment"))
            return false;
        const char *c = pb->string_table[pb->comment[i]];
        if (strncmp(c, "rallo.pid=", 10) == 0) {
            out->pid = (int32_t)strtol(c + 10, NULL, 10);
            out->ppid = (int32_t)comment_field(c, "ppid");
        } else if (strncmp(c, "rallo.argv=", 11) == 0) {
            if ((out->argv[out->nargv++] = rallo_profile_strdup(out, c + 11)) == NULL)
                return fail(r, "out of memory");
        } else if (strncmp(c, "rallo.program=", 14) == 0) {
            if ((out->program = rallo_profile_strdup(out, c + 14)) == NULL)
                return fail(r, "out of memory");
        } else if (strncmp(c, "rallo.sample_interval=", 22) == 0) {
            out->sample_interval = strtoull(c + 22, NULL, 10);
            have_interval = true;
        } else if (strncmp(c, "rallo.totals ", 13) == 0) {
            rallo_totals *t = &out->totals;
            t->alloc_count = comment_field(c, "alloc_count");
            t->alloc_bytes = comment_field(c, "alloc_bytes");
            t->free_count = comment_field(c, "free_count");
            t->free_bytes = comment_field(c, "free_bytes");
            t->live_count = comment_field(c, "live_count");
            t->live_bytes = comment_field(c, "live_bytes");
            t->peak_live_bytes = comment_field(c, "peak_live_bytes");
            t->untracked_count = comment_field(c, "untracked_count");
            have_totals = true;
        } else if (strncmp(c, "rallo.untracked ", 16) == 0) {
            rallo_untracked *u = &out->untracked;
            u->arena_full = comment_field(c, "arena_full");
            u->no_arena = comment_field(c, "no_arena");
            u->alignment = comment_field(c, "alignment");
            u->too_large = comment_field(c, "too_large");
            u->thread_exiting = comment_field(c, "thread_exiting");
            u->bad_header = comment_field(c, "bad_header");
        } else if (strncmp(c, "rallo.unwind ", 13) == 0) {
            out->stacks_cut_short = comment_field(c, "stacks_cut_short");
        }
    }
    if (!have_interval)
        out->sample_interval = pb->period > 1 ? (uint64_t)pb->period : 0;
    if (!have_totals) {
        rallo_totals *t = &out->totals;
        for (size_t i = 0; i < out->nsites; i++)
            rallo_totals_add_site(t, &out->sites[i]);
        t->peak_live_bytes = t->live_bytes; /* the best a foreign profile says */
    }
    /* pprof puts the main binary's mapping first. */
    if (out->program == NULL && out->nmappings > 0)
        out->program = out->mappings[0].path;
    return true;
}

/* The scalar string indexes of the Profile itself. */
static bool check_profile_strings(reader *r) {
    const pb_profile *pb = r->pb;
    if (pb->n_string_table == 0 || pb->string_table[0] == NULL || pb->string_table[0][0] != '\0')
        return fail(r, "the string table does not start with \"\"");
    if (!string_ok(r, pb->drop_frames, "drop_frames") || !string_ok(r, pb->keep_frames, "keep_frames") ||
        !string_ok(r, pb->default_sample_type, "default_sample_type") ||
        !string_ok(r, pb->doc_url, "doc_url"))
        return false;
    if (pb->period_type != NULL && (!string_ok(r, pb->period_type->type, "period_type") ||
                                    !string_ok(r, pb->period_type->unit, "period_type")))
        return false;
    return true;
}

static bool convert(reader *r) {
    id_index mappings = {0}, functions = {0}, locations = {0};
    r->strings = mi_zalloc((r->pb->n_string_table ? r->pb->n_string_table : 1) * sizeof *r->strings);
    bool ok = (r->strings != NULL || fail(r, "out of memory")) && check_profile_strings(r) &&
              map_sample_types(r) && read_mappings(r, &mappings) && read_functions(r, &functions) &&
              read_locations(r, &locations, &mappings, &functions) && read_samples(r, &locations) &&
              read_comments(r);
    if (ok) {
        r->out->time_unix_ns = r->pb->time_nanos > 0 ? (uint64_t)r->pb->time_nanos : 0;
        if (r->clamped_negative)
            note(r, "negative values (a diff profile?) read as 0");
    }
    id_index_free(&mappings);
    id_index_free(&functions);
    id_index_free(&locations);
    mi_free(r->strings);
    return ok;
}

int rallo_read_pprof_capped(const void *data, size_t len, size_t max_inflated, rallo_profile *out,
                            char *error, size_t error_len) {
    reader r;
    memset(&r, 0, sizeof r);
    r.out = out;
    r.error = error;
    r.error_len = error_len;
    if (error_len > 0)
        error[0] = '\0';
    rallo_profile_init(out);
    const unsigned char *bytes = data;
    unsigned char *inflated = NULL;
    size_t plain_len = len;
    if (data == NULL || len == 0) {
        fail(&r, "empty input");
        return -1;
    }
    if (len >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
        if (!inflate_capped(&r, bytes, len, max_inflated, &inflated, &plain_len))
            return -1;
        bytes = inflated;
    } else if (len > max_inflated) {
        fail(&r, "%zu bytes of raw profile.proto: past the %zu MiB cap", len, max_inflated >> 20);
        return -1;
    }
    /* Unpacked messages cost at most ~40 bytes per encoded byte (a profile of
     * rallo's is nearer 4); past that budget, or past RALLO_PPROF_MAX_UNPACKED,
     * the input is not a profile worth reading. */
    size_t limit = RALLO_PPROF_MAX_UNPACKED;
    if (plain_len < (limit - (16u << 20)) / 48)
        limit = plain_len * 48 + (16u << 20);
    unpack_budget budget = {.used = 0, .limit = limit};
    ProtobufCAllocator allocator = {.alloc = budget_alloc, .free = budget_free, .allocator_data = &budget};
    pb_profile *pb = perftools__profiles__profile__unpack(&allocator, plain_len, bytes);
    bool gzipped = inflated != NULL;
    mi_free(inflated);
    if (pb == NULL) {
        if (budget.exceeded)
            fail(&r, "decoding needs more than %zu MiB: refused", budget.limit >> 20);
        else
            fail(&r, "not a profile.proto message (%zu bytes%s could not be decoded)", plain_len,
                 gzipped ? " after gunzip" : "");
        return -1;
    }
    r.pb = pb;
    bool ok = convert(&r);
    perftools__profiles__profile__free_unpacked(pb, &allocator);
    if (!ok) {
        if (error_len > 0 && error[0] == '\0')
            snprintf(error, error_len, "pprof: out of memory");
        rallo_profile_free(out);
        return -1;
    }
    if (error_len > 0)
        snprintf(error, error_len, "%s", r.notes);
    return 0;
}

int rallo_read_pprof(const void *data, size_t len, rallo_profile *out, char *error, size_t error_len) {
    return rallo_read_pprof_capped(data, len, RALLO_PPROF_MAX_INFLATED, out, error, error_len);
}
