/* run_summary.c - what `rallo run` prints after its program ended: every
 * process the run profiled (the program and its descendants that left an exit
 * dump), biggest first, then the biggest one's figures and top sites: who
 * held the peak, who allocated most, what was still live at exit, and where
 * its flame graph and pprof are. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mimalloc.h>

#include "cli.h"
#include "run_summary.h"

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

/* A top list of the summary ranks by RALLO_METRIC_PEAK_BYTES, _ALLOC_BYTES
 * or _LIVE_BYTES. */
static void print_top(const rallo_profile *profile, int metric, size_t most, const char *title) {
    size_t top[SUMMARY_SITES] = {0};
    if (most > SUMMARY_SITES)
        most = SUMMARY_SITES;
    size_t ntop = rallo_top_sites(profile, rallo_metric_value, metric, top, most);
    fprintf(stderr, "rallo: %s\n", title);
    for (size_t i = 0; i < ntop; i++) {
        const rallo_prof_site *site = &profile->sites[top[i]];
        char a[32], name[768];
        uint64_t blocks = metric == RALLO_METRIC_ALLOC_BYTES ? site->alloc_count : site->live_count;
        if (metric == RALLO_METRIC_PEAK_BYTES) {
            uint64_t peak = profile->totals.peak_live_bytes;
            fprintf(stderr, "  %10s  %5.1f%% of it  %s\n",
                    rallo_format_bytes(site->peak_live_bytes, a, sizeof a),
                    peak ? 100.0 * (double)site->peak_live_bytes / (double)peak : 0.0,
                    cli_site_name(profile, site, name, sizeof name));
        } else {
            fprintf(stderr, "  %10s  %8llu %-6s  %s\n",
                    rallo_format_bytes(rallo_metric_value(site, metric), a, sizeof a),
                    (unsigned long long)blocks, blocks == 1 ? "block" : "blocks",
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
        print_top(&profile, RALLO_METRIC_PEAK_BYTES, SUMMARY_SITES, title);
        if (unattributed > 0)
            fprintf(stderr, "  %10s  in no site above (the per-site figures trail the peak by up to ~1%%)\n",
                    rallo_format_bytes(unattributed, a, sizeof a));
    }
    print_top(&profile, RALLO_METRIC_ALLOC_BYTES, have_peak ? 3 : SUMMARY_SITES, "most allocated by:");
    /* Live at the end: a trifle (under 64 KiB, or under 1% of the peak) is
     * locale data and buffers the C library keeps; said in one line. */
    if (totals->live_bytes == totals->peak_live_bytes && have_peak)
        fprintf(stderr,
                "rallo: all of the peak was still live at exit (nothing held at the peak was freed)\n");
    else if (totals->live_bytes >= 64 * 1024 && totals->live_bytes >= totals->peak_live_bytes / 100)
        print_top(&profile, RALLO_METRIC_LIVE_BYTES, 3,
                  "still live at exit (leaks, or memory left for the system to reclaim):");
    else
        fprintf(stderr, "rallo: live at exit: %s, a trifle\n",
                rallo_format_bytes(totals->live_bytes, a, sizeof a));
    rallo_profile_free(&profile);
}

void run_print_summary(const char *program, const char *dir, pid_t pid, time_t started, bool was_static) {
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
