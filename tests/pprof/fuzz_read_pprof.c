/* fuzz_read_pprof.c - libFuzzer target for rallo_read_pprof(): every input
 * must give a clean error or a profile whose every index is in range, never a
 * crash, a leak or a hang. Built with clang -fsanitize=fuzzer,address,undefined
 * (tests/pprof/CMakeLists.txt), with fuzz_mi_shim.c so ASan sees the heap. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pprof.h"
#include "writers.h"

static void check(const rallo_profile *p) {
    size_t sum = 0;
    for (size_t i = 0; i < p->nsites; i++)
        for (uint32_t l = 0; l < p->sites[i].nlocations; l++)
            if (p->sites[i].locations[l] >= p->nlocations)
                __builtin_trap();
    for (size_t i = 0; i < p->nlocations; i++) {
        const rallo_prof_location *loc = &p->locations[i];
        if (loc->mapping != RALLO_NO_MAPPING && loc->mapping >= p->nmappings)
            __builtin_trap();
        for (uint32_t l = 0; l < loc->nlines; l++)
            sum += (loc->lines[l].function ? strlen(loc->lines[l].function) : 0) +
                   (loc->lines[l].file ? strlen(loc->lines[l].file) : 0);
    }
    for (size_t i = 0; i < p->nmappings; i++)
        sum += (p->mappings[i].path ? strlen(p->mappings[i].path) : 0) +
               (p->mappings[i].build_id ? strlen(p->mappings[i].build_id) : 0);
    if (p->program != NULL)
        sum += strlen(p->program);
    __asm__ volatile("" : : "r"(sum));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rallo_profile p;
    char error[256];
    /* A 64 MiB inflate cap keeps bombs within libFuzzer's memory limit. */
    if (rallo_read_pprof_capped(data, size, (size_t)64 << 20, &p, error, sizeof error) == 0) {
        check(&p);
        rallo_profile_free(&p);
    } else if (strncmp(error, "pprof: ", 7) != 0 || p.arena != NULL) {
        __builtin_trap();
    }
    return 0;
}
