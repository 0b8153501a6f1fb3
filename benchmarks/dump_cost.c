/* dump_cost.c - what a dump costs the process that dumps. Not linked against
 * librallo: run it under LD_PRELOAD with RALLO_ENABLE=1, so the same binary
 * measures any build.
 *   dump_cost exit         allocates at 50 call sites and exits: time it with
 *                          and without RALLO_DUMP_ON_EXIT=1 (dump_cost.py does)
 *   dump_cost memory DIR   allocates at 50 call sites, then has rallo dump
 *                          every 0.2 s into DIR for 2 s (rallo_dump_every, the
 *                          periodic path); prints the process's Private_Dirty
 *                          (/proc/self/smaps_rollup) before and after, in KiB,
 *                          and whether libdw or a TLS library got mapped. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SITES 50

/* 50 distinct call sites: two levels through a table of functions. */
typedef void *(*site_fn)(size_t size);
#define SITE(n)                                                                                              \
    __attribute__((noinline)) static void *site##n(size_t size) {                                            \
        void *p = malloc(size);                                                                              \
        __asm__ volatile("" ::"r"(p) : "memory");                                                            \
        return p;                                                                                            \
    }
/* Each SITE expands to a whole function definition */
/* clang-format off */
SITE(0) SITE(1) SITE(2) SITE(3) SITE(4) SITE(5) SITE(6) SITE(7) SITE(8) SITE(9)
    /* clang-format on */
    static site_fn sites[10] = {site0, site1, site2, site3, site4, site5, site6, site7, site8, site9};

__attribute__((noinline)) static void *caller(int which, size_t size) {
    void *p = sites[which % 10](size);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}
__attribute__((noinline)) static void *caller_b(int which, size_t size) {
    void *p = sites[which % 10](size);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}
__attribute__((noinline)) static void *caller_c(int which, size_t size) {
    void *p = sites[which % 10](size);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}
__attribute__((noinline)) static void *caller_d(int which, size_t size) {
    void *p = sites[which % 10](size);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}
__attribute__((noinline)) static void *caller_e(int which, size_t size) {
    void *p = sites[which % 10](size);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}

typedef void *(*caller_fn)(int, size_t);
static const caller_fn callers[5] = {caller, caller_b, caller_c, caller_d, caller_e};

static void allocate_at_50_sites(void) {
    for (int i = 0; i < SITES; i++)
        for (int k = 0; k < 20; k++)
            callers[i / 10](i, 64 + (size_t)i * 16); /* kept: live at exit */
}

static long private_dirty_kib(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kib = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Private_Dirty: %ld kB", &kib) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kib;
}

static const char *forbidden_mapped(void) {
    static char found[256];
    static const char *const names[] = {"libdw",  "libdebuginfod", "libcurl",
                                        "gnutls", "libssl",        "libmicrohttpd"};
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4200];
    found[0] = '\0';
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        const char *name = strrchr(line, '/');
        for (size_t i = 0; name != NULL && i < sizeof names / sizeof names[0]; i++)
            if (strstr(name, names[i]) != NULL && strstr(found, names[i]) == NULL &&
                strlen(found) + strlen(names[i]) + 2 < sizeof found) {
                strcat(found, names[i]);
                strcat(found, " ");
            }
    }
    if (f != NULL)
        fclose(f);
    return found[0] != '\0' ? found : "none";
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "exit") == 0) {
        allocate_at_50_sites();
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "memory") == 0) {
        typedef int (*every_fn)(double, const char *, const char *);
        every_fn every = (every_fn)dlsym(RTLD_DEFAULT, "rallo_dump_every");
        if (every == NULL) {
            fprintf(stderr, "run under LD_PRELOAD=librallo.so\n");
            return 2;
        }
        allocate_at_50_sites();
        long before = private_dirty_kib();
        every(0.2, argv[2], "html,pprof");
        usleep(2100 * 1000);
        every(0, NULL, NULL);
        usleep(300 * 1000);
        long after = private_dirty_kib();
        printf("private_dirty_kib before=%ld after=%ld added=%ld mapped=%s\n", before, after, after - before,
               forbidden_mapped());
        return 0;
    }
    fprintf(stderr, "usage: dump_cost exit | dump_cost memory DIR\n");
    return 2;
}
