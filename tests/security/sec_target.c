/* sec_target.c - the program tests/security/test_security.py runs (linked
 * with rallo first, so rallo is its malloc):
 *   serve   allocate and free in a thread until stdin closes; print "ready",
 *           then at the end "alive <rounds> <vmrss-kB>"
 *   rss     print this process's VmRSS in kB (on stdin's "r" lines)
 *   magic   print the address of a tracked block and its header's first word
 *   forge   copy a tracked block's 16 header bytes over another tracked
 *           block's header and ask the census whether the copy validates
 *   env     print what rallo took from the environment (set-uid test) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rallo.h>

static _Atomic int stop;
static _Atomic uint64_t rounds;

static long vm_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

static void *churn(void *arg) {
    (void)arg;
    void *keep[64] = {0};
    while (!atomic_load(&stop)) {
        for (int i = 0; i < 64; i++) {
            free(keep[i]);
            keep[i] = malloc(16 + (size_t)i * 40);
            memset(keep[i], i, 16);
        }
        atomic_fetch_add(&rounds, 1);
        usleep(1000);
    }
    for (int i = 0; i < 64; i++)
        free(keep[i]);
    return NULL;
}

__attribute__((noinline)) static void *site_a(size_t n) {
    return malloc(n);
}
__attribute__((noinline)) static void *site_b(size_t n) {
    return malloc(n);
}

typedef struct census_count {
    uint64_t objects;
} census_count;
static int add_census(const rallo_site *site, void *arg) {
    ((census_count *)arg)->objects += site->live_count;
    if (getenv("SEC_TRACE"))
        fprintf(stderr, "census site %u live %llu bytes %llu\n", site->site_id,
                (unsigned long long)site->live_count, (unsigned long long)site->live_bytes);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "serve") == 0) {
        pthread_t thread;
        pthread_create(&thread, NULL, churn, NULL);
        printf("ready\n");
        fflush(stdout);
        char line[64];
        while (fgets(line, sizeof line, stdin) != NULL) {
            printf("rss %ld\n", vm_rss_kb());
            fflush(stdout);
        }
        atomic_store(&stop, 1);
        pthread_join(thread, NULL);
        printf("alive %llu %ld\n", (unsigned long long)rounds, vm_rss_kb());
        return 0;
    }
    if (strcmp(mode, "magic") == 0) {
        if (rallo_enable() != 0)
            return 3;
        unsigned char *p = malloc(100);
        uint32_t magic;
        memcpy(&magic, p - 16, sizeof magic);
        printf("%p %08x\n", (void *)p, magic);
        free(p);
        return 0;
    }
    if (strcmp(mode, "forge") == 0) {
        if (rallo_enable() != 0)
            return 3;
        unsigned char *a = site_a(200), *b = site_b(200);
        /* Writing before a block is undefined to the compiler, which may drop
         * the stores as dead (it knows what malloc returns): launder. */
        __asm__ volatile("" : "+r"(a), "+r"(b) : : "memory");
        census_count before = {0}, after = {0};
        rallo_census(add_census, &before);
        unsigned char saved[16];
        memcpy(saved, b - 16, 16);
        memcpy(b - 16, a - 16, 16); /* a's header, written where b's was */
        __asm__ volatile("" : : "r"(b) : "memory");
        rallo_census(add_census, &after);
        __asm__ volatile("" : : "r"(b) : "memory");
        memcpy(b - 16, saved, 16);
        __asm__ volatile("" : : "r"(b) : "memory");
        free(a);
        free(b);
        rallo_untracked untracked;
        rallo_get_untracked(&untracked);
        rallo_totals totals;
        rallo_get_totals(&totals);
        printf("census %llu -> %llu live %llu bad %llu\n", (unsigned long long)before.objects,
               (unsigned long long)after.objects, (unsigned long long)totals.live_count,
               (unsigned long long)untracked.bad_header);
        return 0;
    }
    if (strcmp(mode, "env") == 0) {
        void *p = malloc(1000);
        free(p);
        printf("enabled=%d\n", rallo_is_enabled());
        return 0;
    }
    return 2;
}
