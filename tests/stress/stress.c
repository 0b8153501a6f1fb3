/* stress.c - everything at once, for RALLO_STRESS_SECONDS (default 20):
 * 8 workers allocate, reallocate and free blocks across each other through a
 * shared exchange (every entry point: malloc, calloc, realloc, aligned_alloc,
 * posix_memalign, free); a churner starts short-lived threads that allocate,
 * leave blocks behind for others and exit; a controller toggles tracking every
 * few ms, changes the sampling interval among five values and dumps every
 * format every 100 ms; a forker forks from this threaded process with tracking
 * on, the child allocating, dumping and then either exiting or exec-ing this
 * program again (which allocates and dumps with RALLO_ENABLE=1). A watchdog
 * (alarm) kills the test on a deadlock, in the parent and in every child.
 * At the end, with every block freed: no block was ever corrupted, the live
 * counters are exactly 0 (but for the blocks ld.so allocated for the TLS of
 * thread stacks glibc keeps cached for reuse, told apart by their leaf frame
 * in ld.so and shown in the output), every dump was written, and no allocation went
 * untracked for a reason other than a thread past its exit cleanup. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <rallo.h>
#include "../common/random.h"

enum { WORKERS = 8, EXCHANGE = 4096, CHURN_BLOCKS = 64 };

static _Atomic(unsigned char *) exchange[EXCHANGE];
static _Atomic int stop;
static _Atomic uint64_t ops, threads_started, forks_done, execs_done, dumps_done, toggles;
static char work_dir[64];
static char self_path[4096];
static double run_seconds = 20;

/* A block carries its size in its first 8 bytes and a size-derived byte at
 * its end and in between: any thread can check that nobody wrote over it. */
static void stamp(unsigned char *p, size_t size) {
    memcpy(p, &size, sizeof size);
    memset(p + sizeof size, (int)(size * 31u & 0xff), size - sizeof size);
}
static void check(const unsigned char *p) {
    size_t size;
    memcpy(&size, p, sizeof size);
    if (size < sizeof size || size > (1u << 20)) {
        fprintf(stderr, "stress: corrupted block %p (size word %zu)\n", (const void *)p, size);
        abort();
    }
    unsigned char want = (unsigned char)(size * 31u & 0xff);
    if (p[size - 1] != want || p[sizeof size] != want || p[size / 2 + 4] != want) {
        fprintf(stderr, "stress: corrupted block %p of %zu bytes\n", (const void *)p, size);
        abort();
    }
}

static size_t random_size(uint64_t *rng) {
    uint64_t r = next_random(rng);
    switch (r & 7) {
    case 0: return 4096 + (r >> 8) % 200000; /* large */
    case 1:
    case 2: return 256 + (r >> 8) % 4000;
    default: return 16 + (r >> 8) % 240;
    }
}

static unsigned char *new_block(uint64_t *rng) {
    size_t size = random_size(rng);
    unsigned char *p = NULL;
    switch (next_random(rng) % 6) {
    case 0: p = calloc(1, size); break;
    case 1: p = aligned_alloc(64, (size + 63) & ~(size_t)63); break;
    case 2:
        if (posix_memalign((void **)&p, 4096, size) != 0)
            p = NULL;
        break;
    default: p = malloc(size); break;
    }
    if (p != NULL)
        stamp(p, size);
    return p;
}

static void drop(unsigned char *p) {
    if (p != NULL) {
        check(p);
        free(p);
    }
}

/* One step on a random exchange slot: fill it, resize what is there, or free it. */
static void step(uint64_t *rng) {
    size_t slot = next_random(rng) % EXCHANGE;
    unsigned char *old = atomic_exchange(&exchange[slot], NULL);
    uint64_t r = next_random(rng) % 4;
    unsigned char *put = NULL;
    if (old == NULL) {
        put = new_block(rng);
    } else if (r == 0) {
        check(old);
        size_t size = random_size(rng);
        put = realloc(old, size);
        if (put == NULL) {
            fprintf(stderr, "stress: realloc failed\n");
            abort();
        }
        stamp(put, size);
    } else if (r == 1) {
        put = old; /* give it back untouched, checked */
        check(put);
    } else {
        drop(old);
    }
    if (put != NULL)
        drop(atomic_exchange(&exchange[slot], put));
    atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
}

static void *worker(void *arg) {
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ (uintptr_t)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        step(&rng);
    return NULL;
}

/* A short-lived thread: a few steps, some blocks of its own freed before it
 * exits, some left in the exchange for others. */
static void *short_lived(void *arg) {
    uint64_t rng = 0xD1B54A32D192ED03ull ^ (uintptr_t)arg;
    unsigned char *own[CHURN_BLOCKS];
    for (int i = 0; i < CHURN_BLOCKS; i++)
        own[i] = new_block(&rng);
    for (int i = 0; i < 200; i++)
        step(&rng);
    for (int i = 0; i < CHURN_BLOCKS; i++)
        drop(own[i]);
    return NULL;
}

static void *churner(void *arg) {
    (void)arg;
    uintptr_t n = 0;
    while (!atomic_load(&stop)) {
        pthread_t threads[4];
        int started = 0;
        for (int i = 0; i < 4; i++)
            if (pthread_create(&threads[started], NULL, short_lived, (void *)++n) == 0)
                started++;
        for (int i = 0; i < started; i++)
            pthread_join(threads[i], NULL);
        atomic_fetch_add(&threads_started, (uint64_t)started);
    }
    return NULL;
}

static const char *const formats[] = {"html", "pprof", "folded", "text", "json"};
static const char *const extensions[] = {"html", "pb.gz", "folded", "txt", "json"};

/* Dumps every format into work_dir, checks each file is there and not empty,
 * removes it. */
static void dump_all(const char *tag) {
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s.%d.%s", work_dir, tag, (int)getpid(), extensions[i]);
        if (rallo_dump(path, formats[i]) != 0) {
            fprintf(stderr, "stress: rallo_dump %s failed: %s\n", path, strerror(errno));
            abort();
        }
        struct stat st;
        if (stat(path, &st) != 0 || st.st_size == 0) {
            fprintf(stderr, "stress: dump %s missing or empty\n", path);
            abort();
        }
        unlink(path);
    }
    atomic_fetch_add(&dumps_done, 1);
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void *controller(void *arg) {
    (void)arg;
    static const uint64_t intervals[] = {0, 1, 4096, 65536, 1u << 20};
    unsigned tick = 0;
    while (!atomic_load(&stop)) {
        sleep_ms(5);
        tick++;
        if (tick % 2 == 0) {
            if (rallo_is_enabled())
                rallo_disable();
            else if (rallo_enable() != 0)
                abort();
            atomic_fetch_add(&toggles, 1);
        }
        if (tick % 7 == 0 && rallo_set_sample_interval(intervals[(tick / 7) % 5]) != 0)
            abort();
        if (tick % 20 == 0) /* every 100 ms of sleeping */
            dump_all("ctl");
    }
    return NULL;
}

/* The forked child: allocates with tracking on, dumps, and either exits or
 * execs this program's exec_child mode. */
static void fork_child(unsigned n) {
    alarm(60); /* the child's own watchdog: alarms are not inherited */
    if (rallo_enable() != 0)
        _exit(10);
    uint64_t rng = 0xABCDEF12345ull + n;
    unsigned char *mine[256];
    for (int i = 0; i < 256; i++)
        mine[i] = new_block(&rng);
    rallo_totals totals;
    rallo_get_totals(&totals);
    if (totals.live_count < 200)
        _exit(11);
    dump_all("child");
    for (int i = 0; i < 256; i++)
        drop(mine[i]);
    if (n % 2 == 0) {
        setenv("RALLO_ENABLE", "1", 1);
        execl(self_path, self_path, "exec_child", work_dir, (char *)NULL);
        _exit(12);
    }
    _exit(0);
}

static void *forker(void *arg) {
    (void)arg;
    unsigned n = 0;
    while (!atomic_load(&stop)) {
        sleep_ms(150);
        rallo_enable();
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "stress: fork: %s\n", strerror(errno));
            abort();
        }
        if (pid == 0)
            fork_child(n);
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "stress: child %u: status %#x\n", n, status);
            abort();
        }
        atomic_fetch_add(&forks_done, 1);
        if (n % 2 == 0)
            atomic_fetch_add(&execs_done, 1);
        n++;
    }
    return NULL;
}

/* This program exec'd from a forked child with RALLO_ENABLE=1: tracking is on
 * from the start; allocate, check the count, dump, free. */
static int exec_child(const char *dir) {
    alarm(60);
    snprintf(work_dir, sizeof work_dir, "%s", dir);
    if (!rallo_is_enabled())
        return 20;
    uint64_t rng = 77;
    unsigned char *mine[100];
    for (int i = 0; i < 100; i++)
        mine[i] = new_block(&rng);
    rallo_totals totals;
    rallo_get_totals(&totals);
    if (totals.live_count < 100)
        return 21;
    dump_all("exec");
    for (int i = 0; i < 100; i++)
        drop(mine[i]);
    return 0;
}

/* What is still live once the test has freed everything it made: only the
 * dynamic loader's blocks may be (the TLS vectors of thread stacks glibc
 * keeps cached for reuse, allocated by ld.so inside pthread_create). */
typedef struct live_left {
    uint64_t count, bytes; /* at sites whose leaf frame is not in ld.so */
    uint64_t loader_count, loader_bytes;
} live_left;

static int note_live_site(const rallo_site *site, void *arg) {
    live_left *left = arg;
    if (site->live_count == 0)
        return 0;
    Dl_info leaf;
    if (site->depth > 0 && dladdr(site->frames[0], &leaf) != 0 && leaf.dli_fname != NULL &&
        strstr(leaf.dli_fname, "/ld-linux") != NULL) {
        left->loader_count += site->live_count;
        left->loader_bytes += site->live_bytes;
        return 0;
    }
    left->count += site->live_count;
    left->bytes += site->live_bytes;
    fprintf(stderr, "stress: site %u live %llu (%llu B):", site->site_id,
            (unsigned long long)site->live_count, (unsigned long long)site->live_bytes);
    for (uint32_t i = 0; i < site->depth; i++) {
        Dl_info info;
        if (dladdr(site->frames[i], &info) != 0 && info.dli_fname != NULL)
            fprintf(stderr, " %s:%s",
                    strrchr(info.dli_fname, '/') ? strrchr(info.dli_fname, '/') + 1 : info.dli_fname,
                    info.dli_sname ? info.dli_sname : "?");
        else
            fprintf(stderr, " %p", site->frames[i]);
    }
    fprintf(stderr, "\n");
    return 0;
}

static void stress_everything(void **state) {
    (void)state;
    snprintf(work_dir, sizeof work_dir, "/tmp/rallo-stress-XXXXXX");
    assert_non_null(mkdtemp(work_dir));
    /* The watchdog: SIGALRM's default action ends the process, and ctest
     * reports the signal. Generous: a loaded 2-core machine. */
    alarm((unsigned)run_seconds + 120);
    assert_int_equal(rallo_enable(), 0);

    pthread_t workers[WORKERS], churn, control, fork_thread;
    for (uintptr_t i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&workers[i], NULL, worker, (void *)(i + 1)), 0);
    assert_int_equal(pthread_create(&churn, NULL, churner, NULL), 0);
    assert_int_equal(pthread_create(&control, NULL, controller, NULL), 0);
    assert_int_equal(pthread_create(&fork_thread, NULL, forker, NULL), 0);

    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        sleep_ms(200);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 < run_seconds);
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i], NULL);
    pthread_join(churn, NULL);
    pthread_join(control, NULL);
    pthread_join(fork_thread, NULL);

    for (size_t i = 0; i < EXCHANGE; i++)
        drop(atomic_exchange(&exchange[i], NULL));
    rallo_disable();
    alarm(0);

    rallo_totals totals;
    rallo_get_totals(&totals);
    rallo_untracked untracked;
    rallo_get_untracked(&untracked);
    printf("stress: %d workers + churn/control/fork threads for %.0f s: %llu ops, %llu threads started, "
           "%llu forks (%llu exec), %llu dump rounds x 5 formats, %llu toggles\n",
           WORKERS, run_seconds, (unsigned long long)ops, (unsigned long long)threads_started,
           (unsigned long long)forks_done, (unsigned long long)execs_done, (unsigned long long)dumps_done,
           (unsigned long long)toggles);
    printf("stress: tracked alloc %llu free %llu live %llu/%llu B; untracked arena_full %llu no_arena %llu "
           "alignment %llu too_large %llu thread_exiting %llu bad_header %llu\n",
           (unsigned long long)totals.alloc_count, (unsigned long long)totals.free_count,
           (unsigned long long)totals.live_count, (unsigned long long)totals.live_bytes,
           (unsigned long long)untracked.arena_full, (unsigned long long)untracked.no_arena,
           (unsigned long long)untracked.alignment, (unsigned long long)untracked.too_large,
           (unsigned long long)untracked.thread_exiting, (unsigned long long)untracked.bad_header);
    live_left left = {0};
    rallo_for_each_site(note_live_site, &left);
    printf("stress: live after every block was freed: %llu blocks / %llu B, all the loader's (thread TLS)\n",
           (unsigned long long)left.loader_count, (unsigned long long)left.loader_bytes);
    assert_true(totals.alloc_count > 0);
    assert_int_equal(left.count, 0);
    assert_int_equal(left.bytes, 0);
    assert_int_equal(totals.live_count, left.loader_count);
    assert_int_equal(totals.live_bytes, left.loader_bytes);
    /* Every anomaly is accounted for: the only allowed reason is a thread
     * allocating after its exit cleanup (glibc's own TLS teardown). */
    assert_int_equal(untracked.arena_full, 0);
    assert_int_equal(untracked.no_arena, 0);
    assert_int_equal(untracked.alignment, 0);
    assert_int_equal(untracked.too_large, 0);
    assert_int_equal(untracked.bad_header, 0);
    assert_true(dumps_done > 0);
    assert_true(forks_done > 0);
    assert_true(execs_done > 0);
    rmdir(work_dir);
}

int main(int argc, char **argv) {
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0)
        return 2;
    self_path[n] = '\0';
    if (argc == 3 && strcmp(argv[1], "exec_child") == 0)
        return exec_child(argv[2]);
    const char *seconds = getenv("RALLO_STRESS_SECONDS");
    if (seconds != NULL && atof(seconds) > 0)
        run_seconds = atof(seconds);
    const struct CMUnitTest tests[] = {cmocka_unit_test(stress_everything)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
