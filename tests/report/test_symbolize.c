/* test_symbolize.c - the symbolizer against code whose names and lines this
 * test knows: a return address at a call made from an always-inlined function
 * (two lines: the inlined callee innermost, then its caller), a plain caller,
 * a libc function (no debug info: its ELF symbol, no file), an address in no
 * module; offline with the right build id, a wrong one, and a missing file. */
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "inline_fixture.h"
#include "symbolize.h"
#include "writers.h"

/* ---- ground truth: the marked lines of the fixture's source ---- */

static uint32_t marker_line(const char *marker) {
    FILE *source = fopen(FIXTURE_SOURCE, "r");
    assert_non_null(source);
    char text[512];
    uint32_t line = 0, found = 0;
    while (fgets(text, sizeof text, source) != NULL) {
        line++;
        if (strstr(text, marker) != NULL)
            found = line;
    }
    fclose(source);
    assert_int_not_equal(found, 0);
    return found;
}

static const char *basename_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* ---- a profile of two modules (this program and libc), built by hand ---- */

typedef struct module_search {
    rallo_profile *profile;
    rallo_prof_mapping found[2];
    int count;
} module_search;

static char *build_id_hex(rallo_profile *profile, struct dl_phdr_info *info) {
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_NOTE)
            continue;
        const unsigned char *at = (const unsigned char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        const unsigned char *end = at + info->dlpi_phdr[i].p_memsz;
        while (at + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *note = (const ElfW(Nhdr) *)at;
            const unsigned char *desc = at + sizeof *note + ((note->n_namesz + 3) & ~3u);
            if (note->n_type == NT_GNU_BUILD_ID) {
                char *hex = rallo_profile_alloc(profile, 2 * note->n_descsz + 1);
                for (uint32_t k = 0; k < note->n_descsz; k++)
                    sprintf(hex + 2 * k, "%02x", desc[k]);
                return hex;
            }
            at = desc + ((note->n_descsz + 3) & ~3u);
        }
    }
    return NULL;
}

static int module_visit(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    module_search *search = arg;
    bool main_program = info->dlpi_name == NULL || info->dlpi_name[0] == '\0';
    bool libc = !main_program && strstr(info->dlpi_name, "/libc.so") != NULL;
    if (!(main_program && search->count == 0) && !libc)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD || !(segment->p_flags & PF_X) || search->count >= 2)
            continue;
        rallo_prof_mapping *m = &search->found[search->count++];
        uint64_t skew = segment->p_offset & 0xfff;
        m->start = info->dlpi_addr + segment->p_vaddr - skew;
        m->limit = info->dlpi_addr + segment->p_vaddr + segment->p_memsz;
        m->file_offset = segment->p_offset - skew;
        m->path =
            main_program ? search->profile->program : rallo_profile_strdup(search->profile, info->dlpi_name);
        m->build_id = build_id_hex(search->profile, info);
        break;
    }
    return 0;
}

enum { LOC_OUTER, LOC_PLAIN, LOC_LIBC, LOC_NOWHERE, LOC_COUNT };

static void profile_of_this_program(rallo_profile *profile) {
    rallo_profile_init(profile);
    char path[4096];
    ssize_t len = readlink("/proc/self/exe", path, sizeof path - 1);
    assert_true(len > 0);
    path[len] = '\0';
    profile->program = rallo_profile_strdup(profile, path);
    module_search search = {.profile = profile};
    dl_iterate_phdr(module_visit, &search);
    assert_int_equal(search.count, 2);
    profile->mappings = rallo_profile_alloc(profile, sizeof search.found);
    memcpy(profile->mappings, search.found, sizeof search.found);
    profile->nmappings = 2;

    /* An anonymous page: in no module at all. */
    void *nowhere = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(nowhere != MAP_FAILED);
    uint64_t addresses[LOC_COUNT] = {outer_function(), plain_caller(), (uint64_t)(uintptr_t)&getpid + 1,
                                     (uint64_t)(uintptr_t)nowhere + 1};
    profile->locations = rallo_profile_alloc(profile, LOC_COUNT * sizeof *profile->locations);
    for (int i = 0; i < LOC_COUNT; i++) {
        profile->locations[i].address = addresses[i];
        profile->locations[i].mapping = RALLO_NO_MAPPING;
    }
    profile->nlocations = LOC_COUNT;
}

static void assert_line(const rallo_prof_line *line, const char *function, uint32_t number) {
    assert_non_null(line->function);
    assert_string_equal(line->function, function);
    assert_non_null(line->file);
    assert_string_equal(basename_of(line->file), "inline_fixture.c");
    assert_int_equal(line->line, number);
}

static void assert_fixture_symbolized(const rallo_profile *profile) {
    const rallo_prof_location *outer = &profile->locations[LOC_OUTER];
    assert_int_equal(outer->nlines, 2);
    assert_line(&outer->lines[0], "middle_inlined", marker_line("LINE_MIDDLE_CALL"));
    assert_line(&outer->lines[1], "outer_function", marker_line("LINE_OUTER_CALL"));
    const rallo_prof_location *plain = &profile->locations[LOC_PLAIN];
    assert_int_equal(plain->nlines, 1);
    assert_line(&plain->lines[0], "plain_caller", marker_line("LINE_PLAIN_CALL"));
}

static int problems_seen;
static char problem_why[128];
static void note_problem(const rallo_prof_mapping *mapping, const char *why, void *arg) {
    (void)mapping;
    (void)arg;
    problems_seen++;
    snprintf(problem_why, sizeof problem_why, "%s", why);
}

static void test_this_process(void **state) {
    (void)state;
    rallo_profile profile;
    profile_of_this_program(&profile);
    rallo_symbolizer *symbolizer = rallo_symbolizer_new(true);
    assert_non_null(symbolizer);
    rallo_sym_stats stats;
    assert_int_equal(rallo_symbolize(symbolizer, &profile, &stats, NULL, NULL), 0);
    assert_fixture_symbolized(&profile);
    /* libc: at least its ELF symbol (with file:line only if libc6-dbg is installed). */
    const rallo_prof_location *libc = &profile.locations[LOC_LIBC];
    assert_int_equal(libc->nlines, 1);
    assert_non_null(libc->lines[0].function);
    assert_non_null(strstr(libc->lines[0].function, "getpid"));
    assert_int_equal(profile.locations[LOC_NOWHERE].nlines, 0);
    /* libc's lines too when its debug info is installed (libc6-dbg), else its symbol only. */
    assert_int_equal(stats.with_lines + stats.symbol_only, 3);
    assert_true(stats.with_lines >= 2);
    assert_int_equal(stats.no_module, 1);
    assert_int_equal(stats.with_lines + stats.symbol_only + stats.no_symbol + stats.no_module, LOC_COUNT);

    /* Again from the cache, into a fresh profile: the same answers. */
    rallo_profile again;
    profile_of_this_program(&again);
    assert_int_equal(rallo_symbolize(symbolizer, &again, NULL, NULL, NULL), 0);
    assert_fixture_symbolized(&again);
    rallo_profile_free(&again);
    rallo_symbolizer_free(symbolizer);
    rallo_profile_free(&profile);
}

static void test_offline_build_id(void **state) {
    (void)state;
    rallo_profile profile;
    profile_of_this_program(&profile);
    assert_non_null(profile.mappings[0].build_id); /* the toolchain writes one by default */
    rallo_sym_stats stats;
    problems_seen = 0;
    assert_int_equal(rallo_symbolize_offline(&profile, &stats, note_problem, NULL), 0);
    assert_int_equal(problems_seen, 0);
    assert_fixture_symbolized(&profile);
    rallo_profile_free(&profile);
}

static void test_offline_wrong_build_id(void **state) {
    (void)state;
    rallo_profile profile;
    profile_of_this_program(&profile);
    profile.mappings[0].build_id = "00112233445566778899aabbccddeeff00112233";
    rallo_sym_stats stats;
    problems_seen = 0;
    assert_int_equal(rallo_symbolize_offline(&profile, &stats, note_problem, NULL), 0);
    assert_int_equal(problems_seen, 1);
    assert_string_equal(problem_why, "build id differs");
    assert_int_equal(stats.modules_mismatched, 1);
    assert_int_equal(profile.locations[LOC_OUTER].nlines, 0);
    assert_int_equal(profile.locations[LOC_PLAIN].nlines, 0);
    assert_int_equal(stats.no_module, 3);
    rallo_profile_free(&profile);
}

static void test_offline_missing_file(void **state) {
    (void)state;
    rallo_profile profile;
    profile_of_this_program(&profile);
    profile.mappings[0].path = "/nonexistent/rallo-test-program";
    rallo_sym_stats stats;
    problems_seen = 0;
    assert_int_equal(rallo_symbolize_offline(&profile, &stats, note_problem, NULL), 0);
    assert_int_equal(problems_seen, 1);
    assert_string_equal(problem_why, "no such file");
    assert_int_equal(stats.modules_missing, 1);
    assert_int_equal(profile.locations[LOC_OUTER].nlines, 0);
    rallo_profile_free(&profile);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_this_process),
        cmocka_unit_test(test_offline_build_id),
        cmocka_unit_test(test_offline_wrong_build_id),
        cmocka_unit_test(test_offline_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
