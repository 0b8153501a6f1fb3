/* write_pprof.c - the pprof writer: a rallo_profile as a gzipped profile.proto
 * with the four sample types of a Go heap profile, encoded by protobuf-c and
 * compressed by zlib. It runs inside the profiled process, so every byte it
 * allocates comes from mimalloc directly: the messages live in a scratch
 * profile arena, and zlib gets mimalloc through zalloc/zfree. protobuf-c's
 * pack_to_buffer allocates nothing; its output streams through deflate. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <mimalloc.h>
#include <zlib.h>

#include "util/array.h"
#include "util/index.h"
#include "util/zlib_alloc.h"
#include "util/hash.h"
#include "pprof.h"
#include "pprof_lifetimes.h"
#include "profile.pb-c.h"
#include "writers.h"

typedef Perftools__Profiles__Profile pb_profile;
typedef Perftools__Profiles__ValueType pb_value_type;
typedef Perftools__Profiles__Sample pb_sample;
typedef Perftools__Profiles__Label pb_label;
typedef Perftools__Profiles__Mapping pb_mapping;
typedef Perftools__Profiles__Location pb_location;
typedef Perftools__Profiles__Line pb_line;
typedef Perftools__Profiles__Function pb_function;

/* ---- a string table and a function table, both open-addressed ---- */

typedef struct pprof_strings {
    char **strings; /* the Profile.string_table being built */
    size_t count, cap;
    rallo_index index; /* of the strings, by text */
    uint64_t seed;     /* rallo_hash_seed: the strings come from a profile anyone can write */
} pprof_strings;

typedef struct pprof_functions {
    pb_function **functions;
    size_t count;
    uint64_t *keys;  /* name index << 32 | file index */
    uint32_t *slots; /* function index + 1; 0: empty */
    size_t nslots;
} pprof_functions;

typedef struct pprof_builder {
    rallo_profile scratch; /* only its arena: every message and array */
    pprof_strings strings;
    pprof_functions functions;
    bool failed;
} pprof_builder;

static void *builder_alloc(pprof_builder *b, size_t bytes) {
    void *p = rallo_profile_alloc(&b->scratch, bytes);
    if (p == NULL)
        b->failed = true;
    return p;
}

static void *builder_array(pprof_builder *b, size_t count, size_t size) {
    if (count != 0 && size > SIZE_MAX / count) {
        b->failed = true;
        return NULL;
    }
    return builder_alloc(b, count * size);
}

static uint64_t string_hash(const void *owner, size_t i) {
    const pprof_strings *t = owner;
    return rallo_hash_string(t->seed, t->strings[i]);
}

/* The string's index in the table, adding it (copied) when new. NULL is "". */
static int64_t intern(pprof_builder *b, const char *text) {
    pprof_strings *t = &b->strings;
    if (text == NULL)
        text = "";
    if (!rallo_index_reserve(&t->index, t->count, 0, 1024, string_hash, t)) {
        b->failed = true;
        return 0;
    }
    size_t s = rallo_index_slot(&t->index, rallo_hash_string(t->seed, text));
    for (; t->index.slots[s] != 0; s = rallo_index_next(&t->index, s))
        if (strcmp(t->strings[t->index.slots[s] - 1], text) == 0)
            return t->index.slots[s] - 1;
    if (!rallo_array_reserve((void **)&t->strings, &t->cap, t->count + 1, sizeof *t->strings, 1024)) {
        b->failed = true;
        return 0;
    }
    char *copy = rallo_profile_strdup(&b->scratch, text);
    if (copy == NULL) {
        b->failed = true;
        return 0;
    }
    t->strings[t->count] = copy;
    t->index.slots[s] = (uint32_t)t->count + 1;
    return (int64_t)t->count++;
}

/* The id of the function (name, file), adding it when new. The table holds
 * at most `capacity` functions (the caller sized it from the line count). */
static uint64_t function_id(pprof_builder *b, int64_t name, int64_t file) {
    pprof_functions *t = &b->functions;
    uint64_t key = (uint64_t)name << 32 | (uint64_t)file;
    size_t s = rallo_hash_mix(key ^ b->strings.seed) & (t->nslots - 1);
    while (t->slots[s] != 0) {
        if (t->keys[s] == key)
            return t->slots[s];
        s = (s + 1) & (t->nslots - 1);
    }
    pb_function *f = builder_alloc(b, sizeof *f);
    if (f == NULL)
        return 0;
    perftools__profiles__function__init(f);
    f->id = t->count + 1;
    f->name = name;
    f->system_name = name; /* rallo keeps only the demangled name */
    f->filename = file;
    t->functions[t->count++] = f;
    t->keys[s] = key;
    t->slots[s] = (uint32_t)f->id;
    return f->id;
}

/* ---- the messages ---- */

static pb_value_type *value_type(pprof_builder *b, const char *type, const char *unit) {
    pb_value_type *vt = builder_alloc(b, sizeof *vt);
    if (vt == NULL)
        return NULL;
    perftools__profiles__value_type__init(vt);
    vt->type = intern(b, type);
    vt->unit = intern(b, unit);
    return vt;
}

static int64_t clamp_i64(uint64_t v) {
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static bool add_sample_types(pprof_builder *b, pb_profile *pb, const rallo_profile *profile, int view) {
    static const char *const types[4][2] = {{"alloc_objects", "count"},
                                            {"alloc_space", "bytes"},
                                            {"inuse_objects", "count"},
                                            {"inuse_space", "bytes"}};
    pb->sample_type = builder_array(b, 4, sizeof *pb->sample_type);
    if (pb->sample_type == NULL)
        return false;
    for (int i = 0; i < 4; i++)
        if ((pb->sample_type[i] = value_type(b, types[i][0], types[i][1])) == NULL)
            return false;
    pb->n_sample_type = 4;
    pb->default_sample_type = intern(b, view == RALLO_PPROF_VIEW_ALLOCS ? "alloc_space" : "inuse_space");
    pb->period_type = value_type(b, "space", "bytes");
    /* pprof's period is the mean bytes between samples; Go writes 1 for
     * MemProfileRate=1, which is what rallo's 0 and 1 (every allocation) mean. */
    pb->period = profile->sample_interval > 1 ? clamp_i64(profile->sample_interval) : 1;
    return pb->period_type != NULL;
}

/* Which of pprof's has_* flags a mapping earns from its locations' lines. */
typedef struct mapping_flags {
    bool functions, filenames, line_numbers, inline_frames;
} mapping_flags;

static bool add_mappings(pprof_builder *b, pb_profile *pb, const rallo_profile *profile) {
    if (profile->nmappings == 0)
        return true;
    mapping_flags *flags = builder_array(b, profile->nmappings, sizeof *flags);
    pb->mapping = builder_array(b, profile->nmappings, sizeof *pb->mapping);
    if (flags == NULL || pb->mapping == NULL)
        return false;
    for (size_t i = 0; i < profile->nlocations; i++) {
        const rallo_prof_location *loc = &profile->locations[i];
        if (loc->mapping >= profile->nmappings)
            continue;
        mapping_flags *f = &flags[loc->mapping];
        for (uint32_t l = 0; l < loc->nlines; l++) {
            f->functions |= loc->lines[l].function != NULL;
            f->filenames |= loc->lines[l].file != NULL;
            f->line_numbers |= loc->lines[l].line != 0;
        }
        f->inline_frames |= loc->nlines > 1;
    }
    for (size_t i = 0; i < profile->nmappings; i++) {
        const rallo_prof_mapping *m = &profile->mappings[i];
        pb_mapping *pm = builder_alloc(b, sizeof *pm);
        if (pm == NULL)
            return false;
        perftools__profiles__mapping__init(pm);
        pm->id = i + 1;
        pm->memory_start = m->start;
        pm->memory_limit = m->limit;
        pm->file_offset = m->file_offset;
        pm->filename = intern(b, m->path);
        pm->build_id = intern(b, m->build_id);
        pm->has_functions = flags[i].functions;
        pm->has_filenames = flags[i].filenames;
        pm->has_line_numbers = flags[i].line_numbers;
        pm->has_inline_frames = flags[i].inline_frames;
        pb->mapping[pb->n_mapping++] = pm;
    }
    return true;
}

/* Locations get id index + 1; their lines keep rallo's order, innermost first,
 * which is pprof's. A line with neither function nor file says nothing and is
 * left out; a location without lines is an address (pprof shows it so). */
static bool add_locations(pprof_builder *b, pb_profile *pb, const rallo_profile *profile) {
    size_t total_lines = 0;
    for (size_t i = 0; i < profile->nlocations; i++)
        total_lines += profile->locations[i].nlines;
    pprof_functions *ft = &b->functions;
    ft->nslots = 16;
    while (ft->nslots < total_lines * 2)
        ft->nslots *= 2;
    ft->functions = builder_array(b, total_lines ? total_lines : 1, sizeof *ft->functions);
    ft->keys = builder_array(b, ft->nslots, sizeof *ft->keys);
    ft->slots = builder_array(b, ft->nslots, sizeof *ft->slots);
    pb->location = builder_array(b, profile->nlocations ? profile->nlocations : 1, sizeof *pb->location);
    if (ft->functions == NULL || ft->keys == NULL || ft->slots == NULL || pb->location == NULL)
        return false;
    for (size_t i = 0; i < profile->nlocations; i++) {
        const rallo_prof_location *loc = &profile->locations[i];
        pb_location *pl = builder_alloc(b, sizeof *pl);
        if (pl == NULL)
            return false;
        perftools__profiles__location__init(pl);
        pl->id = i + 1;
        pl->address = loc->address;
        pl->mapping_id = loc->mapping < profile->nmappings ? (uint64_t)loc->mapping + 1 : 0;
        if (loc->nlines > 0) {
            pl->line = builder_array(b, loc->nlines, sizeof *pl->line);
            if (pl->line == NULL)
                return false;
        }
        for (uint32_t l = 0; l < loc->nlines; l++) {
            const rallo_prof_line *line = &loc->lines[l];
            if (line->function == NULL && line->file == NULL)
                continue;
            pb_line *pline = builder_alloc(b, sizeof *pline);
            if (pline == NULL)
                return false;
            perftools__profiles__line__init(pline);
            pline->function_id = function_id(b, intern(b, line->function), intern(b, line->file));
            pline->line = line->line;
            if (b->failed)
                return false;
            pl->line[pl->n_line++] = pline;
        }
        pb->location[pb->n_location++] = pl;
    }
    pb->function = ft->functions;
    pb->n_function = ft->count;
    return true;
}

/* ---- samples: streamed in batches, never built all at once ----
 * One sample per site with anything to show; values in sample-type order. A
 * site's peak share rides along as a numeric label (pprof shows it as a tag).
 * A profile's encoding is its fields in number order, and a repeated field is
 * its elements one after another: so sample_type (1), then the samples (2) a
 * batch at a time, each batch packed as a Profile holding only them, then the
 * rest (3 and on), are the very bytes of the whole message packed at once,
 * while the samples' messages take one batch's room instead of ~250 bytes a
 * site (12 MB at 50,000 sites, all of it fresh pages for each scrape). */

#define SAMPLE_BATCH 256

typedef struct sample_batch {
    pb_sample samples[SAMPLE_BATCH];
    pb_sample *sample_pointers[SAMPLE_BATCH];
    int64_t values[SAMPLE_BATCH][4];
    pb_label labels[SAMPLE_BATCH];
    pb_label *label_pointers[SAMPLE_BATCH];
    const rallo_prof_site *sites[SAMPLE_BATCH]; /* each sample's site */
    uint64_t *ids;                              /* the batch's location ids, one run per sample */
    size_t ids_cap;
    int64_t peak_key, bytes_unit; /* string indices, interned in the table's order */
} sample_batch;

/* The strings the samples use, interned where the samples were built before
 * (after the locations, before the comments), so the string table is the same. */
static void intern_sample_strings(pprof_builder *b, const rallo_profile *profile, sample_batch *batch) {
    if (profile->nsites == 0)
        return;
    batch->peak_key = intern(b, "peak_live_bytes");
    batch->bytes_unit = intern(b, "bytes");
}

/* Fills the batch from the shown sites at *next on; how many samples it holds. */
static size_t batch_fill(sample_batch *batch, const rallo_profile *profile, size_t *next) {
    size_t n = 0, nids = 0, i = *next;
    for (size_t j = i; j < profile->nsites && n < SAMPLE_BATCH; j++)
        if (rallo_pprof_site_shown(&profile->sites[j])) {
            nids += profile->sites[j].nlocations;
            n++;
        }
    if (!rallo_array_reserve((void **)&batch->ids, &batch->ids_cap, nids ? nids : 1, sizeof *batch->ids,
                             1024))
        return SIZE_MAX;
    uint64_t *ids = batch->ids;
    for (n = 0; i < profile->nsites && n < SAMPLE_BATCH; i++) {
        const rallo_prof_site *site = &profile->sites[i];
        if (!rallo_pprof_site_shown(site))
            continue;
        pb_sample *ps = &batch->samples[n];
        perftools__profiles__sample__init(ps);
        int64_t *values = batch->values[n];
        values[0] = clamp_i64(site->alloc_count);
        values[1] = clamp_i64(site->alloc_bytes);
        values[2] = clamp_i64(site->live_count);
        values[3] = clamp_i64(site->live_bytes);
        ps->value = values;
        ps->n_value = 4;
        ps->location_id = ids;
        for (uint32_t l = 0; l < site->nlocations; l++)
            if (site->locations[l] < profile->nlocations) /* a bad index is dropped, not written */
                ids[ps->n_location_id++] = (uint64_t)site->locations[l] + 1;
        ids += ps->n_location_id;
        if (site->peak_live_bytes != 0) {
            pb_label *label = &batch->labels[n];
            perftools__profiles__label__init(label);
            label->key = batch->peak_key;
            label->num = clamp_i64(site->peak_live_bytes);
            label->num_unit = batch->bytes_unit;
            batch->label_pointers[n] = label;
            ps->label = &batch->label_pointers[n];
            ps->n_label = 1;
        }
        batch->sites[n] = site;
        batch->sample_pointers[n++] = ps;
    }
    *next = i;
    return n;
}

/* Packs every sample into the sink, a batch at a time, each given its site's
 * lifetimes figures when lifetimes is not NULL; false when out of memory. */
static bool pack_samples(const rallo_profile *profile, sample_batch *batch,
                         rallo_pprof_lifetimes_writer *lifetimes, ProtobufCBuffer *sink) {
    size_t next = 0;
    while (next < profile->nsites) {
        size_t n = batch_fill(batch, profile, &next);
        if (n == SIZE_MAX)
            return false;
        for (size_t k = 0; lifetimes != NULL && k < n; k++)
            if (!rallo_pprof_lifetimes_sample(lifetimes, batch->sample_pointers[k], batch->sites[k]))
                return false;
        pb_profile part;
        perftools__profiles__profile__init(&part);
        part.sample = batch->sample_pointers;
        part.n_sample = n;
        protobuf_c_message_pack_to_buffer(&part.base, sink);
    }
    return true;
}

/* rallo's own numbers as comments, one "rallo.key=value ..." each: `go tool
 * pprof -raw` prints them, and rallo_read_pprof() parses them back. */
static bool add_comments(pprof_builder *b, pb_profile *pb, const rallo_profile *profile) {
    char text[6][512];
    size_t n = 0;
    const rallo_totals *t = &profile->totals;
    const rallo_untracked *u = &profile->untracked;
    snprintf(text[n++], sizeof text[0], "rallo.pid=%" PRId32 " ppid=%" PRId32, profile->pid, profile->ppid);
    snprintf(text[n++], sizeof text[0], "rallo.sample_interval=%" PRIu64 "%s", profile->sample_interval,
             profile->sample_interval <= 1 ? " (every allocation; pprof period 1)"
                                           : " (mean bytes between samples)");
    snprintf(text[n++], sizeof text[0],
             "rallo.totals alloc_count=%" PRIu64 " alloc_bytes=%" PRIu64 " free_count=%" PRIu64
             " free_bytes=%" PRIu64 " live_count=%" PRIu64 " live_bytes=%" PRIu64 " peak_live_bytes=%" PRIu64
             " untracked_count=%" PRIu64,
             t->alloc_count, t->alloc_bytes, t->free_count, t->free_bytes, t->live_count, t->live_bytes,
             t->peak_live_bytes, t->untracked_count);
    snprintf(text[n++], sizeof text[0],
             "rallo.untracked arena_full=%" PRIu64 " no_arena=%" PRIu64 " alignment=%" PRIu64
             " too_large=%" PRIu64 " thread_exiting=%" PRIu64 " bad_header=%" PRIu64,
             u->arena_full, u->no_arena, u->alignment, u->too_large, u->thread_exiting, u->bad_header);
    uint64_t live_samples, sampled;
    rallo_profile_samples(profile, &live_samples, &sampled);
    if (profile->sample_interval > 1)
        snprintf(text[n++], sizeof text[0],
                 "rallo.samples live=%" PRIu64 " allocated=%" PRIu64
                 " (at most; a smaller RALLO_SAMPLE takes more samples)",
                 live_samples, sampled);
    snprintf(text[n++], sizeof text[0], "rallo.unwind stacks_cut_short=%" PRIu64, profile->stacks_cut_short);
    pb->comment = builder_array(b, n + 1 + profile->nargv, sizeof *pb->comment);
    if (pb->comment == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        pb->comment[pb->n_comment++] = intern(b, text[i]);
    if (profile->program != NULL) {
        /* The path may be longer than a line buffer: built in the arena. */
        size_t len = strlen(profile->program);
        char *line = builder_alloc(b, len + sizeof "rallo.program=");
        if (line == NULL)
            return false;
        memcpy(line, "rallo.program=", sizeof "rallo.program=" - 1);
        memcpy(line + sizeof "rallo.program=" - 1, profile->program, len + 1);
        pb->comment[pb->n_comment++] = intern(b, line);
    }
    /* One comment an argument, in order: arguments may hold spaces. */
    for (size_t i = 0; i < profile->nargv; i++) {
        size_t len = strlen(profile->argv[i]);
        char *line = builder_alloc(b, len + sizeof "rallo.argv=");
        if (line == NULL)
            return false;
        memcpy(line, "rallo.argv=", sizeof "rallo.argv=" - 1);
        memcpy(line + sizeof "rallo.argv=" - 1, profile->argv[i], len + 1);
        pb->comment[pb->n_comment++] = intern(b, line);
    }
    return !b->failed;
}

/* ---- gzip: protobuf-c's output streamed through deflate into the buffer ---- */

#define GZ_STAGE_BYTES (64u * 1024u)

typedef struct gz_sink {
    ProtobufCBuffer base;
    z_stream z;
    rallo_buf *out;
    unsigned char *stage; /* protobuf-c appends a few bytes at a time: batch them */
    size_t staged;
    bool failed;
} gz_sink;

static void gz_deflate(gz_sink *sink, const unsigned char *data, size_t len, int flush) {
    unsigned char chunk[16384];
    sink->z.next_in = (Bytef *)data;
    sink->z.avail_in = (uInt)len;
    do {
        sink->z.next_out = chunk;
        sink->z.avail_out = sizeof chunk;
        int rc = deflate(&sink->z, flush);
        if (rc == Z_STREAM_ERROR) {
            sink->failed = true;
            return;
        }
        rallo_buf_put(sink->out, chunk, sizeof chunk - sink->z.avail_out);
    } while (sink->z.avail_out == 0 || sink->z.avail_in != 0);
}

static void gz_append(ProtobufCBuffer *base, size_t len, const uint8_t *data) {
    gz_sink *sink = (gz_sink *)base;
    if (sink->failed)
        return;
    if (sink->staged + len > GZ_STAGE_BYTES) {
        gz_deflate(sink, sink->stage, sink->staged, Z_NO_FLUSH);
        sink->staged = 0;
    }
    if (len > GZ_STAGE_BYTES) {
        gz_deflate(sink, data, len, Z_NO_FLUSH);
        return;
    }
    memcpy(sink->stage + sink->staged, data, len);
    sink->staged += len;
}

/* sample_type, the samples in batches, then every later field (see above). */
static int write_gzipped(pb_profile *pb, const rallo_profile *profile, sample_batch *batch,
                         rallo_pprof_lifetimes_writer *lifetimes, rallo_buf *out) {
    gz_sink sink;
    memset(&sink, 0, sizeof sink);
    sink.base.append = gz_append;
    sink.out = out;
    rallo_zlib_use_mimalloc(&sink.z);
    sink.stage = mi_malloc(GZ_STAGE_BYTES);
    if (sink.stage == NULL)
        return -1;
    /* windowBits 15 + 16: a gzip header and trailer, as pprof files have. */
    if (deflateInit2(&sink.z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        mi_free(sink.stage);
        return -1;
    }
    pb_profile head;
    perftools__profiles__profile__init(&head);
    head.sample_type = pb->sample_type;
    head.n_sample_type = pb->n_sample_type;
    protobuf_c_message_pack_to_buffer(&head.base, &sink.base);
    if (!pack_samples(profile, batch, lifetimes, &sink.base))
        sink.failed = true;
    /* The samples' lifetimes labels may add strings: the table is final now. */
    if (lifetimes != NULL && !rallo_pprof_lifetimes_end(lifetimes))
        sink.failed = true;
    pb_profile rest = *pb;
    rest.sample_type = NULL;
    rest.n_sample_type = 0;
    protobuf_c_message_pack_to_buffer(&rest.base, &sink.base);
    if (!sink.failed)
        gz_deflate(&sink, sink.stage, sink.staged, Z_FINISH);
    deflateEnd(&sink.z);
    mi_free(sink.stage);
    return sink.failed || out->failed ? -1 : 0;
}

/* lifetimes: the profile's sizes, lifetimes, temporaries and threads too
 * (write_pprof_lifetimes.c); never in the HTTP endpoint's views. */
static int write_pprof(const rallo_profile *profile, rallo_buf *out, int view, bool lifetimes) {
    pprof_builder b;
    memset(&b, 0, sizeof b);
    b.strings.seed = rallo_hash_seed();
    rallo_profile_init(&b.scratch);
    sample_batch *batch = mi_malloc(sizeof *batch);
    if (batch == NULL) {
        out->failed = true;
        return -1;
    }
    batch->ids = NULL;
    batch->ids_cap = 0;
    batch->peak_key = batch->bytes_unit = 0;
    pb_profile pb;
    perftools__profiles__profile__init(&pb);
    intern(&b, ""); /* string 0 is always "" */
    bool ok = add_sample_types(&b, &pb, profile, view) && add_mappings(&b, &pb, profile) &&
              add_locations(&b, &pb, profile);
    if (ok)
        intern_sample_strings(&b, profile, batch);
    ok = ok && !b.failed && add_comments(&b, &pb, profile);
    pb.time_nanos = clamp_i64(profile->time_unix_ns);
    pb.string_table = b.strings.strings;
    pb.n_string_table = b.strings.count;
    rallo_pprof_lifetimes_writer *lifetimes_writer = NULL;
    if (ok && lifetimes)
        ok = (lifetimes_writer = rallo_pprof_lifetimes_begin(&pb, profile, &b.scratch)) != NULL;
    int rc = ok && !b.failed ? write_gzipped(&pb, profile, batch, lifetimes_writer, out) : -1;
    if (rc != 0)
        out->failed = true;
    mi_free(batch->ids);
    mi_free(batch);
    mi_free(b.strings.strings);
    rallo_index_free(&b.strings.index);
    rallo_profile_free(&b.scratch);
    return rc;
}

int rallo_write_pprof_view(const rallo_profile *profile, rallo_buf *out, int view) {
    return write_pprof(profile, out, view, false);
}

int rallo_write_pprof(const rallo_profile *profile, rallo_buf *out) {
    return write_pprof(profile, out, RALLO_PPROF_VIEW_HEAP, profile->has_lifetimes);
}
