/* test_util.c - report/util: the growable array keeps its contents and refuses
 * sizes that overflow; the index finds every element back at its position, even
 * when every hash collides; the hash seed is one value per process, a fresh one
 * in another process, and it changes every string's hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <mimalloc.h>

#include "util/array.h"
#include "util/hash.h"
#include "util/index.h"

static void test_array_grows_and_keeps(void **state) {
    (void)state;
    uint32_t *values = NULL;
    size_t cap = 0;
    for (uint32_t i = 0; i < 100000; i++) {
        assert_true(rallo_array_reserve((void **)&values, &cap, i + 1, sizeof *values, 16));
        assert_true(cap >= i + 1);
        values[i] = i * 7;
    }
    assert_int_equal(cap, 131072); /* 16 doubled until 100,000 fit */
    for (uint32_t i = 0; i < 100000; i++)
        assert_int_equal(values[i], i * 7);
    mi_free(values);
}

static void test_array_refuses_overflow(void **state) {
    (void)state;
    uint64_t *values = NULL;
    size_t cap = 0;
    assert_true(rallo_array_reserve((void **)&values, &cap, 4, sizeof *values, 4));
    uint64_t *before = values;
    assert_false(rallo_array_reserve((void **)&values, &cap, SIZE_MAX / 4, sizeof *values, 4));
    assert_ptr_equal(values, before);
    assert_int_equal(cap, 4);
    mi_free(values);
}

typedef struct words {
    char (*text)[16];
    size_t count;
    uint64_t seed;
    bool collide; /* every hash the same: probing alone must find them */
} words;

static uint64_t word_hash(const void *owner, size_t i) {
    const words *w = owner;
    return w->collide ? 42 : rallo_hash_string(w->seed, w->text[i]);
}

/* The position of text, added at the end when new. */
static size_t word_add(words *w, rallo_index *x, const char *text) {
    assert_true(rallo_index_reserve(x, w->count, 0, 16, word_hash, w));
    uint64_t hash = w->collide ? 42 : rallo_hash_string(w->seed, text);
    size_t slot = rallo_index_slot(x, hash);
    for (; x->slots[slot] != 0; slot = rallo_index_next(x, slot))
        if (strcmp(w->text[x->slots[slot] - 1], text) == 0)
            return x->slots[slot] - 1;
    snprintf(w->text[w->count], sizeof w->text[w->count], "%s", text);
    x->slots[slot] = (uint32_t)w->count + 1;
    return w->count++;
}

static void check_index(size_t n, bool collide) {
    words w = {mi_malloc(n * sizeof *w.text), 0, rallo_hash_seed(), collide};
    rallo_index x = {0};
    char text[16];
    for (size_t i = 0; i < n; i++) {
        snprintf(text, sizeof text, "w%zu", i);
        assert_int_equal(word_add(&w, &x, text), i);
        assert_true(x.nslots >= 2 * (i + 1)); /* at most half full */
    }
    for (size_t i = n; i-- > 0;) { /* each again: found, nothing added */
        snprintf(text, sizeof text, "w%zu", i);
        assert_int_equal(word_add(&w, &x, text), i);
    }
    assert_int_equal(w.count, n);
    rallo_index_free(&x);
    mi_free(w.text);
}

static void test_index_finds_every_element(void **state) {
    (void)state;
    check_index(200000, false);
}

static void test_index_with_colliding_hashes(void **state) {
    (void)state;
    check_index(1500, true);
}

static uint64_t seed_of_a_new_process(void) {
    char self[4096], command[4200];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = '\0';
    snprintf(command, sizeof command, "'%s' --print-seed", self);
    FILE *child = popen(command, "r");
    assert_non_null(child);
    unsigned long long seed = 0;
    assert_int_equal(fscanf(child, "%llx", &seed), 1);
    assert_int_equal(pclose(child), 0);
    return seed;
}

static void test_seed_per_process(void **state) {
    (void)state;
    uint64_t seed = rallo_hash_seed();
    assert_int_not_equal(seed, 0);
    assert_int_equal(rallo_hash_seed(), seed);
    assert_int_not_equal(rallo_hash_string(seed, "main"), rallo_hash_string(seed ^ 2, "main"));
    /* Random per process: two others draw two others (equal by chance: 2^-63). */
    uint64_t first = seed_of_a_new_process(), second = seed_of_a_new_process();
    assert_int_not_equal(first, 0);
    assert_int_not_equal(first, seed);
    assert_int_not_equal(second, first);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--print-seed") == 0) {
        printf("%llx\n", (unsigned long long)rallo_hash_seed());
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_grows_and_keeps),     cmocka_unit_test(test_array_refuses_overflow),
        cmocka_unit_test(test_index_finds_every_element), cmocka_unit_test(test_index_with_colliding_hashes),
        cmocka_unit_test(test_seed_per_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
