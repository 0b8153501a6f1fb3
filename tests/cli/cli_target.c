/* cli_target.c - the program the `rallo` command tests run, one mode per
 * test, each allocating what the checker (test_cli.py) knows exactly. rallo's
 * API is looked up with dlsym, so it builds without librallo. Built -O0 with
 * frame pointers so each named function is its own frame.
 *   sites EXIT      keep_A: 100 x 48 B; keep_B: 25 x 1000 B; exit EXIT
 *   segv            keep_A, then dies by SIGSEGV
 *   leak DIR        dumps DIR/base.pb.gz, leak_here: 37 x 1000 B, dumps DIR/new.pb.gz
 *   phases DIR      stage_one: 1 MiB (4 x 256 KiB), dump DIR/rallo.<pid>.1.pb.gz,
 *                   stage_two: 2 MiB, dump .2, stage_three: 3 MiB, dump .3
 *   toggle          tracking off: untracked_before 10 x 64 B; raise(SIGUSR1);
 *                   toggled_on 20 x 128 B; raise(SIGUSR1); untracked_after 30 x 64 B;
 *                   prints "on=<0|1> off=<0|1>" (tracking state after each raise)
 *   serve           served_site: 50 x 4096 B, prints "ready", then waits for
 *                   stdin to close (allocating and freeing meanwhile)
 *   env             prints LD_PRELOAD, RALLO_ENABLE, RALLO_DUMP_DIR as seen by
 *                   a child it runs (execs /usr/bin/env) */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *kept[1024];
static int nkept;

static int dump(const char *path) {
    int (*rallo_dump)(const char *, const char *) =
        (int (*)(const char *, const char *))dlsym(RTLD_DEFAULT, "rallo_dump");
    if (rallo_dump == NULL) {
        fprintf(stderr, "cli_target: rallo_dump not found (librallo not preloaded?)\n");
        exit(90);
    }
    if (rallo_dump(path, "pprof") != 0) {
        fprintf(stderr, "cli_target: rallo_dump %s failed\n", path);
        exit(91);
    }
    return 0;
}

static int enabled(void) {
    int (*is_enabled)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "rallo_is_enabled");
    return is_enabled ? is_enabled() : -1;
}

__attribute__((noinline)) void keep_A(void) {
    for (int i = 0; i < 100; i++)
        kept[nkept++] = malloc(48);
}
__attribute__((noinline)) void keep_B(void) {
    for (int i = 0; i < 25; i++)
        kept[nkept++] = malloc(1000);
}
__attribute__((noinline)) void leak_here(void) {
    for (int i = 0; i < 37; i++)
        kept[nkept++] = malloc(1000);
}
__attribute__((noinline)) void stage_one(void) {
    for (int i = 0; i < 4; i++)
        kept[nkept++] = malloc(256 * 1024);
}
__attribute__((noinline)) void stage_two(void) {
    for (int i = 0; i < 8; i++)
        kept[nkept++] = malloc(256 * 1024);
}
__attribute__((noinline)) void stage_three(void) {
    for (int i = 0; i < 12; i++)
        kept[nkept++] = malloc(256 * 1024);
}
__attribute__((noinline)) void untracked_before(void) {
    for (int i = 0; i < 10; i++)
        kept[nkept++] = malloc(64);
}
__attribute__((noinline)) void toggled_on(void) {
    for (int i = 0; i < 20; i++)
        kept[nkept++] = malloc(128);
}
__attribute__((noinline)) void untracked_after(void) {
    for (int i = 0; i < 30; i++)
        kept[nkept++] = malloc(64);
}
__attribute__((noinline)) void served_site(void) {
    for (int i = 0; i < 50; i++)
        kept[nkept++] = malloc(4096);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    char path[4096];
    if (strcmp(mode, "sites") == 0) {
        keep_A();
        keep_B();
        return argc > 2 ? atoi(argv[2]) : 0;
    }
    if (strcmp(mode, "segv") == 0) {
        keep_A();
        raise(SIGSEGV);
        return 0;
    }
    if (strcmp(mode, "leak") == 0 && argc > 2) {
        keep_A();
        snprintf(path, sizeof path, "%s/base.pb.gz", argv[2]);
        dump(path);
        leak_here();
        snprintf(path, sizeof path, "%s/new.pb.gz", argv[2]);
        dump(path);
        return 0;
    }
    if (strcmp(mode, "phases") == 0 && argc > 2) {
        void (*stages[3])(void) = {stage_one, stage_two, stage_three};
        for (int k = 0; k < 3; k++) {
            stages[k]();
            snprintf(path, sizeof path, "%s/rallo.%d.%d.pb.gz", argv[2], (int)getpid(), k + 1);
            dump(path);
        }
        return 0;
    }
    if (strcmp(mode, "toggle") == 0) {
        untracked_before();
        raise(SIGUSR1);
        int on = enabled();
        toggled_on();
        raise(SIGUSR1);
        int off = enabled();
        untracked_after();
        printf("on=%d off=%d\n", on, off);
        return 0;
    }
    if (strcmp(mode, "serve") == 0) {
        served_site();
        printf("ready\n");
        fflush(stdout);
        char buffer[256];
        while (fgets(buffer, sizeof buffer, stdin) != NULL) {
            void *churn = malloc(100);
            free(churn);
        }
        return 0;
    }
    if (strcmp(mode, "env") == 0) {
        execl("/bin/sh", "sh", "-c",
              "echo \"LD_PRELOAD=${LD_PRELOAD-unset} RALLO_ENABLE=${RALLO_ENABLE-unset} "
              "RALLO_DUMP_DIR=${RALLO_DUMP_DIR-unset}\"",
              (char *)NULL);
        return 99;
    }
    fprintf(stderr, "usage: cli_target sites EXIT|segv|leak DIR|phases DIR|toggle|serve|env\n");
    return 2;
}
