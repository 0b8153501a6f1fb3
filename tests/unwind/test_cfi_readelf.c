/* test_cfi_readelf.c - the call-frame rules of libc, row by row,
 * against binutils' own reading of the same .eh_frame (readelf
 * --debug-dump=frames-interp): at every location readelf lists, the CFA rule
 * (rsp or rbp plus an offset) and where the caller's rbp is saved must be
 * what tracking/cfi_compile.c finds there. Linked with tracking/'s objects, so
 * the look-up is tested directly. Skipped when readelf is not installed. */
#include <dlfcn.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../tracking/unwind/unwind_dwarf.h"

typedef struct libc_search {
    char path[512];
    uintptr_t bias;
} libc_search;

static int find_libc(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    libc_search *search = arg;
    const char *name = strrchr(info->dlpi_name, '/');
    if (name == NULL || strcmp(name + 1, "libc.so.6") != 0)
        return 0;
    snprintf(search->path, sizeof search->path, "%s", info->dlpi_name);
    search->bias = info->dlpi_addr;
    return 1;
}

static const cfi_row *row_at(uintptr_t pc) {
    rallo_module_key key;
    if (!_rallo_module_identify(pc, &key))
        return NULL;
    const rallo_module *module = _rallo_module_get(pc, &key);
    static cfi_row row;
    return module != NULL && _rallo_module_row(module, pc, &row) ? &row : NULL;
}

static void libc_rows_match_readelf(void **state) {
    (void)state;
    if (system("readelf --version > /dev/null 2>&1") != 0)
        skip();
    libc_search libc = {{0}, 0};
    assert_int_equal(dl_iterate_phdr(find_libc, &libc), 1);
    char command[600];
    snprintf(command, sizeof command, "readelf --debug-dump=frames-interp '%s'", libc.path);
    FILE *in = popen(command, "r");
    assert_non_null(in);

    static char line[4096];
    int cfa_col = -1, rbp_col = -1, ra_col = -1;
    bool in_fde = false;
    uint64_t compared = 0, mismatched = 0, unsupported = 0, skipped = 0;
    while (fgets(line, sizeof line, in) != NULL) {
        char *words[64];
        int n = 0;
        for (char *save = NULL, *w = strtok_r(line, " \n", &save); w != NULL && n < 64;
             w = strtok_r(NULL, " \n", &save))
            words[n++] = w;
        if (n == 0)
            continue;
        if (n >= 4 && strcmp(words[3], "FDE") == 0) {
            in_fde = true;
            continue;
        }
        if (n >= 4 && strcmp(words[3], "CIE") == 0) {
            in_fde = false;
            continue;
        }
        if (strcmp(words[0], "LOC") == 0) {
            cfa_col = rbp_col = ra_col = -1;
            for (int i = 0; i < n; i++) {
                if (strcmp(words[i], "CFA") == 0)
                    cfa_col = i;
                else if (strcmp(words[i], "rbp") == 0)
                    rbp_col = i;
                else if (strcmp(words[i], "ra") == 0)
                    ra_col = i;
            }
            continue;
        }
        if (!in_fde || cfa_col < 0 || ra_col < 0 || n <= ra_col || strlen(words[0]) != 16)
            continue;
        uintptr_t pc = libc.bias + (uintptr_t)strtoull(words[0], NULL, 16);
        const char *cfa = words[cfa_col], *ra = words[ra_col], *rbp = rbp_col >= 0 ? words[rbp_col] : "u";
        if (strcmp(ra, "c-8") != 0 || strcmp(cfa, "exp") == 0) {
            skipped++; /* the stack's end, or an expression (checked by the unwinds) */
            continue;
        }
        const cfi_row *row = row_at(pc);
        assert_non_null(row);
        compared++;
        if (row->cfa_rule == CFI_CFA_UNKNOWN) {
            unsupported++;
            continue;
        }
        char ours[64];
        snprintf(ours, sizeof ours, "%s+%d",
                 row->cfa_rule == CFI_CFA_RSP   ? "rsp"
                 : row->cfa_rule == CFI_CFA_RBP ? "rbp"
                                                : "?",
                 row->cfa_offset);
        bool ok = strcmp(ours, cfa) == 0;
        if (strcmp(rbp, "u") == 0)
            ok = ok && row->rbp_rule == CFI_RBP_SAME;
        else if (rbp[0] == 'c') {
            ok = ok && row->rbp_rule == CFI_RBP_AT_CFA && row->rbp_offset == atoi(rbp + 1);
        }
        if (!ok && mismatched++ < 10)
            print_message("  %s: readelf CFA %s rbp %s, ours %s rbp rule %d offset %d\n", words[0], cfa, rbp,
                          ours, row->rbp_rule, row->rbp_offset);
    }
    pclose(in);
    print_message("  libc: %llu rows compared, %llu mismatched, %llu without a rule of ours, %llu skipped\n",
                  (unsigned long long)compared, (unsigned long long)mismatched,
                  (unsigned long long)unsupported, (unsigned long long)skipped);
    assert_true(compared > 10000);
    assert_int_equal(mismatched, 0);
    assert_true(unsupported * 100 < compared);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(libc_rows_match_readelf)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
