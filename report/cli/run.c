/* run.c - `rallo run`: runs a program with librallo preloaded and tracking on
 * from start-up, passes its exit status through, and prints a short summary of
 * its final dump: total allocated, peak, live at exit, the top sites, and where
 * the flame graph is. */
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
#include "symbolize.h"

/* RALLO_MAX_DEPTH in tracking/depot.h: the most frames librallo keeps. */
#define RUN_MAX_DEPTH 128

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

/* CPython keeps small objects in arenas of its own allocator (pymalloc),
 * taken from malloc 256 KiB at a time: a malloc profiler sees the arenas,
 * not who made the objects, unless PYTHONMALLOC=malloc turns it off. */
static bool is_cpython(const char *program) {
    const char *name = strrchr(program, '/');
    name = name != NULL ? name + 1 : program;
    if (strncmp(name, "python", 6) != 0)
        return false;
    return strspn(name + 6, "0123456789.") == strlen(name + 6) && strstr(name, "-config") == NULL;
}

static bool pymalloc_in_use(void) {
    const char *setting = getenv("PYTHONMALLOC");
    return setting == NULL || (strcmp(setting, "malloc") != 0 && strcmp(setting, "malloc_debug") != 0);
}

/* ---- the summary ---- */

#define SUMMARY_SITES 5

/* What a top list of the summary ranks by. */
typedef enum summary_rank { BY_PEAK, BY_ALLOC, BY_LIVE } summary_rank;

static uint64_t summary_value(const rallo_prof_site *site, summary_rank by) {
    return by == BY_PEAK ? site->peak_live_bytes : by == BY_ALLOC ? site->alloc_bytes : site->live_bytes;
}

static void print_top(const rallo_profile *profile, summary_rank by, size_t most, const char *title) {
    size_t top[SUMMARY_SITES] = {0};
    size_t ntop = 0;
    if (most > SUMMARY_SITES)
        most = SUMMARY_SITES;
    for (size_t i = 0; i < profile->nsites; i++) {
        uint64_t value = summary_value(&profile->sites[i], by);
        if (value == 0)
            continue;
        size_t at = ntop < most ? ntop++ : most;
        while (at > 0 && summary_value(&profile->sites[top[at - 1]], by) < value) {
            if (at < most)
                top[at] = top[at - 1];
            at--;
        }
        if (at < most)
            top[at] = i;
    }
    fprintf(stderr, "rallo: %s\n", title);
    for (size_t i = 0; i < ntop; i++) {
        const rallo_prof_site *site = &profile->sites[top[i]];
        char a[32], name[768];
        uint64_t blocks = by == BY_ALLOC ? site->alloc_count : site->live_count;
        if (by == BY_PEAK) {
            uint64_t peak = profile->totals.peak_live_bytes;
            fprintf(stderr, "  %10s  %5.1f%% of it  %s\n",
                    rallo_format_bytes(site->peak_live_bytes, a, sizeof a),
                    peak ? 100.0 * (double)site->peak_live_bytes / (double)peak : 0.0,
                    cli_site_name(profile, site, name, sizeof name));
        } else {
            fprintf(stderr, "  %10s  %8llu blocks  %s\n",
                    rallo_format_bytes(summary_value(site, by), a, sizeof a), (unsigned long long)blocks,
                    cli_site_name(profile, site, name, sizeof name));
        }
    }
}

/* A dump that holds only addresses (written where symbols could not be read)
 * is symbolized here; one already symbolized is not looked at again. */
static bool has_symbols(const rallo_profile *profile) {
    for (size_t i = 0; i < profile->nlocations; i++)
        if (profile->locations[i].nlines > 0)
            return true;
    return profile->nlocations == 0;
}

/* The one process's figures and its top sites: who held the peak, who
 * allocated most, and what was still live at the end when that is not a
 * trifle (at exit: the leaks). */
static void print_process(const cli_process *process) {
    rallo_profile profile;
    if (cli_load_profile(process->path, &profile, false) != 0)
        return;
    if (!has_symbols(&profile)) {
        rallo_profile_free(&profile);
        if (cli_load_profile(process->path, &profile, true) != 0)
            return;
    }
    const char *base = strrchr(process->program, '/');
    base = base != NULL ? base + 1 : process->program;
    char a[32], b[32], c[32];
    const rallo_totals *totals = &profile.totals;
    fprintf(stderr,
            "rallo: %s (pid %d) allocated %s in %llu blocks; peak live %s; live at exit %s in %llu blocks\n",
            base, process->pid, rallo_format_bytes(totals->alloc_bytes, a, sizeof a),
            (unsigned long long)totals->alloc_count, rallo_format_bytes(totals->peak_live_bytes, b, sizeof b),
            rallo_format_bytes(totals->live_bytes, c, sizeof c), (unsigned long long)totals->live_count);
    if (profile.sample_interval > 1) {
        uint64_t live_samples, sampled;
        rallo_profile_samples(&profile, &live_samples, &sampled);
        fprintf(stderr,
                "rallo: sampled every %llu bytes on average: figures are estimates from at most %llu samples "
                "(%llu still live); a smaller --sample takes more\n",
                (unsigned long long)profile.sample_interval, (unsigned long long)sampled,
                (unsigned long long)live_samples);
    }
    if (profile.stacks_cut_short != 0)
        fprintf(
            stderr,
            "rallo: %llu stacks cut short at code without frame pointers: --unwind auto gives them whole\n",
            (unsigned long long)profile.stacks_cut_short);
    if (totals->alloc_bytes == 0) {
        rallo_profile_free(&profile);
        return;
    }
    uint64_t unattributed = rallo_profile_peak_unattributed(&profile);
    bool have_peak = false;
    for (size_t i = 0; i < profile.nsites && !have_peak; i++)
        have_peak = profile.sites[i].peak_live_bytes > 0;
    if (have_peak) {
        char title[128];
        snprintf(title, sizeof title,
                 "at the peak (%s live), held by:", rallo_format_bytes(totals->peak_live_bytes, a, sizeof a));
        print_top(&profile, BY_PEAK, SUMMARY_SITES, title);
        if (unattributed > 0)
            fprintf(stderr, "  %10s  in no site above (the per-site figures trail the peak by up to ~1%%)\n",
                    rallo_format_bytes(unattributed, a, sizeof a));
    }
    print_top(&profile, BY_ALLOC, have_peak ? 3 : SUMMARY_SITES, "most allocated by:");
    /* Live at the end: a trifle (under 64 KiB, or under 1% of the peak) is
     * locale data and buffers the C library keeps; said in one line. */
    if (totals->live_bytes == totals->peak_live_bytes && have_peak)
        fprintf(stderr,
                "rallo: all of the peak was still live at exit (nothing held at the peak was freed)\n");
    else if (totals->live_bytes >= 64 * 1024 && totals->live_bytes >= totals->peak_live_bytes / 100)
        print_top(&profile, BY_LIVE, 3,
                  "still live at exit (leaks, or memory left for the system to reclaim):");
    else
        fprintf(stderr, "rallo: live at exit: %s, a trifle\n",
                rallo_format_bytes(totals->live_bytes, a, sizeof a));
    rallo_profile_free(&profile);
}

/* Every process this run profiled (the program's descendants that left an
 * exit dump), biggest first; then the biggest one's top sites. */
static void print_summary(const char *program, const char *dir, pid_t pid, time_t started, bool was_static) {
    cli_process_list list;
    if (cli_processes_scan(dir, &list) != 0)
        return;
    /* Ours: the program and whoever descends from it (orphans are re-parented
     * to rallo, a subreaper), written since it started; never an older run's. */
    bool *keep = mi_zalloc((list.count ? list.count : 1) * sizeof *keep);
    if (keep == NULL) {
        cli_processes_free(&list);
        return;
    }
    for (bool grew = true; grew;) {
        grew = false;
        for (size_t i = 0; i < list.count; i++) {
            const cli_process *process = &list.items[i];
            if (keep[i] || !process->final || process->mtime < started)
                continue;
            /* The program's children count even when the program itself left
             * no dump (a shell that ends with _exit, as dash does). */
            bool ours = process->pid == pid || process->ppid == pid || process->ppid == (int)getpid();
            for (size_t j = 0; j < list.count && !ours; j++)
                ours = keep[j] && list.items[j].pid == process->ppid;
            if (ours)
                keep[i] = grew = true;
        }
    }
    cli_processes_keep(&list, keep);
    mi_free(keep);
    if (list.count == 0) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/rallo.%d.final.pb.gz", dir, (int)pid);
        if (was_static)
            cli_error("%s is statically linked: LD_PRELOAD cannot reach a program without a dynamic loader, "
                      "so nothing was profiled. Build it without -static and run it under rallo run, or link "
                      "librallo into it (-lrallo, or CMake's rallo::rallo) and set RALLO_ENABLE=1 "
                      "RALLO_DUMP_ON_EXIT=1",
                      program);
        else
            cli_error("%s left no final dump (%s): it never reached exit, or left by _exit() or a signal",
                      program, path);
        cli_processes_free(&list);
        return;
    }
    bool program_dumped = false;
    for (size_t i = 0; i < list.count; i++)
        program_dumped |= list.items[i].pid == pid;
    if (!program_dumped)
        cli_error("%s (pid %d) left no final dump: it never reached exit, or left by _exit() or a signal; "
                  "these did:",
                  program, (int)pid);
    if (list.count > 1 || !program_dumped) {
        fprintf(stderr, "rallo: %zu process%s profiled, biggest (peak live) first:\n", list.count,
                list.count == 1 ? "" : "es");
        cli_processes_print(stderr, &list, (int)pid, true);
    }
    print_process(&list.items[0]);
    bool told_python = false;
    for (size_t i = 0; i < list.count && !told_python; i++) {
        if (is_cpython(list.items[i].program) && pymalloc_in_use()) {
            told_python = true;
            fprintf(stderr,
                    "rallo: %s uses CPython's own allocator (pymalloc), which takes memory from malloc in "
                    "256 KiB arenas: most Python objects show up as a few arena sites. "
                    "PYTHONMALLOC=malloc rallo run ... shows each object where it was made\n",
                    list.items[i].program);
        }
    }
    const char *base_path = list.items[0].path;
    size_t stem = strlen(base_path) - strlen(".pb.gz");
    char html[PATH_MAX + 64];
    snprintf(html, sizeof html, "%.*s.html", (int)stem, base_path);
    if (access(html, R_OK) == 0)
        fprintf(stderr, "rallo: flame graph: %s\n", html);
    fprintf(stderr, "rallo: pprof: %s (go tool pprof -http=: %s)\n", base_path, base_path);
    if (list.count > 1)
        fprintf(stderr,
                "rallo: the others: rallo report %s lists them; rallo report %s/rallo.PID.final.pb.gz\n", dir,
                dir);
    cli_processes_free(&list);
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
        (depth && set_env("RALLO_DEPTH", depth) != 0) || (!follow && set_env("RALLO_FOLLOW", "0") != 0))
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
    print_summary(program[0], absolute_dir, pid, started, was_static);
    if (WIFSIGNALED(status)) {
        int signo = WTERMSIG(status);
        fprintf(stderr, "rallo: %s: %s%s\n", program[0], strsignal(signo),
                WCOREDUMP(status) ? " (core dumped)" : "");
        return 128 + signo;
    }
    return WEXITSTATUS(status);
}
