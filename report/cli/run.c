/* run.c - `rallo run`: runs a program with librallo preloaded and tracking on
 * from start-up, passes its exit status through, and prints a short summary of
 * its final dump: total allocated, peak, live at exit, the top sites, and where
 * the flame graph is. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mimalloc.h>

#include "cli.h"
#include "symbolize.h"

#ifndef RALLO_INSTALL_LIBDIR
#define RALLO_INSTALL_LIBDIR "lib"
#endif

static void run_usage(FILE *out) {
    fputs("usage: rallo run [-o DIR] [--sample BYTES] [--interval SECONDS] [--formats LIST]\n"
          "                 [--depth N] [--unwind fp|dwarf|auto] [--no-follow] -- PROGRAM [ARGS]\n"
          "\n"
          "Runs PROGRAM with rallo preloaded and tracking every allocation from start-up,\n"
          "dumps at exit (and every --interval seconds) into DIR, then prints the total\n"
          "allocated, the peak, what was live at exit, the top 5 sites and the flame graph's\n"
          "path. Exits with PROGRAM's exit status (128+N when a signal N killed it).\n"
          "\n"
          "  -o, --output DIR     where dumps go (default: the current directory)\n"
          "  --sample BYTES       mean bytes between samples (e.g. 512k); 0: every allocation\n"
          "  --interval SECONDS   also dump every SECONDS (a timeline for `rallo report DIR`)\n"
          "  --formats LIST       comma list of html,pprof,folded,text,json (default html,pprof;\n"
          "                       pprof is always added: the summary reads it)\n"
          "  --depth N            most frames kept per stack (default 64)\n"
          "  --unwind MODE        fp: frame pointers; dwarf: call-frame info; auto (default):\n"
          "                       frame pointers where a module has them\n"
          "  --no-follow          do not profile the programs PROGRAM starts\n"
          "\n"
          "Environment: RALLO_LIBRARY names librallo.so if it is not found beside rallo.\n",
          out);
}

/* librallo beside the command (build tree), or in the install's library dir. */
static int find_library(char *path, size_t size) {
    const char *named = getenv("RALLO_LIBRARY");
    if (named != NULL && named[0] != '\0') {
        if (realpath(named, path) == NULL || access(path, R_OK) != 0) {
            cli_error("RALLO_LIBRARY=%s: %s", named, strerror(errno));
            return -1;
        }
        return 0;
    }
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        cli_error("cannot find where rallo is installed: /proc/self/exe: %s", strerror(errno));
        return -1;
    }
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL)
        *slash = '\0';
    const char *candidates[] = {"%s/librallo.so", "%s/../" RALLO_INSTALL_LIBDIR "/librallo.so",
                                "%s/../lib/librallo.so", "%s/../lib/x86_64-linux-gnu/librallo.so"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char candidate[PATH_MAX + 64];
        snprintf(candidate, sizeof candidate, candidates[i], self);
        if (access(candidate, R_OK) == 0 && realpath(candidate, path) != NULL)
            return 0;
    }
    (void)size;
    cli_error("cannot find librallo.so beside %s or in its lib directory; set RALLO_LIBRARY", self);
    return -1;
}

static int set_env(const char *name, const char *value) {
    if (setenv(name, value, 1) != 0) {
        cli_error("cannot set %s: %s", name, strerror(errno));
        return -1;
    }
    return 0;
}

/* Prepends librallo to LD_PRELOAD, keeping what the user preloads. */
static int preload(const char *library) {
    const char *existing = getenv("LD_PRELOAD");
    if (existing == NULL || existing[0] == '\0')
        return set_env("LD_PRELOAD", library);
    size_t len = strlen(library) + strlen(existing) + 2;
    char *joined = mi_malloc(len);
    if (joined == NULL)
        return -1;
    snprintf(joined, len, "%s:%s", library, existing);
    int result = set_env("LD_PRELOAD", joined);
    mi_free(joined);
    return result;
}

static volatile sig_atomic_t child_pid = 0;

static void forward_signal(int signo) {
    if (child_pid > 0)
        kill((pid_t)child_pid, signo);
}

static void print_summary(const char *program, const char *dir, pid_t pid, bool wants_html) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/rallo.%d.final.pb.gz", dir, (int)pid);
    if (access(path, R_OK) != 0) {
        cli_error("%s left no final dump (%s): it did not exit normally, or never reached exit", program,
                  path);
        return;
    }
    /* The program wrote its exit dump as addresses; a helper it started
     * (`rallo _convert`) writes the html and names the pprof's frames. Wait a
     * little for the page, and name the frames here for the summary. */
    snprintf(path, sizeof path, "%s/rallo.%d.final.html", dir, (int)pid);
    for (int waited = 0; wants_html && waited < 10000 && access(path, R_OK) != 0; waited += 20)
        usleep(20 * 1000);
    snprintf(path, sizeof path, "%s/rallo.%d.final.pb.gz", dir, (int)pid);
    rallo_profile profile;
    if (cli_load_profile(path, &profile, false) != 0)
        return;
    rallo_symbolize_offline(&profile, NULL, NULL, NULL);
    char a[32], b[32], c[32];
    const rallo_totals *totals = &profile.totals;
    fprintf(stderr, "rallo: %s allocated %s in %llu blocks; peak live %s; live at exit %s in %llu blocks\n",
            program, rallo_format_bytes(totals->alloc_bytes, a, sizeof a),
            (unsigned long long)totals->alloc_count, rallo_format_bytes(totals->peak_live_bytes, b, sizeof b),
            rallo_format_bytes(totals->live_bytes, c, sizeof c), (unsigned long long)totals->live_count);
    if (profile.sample_interval > 1)
        fprintf(stderr, "rallo: sampled every %llu bytes on average: figures are estimates\n",
                (unsigned long long)profile.sample_interval);
    /* Top five by live bytes at exit (what the program still held); when it
     * freed everything, by bytes allocated. */
    bool by_live = totals->live_bytes > 0;
    size_t top[5];
    size_t ntop = 0;
    for (size_t i = 0; i < profile.nsites; i++) {
        uint64_t value = by_live ? profile.sites[i].live_bytes : profile.sites[i].alloc_bytes;
        if (value == 0)
            continue;
        size_t at = ntop < 5 ? ntop++ : 5;
        while (at > 0) {
            const rallo_prof_site *other = &profile.sites[top[at - 1]];
            if ((by_live ? other->live_bytes : other->alloc_bytes) >= value)
                break;
            if (at < 5)
                top[at] = top[at - 1];
            at--;
        }
        if (at < 5)
            top[at] = i;
    }
    fprintf(stderr, "rallo: top sites by %s:\n", by_live ? "live bytes at exit" : "bytes allocated");
    for (size_t i = 0; i < ntop; i++) {
        const rallo_prof_site *site = &profile.sites[top[i]];
        char name[768];
        fprintf(stderr, "  %10s  %8llu blocks  %s\n",
                rallo_format_bytes(by_live ? site->live_bytes : site->alloc_bytes, a, sizeof a),
                (unsigned long long)(by_live ? site->live_count : site->alloc_count),
                cli_site_name(&profile, site, name, sizeof name));
    }
    rallo_profile_free(&profile);
    snprintf(path, sizeof path, "%s/rallo.%d.final.html", dir, (int)pid);
    if (access(path, R_OK) == 0)
        fprintf(stderr, "rallo: flame graph: %s\n", path);
    snprintf(path, sizeof path, "%s/rallo.%d.final.pb.gz", dir, (int)pid);
    fprintf(stderr, "rallo: pprof: %s (go tool pprof -http=: %s)\n", path, path);
}

int cli_run(int argc, char **argv) {
    static const struct option options[] = {{"output", required_argument, NULL, 'o'},
                                            {"sample", required_argument, NULL, 's'},
                                            {"interval", required_argument, NULL, 'i'},
                                            {"formats", required_argument, NULL, 'f'},
                                            {"depth", required_argument, NULL, 'd'},
                                            {"unwind", required_argument, NULL, 'u'},
                                            {"no-follow", no_argument, NULL, 'n'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *dir = ".", *sample = NULL, *interval = NULL, *formats = "html,pprof", *depth = NULL;
    const char *unwind = "auto";
    bool follow = true;
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "+o:h", options, NULL)) != -1) {
        switch (option) {
        case 'o': dir = optarg; break;
        case 's': sample = optarg; break;
        case 'i': interval = optarg; break;
        case 'f': formats = optarg; break;
        case 'd': depth = optarg; break;
        case 'u': unwind = optarg; break;
        case 'n': follow = false; break;
        case 'h': run_usage(stdout); return 0;
        default: run_usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        cli_error("run: no PROGRAM given");
        run_usage(stderr);
        return 2;
    }
    if (strcmp(unwind, "fp") != 0 && strcmp(unwind, "dwarf") != 0 && strcmp(unwind, "auto") != 0) {
        cli_error("run: --unwind takes fp, dwarf or auto, not '%s'", unwind);
        return 2;
    }
    char **program = argv + optind;
    char absolute_dir[PATH_MAX];
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cli_error("run: cannot create %s: %s", dir, strerror(errno));
        return 2;
    }
    if (realpath(dir, absolute_dir) == NULL) {
        cli_error("run: %s: %s", dir, strerror(errno));
        return 2;
    }
    char library[PATH_MAX];
    if (find_library(library, sizeof library) != 0)
        return 2;
    char all_formats[512];
    snprintf(all_formats, sizeof all_formats, "%s%s", formats, strstr(formats, "pprof") ? "" : ",pprof");
    if (preload(library) != 0 || set_env("RALLO_ENABLE", "1") != 0 ||
        set_env("RALLO_DUMP_ON_EXIT", "1") != 0 || set_env("RALLO_DUMP_DIR", absolute_dir) != 0 ||
        set_env("RALLO_DUMP_FORMATS", all_formats) != 0 || set_env("RALLO_UNWIND", unwind) != 0 ||
        (sample && set_env("RALLO_SAMPLE", sample) != 0) ||
        (interval && set_env("RALLO_DUMP_INTERVAL", interval) != 0) ||
        (depth && set_env("RALLO_DEPTH", depth) != 0) || (!follow && set_env("RALLO_FOLLOW", "0") != 0))
        return 2;

    pid_t pid = fork();
    if (pid < 0) {
        cli_error("run: cannot fork: %s", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        execvp(program[0], program);
        fprintf(stderr, "rallo: cannot run %s: %s\n", program[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    /* Like a shell waiting for a foreground job: the terminal's ^C and ^\ reach
     * the program (same process group); what is sent to rallo alone is passed on. */
    child_pid = pid;
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    struct sigaction forward = {.sa_handler = forward_signal};
    sigemptyset(&forward.sa_mask);
    sigaction(SIGTERM, &forward, NULL);
    sigaction(SIGHUP, &forward, NULL);
    sigaction(SIGUSR1, &forward, NULL);
    sigaction(SIGUSR2, &forward, NULL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            cli_error("run: waiting for %s: %s", program[0], strerror(errno));
            return 2;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) >= 126 && access(absolute_dir, F_OK) == 0) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/rallo.%d.final.pb.gz", absolute_dir, (int)pid);
        if (access(path, F_OK) != 0 && (WEXITSTATUS(status) == 126 || WEXITSTATUS(status) == 127))
            return WEXITSTATUS(status); /* it never ran: the line above said why */
    }
    print_summary(program[0], absolute_dir, pid, strstr(formats, "html") != NULL);
    if (WIFSIGNALED(status)) {
        int signo = WTERMSIG(status);
        fprintf(stderr, "rallo: %s: %s%s\n", program[0], strsignal(signo),
                WCOREDUMP(status) ? " (core dumped)" : "");
        return 128 + signo;
    }
    return WEXITSTATUS(status);
}
