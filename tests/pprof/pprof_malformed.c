/* pprof_malformed.c - what rallo_read_pprof must survive with a clean error
 * (truncated and bit-flipped dumps, ids and types that point nowhere, wrong
 * wire types and huge lengths, a decompression bomb), and the fuzzer's seed
 * corpus (test_pprof --seeds). Part of test_pprof; main is test_pprof.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "test_pprof.h"

static unsigned char *gunzip(const rallo_buf *gz, size_t *len) {
    size_t cap = 1 << 20;
    unsigned char *raw = malloc(cap);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz->data;
    z.avail_in = (uInt)gz->len;
    z.next_out = raw;
    z.avail_out = (uInt)cap;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    *len = z.total_out;
    inflateEnd(&z);
    return raw;
}

/* A read that fails must say why and leave nothing; one that succeeds must
 * give a profile whose every index is in range. */
static int read_checked(const void *data, size_t len) {
    rallo_profile p;
    char error[256];
    memset(error, 'x', sizeof error);
    int rc = rallo_read_pprof_capped(data, len, 8u << 20, &p, error, sizeof error);
    assert_non_null(memchr(error, '\0', sizeof error));
    if (rc != 0) {
        assert_int_equal(rc, -1);
        assert_true(strncmp(error, "pprof: ", 7) == 0);
        assert_null(p.arena);
        assert_int_equal(p.nsites, 0);
        return rc;
    }
    for (size_t i = 0; i < p.nsites; i++)
        for (uint32_t l = 0; l < p.sites[i].nlocations; l++)
            assert_true(p.sites[i].locations[l] < p.nlocations);
    for (size_t i = 0; i < p.nlocations; i++)
        assert_true(p.locations[i].mapping == RALLO_NO_MAPPING || p.locations[i].mapping < p.nmappings);
    rallo_profile_free(&p);
    return rc;
}

void malformed_truncated(void **state) {
    fixture *fx = *state;
    size_t raw_len;
    unsigned char *raw = gunzip(&fx->heap, &raw_len);
    for (size_t n = 0; n < fx->heap.len; n++)
        assert_int_equal(read_checked(fx->heap.data, n), -1); /* gzip knows its end: every prefix fails */
    for (size_t n = 0; n < raw_len; n++)
        read_checked(raw, n); /* a protobuf prefix may be a valid smaller profile */
    free(raw);
}

void malformed_bit_flips(void **state) {
    fixture *fx = *state;
    size_t raw_len;
    unsigned char *raw = gunzip(&fx->heap, &raw_len);
    int failed = 0;
    for (size_t bit = 0; bit < raw_len * 8; bit++) {
        raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        failed += read_checked(raw, raw_len) != 0;
        raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    assert_true(failed > 0);
    unsigned char *gz = malloc(fx->heap.len);
    for (size_t bit = 0; bit < fx->heap.len * 8; bit++) {
        memcpy(gz, fx->heap.data, fx->heap.len);
        gz[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        read_checked(gz, fx->heap.len);
    }
    free(gz);
    free(raw);
}

/* Packs a hand-made Profile message (raw, not gzipped). */
static unsigned char *pack(const Perftools__Profiles__Profile *pb, size_t *len) {
    *len = perftools__profiles__profile__get_packed_size(pb);
    unsigned char *out = malloc(*len + 1);
    perftools__profiles__profile__pack(pb, out);
    return out;
}

typedef struct tiny {
    Perftools__Profiles__Profile pb;
    Perftools__Profiles__ValueType vt[2], *vtp[2];
    Perftools__Profiles__Sample s, *sp;
    Perftools__Profiles__Location loc, *locp;
    Perftools__Profiles__Mapping m, *mp;
    Perftools__Profiles__Function f, *fp;
    Perftools__Profiles__Line line, *linep;
    int64_t values[2];
    uint64_t location_ids[1];
    char *strings[6];
} tiny;

/* A valid one-sample profile with types "objects"/"space" that each test
 * breaks in one way. */
static void tiny_init(tiny *t) {
    memset(t, 0, sizeof *t);
    perftools__profiles__profile__init(&t->pb);
    static char *strings[] = {"", "objects", "count", "space", "bytes", "f"};
    memcpy(t->strings, strings, sizeof strings);
    t->pb.string_table = t->strings;
    t->pb.n_string_table = 6;
    for (int i = 0; i < 2; i++) {
        perftools__profiles__value_type__init(&t->vt[i]);
        t->vt[i].type = 1 + 2 * i;
        t->vt[i].unit = 2 + 2 * i;
        t->vtp[i] = &t->vt[i];
    }
    t->pb.sample_type = t->vtp;
    t->pb.n_sample_type = 2;
    perftools__profiles__mapping__init(&t->m);
    t->m.id = 7;
    t->mp = &t->m;
    t->pb.mapping = &t->mp;
    t->pb.n_mapping = 1;
    perftools__profiles__function__init(&t->f);
    t->f.id = 9;
    t->f.name = 5;
    t->fp = &t->f;
    t->pb.function = &t->fp;
    t->pb.n_function = 1;
    perftools__profiles__line__init(&t->line);
    t->line.function_id = 9;
    t->line.line = 3;
    t->linep = &t->line;
    perftools__profiles__location__init(&t->loc);
    t->loc.id = 100;
    t->loc.mapping_id = 7;
    t->loc.line = &t->linep;
    t->loc.n_line = 1;
    t->locp = &t->loc;
    t->pb.location = &t->locp;
    t->pb.n_location = 1;
    perftools__profiles__sample__init(&t->s);
    t->values[0] = 2;
    t->values[1] = 64;
    t->s.value = t->values;
    t->s.n_value = 2;
    t->location_ids[0] = 100;
    t->s.location_id = t->location_ids;
    t->s.n_location_id = 1;
    t->sp = &t->s;
    t->pb.sample = &t->sp;
    t->pb.n_sample = 1;
}

/* Reads a tiny profile; returns rc and leaves the error (or notes) in error. */
static int read_tiny(const tiny *t, char *error, size_t error_len, rallo_profile *out) {
    size_t len;
    unsigned char *raw = pack(&t->pb, &len);
    int rc = rallo_read_pprof(raw, len, out, error, error_len);
    free(raw);
    return rc;
}

static void expect_error(const tiny *t, const char *needle) {
    rallo_profile p;
    char error[256];
    assert_int_equal(read_tiny(t, error, sizeof error, &p), -1);
    if (strstr(error, needle) == NULL)
        fail_msg("want an error with '%s', got '%s'", needle, error);
}

void wrong_ids_and_types(void **state) {
    (void)state;
    tiny t;
    rallo_profile p;
    char error[256];
    /* Unbroken, it reads: legacy "objects"/"space" are the in-use values. */
    tiny_init(&t);
    assert_int_equal(read_tiny(&t, error, sizeof error, &p), 0);
    assert_int_equal(p.nsites, 1);
    assert_int_equal(p.sites[0].live_count, 2);
    assert_int_equal(p.sites[0].live_bytes, 64);
    assert_int_equal(p.sites[0].alloc_bytes, 0);
    assert_string_equal(p.locations[p.sites[0].locations[0]].lines[0].function, "f");
    assert_int_equal(p.locations[0].mapping, 0);
    assert_non_null(strstr(error, "no alloc_space in the profile: read as 0"));
    rallo_profile_free(&p);

    tiny_init(&t);
    t.location_ids[0] = 101;
    expect_error(&t, "location id 101, which does not exist");
    tiny_init(&t);
    t.loc.mapping_id = 8;
    expect_error(&t, "mapping id 8, which does not exist");
    tiny_init(&t);
    t.line.function_id = 10;
    expect_error(&t, "function id 10, which does not exist");
    tiny_init(&t);
    t.f.name = 6;
    expect_error(&t, "string 6, outside the table of 6");
    tiny_init(&t);
    t.f.filename = -1;
    expect_error(&t, "string -1");
    tiny_init(&t);
    t.vt[0].type = 1000;
    expect_error(&t, "string 1000");
    tiny_init(&t);
    t.s.n_value = 1;
    expect_error(&t, "1 values for 2 sample types");
    tiny_init(&t);
    t.loc.id = 0;
    expect_error(&t, "has id 0");
    tiny_init(&t);
    t.strings[0] = "x";
    expect_error(&t, "does not start with");
    /* A CPU profile: no type maps, and the error says what it has. */
    tiny_init(&t);
    t.strings[1] = "samples";
    t.strings[3] = "cpu";
    t.strings[4] = "nanoseconds";
    expect_error(&t, "it has: samples/count, cpu/nanoseconds");
    /* A diff profile: negative values read as 0, with a note. */
    tiny_init(&t);
    t.values[1] = -64;
    assert_int_equal(read_tiny(&t, error, sizeof error, &p), 0);
    assert_int_equal(p.sites[0].live_bytes, 0);
    assert_non_null(strstr(error, "negative values"));
    rallo_profile_free(&p);
}

void wrong_wire_and_huge_lengths(void **state) {
    (void)state;
    /* field 1 (sample_type, a message) sent as a varint */
    static const unsigned char wire_type[] = {0x08, 0x01};
    /* field 6 (string_table) claiming a 2^40-byte string */
    static const unsigned char huge_len[] = {0x32, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 'a'};
    /* field 2 (sample) whose nested length runs past the end */
    static const unsigned char nested_past_end[] = {0x12, 0x05, 0x0a, 0x7f, 0x01};
    /* a varint that never ends */
    static const unsigned char endless_varint[] = {0x48, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const char text[] = "this is not a profile";
    assert_int_equal(read_checked(wire_type, sizeof wire_type), -1);
    assert_int_equal(read_checked(huge_len, sizeof huge_len), -1);
    assert_int_equal(read_checked(nested_past_end, sizeof nested_past_end), -1);
    assert_int_equal(read_checked(endless_varint, sizeof endless_varint), -1);
    assert_int_equal(read_checked(text, sizeof text - 1), -1);
    assert_int_equal(read_checked("", 0), -1);
    assert_int_equal(read_checked(NULL, 0), -1);
}

void decompression_bomb(void **state) {
    (void)state;
    /* 64 MiB of zeros gzipped to ~64 KiB, read with an 8 MiB cap. */
    size_t plain = 64u << 20;
    unsigned char *zeros = calloc(1, plain);
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, plain);
    unsigned char *gz = malloc(cap);
    z.next_in = zeros;
    z.avail_in = (uInt)plain;
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t gz_len = z.total_out;
    deflateEnd(&z);
    rallo_profile p;
    char error[256];
    assert_int_equal(rallo_read_pprof_capped(gz, gz_len, 8u << 20, &p, error, sizeof error), -1);
    assert_non_null(strstr(error, "past the 8 MiB cap"));
    free(gz);
    free(zeros);
}

/* The fuzzer's seed corpus: what the writer makes, gzipped and raw, and the
 * tiny hand-made profile. */
int write_seeds(const char *dir) {
    rallo_profile p;
    build_known(&p);
    rallo_buf heap, allocs;
    rallo_buf_init(&heap);
    rallo_buf_init(&allocs);
    if (rallo_write_pprof(&p, &heap) != 0 ||
        rallo_write_pprof_view(&p, &allocs, RALLO_PPROF_VIEW_ALLOCS) != 0)
        return 1;
    char path[512];
    size_t raw_len;
    snprintf(path, sizeof path, "%s/heap.pb.gz", dir);
    write_file(path, heap.data, heap.len);
    snprintf(path, sizeof path, "%s/allocs.pb.gz", dir);
    write_file(path, allocs.data, allocs.len);
    unsigned char *raw = gunzip(&heap, &raw_len);
    snprintf(path, sizeof path, "%s/heap.pb", dir);
    write_file(path, raw, raw_len);
    free(raw);
    tiny t;
    tiny_init(&t);
    raw = pack(&t.pb, &raw_len);
    snprintf(path, sizeof path, "%s/tiny.pb", dir);
    write_file(path, raw, raw_len);
    free(raw);
    rallo_buf_free(&heap);
    rallo_buf_free(&allocs);
    rallo_profile_free(&p);
    return 0;
}
