/* test_unwind_dlopen.c - one thread loads and unloads libraries in a loop
 * while another allocates through one of them, with tracking on and
 * RALLO_UNWIND from the environment: nothing crashes, and every stack of the
 * allocating thread is right - dl_level_b, the program's callback,
 * dl_level_a, the allocating loop - checked against the library's function
 * ranges at the address it was loaded at each time. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rallo.h"

#define ROUNDS 300
#define ALLOC_SIZE 333331

typedef void *(*dl_callback)(void *(*inner)(size_t), size_t size);
typedef void *(*dl_level_a_fn)(dl_callback callback, size_t size);

volatile int dl_prog_sink;

__attribute__((noinline)) void *prog_callback(void *(*inner)(size_t), size_t size) {
    void *p = inner(size);
    dl_prog_sink = 1;
    return p;
}

/* A function's range at one load of the library. */
typedef struct range {
    uintptr_t start, end;
} range;
typedef struct load {
    range level_a, level_b;
} load;
static load loads[ROUNDS];
static int load_count;
static _Atomic int loader_done;

static range range_of(void *function) {
    Dl_info info;
    const ElfW(Sym) *symbol = NULL;
    assert_true(dladdr1(function, &info, (void **)&symbol, RTLD_DL_SYMENT) != 0);
    assert_non_null(symbol);
    return (range){(uintptr_t)info.dli_saddr, (uintptr_t)info.dli_saddr + symbol->st_size};
}

static void *loader(void *arg) {
    (void)arg;
    /* Load and unload the library (and another, so addresses move). */
    for (int i = 0; i < ROUNDS * 2 && !atomic_load(&loader_done); i++) {
        void *other = (i & 1) ? dlopen(UNWIND_CHAIN_LIB, RTLD_NOW) : NULL;
        void *h = dlopen(UNWIND_DL_LIB, RTLD_NOW);
        if (h != NULL)
            dlclose(h);
        if (other != NULL)
            dlclose(other);
    }
    return NULL;
}

__attribute__((noinline)) void allocate_through(void) {
    for (int i = 0; i < ROUNDS; i++) {
        void *h = dlopen(UNWIND_DL_LIB, RTLD_NOW);
        assert_non_null(h);
        dl_level_a_fn level_a = (dl_level_a_fn)dlsym(h, "dl_level_a");
        assert_non_null(level_a);
        load here = {range_of((void *)level_a), range_of(dlsym(h, "dl_level_b"))};
        int known = 0;
        for (int k = 0; k < load_count; k++)
            known |= memcmp(&loads[k], &here, sizeof here) == 0;
        if (!known)
            loads[load_count++] = here;
        free(level_a(prog_callback, ALLOC_SIZE));
        dlclose(h);
    }
    dl_prog_sink = 2;
}

static bool in(range r, const void *pc) {
    return (uintptr_t)pc > r.start && (uintptr_t)pc <= r.end; /* a return address: after the call */
}

typedef struct check {
    int sites, right;
    uint64_t allocations;
} check;

static int check_site(const rallo_site *site, void *arg) {
    check *c = arg;
    if (site->alloc_count == 0 || site->alloc_bytes != site->alloc_count * (uint64_t)ALLOC_SIZE)
        return 0;
    c->sites++;
    c->allocations += site->alloc_count;
    if (site->depth < 4)
        return 0;
    range callback = range_of((void *)prog_callback), loop = range_of((void *)allocate_through);
    for (int k = 0; k < load_count; k++)
        if (in(loads[k].level_b, site->frames[0]) && in(callback, site->frames[1]) &&
            in(loads[k].level_a, site->frames[2]) && in(loop, site->frames[3])) {
            c->right++;
            break;
        }
    return 0;
}

static void dlopen_while_allocating(void **state) {
    (void)state;
    assert_int_equal(rallo_enable(), 0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, loader, NULL), 0);
    allocate_through();
    atomic_store(&loader_done, 1);
    pthread_join(thread, NULL);
    rallo_disable();
    check c = {0};
    rallo_for_each_site(check_site, &c);
    print_message("  %d loads at distinct addresses, %d sites, %d right\n", load_count, c.sites, c.right);
    assert_int_equal(c.allocations, ROUNDS);
    const char *mode = getenv("RALLO_UNWIND");
    if (mode != NULL && strcmp(mode, "fp") != 0)
        assert_int_equal(c.right, c.sites);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(dlopen_while_allocating)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
