/* write_pprof_lifetimes.c - a profile's sizes, lifetimes, temporaries and
 * threads added to the pprof message write_pprof.c built from it, in the form
 * pprof_lifetimes.h describes. It runs in the dumping process: every byte
 * comes from the builder's arena (mimalloc), freed with it after packing. The
 * strings it needs are appended to the table (a string may then appear twice
 * in it, which pprof allows): it never searches the table the builder made. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pprof_lifetimes.h"
#include "writers.h"

typedef Perftools__Profiles__Profile pb_profile;
typedef Perftools__Profiles__ValueType pb_value_type;
typedef Perftools__Profiles__Sample pb_sample;
typedef Perftools__Profiles__Label pb_label;

enum { HIST_SIZE, HIST_LIFETIME, HIST_AGE, HIST_COUNT };
static const char *const hist_names[HIST_COUNT] = {"size_log2", "lifetime_log2_ns", "live_age_log2_ns"};
static const uint32_t hist_buckets[HIST_COUNT] = {RALLO_PROF_SIZE_BUCKETS, RALLO_PROF_TIME_BUCKETS,
                                                  RALLO_PROF_TIME_BUCKETS};

/* The keys of one (site, thread) entry, in the order they are written. */
enum { TK_TID, TK_NAME, TK_INDEX, TK_ALLOC_COUNT, TK_ALLOC_BYTES, TK_LIVE_COUNT, TK_LIVE_BYTES, TK_COUNT };
static const char *const thread_keys[TK_COUNT] = {"thread",
                                                  "thread_name",
                                                  "thread_index",
                                                  "thread_alloc_count",
                                                  "thread_alloc_bytes",
                                                  "thread_live_count",
                                                  "thread_live_bytes"};

typedef struct rallo_pprof_lifetimes_writer {
    pb_profile *pb;
    rallo_profile *arena;
    char **strings; /* the new table: the builder's, then what is added here */
    size_t nstrings, cap;
    int64_t bucket_key[HIST_COUNT][RALLO_PROF_TIME_BUCKETS]; /* 0: not added yet */
    int64_t thread_key[TK_COUNT];
    int64_t *thread_name; /* per profile thread */
    int64_t count_unit, bytes_unit;
    const rallo_profile *profile;
    bool failed;
} lt_writer;

static int64_t clamp_i64(uint64_t v) {
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* Appends text (copied) to the table; its index. */
static int64_t add_string(lt_writer *w, const char *text) {
    if (w->nstrings == w->cap) {
        w->failed = true;
        return 0;
    }
    char *copy = rallo_profile_strdup(w->arena, text != NULL ? text : "");
    if (copy == NULL) {
        w->failed = true;
        return 0;
    }
    w->strings[w->nstrings] = copy;
    return (int64_t)w->nstrings++;
}

static int64_t bucket_key(lt_writer *w, int hist, uint32_t k) {
    if (w->bucket_key[hist][k] == 0) {
        char key[64];
        snprintf(key, sizeof key, "%s.%" PRIu32, hist_names[hist], k);
        w->bucket_key[hist][k] = add_string(w, key);
    }
    return w->bucket_key[hist][k];
}

static pb_label *num_label(pb_label *label, int64_t key, uint64_t num, int64_t unit) {
    perftools__profiles__label__init(label);
    label->key = key;
    label->num = clamp_i64(num);
    label->num_unit = unit;
    return label;
}

static const uint64_t *site_histogram(const rallo_prof_lifetimes *lt, int hist) {
    return hist == HIST_SIZE       ? lt->size_log2
           : hist == HIST_LIFETIME ? lt->lifetime_log2_ns
                                   : lt->live_age_log2_ns;
}

/* The site's temporaries as two more values, its histograms and threads as labels. */
static bool sample_extend(lt_writer *w, pb_sample *ps, const rallo_profile *profile,
                          const rallo_prof_site *site) {
    static const rallo_prof_lifetimes none;
    const rallo_prof_lifetimes *lt = site->lt != NULL ? site->lt : &none;
    int64_t *values = rallo_profile_alloc(w->arena, (ps->n_value + 2) * sizeof *values);
    if (values == NULL)
        return false;
    memcpy(values, ps->value, ps->n_value * sizeof *values);
    values[ps->n_value] = clamp_i64(lt->temp_count);
    values[ps->n_value + 1] = clamp_i64(lt->temp_bytes);
    ps->value = values;
    ps->n_value += 2;
    size_t wanted = 0;
    for (int h = 0; h < HIST_COUNT; h++)
        for (uint32_t k = 0; k < hist_buckets[h]; k++)
            wanted += site_histogram(lt, h)[k] != 0;
    for (uint32_t t = 0; t < lt->nthreads; t++)
        wanted += lt->threads[t].thread < profile->nthreads ? TK_COUNT : 0;
    if (wanted == 0)
        return true;
    pb_label *labels = rallo_profile_alloc(w->arena, wanted * sizeof *labels);
    pb_label **list = rallo_profile_alloc(w->arena, (ps->n_label + wanted) * sizeof *list);
    if (labels == NULL || list == NULL)
        return false;
    if (ps->n_label != 0) /* memcpy's source may not be NULL, even for 0 bytes */
        memcpy(list, ps->label, ps->n_label * sizeof *list);
    size_t n = ps->n_label, used = 0;
    for (int h = 0; h < HIST_COUNT; h++)
        for (uint32_t k = 0; k < hist_buckets[h]; k++)
            if (site_histogram(lt, h)[k] != 0)
                list[n++] =
                    num_label(&labels[used++], bucket_key(w, h, k), site_histogram(lt, h)[k], w->count_unit);
    for (uint32_t t = 0; t < lt->nthreads; t++) {
        const rallo_prof_site_thread *st = &lt->threads[t];
        if (st->thread >= profile->nthreads)
            continue;
        const int64_t *key = w->thread_key;
        const rallo_prof_thread *thread = &profile->threads[st->thread];
        pb_label *tid = num_label(&labels[used++], key[TK_TID], 0, 0);
        tid->num = thread->tid;
        list[n++] = tid;
        pb_label *name = &labels[used++];
        perftools__profiles__label__init(name);
        name->key = key[TK_NAME];
        name->str = w->thread_name[st->thread];
        list[n++] = name;
        list[n++] = num_label(&labels[used++], key[TK_INDEX], st->thread, 0);
        list[n++] = num_label(&labels[used++], key[TK_ALLOC_COUNT], st->alloc_count, w->count_unit);
        list[n++] = num_label(&labels[used++], key[TK_ALLOC_BYTES], st->alloc_bytes, w->bytes_unit);
        list[n++] = num_label(&labels[used++], key[TK_LIVE_COUNT], st->live_count, w->count_unit);
        list[n++] = num_label(&labels[used++], key[TK_LIVE_BYTES], st->live_bytes, w->bytes_unit);
    }
    ps->label = list;
    ps->n_label = n;
    return !w->failed;
}

/* A comment built in the arena from a line that may be long (a thread's name). */
static int64_t add_comment(lt_writer *w, rallo_buf *line) {
    rallo_buf_putc(line, '\0');
    int64_t index = line->failed ? (w->failed = true, 0) : add_string(w, line->data);
    line->len = 0;
    return index;
}

static bool add_comments(lt_writer *w, const rallo_profile *profile) {
    pb_profile *pb = w->pb;
    int64_t *comments =
        rallo_profile_alloc(w->arena, (pb->n_comment + 1 + profile->nthreads) * sizeof *comments);
    if (comments == NULL)
        return false;
    if (pb->n_comment != 0)
        memcpy(comments, pb->comment, pb->n_comment * sizeof *comments);
    rallo_buf line;
    rallo_buf_init(&line);
    rallo_buf_printf(&line,
                     RALLO_PPROF_LIFETIMES_COMMENT "temp_count=%" PRIu64 " temp_bytes=%" PRIu64 " size_log2=",
                     profile->temp_count, profile->temp_bytes);
    uint32_t used = RALLO_PROF_SIZE_BUCKETS;
    while (used > 1 && profile->size_log2[used - 1] == 0)
        used--;
    for (uint32_t k = 0; k < used; k++)
        rallo_buf_printf(&line, "%s%" PRIu64, k ? "," : "", profile->size_log2[k]);
    size_t n = pb->n_comment;
    comments[n++] = add_comment(w, &line);
    for (size_t i = 0; i < profile->nthreads; i++) {
        const rallo_prof_thread *t = &profile->threads[i];
        rallo_buf_printf(&line,
                         RALLO_PPROF_THREAD_COMMENT "index=%zu tid=%" PRId32 " exited=%d alloc_count=%" PRIu64
                                                    " alloc_bytes=%" PRIu64 " live_count=%" PRIu64
                                                    " live_bytes=%" PRIu64 " name=",
                         i, t->tid, t->exited ? 1 : 0, t->alloc_count, t->alloc_bytes, t->live_count,
                         t->live_bytes);
        rallo_buf_puts(&line, t->name != NULL ? t->name : "");
        comments[n++] = add_comment(w, &line);
    }
    rallo_buf_free(&line);
    pb->comment = comments;
    pb->n_comment = n;
    return !w->failed;
}

static bool add_sample_types(lt_writer *w) {
    pb_profile *pb = w->pb;
    pb_value_type **types = rallo_profile_alloc(w->arena, (pb->n_sample_type + 2) * sizeof *types);
    pb_value_type *added = rallo_profile_alloc(w->arena, 2 * sizeof *added);
    if (types == NULL || added == NULL)
        return false;
    memcpy(types, pb->sample_type, pb->n_sample_type * sizeof *types);
    for (int i = 0; i < 2; i++)
        perftools__profiles__value_type__init(&added[i]);
    added[0].type = add_string(w, RALLO_PPROF_TEMP_OBJECTS);
    added[0].unit = w->count_unit;
    added[1].type = add_string(w, RALLO_PPROF_TEMP_SPACE);
    added[1].unit = w->bytes_unit;
    types[pb->n_sample_type] = &added[0];
    types[pb->n_sample_type + 1] = &added[1];
    pb->sample_type = types;
    pb->n_sample_type += 2;
    return !w->failed;
}

rallo_pprof_lifetimes_writer *rallo_pprof_lifetimes_begin(pb_profile *pb, const rallo_profile *profile,
                                                          rallo_profile *arena) {
    lt_writer *w = rallo_profile_alloc(arena, sizeof *w);
    if (w == NULL)
        return NULL;
    memset(w, 0, sizeof *w);
    w->pb = pb;
    w->arena = arena;
    w->profile = profile;
    /* Room for every string this can add: bucket keys, thread keys and
     * names, units and types, comments. */
    w->cap =
        pb->n_string_table + HIST_COUNT * RALLO_PROF_TIME_BUCKETS + TK_COUNT + 4 + 2 * profile->nthreads + 1;
    w->strings = rallo_profile_alloc(arena, w->cap * sizeof *w->strings);
    w->thread_name = rallo_profile_alloc(arena, (profile->nthreads + 1) * sizeof *w->thread_name);
    if (w->strings == NULL || w->thread_name == NULL)
        return NULL;
    memcpy(w->strings, pb->string_table, pb->n_string_table * sizeof *w->strings);
    w->nstrings = pb->n_string_table;
    w->count_unit = add_string(w, "count");
    w->bytes_unit = add_string(w, "bytes");
    for (int k = 0; k < TK_COUNT; k++)
        w->thread_key[k] = add_string(w, thread_keys[k]);
    for (size_t i = 0; i < profile->nthreads; i++)
        w->thread_name[i] = add_string(w, profile->threads[i].name);
    if (!add_sample_types(w) || !add_comments(w, profile) || w->failed)
        return NULL;
    return w;
}

bool rallo_pprof_lifetimes_sample(rallo_pprof_lifetimes_writer *w, pb_sample *ps,
                                  const rallo_prof_site *site) {
    return sample_extend(w, ps, w->profile, site);
}

bool rallo_pprof_lifetimes_end(rallo_pprof_lifetimes_writer *w) {
    if (w->failed)
        return false;
    w->pb->string_table = w->strings;
    w->pb->n_string_table = w->nstrings;
    return true;
}
