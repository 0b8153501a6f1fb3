/* test_pprof_lifetimes.c - sizes, lifetimes, temporaries and threads in
 * pprof (report/pprof_lifetimes.h) against a profile built by hand: written
 * by rallo_write_pprof and read back by rallo_read_pprof, every figure
 * equal; the HTTP views and a profile without them byte for byte what they
 * were; and files whose lifetimes parts are hostile (buckets, indexes,
 * counts, sums and comments out of bounds) refused with a clean error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mimalloc.h>

#include "../../tracking/read_side.h" /* RALLO_SITE_FIGURES_ADD */
#include "pprof.h"
#include "pprof_lifetimes.h"
#include "read_pprof_internal.h"
#include "writers.h"

/* ---- the known profile ---- */

static void known_site(rallo_profile *p, size_t i, uint64_t alloc_count, uint64_t live_count, uint64_t size,
                       uint32_t location) {
    rallo_prof_site *s = &p->sites[i];
    s->alloc_count = alloc_count;
    s->alloc_bytes = alloc_count * size;
    s->live_count = live_count;
    s->live_bytes = live_count * size;
    s->free_count = alloc_count - live_count;
    s->free_bytes = s->free_count * size;
    s->nlocations = 1;
    s->locations = rallo_profile_alloc(p, sizeof *s->locations);
    s->locations[0] = location;
    s->lt = rallo_profile_alloc(p, sizeof *s->lt);
}

static void site_thread(rallo_profile *p, rallo_prof_site *s, uint32_t thread, uint64_t count, uint64_t live,
                        uint64_t size) {
    rallo_prof_lifetimes *lt = s->lt;
    rallo_prof_site_thread *grown = rallo_profile_alloc(p, (lt->nthreads + 1) * sizeof *grown);
    if (lt->nthreads != 0)
        memcpy(grown, lt->threads, lt->nthreads * sizeof *grown);
    grown[lt->nthreads++] = (rallo_prof_site_thread){thread, count, count * size, live, live * size};
    lt->threads = grown;
    rallo_prof_thread *t = &p->threads[thread];
    t->alloc_count += count;
    t->alloc_bytes += count * size;
    t->live_count += live;
    t->live_bytes += live * size;
}

/* Site 0: 10 blocks of 100 bytes from two threads, 3 temporary, 4 live;
 * site 1: nothing (not a sample); site 2: 5 blocks of 1 byte, the last
 * buckets of both time histograms used. Thread 2's name looks like fields. */
static void build_known(rallo_profile *p, bool lifetimes) {
    rallo_profile_init(p);
    p->pid = 77;
    p->time_unix_ns = 1700000000000000000ull;
    p->program = rallo_profile_strdup(p, "/bin/known");
    p->nmappings = 1;
    p->mappings = rallo_profile_alloc(p, sizeof *p->mappings);
    p->mappings[0] = (rallo_prof_mapping){0x400000, 0x500000, 0, rallo_profile_strdup(p, "/bin/known"), NULL};
    p->nlocations = 3;
    p->locations = rallo_profile_alloc(p, 3 * sizeof *p->locations);
    for (uint32_t i = 0; i < 3; i++)
        p->locations[i] = (rallo_prof_location){0x401000 + 16 * i, 0, 0, NULL};
    p->nthreads = 3;
    p->threads = rallo_profile_alloc(p, 3 * sizeof *p->threads);
    p->threads[0].name = rallo_profile_strdup(p, "(other threads)");
    p->threads[1] = (rallo_prof_thread){.tid = 111, .name = rallo_profile_strdup(p, "main")};
    p->threads[2] =
        (rallo_prof_thread){.tid = 222, .name = rallo_profile_strdup(p, "a b tid=3 name="), .exited = true};
    p->nsites = 3;
    p->sites = rallo_profile_alloc(p, 3 * sizeof *p->sites);
    known_site(p, 0, 10, 4, 100, 0);
    known_site(p, 1, 0, 0, 0, 1);
    known_site(p, 2, 5, 0, 1, 2);
    rallo_prof_lifetimes *a = p->sites[0].lt, *c = p->sites[2].lt;
    a->temp_count = 3;
    a->temp_bytes = 300;
    a->size_log2[6] = 10;
    a->lifetime_log2_ns[0] = 1;
    a->lifetime_log2_ns[17] = 5;
    a->live_age_log2_ns[30] = 4;
    site_thread(p, &p->sites[0], 1, 6, 2, 100);
    site_thread(p, &p->sites[0], 2, 4, 2, 100);
    c->temp_count = 5;
    c->temp_bytes = 5;
    c->size_log2[0] = 5;
    c->lifetime_log2_ns[RALLO_PROF_TIME_BUCKETS - 1] = 5;
    c->live_age_log2_ns[RALLO_PROF_TIME_BUCKETS - 1] = 0;
    site_thread(p, &p->sites[2], 0, 5, 0, 1);
    p->temp_count = 8;
    p->temp_bytes = 305;
    p->size_log2[0] = 5;
    p->size_log2[6] = 10;
    for (size_t i = 0; i < 3; i++)
        RALLO_SITE_FIGURES_ADD(&p->totals, &p->sites[i]);
    p->has_lifetimes = lifetimes;
}

static rallo_buf written(const rallo_profile *p) {
    rallo_buf out;
    rallo_buf_init(&out);
    assert_int_equal(rallo_write_pprof(p, &out), 0);
    return out;
}

static void same_lifetimes(const rallo_prof_lifetimes *got, const rallo_prof_lifetimes *want) {
    assert_int_equal(got->temp_count, want->temp_count);
    assert_int_equal(got->temp_bytes, want->temp_bytes);
    assert_memory_equal(got->size_log2, want->size_log2, sizeof want->size_log2);
    assert_memory_equal(got->lifetime_log2_ns, want->lifetime_log2_ns, sizeof want->lifetime_log2_ns);
    assert_memory_equal(got->live_age_log2_ns, want->live_age_log2_ns, sizeof want->live_age_log2_ns);
    assert_int_equal(got->nthreads, want->nthreads);
    for (uint32_t i = 0; i < want->nthreads; i++)
        assert_memory_equal(&got->threads[i], &want->threads[i], sizeof want->threads[i]);
}

static void round_trip(void **state) {
    (void)state;
    rallo_profile p, back;
    build_known(&p, true);
    rallo_buf out = written(&p);
    char error[256];
    assert_int_equal(rallo_read_pprof(out.data, out.len, &back, error, sizeof error), 0);
    assert_string_equal(error, ""); /* temp_objects and temp_space are not "ignored" */
    assert_true(back.has_lifetimes);
    assert_int_equal(back.nsites, 2); /* site 1 has nothing to show */
    same_lifetimes(back.sites[0].lt, p.sites[0].lt);
    same_lifetimes(back.sites[1].lt, p.sites[2].lt);
    assert_int_equal(back.nthreads, p.nthreads);
    for (size_t i = 0; i < p.nthreads; i++) {
        assert_int_equal(back.threads[i].tid, p.threads[i].tid);
        assert_string_equal(back.threads[i].name, p.threads[i].name);
        assert_int_equal(back.threads[i].exited, p.threads[i].exited);
        assert_int_equal(back.threads[i].alloc_count, p.threads[i].alloc_count);
        assert_int_equal(back.threads[i].alloc_bytes, p.threads[i].alloc_bytes);
        assert_int_equal(back.threads[i].live_count, p.threads[i].live_count);
        assert_int_equal(back.threads[i].live_bytes, p.threads[i].live_bytes);
    }
    assert_int_equal(back.temp_count, p.temp_count);
    assert_int_equal(back.temp_bytes, p.temp_bytes);
    assert_memory_equal(back.size_log2, p.size_log2, sizeof p.size_log2);
    /* Written again from what was read: the same bytes. */
    rallo_buf again = written(&back);
    assert_int_equal(again.len, out.len);
    assert_memory_equal(again.data, out.data, out.len);
    rallo_buf_free(&again);
    rallo_buf_free(&out);
    rallo_profile_free(&back);
    rallo_profile_free(&p);
}

/* The HTTP endpoint's views never carry lifetimes, and a profile without
 * them is written as before: the same bytes as the heap view. */
static void views_unchanged(void **state) {
    (void)state;
    rallo_profile with, without, back;
    build_known(&with, true);
    build_known(&without, false);
    rallo_buf plain = written(&without), view;
    rallo_buf_init(&view);
    assert_int_equal(rallo_write_pprof_view(&with, &view, RALLO_PPROF_VIEW_HEAP), 0);
    assert_int_equal(view.len, plain.len);
    assert_memory_equal(view.data, plain.data, plain.len);
    char error[256];
    assert_int_equal(rallo_read_pprof(plain.data, plain.len, &back, error, sizeof error), 0);
    assert_false(back.has_lifetimes);
    assert_null(back.sites[0].lt);
    rallo_profile_free(&back);
    rallo_buf lifetimes = written(&with);
    assert_true(lifetimes.len > plain.len);
    rallo_buf_free(&lifetimes);
    rallo_buf_free(&view);
    rallo_buf_free(&plain);
    rallo_profile_free(&with);
    rallo_profile_free(&without);
}

/* ---- hostile files: the known profile unpacked, changed, packed raw ---- */

typedef Perftools__Profiles__Profile pb;

typedef struct hostile {
    pb *pb;
    char **table; /* the unpacked table, given back before it is freed */
    size_t ntable;
    int64_t *comments;
    size_t ncomments;
} hostile;

static hostile hostile_open(void) {
    rallo_profile p;
    build_known(&p, true);
    rallo_buf out = written(&p);
    rallo_profile_free(&p);
    pprof_reader r;
    char error[256] = "";
    memset(&r, 0, sizeof r);
    r.error = error;
    r.error_len = sizeof error;
    unsigned char *raw;
    size_t raw_len;
    assert_true(rallo_pprof_inflate(&r, (unsigned char *)out.data, out.len, 1u << 20, &raw, &raw_len));
    rallo_buf_free(&out);
    hostile h = {.pb = perftools__profiles__profile__unpack(NULL, raw_len, raw)};
    mi_free(raw);
    assert_non_null(h.pb);
    h.table = h.pb->string_table;
    h.ntable = h.pb->n_string_table;
    h.comments = h.pb->comment;
    h.ncomments = h.pb->n_comment;
    /* Room for strings and comments the changes add. */
    h.pb->string_table = calloc(h.ntable + 8, sizeof *h.pb->string_table);
    memcpy(h.pb->string_table, h.table, h.ntable * sizeof *h.table);
    h.pb->comment = calloc(h.ncomments + 8, sizeof *h.pb->comment);
    memcpy(h.pb->comment, h.comments, h.ncomments * sizeof *h.comments);
    return h;
}

static int64_t add_string(hostile *h, const char *text) {
    h->pb->string_table[h->pb->n_string_table] = (char *)text;
    return (int64_t)h->pb->n_string_table++;
}

static int64_t string_index(const hostile *h, const char *text) {
    for (size_t i = 0; i < h->ntable; i++)
        if (strcmp(h->table[i], text) == 0)
            return (int64_t)i;
    fail_msg("no string %s", text);
    return -1;
}

/* The first label of sample s whose key is `key`. */
static Perftools__Profiles__Label *label_of(const hostile *h, size_t s, const char *key) {
    int64_t k = string_index(h, key);
    for (size_t i = 0; i < h->pb->sample[s]->n_label; i++)
        if (h->pb->sample[s]->label[i]->key == k)
            return h->pb->sample[s]->label[i];
    fail_msg("no label %s", key);
    return NULL;
}

/* The comment that starts with prefix, made `text`. */
static void comment_set(hostile *h, const char *prefix, const char *text) {
    for (size_t i = 0; i < h->pb->n_comment; i++)
        if (strncmp(h->pb->string_table[h->pb->comment[i]], prefix, strlen(prefix)) == 0) {
            h->pb->comment[i] = add_string(h, text);
            return;
        }
    fail_msg("no comment %s", prefix);
}

/* Packs the changed profile raw, reads it, and gives everything back;
 * the read's result, with its error line in error. */
static int hostile_read(hostile *h, char *error, size_t size, rallo_profile *back) {
    size_t len = protobuf_c_message_get_packed_size(&h->pb->base);
    uint8_t *raw = malloc(len ? len : 1);
    protobuf_c_message_pack(&h->pb->base, raw);
    int rc = rallo_read_pprof(raw, len, back, error, size);
    free(raw);
    free(h->pb->string_table);
    free(h->pb->comment);
    h->pb->string_table = h->table;
    h->pb->n_string_table = h->ntable;
    h->pb->comment = h->comments;
    h->pb->n_comment = h->ncomments;
    perftools__profiles__profile__free_unpacked(h->pb, NULL);
    return rc;
}

static void refused(hostile *h, const char *reason) {
    char error[256];
    rallo_profile back;
    assert_int_equal(hostile_read(h, error, sizeof error, &back), -1);
    if (strstr(error, reason) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", error, reason);
}

static void hostile_labels(void **state) {
    (void)state;
    hostile h = hostile_open();
    label_of(&h, 0, "size_log2.6")->key = add_string(&h, "size_log2.41");
    refused(&h, "names no bucket");
    h = hostile_open();
    label_of(&h, 0, "lifetime_log2_ns.17")->key = add_string(&h, "lifetime_log2_ns.99999999999999999999999");
    refused(&h, "names no bucket");
    h = hostile_open();
    label_of(&h, 0, "live_age_log2_ns.30")->key = add_string(&h, "live_age_log2_ns.-1");
    refused(&h, "names no bucket");
    h = hostile_open();
    label_of(&h, 0, "size_log2.6")->num = -1;
    refused(&h, "is negative");
    h = hostile_open();
    label_of(&h, 0, "thread_live_bytes")->num = -5;
    refused(&h, "is negative");
    h = hostile_open();
    label_of(&h, 1, "thread_index")->num = 3;
    refused(&h, "names thread 3 of 3");
    h = hostile_open();
    label_of(&h, 1, "thread_live_bytes")->key = string_index(&h, "thread");
    refused(&h, "0 thread_live_bytes labels for 1 thread_index labels");
    /* Two samples' buckets that add up past int64 (each alone fits). */
    h = hostile_open();
    label_of(&h, 0, "lifetime_log2_ns.17")->num = INT64_MAX / 2 + 1;
    label_of(&h, 1, "lifetime_log2_ns.43")->num = INT64_MAX / 2 + 1;
    refused(&h, "past 2^63-1");
    h = hostile_open();
    label_of(&h, 0, "thread_alloc_bytes")->num = INT64_MAX;
    label_of(&h, 1, "thread_alloc_bytes")->num = 1;
    refused(&h, "past 2^63-1");
}

/* 200,000 samples of nothing but zeros (10 bytes each) in a profile that
 * says it carries lifetimes: ~1 KiB of figures each would be 100 times the
 * file, past the reader's budget, so it is refused before taking them. */
static void hostile_many_samples(void **state) {
    (void)state;
    hostile h = hostile_open();
    size_t had = h.pb->n_sample, n = 200000;
    Perftools__Profiles__Sample **samples = h.pb->sample, empty;
    perftools__profiles__sample__init(&empty);
    int64_t zeros[16] = {0};
    empty.n_value = h.pb->n_sample_type;
    empty.value = zeros;
    h.pb->sample = malloc(n * sizeof *h.pb->sample);
    for (size_t i = 0; i < n; i++)
        h.pb->sample[i] = &empty;
    h.pb->n_sample = n;
    size_t len = protobuf_c_message_get_packed_size(&h.pb->base);
    uint8_t *raw = malloc(len);
    protobuf_c_message_pack(&h.pb->base, raw);
    free(h.pb->sample);
    h.pb->sample = samples;
    h.pb->n_sample = had;
    char error[256];
    rallo_profile back;
    assert_int_equal(rallo_read_pprof(raw, len, &back, error, sizeof error), -1);
    if (strstr(error, "past the") == NULL || strstr(error, "budget, refused") == NULL)
        fail_msg("error \"%s\"", error);
    free(raw);
    /* hostile_read gives the rest back; what it reads does not matter here. */
    assert_int_equal(hostile_read(&h, error, sizeof error, &back), 0);
    rallo_profile_free(&back);
}

/* Each text in place of the comment that starts with prefix: refused for reason. */
static void each_refused(const char *prefix, const char *const *texts, size_t n, const char *reason) {
    for (size_t i = 0; i < n; i++) {
        hostile h = hostile_open();
        comment_set(&h, prefix, texts[i]);
        refused(&h, reason);
    }
}

static void hostile_comments(void **state) {
    (void)state;
    static const char *const bad_process[] = {
        "rallo.lifetimes temp_count=1 temp_bytes=2 size_log2=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,"
        "20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42",
        "rallo.lifetimes temp_count=9223372036854775808 temp_bytes=2 size_log2=1",
        "rallo.lifetimes temp_count=1 temp_bytes=2",
        "rallo.lifetimes temp_count=-1 temp_bytes=2 size_log2=1",
        "rallo.lifetimes temp_count=1 temp_bytes=2 size_log2=1,,2",
    };
    each_refused(RALLO_PPROF_LIFETIMES_COMMENT, bad_process, sizeof bad_process / sizeof *bad_process,
                 "malformed rallo.lifetimes");
    static const char *const bad_thread[] = {
        "rallo.thread index=5 tid=1 exited=0 alloc_count=0 alloc_bytes=0 live_count=0 live_bytes=0 name=x",
        "rallo.thread index=0 tid=2147483648 exited=0 alloc_count=0 alloc_bytes=0 live_count=0 live_bytes=0 "
        "name=",
        "rallo.thread index=0 tid=1 exited=2 alloc_count=0 alloc_bytes=0 live_count=0 live_bytes=0 name=",
        "rallo.thread index=0 tid=1 exited=0 alloc_count=0 alloc_bytes=0 live_count=0 live_bytes=0",
        "rallo.thread index=0 tid=1 exited=0 alloc_bytes=0 alloc_count=0 live_count=0 live_bytes=0 name=",
    };
    each_refused(RALLO_PPROF_THREAD_COMMENT "index=0 ", bad_thread, sizeof bad_thread / sizeof *bad_thread,
                 "malformed rallo.thread comment (thread 0)");
    hostile h = hostile_open();
    h.pb->comment[h.pb->n_comment] = h.pb->comment[h.pb->n_comment - 4]; /* the rallo.lifetimes line */
    h.pb->n_comment++;
    refused(&h, "2 rallo.lifetimes comments");
    /* Without the rallo.lifetimes comment the labels are a foreign profile's: ignored. */
    h = hostile_open();
    comment_set(&h, RALLO_PPROF_LIFETIMES_COMMENT, "something else");
    char error[256];
    rallo_profile back;
    assert_int_equal(hostile_read(&h, error, sizeof error, &back), 0);
    assert_false(back.has_lifetimes);
    assert_null(back.sites[0].lt);
    rallo_profile_free(&back);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),           cmocka_unit_test(views_unchanged),
        cmocka_unit_test(hostile_labels),       cmocka_unit_test(hostile_comments),
        cmocka_unit_test(hostile_many_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
