/* site_dump.c - a preload helper for tests that run other programs under
 * librallo: at exit it stops tracking and writes every site to the file named
 * by UNWIND_SITES_OUT, one line each: "<alloc_count> <depth>" and then, per
 * frame leaf first, " <module basename>:<symbol or ?>". Symbols from dladdr,
 * while the program's modules are still loaded. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rallo.h"

static int write_site(const rallo_site *site, void *arg) {
    FILE *out = arg;
    fprintf(out, "%llu %u", (unsigned long long)site->alloc_count, site->depth);
    for (uint32_t i = 0; i < site->depth; i++) {
        Dl_info info;
        const char *module = "?", *symbol = "?";
        if (dladdr(site->frames[i], &info)) {
            if (info.dli_fname != NULL)
                module = strrchr(info.dli_fname, '/') ? strrchr(info.dli_fname, '/') + 1 : info.dli_fname;
            if (info.dli_sname != NULL)
                symbol = info.dli_sname;
        }
        fprintf(out, " %s:%s", module[0] ? module : "?", symbol);
    }
    fputc('\n', out);
    return 0;
}

__attribute__((destructor)) static void site_dump(void) {
    const char *path = getenv("UNWIND_SITES_OUT");
    if (path == NULL)
        return;
    rallo_disable();
    FILE *out = fopen(path, "w");
    if (out == NULL)
        return;
    rallo_for_each_site(write_site, out);
    fclose(out);
}
