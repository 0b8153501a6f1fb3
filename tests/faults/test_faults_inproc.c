/* test_faults_inproc.c - faults inside a program that links rallo, by mode:
 *   enomem        (RALLO_ARENA_SIZE=64m) tracking on, RLIMIT_AS squeezed to the
 *                 current size + 64 MiB, allocate until malloc fails.
 *                 Expected: malloc, calloc and realloc return NULL with errno
 *                 ENOMEM, no crash; a failed realloc leaves its block intact;
 *                 frees work; after the limit is raised allocation and
 *                 rallo_dump work, and once all is freed the live counters are
 *                 exactly 0 and allocs equal frees.
 *   enomem_dump   the same, plus a rallo_dump at the limit. Expected: it
 *                 succeeds (the file parses) or fails with ENOMEM and exactly
 *                 one "rallo: " stderr line. Observed today: SIGSEGV inside
 *                 libdw (dwarf_getsrclines from symbolize_address), so its
 *                 ctest is DISABLED until that is fixed.
 *   unreservable  (RALLO_ARENA_SIZE=8g) RLIMIT_AS too small for the arena,
 *                 rallo_enable() called 5 times. Expected: each returns -1 with
 *                 ENOMEM, tracking stays off, malloc works; each call prints one
 *                 stderr line (observed: the reservation is retried every call);
 *                 once the limit is raised, rallo_enable() succeeds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

#include "rallo.h"

enum { MAX_BLOCKS = 4096, BIG = 1 << 20 };
static char *blocks[MAX_BLOCKS];
static int dump_at_limit; /* mode enomem_dump: also rallo_dump at the limit */

static size_t vm_size_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    unsigned long kib = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmSize: %lu kB", &kib) == 1)
            break;
    fclose(f);
    assert_true(kib > 0);
    return (size_t)kib << 10;
}

static void limit_address_space(rlim_t bytes) {
    struct rlimit limit;
    assert_int_equal(getrlimit(RLIMIT_AS, &limit), 0);
    limit.rlim_cur = bytes;
    assert_int_equal(setrlimit(RLIMIT_AS, &limit), 0);
}

/* stderr into a temporary file while `capturing`; read back by stop. */
static int capture_fd = -1, saved_stderr = -1;
static void capture_start(void) {
    char path[] = "/tmp/rallo-faults-stderr-XXXXXX";
    capture_fd = mkstemp(path);
    assert_true(capture_fd >= 0);
    unlink(path);
    fflush(stderr);
    saved_stderr = dup(2);
    dup2(capture_fd, 2);
}
static void capture_stop(char *text, size_t cap) {
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    ssize_t n = pread(capture_fd, text, cap - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    close(capture_fd);
}
static int count_lines(const char *text, const char *prefix) {
    int lines = 0;
    for (const char *p = text; (p = strstr(p, prefix)) != NULL; p++)
        if (p == text || p[-1] == '\n')
            lines++;
    return lines;
}

static void enomem_under_rlimit_as(void **state) {
    (void)state;
    struct rlimit original;
    assert_int_equal(getrlimit(RLIMIT_AS, &original), 0);
    char dump_path[] = "/tmp/rallo-faults-dump-XXXXXX";
    int dump_fd = mkstemp(dump_path);
    assert_true(dump_fd >= 0);
    close(dump_fd);
    char json_path[64];
    snprintf(json_path, sizeof json_path, "%s.json", dump_path);
    unlink(dump_path);

    assert_int_equal(rallo_enable(), 0);
    limit_address_space(vm_size_bytes() + (64u << 20));

    /* Fill: the 64 MiB arena first (tracked), then mimalloc's own segments
     * (untracked, counted) until the address space runs out. */
    int n = 0, error = 0;
    for (; n < MAX_BLOCKS; n++) {
        errno = 0;
        blocks[n] = malloc(BIG);
        if (blocks[n] == NULL) {
            error = errno;
            break;
        }
        blocks[n][0] = (char)n;
        blocks[n][BIG - 1] = (char)n;
    }
    assert_true(n < MAX_BLOCKS); /* it did run out */
    assert_true(n > 0);
    assert_int_equal(error, ENOMEM);
    errno = 0;
    assert_null(calloc(1, 64u << 20));
    assert_int_equal(errno, ENOMEM);
    /* A failed realloc keeps the old block as it was. */
    errno = 0;
    assert_null(realloc(blocks[0], 256u << 20));
    assert_int_equal(errno, ENOMEM);
    assert_int_equal(blocks[0][0], 0);
    assert_int_equal(blocks[0][BIG - 1], 0);

    /* A dump at the limit: works (addresses only), or one clear line. */
    int dump_rc = 0, lines = 0;
    char err[4096] = "";
    if (dump_at_limit) {
        capture_start();
        errno = 0;
        dump_rc = rallo_dump(json_path, "json");
        int dump_errno = errno;
        capture_stop(err, sizeof err);
        lines = count_lines(err, "rallo: ");
        if (dump_rc == 0) {
            /* Written without symbols (libdw is not run without headroom): at most
             * the one line that says so. Checked as JSON once the limit is raised:
             * python3 itself cannot start under it. */
            assert_true(lines <= 1);
            char checked_path[sizeof json_path + 8];
            snprintf(checked_path, sizeof checked_path, "%s.limit", json_path);
            assert_int_equal(rename(json_path, checked_path), 0);
        } else {
            assert_int_equal(dump_errno, ENOMEM);
            assert_int_equal(lines, 1);
        }
    }

    for (int i = 0; i < n; i++) {
        assert_int_equal(blocks[i][0], (char)i);
        assert_int_equal(blocks[i][BIG - 1], (char)i);
        free(blocks[i]);
    }
    assert_int_equal(setrlimit(RLIMIT_AS, &original), 0);
    if (dump_at_limit && dump_rc == 0) {
        char command[512];
        snprintf(command, sizeof command, "python3 -m json.tool '%s.limit' > /dev/null", json_path);
        assert_int_equal(system(command), 0);
        snprintf(command, sizeof command, "%s.limit", json_path);
        unlink(command);
    }

    /* Room again: allocation and dumps work. */
    int again = n + 16 < MAX_BLOCKS ? n + 16 : MAX_BLOCKS;
    for (int i = 0; i < again; i++) {
        blocks[i] = malloc(BIG);
        assert_non_null(blocks[i]);
        blocks[i][BIG - 1] = 1;
    }
    for (int i = 0; i < again; i++)
        free(blocks[i]);
    rallo_disable();
    unlink(json_path);
    assert_int_equal(rallo_dump(json_path, "json"), 0);
    char command[256];
    snprintf(command, sizeof command, "python3 -m json.tool '%s' > /dev/null", json_path);
    assert_int_equal(system(command), 0);
    unlink(json_path);

    rallo_totals totals;
    rallo_get_totals(&totals);
    rallo_untracked untracked;
    rallo_get_untracked(&untracked);
    print_message("enomem: %d MiB blocks before NULL; dump at the limit rc=%d (%s), stderr lines %d%s%s"
                  "; tracked allocs %llu frees %llu, untracked %llu (arena_full %llu), live %llu/%llu\n",
                  n, dump_rc,
                  !dump_at_limit ? "skipped"
                  : dump_rc == 0 ? "worked"
                                 : "failed",
                  lines, lines ? ": " : "", lines ? err : "", (unsigned long long)totals.alloc_count,
                  (unsigned long long)totals.free_count, (unsigned long long)totals.untracked_count,
                  (unsigned long long)untracked.arena_full, (unsigned long long)totals.live_count,
                  (unsigned long long)totals.live_bytes);
    assert_int_equal(totals.live_count, 0);
    assert_int_equal(totals.live_bytes, 0);
    assert_int_equal(totals.alloc_count, totals.free_count);
    assert_int_equal(totals.alloc_bytes, totals.free_bytes);
    assert_true(totals.alloc_count >= 1);
    /* Everything we allocated while enabled was either tracked or counted. */
    assert_true(totals.alloc_count + totals.untracked_count >= (uint64_t)(n + again));
    assert_int_equal(untracked.bad_header, 0);
}

static void enable_unreservable_repeatedly(void **state) {
    (void)state;
    struct rlimit original;
    assert_int_equal(getrlimit(RLIMIT_AS, &original), 0);
    /* Room for the 256 MiB stack depot, far too little for the 8 GiB arena. */
    limit_address_space(vm_size_bytes() + (1024u << 20));
    enum { CALLS = 5 };
    int results[CALLS], errors[CALLS];
    capture_start();
    for (int i = 0; i < CALLS; i++) {
        errno = 0;
        results[i] = rallo_enable();
        errors[i] = errno;
    }
    char err[8192];
    capture_stop(err, sizeof err);
    int lines = count_lines(err, "rallo: ");
    print_message("unreservable: %d calls, %d stderr lines:\n%s", CALLS, lines, err);
    for (int i = 0; i < CALLS; i++) {
        assert_int_equal(results[i], -1);
        assert_int_equal(errors[i], ENOMEM);
    }
    assert_false(rallo_is_enabled());
    assert_int_equal(lines, 1); /* told once, however often the program retries */
    assert_non_null(strstr(err, "cannot reserve the tracked arena"));
    /* The program goes on, untracked. */
    for (int i = 0; i < 64; i++) {
        blocks[i] = malloc(BIG);
        assert_non_null(blocks[i]);
        blocks[i][BIG - 1] = 1;
    }
    for (int i = 0; i < 64; i++)
        free(blocks[i]);

    /* Address space again: the next enable reserves and tracks. */
    assert_int_equal(setrlimit(RLIMIT_AS, &original), 0);
    assert_int_equal(rallo_enable(), 0);
    assert_true(rallo_is_enabled());
    char *tracked = malloc(100);
    assert_non_null(tracked);
    rallo_totals totals;
    rallo_get_totals(&totals);
    assert_true(totals.alloc_count >= 1);
    free(tracked);
    rallo_disable();
    rallo_untracked untracked;
    rallo_get_untracked(&untracked);
    assert_true(untracked.no_arena >= CALLS);
}

int main(int argc, char **argv) {
    const struct CMUnitTest enomem[] = {cmocka_unit_test(enomem_under_rlimit_as)};
    const struct CMUnitTest unreservable[] = {cmocka_unit_test(enable_unreservable_repeatedly)};
    if (argc > 1 && strcmp(argv[1], "unreservable") == 0)
        return cmocka_run_group_tests(unreservable, NULL, NULL);
    dump_at_limit = argc > 1 && strcmp(argv[1], "enomem_dump") == 0;
    if (argc > 1 && (strcmp(argv[1], "enomem") == 0 || dump_at_limit))
        return cmocka_run_group_tests(enomem, NULL, NULL);
    return 2;
}
