// link-order.cpp - the link-order matrix of MIMALLOC-NOTES.md. Built twice:
// through the CMake target (rallo ahead of mimalloc) with RALLO_EXPECT_TRACKED=1,
// and with an explicit `libmimalloc.so librallo.so` link line with
// RALLO_EXPECT_TRACKED=0. Linked the wrong way, the program's malloc and
// operator new bind to libmimalloc (first in the lookup order), so rallo never
// sees them: tracking on, and the totals stay at 0. That is what this test
// asserts for the wrong order, to document it; the CMake target and rallo.pc
// exist so nobody links that way.
#include <cstdarg>
#include <cstddef>
#include <cstring>
#include <dlfcn.h>
#include <map>
#include <new>
#include <setjmp.h>
#include <string>
#include <vector>

extern "C" {
#include <cmocka.h>
}

#include "entry-points.h"

#ifndef RALLO_EXPECT_TRACKED
#error "define RALLO_EXPECT_TRACKED"
#endif

static const char *defining_library(const char *symbol) {
    Dl_info info;
    void *address = dlsym(RTLD_DEFAULT, symbol);
    if (address == nullptr || dladdr(address, &info) == 0 || info.dli_fname == nullptr)
        return "";
    return info.dli_fname;
}

static void test_symbols_bind_where_expected(void **) {
    const char *want = RALLO_EXPECT_TRACKED ? "librallo.so" : "libmimalloc.so";
    for (const char *symbol : {"malloc", "free", "_Znwm", "_ZdlPv", "_ZnwmSt11align_val_t"}) {
        if (std::strstr(defining_library(symbol), want) == nullptr)
            fail_msg("%s binds to %s, expected %s", symbol, defining_library(symbol), want);
    }
}

static void test_allocations_reach_rallo(void **) {
    assert_int_equal(rallo_enable(), 0);
    rallo_totals before, after;
    rallo_get_totals(&before);
    int *one = new int(5);
    escape(one);
    char *array = new char[400];
    escape(array);
    void *raw = std::malloc(777);
    escape(raw);
    auto *aligned = new (std::align_val_t{256}) char[100];
    escape(aligned);
    rallo_get_totals(&after);
    uint64_t counted = after.alloc_count - before.alloc_count;
    uint64_t bytes = after.alloc_bytes - before.alloc_bytes;
    delete one;
    delete[] array;
    std::free(raw);
    ::operator delete[](aligned, std::align_val_t{256});
#if RALLO_EXPECT_TRACKED
    assert_int_equal(counted, 4);
    assert_int_equal(bytes, sizeof(int) + 400 + 777 + 100);
#else
    assert_int_equal(counted, 0);
    assert_int_equal(bytes, 0);
#endif
    // Standard containers: everything they allocate is freed by the end.
    {
        std::map<std::string, std::vector<int>> m;
        for (int i = 0; i < 1000; i++)
            m["key number " + std::to_string(i)].assign(i % 50, i);
        assert_int_equal(m.size(), 1000);
        rallo_get_totals(&after);
#if RALLO_EXPECT_TRACKED
        assert_true(after.alloc_count - before.alloc_count > 1000);
#else
        assert_int_equal(after.alloc_count - before.alloc_count, 0);
#endif
    }
    rallo_get_totals(&after);
    assert_int_equal(after.live_count, before.live_count);
    assert_int_equal(after.live_bytes, before.live_bytes);
    rallo_disable();
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symbols_bind_where_expected),
        cmocka_unit_test(test_allocations_reach_rallo),
    };
    return cmocka_run_group_tests_name(RALLO_EXPECT_TRACKED ? "link order: rallo before mimalloc"
                                                            : "link order: mimalloc before rallo",
                                       tests, nullptr, nullptr);
}
