/* test_dump_kill.c - kill -9 at random points while a program with thousands of
 * sites dumps in a loop (rallo_dump over the same names, and periodic dumps):
 * every file at a final name is complete. Temporary files may be left behind,
 * never at a final name, and the next periodic dump into the directory removes
 * them once their process is gone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump_check.h"

static target_run run;

static bool wait_ready(const char *work_dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/stdout", work_dir);
    for (int i = 0; i < 1500; i++) {
        FILE *f = fopen(path, "r");
        char line[32] = {0};
        if (f != NULL) {
            bool got = fgets(line, sizeof line, f) != NULL;
            fclose(f);
            if (got && strcmp(line, "ready\n") == 0)
                return true;
        }
        struct timespec step = {0, 20 * 1000 * 1000};
        nanosleep(&step, NULL);
    }
    return false;
}

/* Checks every file at a final name; returns how many there were. */
static int check_final_names(const char *dump_dir, const char *work_dir) {
    DIR *d = opendir(dump_dir);
    assert_non_null(d);
    struct dirent *entry;
    int finals = 0;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.')
            continue; /* ".", "..", and temporaries (".<name>.tmp-...") */
        char path[4500];
        snprintf(path, sizeof path, "%s/%.256s", dump_dir, entry->d_name);
        if (!check_dump_file(path, work_dir))
            fail_msg("truncated or broken file at a final name: %s", path);
        finals++;
    }
    closedir(d);
    return finals;
}

/* Temporaries (".<name>.tmp-<pid>-<hex>") in dump_dir. */
static int count_temporaries(const char *dump_dir) {
    DIR *d = opendir(dump_dir);
    assert_non_null(d);
    struct dirent *entry;
    int n = 0;
    while ((entry = readdir(d)) != NULL)
        n += entry->d_name[0] == '.' && strstr(entry->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

/* Waits until dump_dir holds a file at a final name (the dumps have begun). */
static bool wait_first_dump(const char *dump_dir) {
    for (int i = 0; i < 1500; i++) {
        DIR *d = opendir(dump_dir);
        struct dirent *entry;
        bool found = false;
        while (d != NULL && (entry = readdir(d)) != NULL)
            found = found || entry->d_name[0] != '.';
        if (d != NULL)
            closedir(d);
        if (found)
            return true;
        struct timespec step = {0, 20 * 1000 * 1000};
        nanosleep(&step, NULL);
    }
    return false;
}

static void kill_during_dumps_leaves_no_partial_file(void **state) {
    (void)state;
    /* Helpers of the killed program finish on their own: what is at a final
     * name is complete whenever it is looked at. */
    dump_check_waits_for_helpers = false;
    char *work = make_temp_dir("kill");
    char dump_dir[4200], dir_var[4300];
    snprintf(dump_dir, sizeof dump_dir, "%s/dumps", work);
    assert_int_equal(mkdir(dump_dir, 0755), 0);
    snprintf(dir_var, sizeof dir_var, "RALLO_DUMP_DIR=%s", dump_dir);
    const char *env[] = {"RALLO_ENABLE=1", "RALLO_DUMP_INTERVAL=0.05",
                         "RALLO_DUMP_FORMATS=html,pprof,folded,text,json", dir_var, NULL};
    const char *args[] = {"churn", dump_dir, NULL};
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int total_finals = 0;
    for (int round = 0; round < 6; round++) {
        char out_path[4300];
        snprintf(out_path, sizeof out_path, "%s/stdout", work);
        unlink(out_path); /* the last round's "ready" must not count for this one */
        pid_t pid = start_target(work, env, args, false);
        assert_true(wait_ready(work));
        if (round == 0) /* the first dump of a process symbolizes, which is slow on a loaded machine */
            assert_true(wait_first_dump(dump_dir));
        struct timespec delay = {0, (50 + rand() % 400) * 1000L * 1000L};
        nanosleep(&delay, NULL);
        kill(pid, SIGKILL);
        finish_target(work, pid, 30, &run);
        assert_int_equal(run.signal, SIGKILL);
        total_finals = check_final_names(dump_dir, work);
    }
    /* The killed programs' helpers done, what they wrote is complete too. */
    wait_for_helpers(work, 60);
    total_finals = check_final_names(dump_dir, work);
    /* Not vacuous: the loop did leave complete files behind. */
    assert_true(total_finals >= 5);

    /* One more process dumps into the directory: the temporaries of the killed
     * ones are gone after its first dump (they are the only ones left when it
     * has exited, its own being renamed or removed). */
    int left = count_temporaries(dump_dir);
    const char *env_after[] = {"RALLO_ENABLE=1", "RALLO_DUMP_ON_EXIT=1", "RALLO_DUMP_FORMATS=json", dir_var,
                               NULL};
    const char *args_after[] = {"run", "0.2", NULL};
    run_target(work, env_after, args_after, &run);
    assert_int_equal(run.exit_code, 0);
    print_message("temporaries left by the kills: %d; after the next dump: %d\n", left,
                  count_temporaries(dump_dir));
    assert_int_equal(count_temporaries(dump_dir), 0);
    remove_tree(work);
    free(work);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill_during_dumps_leaves_no_partial_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
