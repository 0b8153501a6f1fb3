/* test_pprof_batches.c - the pprof writer on a profile of more sites than it
 * packs at once (it streams the samples a batch at a time): every site with
 * something to show comes back as one sample, in the sites' order, with its
 * values, its stack and its peak label, sites with nothing to show are left
 * out, and the profile.proto is what protobuf-c packs for the same message in
 * one go (the bytes one pack of the whole profile gives). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "pprof.h"
#include "profile.pb-c.h"
#include "writers.h"

#define SITES 1000u /* several batches, the last one partial */
#define LOCATIONS 7u

/* Site i's figures: every seventh has nothing to show, every other one has a
 * peak share, and its stack is 1 + i % 5 frames deep. */
static int site_shown(size_t i) {
    return i % 7 != 3;
}
static uint32_t site_depth(size_t i) {
    return 1 + (uint32_t)(i % 5);
}
static uint64_t site_peak(size_t i) {
    return i % 2 ? 1000 + i : 0;
}

static void build_many(rallo_profile *p) {
    rallo_profile_init(p);
    p->pid = 7;
    p->time_unix_ns = 1700000000000000000ull;
    p->sample_interval = 524288;
    p->nmappings = 1;
    p->mappings = rallo_profile_alloc(p, sizeof *p->mappings);
    p->mappings[0] =
        (rallo_prof_mapping){0x400000, 0x500000, 0, rallo_profile_strdup(p, "/usr/bin/many"),
                             rallo_profile_strdup(p, "00112233445566778899aabbccddeeff00112233")};
    p->nlocations = LOCATIONS;
    p->locations = rallo_profile_alloc(p, LOCATIONS * sizeof *p->locations);
    for (uint32_t l = 0; l < LOCATIONS; l++)
        p->locations[l] = (rallo_prof_location){.address = 0x401000 + 16 * l, .mapping = 0};
    p->nsites = SITES;
    p->sites = rallo_profile_alloc(p, SITES * sizeof *p->sites);
    for (size_t i = 0; i < SITES; i++) {
        rallo_prof_site *s = &p->sites[i];
        if (site_shown(i)) {
            s->alloc_count = i + 1;
            s->alloc_bytes = 64 * (i + 1);
            s->live_count = i / 2;
            s->live_bytes = 64 * (i / 2);
        }
        s->free_count = s->alloc_count - s->live_count;
        s->free_bytes = s->alloc_bytes - s->live_bytes;
        s->peak_live_bytes = site_peak(i);
        s->nlocations = site_depth(i);
        s->locations = rallo_profile_alloc(p, s->nlocations * sizeof *s->locations);
        for (uint32_t l = 0; l < s->nlocations; l++)
            s->locations[l] = (uint32_t)((i + l) % LOCATIONS);
        p->totals.alloc_count += s->alloc_count;
        p->totals.alloc_bytes += s->alloc_bytes;
    }
}

static unsigned char *gunzip(const rallo_buf *gz, size_t *len) {
    size_t cap = 4u << 20;
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

static void every_site_in_order(void **state) {
    (void)state;
    rallo_profile p;
    build_many(&p);
    rallo_buf gz;
    rallo_buf_init(&gz);
    assert_int_equal(rallo_write_pprof_view(&p, &gz, RALLO_PPROF_VIEW_ALLOCS), 0);
    size_t raw_len;
    unsigned char *raw = gunzip(&gz, &raw_len);
    Perftools__Profiles__Profile *pb = perftools__profiles__profile__unpack(NULL, raw_len, raw);
    assert_non_null(pb);

    size_t k = 0;
    for (size_t i = 0; i < SITES; i++) {
        if (!site_shown(i))
            continue;
        assert_true(k < pb->n_sample);
        const Perftools__Profiles__Sample *s = pb->sample[k++];
        assert_int_equal(s->n_value, 4);
        assert_int_equal(s->value[0], (int64_t)(i + 1));
        assert_int_equal(s->value[1], (int64_t)(64 * (i + 1)));
        assert_int_equal(s->value[2], (int64_t)(i / 2));
        assert_int_equal(s->value[3], (int64_t)(64 * (i / 2)));
        assert_int_equal(s->n_location_id, site_depth(i));
        for (uint32_t l = 0; l < site_depth(i); l++) {
            uint64_t id = s->location_id[l];
            assert_true(id >= 1 && id <= pb->n_location);
            assert_int_equal(pb->location[id - 1]->address, 0x401000 + 16 * ((i + l) % LOCATIONS));
        }
        if (site_peak(i) == 0) {
            assert_int_equal(s->n_label, 0);
            continue;
        }
        assert_int_equal(s->n_label, 1);
        assert_string_equal(pb->string_table[s->label[0]->key], "peak_live_bytes");
        assert_string_equal(pb->string_table[s->label[0]->num_unit], "bytes");
        assert_int_equal(s->label[0]->num, (int64_t)site_peak(i));
    }
    assert_int_equal(pb->n_sample, k);
    assert_string_equal(pb->string_table[pb->default_sample_type], "alloc_space");

    /* One pack of the message read back gives the very bytes written. */
    size_t packed_len = perftools__profiles__profile__get_packed_size(pb);
    assert_int_equal(packed_len, raw_len);
    unsigned char *packed = malloc(packed_len);
    assert_int_equal(perftools__profiles__profile__pack(pb, packed), packed_len);
    assert_memory_equal(packed, raw, raw_len);

    free(packed);
    perftools__profiles__profile__free_unpacked(pb, NULL);
    free(raw);
    rallo_buf_free(&gz);
    rallo_profile_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(every_site_in_order)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
