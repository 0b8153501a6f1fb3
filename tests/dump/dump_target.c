/* dump_target.c - the program the dump tests run under LD_PRELOAD=librallo.so.
 * It finds the rallo API with dlsym (it is not linked against librallo, so it
 * runs exactly as a program that only preloads rallo), holds a known set of
 * blocks (1000 x 1000 bytes from hold_known_blocks), and then does what its
 * first argument says:
 *   formats DIR          rallo_dump in each format, by name and by extension
 *   run SECONDS [CODE]   allocate for SECONDS, print "done", exit CODE
 *   dump PATH [FORMAT]   one rallo_dump; prints "rc=R errno=NAME"
 *   churn DIR            many sites, rallo_dump of every format in a loop, forever
 *   fork SECONDS         fork; the child allocates for SECONDS; prints "child=PID"
 *   plant DIR            symlink DIR/rallo.<pid>.final.json -> DIR/victim, then exit
 *   every DIR            rallo_dump_every(0.2, DIR, "json,text") for 1.2 s, then stop;
 *                        prints the json dumps seen at the stop and 0.8 s later */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/churn.h"

typedef int (*dump_fn)(const char *path, const char *format);

static dump_fn find_dump(void) {
    dump_fn dump = (dump_fn)dlsym(RTLD_DEFAULT, "rallo_dump");
    if (dump == NULL) {
        fprintf(stderr, "dump_target: rallo_dump not found (run with LD_PRELOAD=librallo.so)\n");
        exit(99);
    }
    return dump;
}

static void *known_blocks[1000];

__attribute__((noinline)) static void hold_known_blocks(void) {
    for (int i = 0; i < 1000; i++) {
        known_blocks[i] = malloc(1000);
        memset(known_blocks[i], 1, 1000);
    }
}

/* Distinct call sites: a four-level walk through ten functions makes up to
 * 10,000 different stacks. The barrier after each call keeps it a real call
 * (no tail call), so every path is its own stack. */
typedef void *(*level_fn)(unsigned code, int level);
static level_fn levels[10];
#define LEVEL(n)                                                                                             \
    __attribute__((noinline)) static void *level##n(unsigned code, int level) {                              \
        void *p = level == 0 ? malloc(24 + n) : levels[code % 10](code / 10, level - 1);                     \
        __asm__ volatile("" ::"r"(p) : "memory");                                                            \
        return p;                                                                                            \
    }
/* Each LEVEL expands to a whole function definition */
/* clang-format off */
LEVEL(0) LEVEL(1) LEVEL(2) LEVEL(3) LEVEL(4) LEVEL(5) LEVEL(6) LEVEL(7) LEVEL(8) LEVEL(9)
static level_fn levels[10] = {level0, level1, level2, level3, level4, level5, level6, level7, level8, level9};
/* clang-format on */

static const char *const extensions[] = {"html", "pb.gz", "folded", "txt", "json"};
static const char *const formats[] = {"html", "pprof", "folded", "text", "json"};

/* Numbered dumps made so far: each has its json, or still its raw profile
 * (.pb.gz) while the helper that writes the json is at work. */
static int count_json_dumps(const char *dir) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "rallo.%ld.", (long)getpid());
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *entry;
    while (d != NULL && (entry = readdir(d)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (strncmp(entry->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (len > 5 && strcmp(entry->d_name + len - 5, ".json") == 0)
            n++;
        else if (len > 6 && strcmp(entry->d_name + len - 6, ".pb.gz") == 0) {
            /* counted unless its json is there too */
            char json[300];
            snprintf(json, sizeof json, "%s/%.*s.json", dir, (int)(len - 6), entry->d_name);
            n += access(json, F_OK) != 0;
        }
    }
    if (d != NULL)
        closedir(d);
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    hold_known_blocks();
    const char *mode = argv[1];
    char path[4096];
    if (strcmp(mode, "formats") == 0 && argc >= 3) {
        dump_fn dump = find_dump();
        int failures = 0;
        for (int f = 0; f < 5; f++) {
            snprintf(path, sizeof path, "%s/named.%s", argv[2], extensions[f]);
            failures += dump(path, formats[f]) != 0;
            snprintf(path, sizeof path, "%s/byext.%s", argv[2], extensions[f]);
            failures += dump(path, NULL) != 0;
        }
        printf("failures=%d\n", failures);
        return failures != 0;
    }
    if (strcmp(mode, "run") == 0 && argc >= 3) {
        printf("ready\n");
        fflush(stdout);
        churn_for(atof(argv[2]));
        printf("done\n");
        return argc >= 4 ? atoi(argv[3]) : 0;
    }
    if (strcmp(mode, "dump") == 0 && argc >= 3) {
        errno = 0;
        int rc = find_dump()(argv[2], argc >= 4 ? argv[3] : NULL);
        const char *name = errno == ENOSPC   ? "ENOSPC"
                           : errno == ENOENT ? "ENOENT"
                           : errno == EACCES ? "EACCES"
                           : errno == EINVAL ? "EINVAL"
                           : errno == 0      ? "0"
                                             : "other";
        printf("rc=%d errno=%s\n", rc, rc == 0 ? "0" : name);
        return 0;
    }
    if (strcmp(mode, "churn") == 0 && argc >= 3) {
        dump_fn dump = find_dump();
        for (unsigned code = 0; code < 3000; code++)
            levels[code % 10](code, 3);
        printf("ready\n");
        fflush(stdout);
        for (unsigned round = 0;; round++) {
            for (int f = 0; f < 5; f++) {
                snprintf(path, sizeof path, "%s/out.%s", argv[2], extensions[f]);
                dump(path, formats[f]);
            }
            levels[round % 10](round, 3);
        }
    }
    if (strcmp(mode, "fork") == 0 && argc >= 3) {
        fflush(stdout);
        pid_t child = fork();
        if (child == 0) {
            churn_for(atof(argv[2]));
            _exit(0);
        }
        int status = 0;
        waitpid(child, &status, 0);
        printf("child=%ld status=%d\n", (long)child, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }
    if (strcmp(mode, "every") == 0 && argc >= 3) {
        typedef int (*every_fn)(double, const char *, const char *);
        every_fn every = (every_fn)dlsym(RTLD_DEFAULT, "rallo_dump_every");
        if (every == NULL)
            return 99;
        errno = 0;
        int bad = every(0.2, argv[2], "json,xml");
        printf("bad=%d einval=%d\n", bad, errno == EINVAL);
        if (every(0.2, argv[2], "json,text") != 0)
            return 4;
        churn_for(1.2);
        every(0, NULL, NULL);
        int at_stop = count_json_dumps(argv[2]);
        usleep(800 * 1000);
        printf("at_stop=%d later=%d\n", at_stop, count_json_dumps(argv[2]));
        return 0;
    }
    if (strcmp(mode, "plant") == 0 && argc >= 3) {
        char victim[4096];
        snprintf(victim, sizeof victim, "%s/victim", argv[2]);
        snprintf(path, sizeof path, "%s/rallo.%ld.final.json", argv[2], (long)getpid());
        if (symlink(victim, path) != 0)
            return 3;
        printf("planted\n");
        return 0;
    }
    return 2;
}
