/* run.c - `rallo run`: checks its flags as librallo would read them, runs a
 * program with librallo preloaded and tracking on from start-up, forwards the
 * signals sent to rallo, waits for the program and its dump helpers, passes
 * its exit status through, and has the summary printed (run_summary.c). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mimalloc.h>

#include "cli.h"
#include "run_summary.h"

/* RALLO_MAX_DEPTH in tracking/depot.h: the most frames librallo keeps. */
#define RUN_MAX_DEPTH 128

#ifndef RALLO_INSTALL_LIBDIR
#define RALLO_INSTALL_LIBDIR "lib"
#endif

static void run_usage(FILE *out) {
    fputs("usage: rallo run [-o DIR] [--sample BYTES] [--interval SECONDS] [--formats LIST]\n"
          "                 [--depth N] [--unwind fp|dwarf|auto] [--free-sites] [--no-follow]\n"
          "                 [--lifetimes]\n"
          "                 -- PROGRAM [ARGS]\n"
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
          "  --free-sites         record who frees each site's blocks (RALLO_FREE_SITES=1);\n"
          "                       shown by rallo_dump() reports made in the program\n"
          "  --no-follow          do not profile the programs PROGRAM starts\n"
          "  --lifetimes          also record sizes, lifetimes, temporary allocations and\n"
          "                       threads per site (RALLO_LIFETIMES=1; costs more per allocation)\n"
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

/* ---- the flags, checked here as librallo would read them (tracking/options.c,
 * report/inproc/dump-options.c), so a bad one stops rallo before the program
 * runs instead of being ignored inside it ---- */

/* BYTES: digits with an optional k, m, g or t (and b), at most 1 TiB. */
static bool valid_bytes(const char *text) {
    if (text[0] < '0' || text[0] > '9')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0)
        return false;
    unsigned shift = 0;
    const char *units = "kmgt";
    const char *unit = *end != '\0' ? strchr(units, *end | 0x20) : NULL;
    if (unit != NULL) {
        shift = 10 * (unsigned)(unit - units + 1);
        end++;
        if (*end == 'b' || *end == 'B')
            end++;
    }
    return *end == '\0' && value <= (1ull << 40) >> shift;
}

static bool valid_seconds(const char *text) {
    if (text[0] == '\0' || !(text[0] == '.' || (text[0] >= '0' && text[0] <= '9')))
        return false;
    errno = 0;
    char *end = NULL;
    double value = strtod(text, &end);
    return errno == 0 && *end == '\0' && value >= 0 && value <= 1e9;
}

static bool valid_depth(const char *text) {
    if (text[0] < '0' || text[0] > '9')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long value = strtoul(text, &end, 10);
    return errno == 0 && *end == '\0' && value >= 1 && value <= RUN_MAX_DEPTH;
}

/* A comma list of format names; on failure *bad is the first bad name. */
static bool valid_formats(const char *text, char *bad, size_t size) {
    bool any = false;
    snprintf(bad, size, "%s", text);
    for (const char *p = text; *p != '\0';) {
        size_t len = strcspn(p, ", ");
        if (len > 0) {
            char name[16];
            rallo_format format;
            if (len >= sizeof name) {
                snprintf(bad, size, "%.*s", (int)len, p);
                return false;
            }
            memcpy(name, p, len);
            name[len] = '\0';
            if (!rallo_format_from_name(name, &format)) {
                snprintf(bad, size, "%s", name);
                return false;
            }
            any = true;
        }
        p += len;
        p += strspn(p, ", ");
    }
    return any;
}

/* ---- what kind of program it is ---- */

/* PROGRAM as execvp will find it, or NULL. */
static bool resolve_program(const char *name, char *path, size_t size) {
    if (strchr(name, '/') != NULL)
        return snprintf(path, size, "%s", name) < (int)size && access(path, X_OK) == 0;
    const char *search = getenv("PATH");
    if (search == NULL)
        search = "/usr/local/bin:/usr/bin:/bin";
    for (const char *dir = search;; dir++) {
        size_t len = strcspn(dir, ":");
        if (snprintf(path, size, "%.*s%s%s", (int)len, dir, len ? "/" : "", name) < (int)size &&
            access(path, X_OK) == 0)
            return true;
        dir += len;
        if (*dir == '\0')
            return false;
    }
}

/* An ELF executable without a program interpreter (PT_INTERP) is started by
 * the kernel alone: no dynamic loader, so LD_PRELOAD never takes effect. A
 * "#!" script is judged by its interpreter. */
static bool is_static_program(const char *path, int depth) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    unsigned char head[256];
    ssize_t got = pread(fd, head, sizeof head - 1, 0);
    bool is_static = false;
    if (got >= 2 && head[0] == '#' && head[1] == '!' && depth == 0) {
        head[got] = '\0';
        char *interpreter = (char *)head + 2;
        interpreter += strspn(interpreter, " \t");
        interpreter[strcspn(interpreter, " \t\n")] = '\0';
        close(fd);
        return interpreter[0] == '/' && is_static_program(interpreter, 1);
    }
    if (got >= (ssize_t)sizeof(Elf64_Ehdr) && memcmp(head, ELFMAG, SELFMAG) == 0 &&
        head[EI_CLASS] == ELFCLASS64) {
        const Elf64_Ehdr *elf = (const Elf64_Ehdr *)head;
        is_static = elf->e_type == ET_EXEC || elf->e_type == ET_DYN;
        for (unsigned i = 0; i < elf->e_phnum && is_static; i++) {
            Elf64_Phdr segment;
            off_t at = (off_t)(elf->e_phoff + (uint64_t)i * elf->e_phentsize);
            /* Unreadable headers: not known to be static, so nothing is said. */
            is_static = pread(fd, &segment, sizeof segment, at) == (ssize_t)sizeof segment &&
                        segment.p_type != PT_INTERP;
        }
    }
    close(fd);
    return is_static;
}

int cli_run(int argc, char **argv) {
    /* One option a line (clang-format would pack them two a line). */
    // clang-format off
    static const struct option options[] = {{"output", required_argument, NULL, 'o'},
                                            {"sample", required_argument, NULL, 's'},
                                            {"interval", required_argument, NULL, 'i'},
                                            {"formats", required_argument, NULL, 'f'},
                                            {"depth", required_argument, NULL, 'd'},
                                            {"unwind", required_argument, NULL, 'u'},
                                            {"no-follow", no_argument, NULL, 'n'},
                                            {"lifetimes", no_argument, NULL, 'l'},
                                            {"free-sites", no_argument, NULL, 'F'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    // clang-format on
    const char *dir = ".", *sample = NULL, *interval = NULL, *formats = "html,pprof", *depth = NULL;
    const char *unwind = "auto";
    bool follow = true, lifetimes = false, free_sites = false;
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
        case 'l': lifetimes = true; break;
        case 'F': free_sites = true; break;
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
    char bad[64];
    if (sample != NULL && !valid_bytes(sample)) {
        cli_error("run: --sample takes bytes (e.g. 512k; 0: every allocation; at most 1t), not '%.40s'",
                  sample);
        return 2;
    }
    if (interval != NULL && !valid_seconds(interval)) {
        cli_error("run: --interval takes seconds, a decimal number >= 0 (e.g. 10 or 0.5), not '%.40s'",
                  interval);
        return 2;
    }
    if (depth != NULL && !valid_depth(depth)) {
        cli_error("run: --depth takes a number of frames from 1 to %d, not '%.40s'", RUN_MAX_DEPTH, depth);
        return 2;
    }
    if (formats == NULL || !valid_formats(formats, bad, sizeof bad)) {
        cli_error("run: --formats takes a comma list of html, pprof, folded, text, json, not '%.40s'", bad);
        return 2;
    }
    if (dir == NULL || dir[0] == '\0') {
        cli_error("run: -o takes a directory, not an empty name");
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
        (depth && set_env("RALLO_DEPTH", depth) != 0) || (!follow && set_env("RALLO_FOLLOW", "0") != 0) ||
        (lifetimes && set_env("RALLO_LIFETIMES", "1") != 0) ||
        (free_sites && set_env("RALLO_FREE_SITES", "1") != 0))
        return 2;

    char resolved[PATH_MAX];
    bool was_static =
        resolve_program(program[0], resolved, sizeof resolved) && is_static_program(resolved, 0);
    /* Orphans among the program's descendants come to rallo, not init, so
     * their dumps are known to be of this run (the summary follows parents). */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    time_t started = time(NULL);
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
    for (;;) {
        /* Any child: orphaned descendants are reaped as they end, not left as zombies. */
        pid_t ended = waitpid(-1, &status, 0);
        if (ended == pid)
            break;
        if (ended < 0 && errno != EINTR) {
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
    /* The exit dumps' other formats are written by helpers the programs
     * started (`rallo _convert`), re-parented to rallo when their program
     * ended: wait for them (and any other descendant) a bounded while, so the
     * summary and the files it names are complete. */
    for (int waited_ms = 0; waited_ms < 10000;) {
        int other_status;
        pid_t ended = waitpid(-1, &other_status, WNOHANG);
        if (ended < 0 && errno == ECHILD)
            break;
        if (ended <= 0) {
            usleep(20 * 1000);
            waited_ms += 20;
        }
    }
    run_print_summary(program[0], absolute_dir, pid, started, was_static);
    if (WIFSIGNALED(status)) {
        int signo = WTERMSIG(status);
        fprintf(stderr, "rallo: %s: %s%s\n", program[0], strsignal(signo),
                WCOREDUMP(status) ? " (core dumped)" : "");
        return 128 + signo;
    }
    return WEXITSTATUS(status);
}
