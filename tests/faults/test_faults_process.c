/* test_faults_process.c - faults around a whole program run under
 * LD_PRELOAD=librallo.so (fault_target), each with its expected outcome:
 *   dir_vanishes_mid_run: RALLO_DUMP_DIR removed after the first periodic
 *     dumps: the next dump makes it again (0700), silently. Then a file put in
 *     its place for several intervals, and removed. Expected: stdout and exit
 *     code as without rallo, exactly one stderr line for that outage
 *     (ENOTDIR), not one per interval; once the file is gone the periodic
 *     dumps resume with later sequence numbers, every one complete.
 *   underscore_exit_loses_final_dump: RALLO_DUMP_ON_EXIT=1 and the program ends
 *     with _exit(0). Expected: exit code 0, no crash, no rallo.<pid>.final.*
 *     (the documented loss); the same program returning from main does leave a
 *     final dump that parses (so the absence is not vacuous).
 *   sigkill_keeps_periodic_dumps: periodic dumps, then SIGKILL. Expected: every
 *     file at a final name is a complete dump (json checked by python3 -m
 *     json.tool), none is a final (exit) dump; temporaries (".name.tmp-...")
 *     are the only thing a kill may leave. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dump_check.h"

static target_run run;

static void sleep_seconds(double seconds) {
    struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Highest numbered json dump of pid in dir (0: none); never parses files. */
static int highest_json_seq(const char *dir, long pid) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "rallo.%ld.", pid);
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int best = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (strncmp(entry->d_name, prefix, strlen(prefix)) == 0 && len > 5 &&
            strcmp(entry->d_name + len - 5, ".json") == 0) {
            int seq = atoi(entry->d_name + strlen(prefix));
            if (seq > best)
                best = seq;
        }
    }
    closedir(d);
    return best;
}

static int wait_for_json(const char *dir, long pid, int above, double timeout) {
    for (double waited = 0; waited < timeout; waited += 0.02) {
        int seq = highest_json_seq(dir, pid);
        if (seq > above)
            return seq;
        sleep_seconds(0.02);
    }
    return 0;
}

static bool exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static void dir_vanishes_mid_run(void **state) {
    (void)state;
    char *work = make_temp_dir("faults-vanish");
    assert_non_null(work);
    char dump_dir[4200], dir_var[4300];
    snprintf(dump_dir, sizeof dump_dir, "%s/dumps", work);
    assert_int_equal(mkdir(dump_dir, 0755), 0);
    snprintf(dir_var, sizeof dir_var, "RALLO_DUMP_DIR=%s", dump_dir);
    const char *env[] = {"RALLO_ENABLE=1", "RALLO_DUMP_INTERVAL=0.25", "RALLO_DUMP_FORMATS=json,text",
                         dir_var, NULL};
    const char *args[] = {"run", "6", NULL};
    pid_t pid = start_target(work, env, args, false);

    int first = wait_for_json(dump_dir, pid, 0, 20);
    assert_true(first > 0);
    int before = first, resumed = 0;
    /* Moved away (atomically: rallo would make it again between the steps of
     * a recursive remove): the next dump makes it again (0700), silently. */
    char moved[4300], blocker[4300];
    snprintf(moved, sizeof moved, "%s.gone", dump_dir);
    assert_int_equal(rename(dump_dir, moved), 0);
    resumed = wait_for_json(dump_dir, pid, 0, 20);
    assert_true(resumed > before);
    struct stat st;
    assert_int_equal(stat(dump_dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* A file swapped in where the directory was: an outage, until it is
     * swapped back. */
    snprintf(blocker, sizeof blocker, "%s/blocker", work);
    FILE *f = fopen(blocker, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(renameat2(AT_FDCWD, blocker, AT_FDCWD, dump_dir, RENAME_EXCHANGE), 0);
    sleep_seconds(0.6); /* several intervals fail */
    before = highest_json_seq(blocker, pid);
    assert_int_equal(renameat2(AT_FDCWD, blocker, AT_FDCWD, dump_dir, RENAME_EXCHANGE), 0);
    resumed = wait_for_json(dump_dir, pid, before, 20);
    assert_true(resumed > before);
    finish_target(work, pid, 60, &run);

    int max_seq = 0;
    bool all_valid = false;
    int count = count_dumps(dump_dir, pid, work, &max_seq, &all_valid);
    print_message("vanish: first dump seq %d, first after re-creating %d, %d files there (max seq %d); "
                  "exit %d; stderr:\n%s",
                  before, resumed, count, max_seq, run.exit_code, run.err);
    assert_int_equal(run.signal, 0);
    assert_int_equal(run.exit_code, 0);
    assert_string_equal(run.out, "ready\ndone\n");
    /* One line for the outage, however many intervals failed in it. */
    assert_int_equal(count_rallo_lines(run.err), 1);
    assert_non_null(strstr(run.err, "Not a directory"));
    assert_non_null(strstr(run.err, dump_dir));
    /* Dumps resumed, numbered after those lost, and complete. */
    assert_true(resumed > before);
    assert_true(count >= 2);
    assert_true(all_valid);
    remove_tree(work);
    free(work);
}

static void underscore_exit_loses_final_dump(void **state) {
    (void)state;
    char *work = make_temp_dir("faults-exit");
    assert_non_null(work);
    char dir_var[4300], final_path[4400];
    snprintf(dir_var, sizeof dir_var, "RALLO_DUMP_DIR=%s", work);
    const char *env[] = {"RALLO_ENABLE=1", "RALLO_DUMP_ON_EXIT=1", "RALLO_DUMP_FORMATS=json", dir_var, NULL};

    const char *quit[] = {"quit", "0.3", NULL};
    run_target(work, env, quit, &run);
    snprintf(final_path, sizeof final_path, "%s/rallo.%ld.final.json", work, (long)run.pid);
    assert_int_equal(run.signal, 0);
    assert_int_equal(run.exit_code, 0);
    assert_string_equal(run.out, "ready\ndone\n");
    assert_int_equal(count_rallo_lines(run.err), 0);
    assert_false(exists(final_path)); /* _exit skips atexit: no final dump */
    int max_seq = 0;
    bool all_valid = false;
    assert_int_equal(count_dumps(work, run.pid, work, &max_seq, &all_valid), 0);

    /* Control: returning from main does write it. */
    const char *normal[] = {"run", "0.3", NULL};
    run_target(work, env, normal, &run);
    snprintf(final_path, sizeof final_path, "%s/rallo.%ld.final.json", work, (long)run.pid);
    assert_int_equal(run.exit_code, 0);
    assert_true(exists(final_path));
    assert_true(check_json(final_path, work));
    remove_tree(work);
    free(work);
}

static void sigkill_keeps_periodic_dumps(void **state) {
    (void)state;
    char *work = make_temp_dir("faults-kill");
    assert_non_null(work);
    char dump_dir[4200], dir_var[4300];
    snprintf(dump_dir, sizeof dump_dir, "%s/dumps", work);
    assert_int_equal(mkdir(dump_dir, 0755), 0);
    snprintf(dir_var, sizeof dir_var, "RALLO_DUMP_DIR=%s", dump_dir);
    const char *env[] = {"RALLO_ENABLE=1",
                         "RALLO_DUMP_ON_EXIT=1",
                         "RALLO_DUMP_INTERVAL=0.1",
                         "RALLO_DUMP_FORMATS=json,text,folded",
                         dir_var,
                         NULL};
    const char *args[] = {"hold", NULL};
    pid_t pid = start_target(work, env, args, false);
    assert_true(wait_for_json(dump_dir, pid, 2, 30) > 2);
    kill(pid, SIGKILL);
    finish_target(work, pid, 30, &run);
    assert_int_equal(run.signal, SIGKILL);

    DIR *d = opendir(dump_dir);
    assert_non_null(d);
    struct dirent *entry;
    int finals = 0, jsons = 0, temporaries = 0;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "rallo.%ld.", (long)pid);
    while ((entry = readdir(d)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (entry->d_name[0] == '.') {
            temporaries++;
            continue;
        }
        char path[4500];
        snprintf(path, sizeof path, "%s/%.256s", dump_dir, entry->d_name);
        assert_int_equal(strncmp(entry->d_name, prefix, strlen(prefix)), 0);
        const char *seq = entry->d_name + strlen(prefix);
        assert_true(seq[0] >= '1' && seq[0] <= '9'); /* numbered: no "final" dump after a kill */
        if (!check_dump_file(path, work))
            fail_msg("partial or broken file at a final name: %s", path);
        jsons += strstr(entry->d_name, ".json") != NULL;
        finals++;
    }
    closedir(d);
    print_message("sigkill: %d complete dumps (%d json), %d temporaries left\n", finals, jsons, temporaries);
    assert_true(jsons >= 2);
    remove_tree(work);
    free(work);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dir_vanishes_mid_run),
        cmocka_unit_test(underscore_exit_loses_final_dump),
        cmocka_unit_test(sigkill_keeps_periodic_dumps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
