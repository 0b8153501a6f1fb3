/* test_arena_limits.c - when the tracked arena is full (ctest runs this with
 * RALLO_ARENA_SIZE=64m) or cannot be reserved at all (ctest runs it under
 * `ulimit -v`, too small for the 1 TiB reservation), every allocation still
 * succeeds, and what could not be tracked is counted as untracked. The mode is
 * the first argument: "full" or "unreservable". */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "sites.h"

#define NOINLINE __attribute__((noinline, used))

static sites_snapshot snap;
enum { BLOCKS = 160, BLOCK = 1 << 20 }; /* 160 MiB live: more than a 64 MiB arena holds */
static char *blocks[BLOCKS];

NOINLINE char *filling_site(size_t size) {
    return malloc(size);
}
NOINLINE char *growing_site(char *p, size_t size) {
    return realloc(p, size);
}

static void use_and_free_all(void) {
    for (int i = 0; i < BLOCKS; i++) {
        assert_non_null(blocks[i]);
        memset(blocks[i], i, BLOCK);
    }
    for (int i = 0; i < BLOCKS; i++)
        blocks[i] = growing_site(blocks[i], BLOCK + 4096);
    for (int i = 0; i < BLOCKS; i++) {
        assert_non_null(blocks[i]);
        assert_int_equal((unsigned char)blocks[i][BLOCK - 1], (unsigned char)i);
        free(blocks[i]);
    }
}

void test_arena_full(void **state);
void test_arena_full(void **state) {
    (void)state;
    assert_int_equal(rallo_enable(), 0);
    for (int i = 0; i < BLOCKS; i++)
        blocks[i] = filling_site(BLOCK);
    use_and_free_all();
    rallo_disable();
    rallo_untracked untracked;
    rallo_get_untracked(&untracked);
    rallo_totals totals;
    rallo_get_totals(&totals);
    sites_take(&snap, rallo_for_each_site);
    int how_many;
    const rallo_site *site = site_by_leaf(&snap, "filling_site", &how_many);
    assert_int_equal(how_many, 1);
    print_message("arena full: %llu of %d tracked, untracked arena_full %llu, totals untracked %llu\n",
                  (unsigned long long)site->alloc_count, BLOCKS, (unsigned long long)untracked.arena_full,
                  (unsigned long long)totals.untracked_count);
    /* Some fit (the arena is not empty), not all; the rest are counted. */
    assert_true(site->alloc_count > 0 && site->alloc_count < BLOCKS);
    assert_true(untracked.arena_full >= BLOCKS - site->alloc_count);
    assert_true(totals.untracked_count >= untracked.arena_full);
    assert_int_equal(untracked.bad_header, 0);
    /* Everything freed: nothing live anywhere, tracked or not. */
    assert_int_equal(totals.live_count, 0);
    assert_int_equal(totals.live_bytes, 0);
}

void test_arena_unreservable(void **state);
void test_arena_unreservable(void **state) {
    (void)state;
    /* stderr to a file, to count rallo's lines. */
    char path[] = "/tmp/rallo-test-stderr-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    errno = 0;
    int result = rallo_enable();
    int error = errno;
    dup2(saved, 2);
    close(saved);
    char text[1024] = {0};
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    print_message("rallo_enable() = %d, errno %d, stderr: %s", result, error, text);
    assert_int_equal(result, -1);
    assert_int_equal(error, ENOMEM);
    assert_false(rallo_is_enabled());
    assert_true(n > 0);
    assert_non_null(strstr(text, "rallo: "));
    assert_non_null(strchr(text, '\n'));
    assert_int_equal(strchr(text, '\n') - text, n - 1); /* exactly one line */

    for (int i = 0; i < BLOCKS; i++)
        blocks[i] = filling_site(BLOCK);
    use_and_free_all();
    rallo_untracked untracked;
    rallo_get_untracked(&untracked);
    rallo_totals totals;
    rallo_get_totals(&totals);
    assert_true(untracked.no_arena >= 1);
    assert_true(totals.untracked_count >= 1);
    assert_int_equal(totals.alloc_count, 0);
}

int main(int argc, char **argv) {
    const struct CMUnitTest full[] = {cmocka_unit_test(test_arena_full)};
    const struct CMUnitTest unreservable[] = {cmocka_unit_test(test_arena_unreservable)};
    if (argc > 1 && strcmp(argv[1], "unreservable") == 0)
        return cmocka_run_group_tests(unreservable, NULL, NULL);
    return cmocka_run_group_tests(full, NULL, NULL);
}
