/* timeline.c - `rallo report DIR`: the periodic dumps of one process
 * (DIR/rallo.<pid>.<seq>.pb.gz, seq 1..N then final) as one self-contained
 * HTML page: live bytes over time, the top sites stacked, and the flame graph
 * of whichever dump is chosen on the chart (report/html/timeline.js).
 *
 * Every dump's stacks are merged into one call tree (sites matched by their
 * symbolized stack, as `rallo diff` does), so names and frames are written
 * once; each point then carries only the values of the sites it has:
 *   {"version":1,"pid","program","dir","sample_interval",
 *    "tree": html_tree.c's JSON of the union of all sites (values zero),
 *    "series":[{"site","label"}],   the top sites by largest live bytes
 *    "points":[{"seq","file","time_unix_ms","totals":{...},
 *               "values":[site, live_bytes, live_count, alloc_bytes,
 *                         alloc_count, free_count, free_bytes,
 *                         peak_live_bytes, site, ...],     (8 per site)
 *               and when the dump carries lifetimes (RALLO_LIFETIMES):
 *               "temporary":{"count","bytes"},  since tracking began
 *               "temps":[site, temp_count, temp_bytes, site, ...]}]} */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mimalloc.h>

#include "cli.h"
#include "html.h"
#include "html_assets.h"
#include "stack_union.h"
#include "util/array.h"

#define TOP_SERIES 10
#define VALUES_PER_SITE 8

typedef struct dump_file {
    int pid;
    unsigned long seq; /* ULONG_MAX: final */
    char *path;
} dump_file;

typedef struct dump_list {
    dump_file *files;
    size_t count, cap;
} dump_list;

static int scan_dir(const char *dir, dump_list *list) {
    DIR *handle = opendir(dir);
    if (handle == NULL) {
        cli_error("cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *entry;
    size_t not_regular = 0;
    while ((entry = readdir(handle)) != NULL) {
        dump_file file;
        /* Other formats and temporary files are not points of the timeline. */
        if (!cli_dump_name_parse(entry->d_name, &file.pid, &file.seq))
            continue;
        /* Others may write here: a FIFO or a device named like a dump is
         * skipped (reading it opens non-blocking too, for one made meanwhile). */
        struct stat info;
        if (fstatat(dirfd(handle), entry->d_name, &info, 0) == 0 && !S_ISREG(info.st_mode)) {
            if (not_regular++ == 0)
                cli_error("%s: skipping %s: not a regular file", dir, entry->d_name);
            continue;
        }
        if (!rallo_array_reserve((void **)&list->files, &list->cap, list->count + 1, sizeof *list->files, 64))
            break;
        size_t len = strlen(dir) + strlen(entry->d_name) + 2;
        file.path = mi_malloc(len);
        if (file.path == NULL)
            break;
        snprintf(file.path, len, "%s/%s", dir, entry->d_name);
        list->files[list->count++] = file;
    }
    if (not_regular > 1)
        cli_error("%s: skipped %zu entries named like dumps that are not regular files", dir, not_regular);
    closedir(handle);
    return 0;
}

static int by_pid_then_seq(const void *a, const void *b) {
    const dump_file *left = a, *right = b;
    if (left->pid != right->pid)
        return left->pid < right->pid ? -1 : 1;
    return left->seq < right->seq ? -1 : left->seq > right->seq ? 1 : 0;
}

/* The process with the most dumps (the lowest pid among equals), or `wanted`. */
static int choose_pid(const char *dir, const dump_list *list, int wanted, size_t *first, size_t *count) {
    size_t best_first = 0, best_count = 0, processes = 0;
    for (size_t i = 0; i < list->count;) {
        size_t j = i;
        while (j < list->count && list->files[j].pid == list->files[i].pid)
            j++;
        processes++;
        if (wanted ? list->files[i].pid == wanted : j - i > best_count) {
            best_first = i;
            best_count = j - i;
        }
        i = j;
    }
    if (best_count == 0) {
        if (wanted)
            cli_error("%s: no dumps of pid %d (rallo.%d.<seq>.pb.gz)", dir, wanted, wanted);
        else
            cli_error(
                "%s: no pprof dumps (rallo.<pid>.<seq>.pb.gz); make them with rallo run --interval SECONDS",
                dir);
        return -1;
    }
    if (processes > 1 && !wanted)
        cli_error("%s: %zu processes dumped here; showing pid %d (%zu dumps); --pid chooses another", dir,
                  processes, list->files[best_first].pid, best_count);
    *first = best_first;
    *count = best_count;
    return 0;
}

/* The union of the dumps' sites, and each one's largest live bytes. */
typedef struct timeline {
    stack_union u;
    uint64_t *max_live;
    size_t cap_max;
} timeline;

/* Records a site's live bytes; false when memory ran out. */
static bool note_live(timeline *t, size_t index, uint64_t live) {
    size_t had = t->cap_max;
    if (!rallo_array_reserve((void **)&t->max_live, &t->cap_max, index + 1, sizeof *t->max_live, 256))
        return false;
    memset(t->max_live + had, 0, (t->cap_max - had) * sizeof *t->max_live);
    if (live > t->max_live[index])
        t->max_live[index] = live;
    return true;
}

/* A dump's temporary allocations: the process's, and per union site (summed
 * as put_point sums the values; sums is its scratch, one row a union site). */
static void put_temporaries(rallo_buf *out, const rallo_profile *dump, const size_t *index,
                            uint64_t (*sums)[VALUES_PER_SITE - 1]) {
    rallo_buf_printf(out, ",\"temporary\":{\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 "},\"temps\":[",
                     dump->temp_count, dump->temp_bytes);
    for (size_t i = 0; i < dump->nsites; i++)
        if (index[i] < SIZE_MAX - 1)
            sums[index[i]][0] = sums[index[i]][1] = 0;
    for (size_t i = 0; i < dump->nsites; i++) {
        const rallo_prof_site *s = &dump->sites[i];
        if (index[i] < SIZE_MAX - 1 && s->lt != NULL) {
            sums[index[i]][0] += s->lt->temp_count;
            sums[index[i]][1] += s->lt->temp_bytes;
        }
    }
    bool comma = false;
    for (size_t i = 0; i < dump->nsites; i++) {
        size_t site = index[i];
        if (site >= SIZE_MAX - 1 || sums[site][0] == UINT64_MAX || (sums[site][0] == 0 && sums[site][1] == 0))
            continue;
        rallo_buf_printf(out, "%s%zu,%" PRIu64 ",%" PRIu64, comma ? "," : "", site, sums[site][0],
                         sums[site][1]);
        sums[site][0] = UINT64_MAX; /* written */
        comma = true;
    }
    rallo_buf_putc(out, ']');
}

/* A dump's values per union site, written into its point. */
static bool put_point(rallo_buf *out, timeline *t, const dump_file *file, const rallo_profile *dump,
                      size_t mapping_base, bool first) {
    const char *name = strrchr(file->path, '/');
    rallo_buf_puts(out, first ? "{\"seq\":\"" : ",{\"seq\":\"");
    if (file->seq == ULONG_MAX)
        rallo_buf_puts(out, "final");
    else
        rallo_buf_printf(out, "%lu", file->seq);
    rallo_buf_puts(out, "\",\"file\":\"");
    rallo_html_json_string(out, name ? name + 1 : file->path);
    rallo_buf_printf(out, "\",\"time_unix_ms\":%" PRIu64 ",\"totals\":", dump->time_unix_ns / 1000000);
    rallo_json_totals(out, &dump->totals);
    rallo_buf_puts(out, ",\"values\":[");
    /* Sites of one dump whose stacks read the same (two call instructions on
     * one line) are one site of the union: their values are summed, so each
     * union site appears once a point. */
    size_t *index = mi_malloc((dump->nsites + 1) * sizeof *index);
    if (index == NULL)
        return false;
    for (size_t i = 0; i < dump->nsites; i++) {
        const rallo_prof_site *s = &dump->sites[i];
        index[i] = SIZE_MAX - 1; /* nothing to show */
        if (s->alloc_count == 0 && s->live_bytes == 0 && s->alloc_bytes == 0)
            continue;
        index[i] = stack_union_add(&t->u, dump, mapping_base, s);
        if (index[i] == SIZE_MAX) {
            mi_free(index);
            return false;
        }
    }
    uint64_t(*sums)[VALUES_PER_SITE - 1] = mi_zalloc((t->u.profile.nsites + 1) * sizeof *sums);
    bool ok = sums != NULL;
    for (size_t i = 0; ok && i < dump->nsites; i++) {
        const rallo_prof_site *s = &dump->sites[i];
        if (index[i] >= SIZE_MAX - 1)
            continue;
        const uint64_t values[VALUES_PER_SITE - 1] = {s->live_bytes,     s->live_count, s->alloc_bytes,
                                                      s->alloc_count,    s->free_count, s->free_bytes,
                                                      s->peak_live_bytes};
        for (size_t k = 0; k < VALUES_PER_SITE - 1; k++)
            sums[index[i]][k] += values[k];
    }
    bool comma = false;
    for (size_t i = 0; ok && i < dump->nsites; i++) {
        size_t site = index[i];
        if (site >= SIZE_MAX - 1 || sums[site][0] == UINT64_MAX)
            continue;
        ok = note_live(t, site, sums[site][0]);
        rallo_buf_printf(out, "%s%zu", comma ? "," : "", site);
        for (size_t k = 0; k < VALUES_PER_SITE - 1; k++)
            rallo_buf_printf(out, ",%" PRIu64, sums[site][k]);
        sums[site][0] = UINT64_MAX; /* written */
        comma = true;
    }
    rallo_buf_putc(out, ']');
    if (ok && dump->has_lifetimes)
        put_temporaries(out, dump, index, sums);
    mi_free(sums);
    mi_free(index);
    rallo_buf_putc(out, '}');
    return ok && !out->failed;
}

/* The top sites by their largest live bytes at any point, for the chart. */
static void put_series(rallo_buf *out, const timeline *t) {
    const stack_union *u = &t->u;
    const uint64_t *max_live = t->max_live;
    size_t top[TOP_SERIES], ntop = 0;
    for (size_t i = 0; i < u->profile.nsites; i++) {
        if (max_live[i] == 0)
            continue;
        size_t at = ntop < TOP_SERIES ? ntop++ : TOP_SERIES;
        while (at > 0 && max_live[top[at - 1]] < max_live[i]) {
            if (at < TOP_SERIES)
                top[at] = top[at - 1];
            at--;
        }
        if (at < TOP_SERIES)
            top[at] = i;
    }
    rallo_buf_puts(out, ",\"series\":[");
    for (size_t i = 0; i < ntop; i++) {
        char name[768];
        cli_site_name(&u->profile, &u->profile.sites[top[i]], name, sizeof name);
        rallo_buf_printf(out, "%s{\"site\":%zu,\"label\":\"", i ? "," : "", top[i]);
        rallo_html_json_string(out, name);
        rallo_buf_puts(out, "\"}");
    }
    rallo_buf_puts(out, "]");
}

static void put_page(rallo_buf *out, const char *dir, const rallo_profile *last, const timeline *t,
                     const rallo_buf *points) {
    const char *program = last->program && last->program[0] ? last->program : "process";
    const char *base = strrchr(program, '/');
    rallo_buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n"
                        "<title>rallo timeline: ");
    rallo_buf_html_text(out, base && base[1] ? base + 1 : program);
    rallo_buf_printf(out, " (pid %d)</title>\n", (int)last->pid);
    rallo_html_assets(out);
    rallo_buf_puts(out, "<style>\n");
    rallo_buf_puts(out, rallo_html_timeline_css);
    rallo_buf_puts(out,
                   "</style>\n</head>\n<body>\n<noscript>This timeline draws its chart and flame graphs with "
                   "JavaScript.</noscript>\n<div id=\"rallo-app\"></div>\n"
                   "<script type=\"application/json\" id=\"rallo-timeline\">");
    rallo_buf_printf(out, "{\"version\":1,\"pid\":%d,\"sample_interval\":%" PRIu64 ",\"program\":\"",
                     (int)last->pid, last->sample_interval);
    rallo_html_json_string(out, program);
    rallo_buf_puts(out, "\",\"dir\":\"");
    rallo_html_json_string(out, dir);
    rallo_buf_puts(out, "\",\"tree\":");
    rallo_html_tree_json(&t->u.profile, out);
    put_series(out, t);
    rallo_buf_puts(out, ",\"points\":[");
    rallo_buf_put(out, points->data, points->len);
    rallo_buf_puts(out, "]}</script>\n<script>\n");
    rallo_buf_puts(out, rallo_html_timeline_js);
    rallo_buf_puts(out, "</script>\n</body>\n</html>\n");
}

int cli_timeline(const char *dir, int pid, const char *out_path) {
    dump_list list = {0};
    int result = -1;
    rallo_profile *dumps = NULL;
    size_t first = 0, count = 0, loaded = 0;
    timeline t;
    memset(&t, 0, sizeof t);
    stack_union_init(&t.u);
    rallo_buf points, page;
    rallo_buf_init(&points);
    rallo_buf_init(&page);
    if (scan_dir(dir, &list) != 0)
        goto done;
    if (list.count > 1) /* qsort of no array is undefined, even for 0 elements */
        qsort(list.files, list.count, sizeof *list.files, by_pid_then_seq);
    if (choose_pid(dir, &list, pid, &first, &count) != 0)
        goto done;
    dumps = mi_zalloc(count * sizeof *dumps);
    if (dumps == NULL) {
        cli_error("%s: out of memory", dir);
        goto done;
    }
    /* Every dump stays loaded until the page is written: the union's sites
     * and locations point into their arenas. */
    for (size_t i = 0; i < count; i++, loaded++) {
        const dump_file *file = &list.files[first + i];
        size_t mapping_base = 0;
        /* rallo's own dumps are symbolized in-process: what is left unnamed stays so. */
        if (cli_load_profile(file->path, &dumps[i], false) != 0)
            goto done;
        if (!stack_union_add_mappings(&t.u, &dumps[i], &mapping_base) ||
            !put_point(&points, &t, file, &dumps[i], mapping_base, i == 0)) {
            cli_error("%s: out of memory", file->path);
            loaded++;
            goto done;
        }
    }
    const rallo_profile *last = &dumps[count - 1];
    t.u.profile.pid = last->pid;
    t.u.profile.program = last->program;
    t.u.profile.time_unix_ns = last->time_unix_ns;
    t.u.profile.sample_interval = last->sample_interval;
    t.u.profile.totals = last->totals;
    put_page(&page, dir, last, &t, &points);
    char default_path[4096];
    if (out_path == NULL) { /* beside the dumps, named like them */
        snprintf(default_path, sizeof default_path, "%s/rallo.%d.timeline.html", dir, (int)last->pid);
        out_path = default_path;
        result = cli_write_output_named_here(out_path, &page);
    } else {
        result = cli_write_output(out_path, &page);
    }
    if (result == 0 && out_path != NULL && strcmp(out_path, "-") != 0)
        fprintf(stderr, "rallo: timeline of pid %d, %zu dumps: %s\n", (int)last->pid, count, out_path);
done:
    for (size_t i = 0; i < loaded; i++)
        rallo_profile_free(&dumps[i]);
    mi_free(dumps);
    stack_union_free(&t.u);
    mi_free(t.max_live);
    rallo_buf_free(&points);
    rallo_buf_free(&page);
    for (size_t i = 0; i < list.count; i++)
        mi_free(list.files[i].path);
    mi_free(list.files);
    return result;
}
