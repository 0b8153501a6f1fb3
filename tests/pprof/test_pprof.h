/* test_pprof.h - what the two files of test_pprof share: the known profile
 * and its fixture (test_pprof.c), and the malformed-input tests and the seed
 * writer (pprof_malformed.c) that main runs. */
#ifndef RALLO_TEST_PPROF_H
#define RALLO_TEST_PPROF_H

#include <stddef.h>

#include "pprof.h"
#include "profile.pb-c.h"
#include "writers.h"

/* ---- test_pprof.c ---- */
/* The profile every test knows: three sites, five locations, two mappings. */
void build_known(rallo_profile *p);
void write_file(const char *path, const void *data, size_t len);
/* The known profile, written as heap and allocs pprof into a fresh directory. */
typedef struct fixture {
    rallo_profile profile;
    rallo_buf heap, allocs;
    char dir[64], heap_path[128], allocs_path[128];
} fixture;

/* ---- pprof_malformed.c ---- */
void malformed_truncated(void **state);
void malformed_bit_flips(void **state);
void wrong_ids_and_types(void **state);
void wrong_wire_and_huge_lengths(void **state);
void decompression_bomb(void **state);
/* The fuzzer's seed corpus into dir; 0, or 1 when the writer failed. */
int write_seeds(const char *dir);

#endif
