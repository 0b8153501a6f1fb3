/* test_dump_faults.c - bad input and faults: a missing or unwritable
 * RALLO_DUMP_DIR, a full device and a full file system, a symbolic link planted
 * at the dump name, garbage in the variables. Each gives one clear stderr line;
 * the program's stdout and exit code stay its own; nothing else is written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump_check.h"

static target_run run;

/* Entries of dir other than "." and ".."; with skip, that name is not counted. */
static int count_entries(const char *dir, const char *skip) {
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL)
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0 &&
            (skip == NULL || strcmp(entry->d_name, skip) != 0))
            n++;
    closedir(d);
    return n;
}

static void expect_one_line(const char *err, const char *a, const char *b) {
    if (count_rallo_lines(err) != 1 || strstr(err, a) == NULL || (b != NULL && strstr(err, b) == NULL))
        fail_msg("expected one rallo line with \"%s\" and \"%s\"; stderr was:\n%s", a, b ? b : "", err);
}

static void missing_dir(void **state) {
    (void)state;
    char *work = make_temp_dir("missing");
    char dir_var[4300], expected[4300];
    /* printf directives in the name: printed as they are, never interpreted.
     * Two levels missing: rallo makes a missing directory, but only one level. */
    snprintf(dir_var, sizeof dir_var, "RALLO_DUMP_DIR=%s/no-such-parent/no-such-dir-%%n%%s", work);
    const char *env[] = {"RALLO_ENABLE=1", "RALLO_DUMP_INTERVAL=0.1", "RALLO_DUMP_FORMATS=json", dir_var,
                         NULL};
    const char *args[] = {"run", "1", "5", NULL};
    run_target(work, env, args, &run);
    assert_int_equal(run.exit_code, 5);
    assert_string_equal(run.out, "ready\ndone\n");
    /* ~10 failed periodic dumps, one line: the same error is said once. The
     * file a periodic dump writes itself is the raw profile (its formats come
     * from a helper, which is never started when that fails). */
    snprintf(expected, sizeof expected,
             "rallo: cannot dump into %s/no-such-parent/no-such-dir-%%n%%s: ", work);
    expect_one_line(run.err, expected, "No such file or directory");
    remove_tree(work);
    free(work);
}

static void unwritable_dir(void **state) {
    (void)state;
    char *work = make_temp_dir("unwritable");
    char dump_dir[4200], dir_var[4300];
    snprintf(dump_dir, sizeof dump_dir, "%s/ro", work);
    assert_int_equal(mkdir(dump_dir, 0555), 0);
    chmod(dump_dir, 0555);
    /* The target's own directory (one of another user's is refused before any
     * write: security.dump_dir_checks), that it cannot write to. */
    if (geteuid() == 0)
        assert_int_equal(chown(dump_dir, 65534, 65534), 0);
    chmod(work, 0777); /* the target (as nobody when we are root) writes its stdout here */
    snprintf(dir_var, sizeof dir_var, "RALLO_DUMP_DIR=%s", dump_dir);
    const char *env[] = {"RALLO_ENABLE=1", "RALLO_DUMP_ON_EXIT=1", "RALLO_DUMP_FORMATS=json", dir_var, NULL};
    const char *args[] = {"run", "0.1", "6", NULL};
    /* root writes anywhere: run the target as nobody so the mode means something. */
    finish_target(work, start_target(work, env, args, true), 60, &run);
    assert_int_equal(run.exit_code, 6);
    assert_string_equal(run.out, "ready\ndone\n");
    expect_one_line(run.err, "rallo: cannot write ", "Permission denied");
    assert_int_equal(count_entries(dump_dir, NULL), 0);
    remove_tree(work);
    free(work);
}

static void full_device(void **state) {
    (void)state;
    char *work = make_temp_dir("devfull");
    const char *args[] = {"dump", "/dev/full", "json", NULL};
    const char *env[] = {"RALLO_ENABLE=1", NULL};
    run_target(work, env, args, &run);
    assert_int_equal(run.exit_code, 0);
    assert_string_equal(run.out, "rc=-1 errno=ENOSPC\n");
    expect_one_line(run.err, "rallo: cannot write /dev/full: No space left on device", NULL);
    struct stat st;
    assert_int_equal(stat("/dev/full", &st), 0);
    assert_true(S_ISCHR(st.st_mode)); /* written into, never replaced */
    remove_tree(work);
    free(work);
}

static void full_file_system(void **state) {
    (void)state;
    char *work = make_temp_dir("tmpfs");
    char mnt[4200], filler[4300], target[4300];
    snprintf(mnt, sizeof mnt, "%s/mnt", work);
    assert_int_equal(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") != 0) {
        fprintf(stderr, "skipped: cannot mount a tmpfs here (%s)\n", strerror(errno));
        remove_tree(work);
        free(work);
        skip();
    }
    /* Fill it to the last byte, so the dump meets ENOSPC while writing. */
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    int fd = open(filler, O_WRONLY | O_CREAT, 0600);
    char block[4096];
    memset(block, 'x', sizeof block);
    while (fd >= 0 && write(fd, block, sizeof block) > 0)
        ;
    while (fd >= 0 && write(fd, block, 1) > 0)
        ;
    if (fd >= 0)
        close(fd);
    snprintf(target, sizeof target, "%s/out.pb.gz", mnt);
    const char *args[] = {"dump", target, NULL};
    const char *env[] = {"RALLO_ENABLE=1", NULL};
    run_target(work, env, args, &run);
    assert_int_equal(run.exit_code, 0);
    assert_string_equal(run.out, "rc=-1 errno=ENOSPC\n");
    expect_one_line(run.err, "rallo: cannot write ", "No space left on device");
    assert_int_equal(count_entries(mnt, "filler"), 0); /* the temporary file is gone */
    umount(mnt);
    remove_tree(work);
    free(work);
}

static void read_text(const char *path, char *buf, size_t cap) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        size_t n = fread(buf, 1, cap - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
}

static void planted_symlink_is_replaced_not_followed(void **state) {
    (void)state;
    char *work = make_temp_dir("symlink");
    char victim[4200], link_path[4200], content[64], dir_var[4300];
    snprintf(victim, sizeof victim, "%s/victim", work);
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fputs("precious\n", f);
    fclose(f);
    chmod(victim, 0644);

    /* rallo_dump at a path where a link waits. */
    snprintf(link_path, sizeof link_path, "%s/out.json", work);
    assert_int_equal(symlink(victim, link_path), 0);
    const char *args[] = {"dump", link_path, NULL};
    const char *env[] = {"RALLO_ENABLE=1", NULL};
    run_target(work, env, args, &run);
    assert_string_equal(run.out, "rc=0 errno=0\n");
    read_text(victim, content, sizeof content);
    assert_string_equal(content, "precious\n");
    assert_true(file_mode_is(victim, 0644));
    assert_true(file_mode_is(link_path, 0600)); /* a regular file now: the link itself was replaced */
    assert_true(check_json(link_path, work));

    /* The exit dump's own name, planted by the program before it exits. */
    snprintf(dir_var, sizeof dir_var, "RALLO_DUMP_DIR=%s", work);
    const char *env2[] = {"RALLO_ENABLE=1", "RALLO_DUMP_ON_EXIT=1", "RALLO_DUMP_FORMATS=json", dir_var, NULL};
    const char *args2[] = {"plant", work, NULL};
    run_target(work, env2, args2, &run);
    assert_string_equal(run.out, "planted\n");
    assert_int_equal(run.exit_code, 0);
    read_text(victim, content, sizeof content);
    assert_string_equal(content, "precious\n");
    snprintf(link_path, sizeof link_path, "%s/rallo.%ld.final.json", work, (long)run.pid);
    assert_true(file_mode_is(link_path, 0600));
    assert_true(check_json(link_path, work));
    expect_one_line(run.err, "rallo: replaced the symbolic link at ", "rallo.");
    remove_tree(work);
    free(work);
}

static void garbage_variables(void **state) {
    (void)state;
    char *work = make_temp_dir("garbage");
    char dump_dir[4200], dir_var[4300];
    snprintf(dump_dir, sizeof dump_dir, "%s/dumps", work);
    assert_int_equal(mkdir(dump_dir, 0755), 0);
    snprintf(dir_var, sizeof dir_var, "RALLO_DUMP_DIR=%s", dump_dir);

    const char *env[] = {"RALLO_ENABLE=1", "RALLO_DUMP_INTERVAL=0.1s%n", dir_var, NULL};
    const char *args[] = {"run", "0.5", "4", NULL};
    run_target(work, env, args, &run);
    assert_int_equal(run.exit_code, 4);
    assert_string_equal(run.out, "ready\ndone\n");
    expect_one_line(run.err, "RALLO_DUMP_INTERVAL", NULL);
    assert_int_equal(count_entries(dump_dir, NULL), 0); /* the interval was ignored: no dumps */

    const char *env2[] = {"RALLO_ENABLE=1", "RALLO_DUMP_SIGNAL=NOPE", dir_var, NULL};
    run_target(work, env2, args, &run);
    assert_int_equal(run.exit_code, 4);
    expect_one_line(run.err, "RALLO_DUMP_SIGNAL", NULL);

    const char *env3[] = {"RALLO_ENABLE=1", "RALLO_DUMP_FORMATS=html,%s%s%n", "RALLO_DUMP_ON_EXIT=maybe",
                          dir_var, NULL};
    run_target(work, env3, args, &run);
    assert_int_equal(run.exit_code, 4);
    assert_string_equal(run.out, "ready\ndone\n");
    assert_int_equal(count_rallo_lines(run.err), 2);
    assert_non_null(strstr(run.err, "RALLO_DUMP_FORMATS: unknown format \"%s%s%n\""));
    assert_non_null(strstr(run.err, "RALLO_DUMP_ON_EXIT"));
    assert_int_equal(count_entries(dump_dir, NULL), 0);
    remove_tree(work);
    free(work);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(missing_dir),
        cmocka_unit_test(unwritable_dir),
        cmocka_unit_test(full_device),
        cmocka_unit_test(full_file_system),
        cmocka_unit_test(planted_symlink_is_replaced_not_followed),
        cmocka_unit_test(garbage_variables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
