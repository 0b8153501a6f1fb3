/* write_text.c - the text report, a person's first look: a versioned header
 * line ("rallo text report v1") for tools, then the program and its command
 * line, the sampling interval and the samples it rests on, the totals, the
 * peak, why allocations went untracked, and the top 10 sites at the peak, by
 * allocated bytes and by live bytes, the most telling first (or the top N by
 * one metric: rallo_text_options), each with its 5 innermost frames (or N) as
 * "function (file:line)". Exact byte figures come first on each line, a
 * human-readable size after them. With who frees recorded, the top sites by
 * freed bytes, each with the stacks that freed its blocks. */
#include <inttypes.h>
#include <time.h>

#include <mimalloc.h>

#include "label.h"
#include "writers.h"

#define TOP_SITES 10
#define STACK_FRAMES 5

/* The exact count, then the human form when it says something more. */
static void text_size(rallo_buf *out, uint64_t bytes) {
    rallo_buf_printf(out, "%" PRIu64 " B", bytes);
    if (bytes >= 1024) {
        char human[32];
        rallo_buf_printf(out, " (%s)", rallo_format_bytes(bytes, human, sizeof human));
    }
}

/* One frame per line, innermost first, at most `left` of them. */
static void text_location(rallo_buf *out, const rallo_profile *profile, const rallo_prof_location *location,
                          uint32_t *left) {
    if (location->nlines == 0) {
        rallo_buf_puts(out, "        ");
        rallo_label_address(out, profile, location);
        rallo_buf_putc(out, '\n');
        (*left)--;
        return;
    }
    for (uint32_t j = 0; j<location->nlines && * left> 0; j++, (*left)--) {
        rallo_buf_puts(out, "        ");
        rallo_label_line(out, &location->lines[j], false);
        if (j + 1 < location->nlines)
            rallo_buf_puts(out, " [inlined]");
        rallo_buf_putc(out, '\n');
    }
}

static void text_frames(rallo_buf *out, const rallo_profile *profile, uint32_t nlocations,
                        const uint32_t *locations, uint32_t depth) {
    uint32_t left = depth;
    for (uint32_t i = 0; i < nlocations && left > 0; i++)
        text_location(out, profile, &profile->locations[locations[i]], &left);
    if (nlocations == 0)
        rallo_buf_puts(out, "        [no stack]\n");
    else if (left == 0)
        rallo_buf_puts(out, "        ...\n");
}

static void text_stack(rallo_buf *out, const rallo_profile *profile, const rallo_prof_site *site,
                       uint32_t depth) {
    text_frames(out, profile, site->nlocations, site->locations, depth);
}

static double percent_of(uint64_t value, uint64_t whole) {
    return whole ? 100.0 * (double)value / (double)whole : 0;
}

static void text_site(rallo_buf *out, const rallo_profile *profile, const rallo_prof_site *site, int rank,
                      int metric, uint32_t depth) {
    const rallo_totals *t = &profile->totals;
    rallo_buf_printf(out, "  %2d. ", rank);
    switch (metric) {
    case RALLO_METRIC_LIVE_BYTES:
    case RALLO_METRIC_LIVE_COUNT:
        text_size(out, site->live_bytes);
        rallo_buf_printf(out, " live in %" PRIu64 " objects (%.1f%%), at peak ", site->live_count,
                         percent_of(site->live_bytes, t->live_bytes));
        text_size(out, site->peak_live_bytes);
        break;
    case RALLO_METRIC_ALLOC_COUNT:
        rallo_buf_printf(out, "%" PRIu64 " allocations (%.1f%%) of ", site->alloc_count,
                         percent_of(site->alloc_count, t->alloc_count));
        text_size(out, site->alloc_bytes);
        rallo_buf_puts(out, ", still live ");
        text_size(out, site->live_bytes);
        break;
    case RALLO_METRIC_PEAK_BYTES:
        text_size(out, site->peak_live_bytes);
        rallo_buf_printf(out, " live at the peak (%.1f%% of the peak), live now ",
                         percent_of(site->peak_live_bytes, t->peak_live_bytes));
        text_size(out, site->live_bytes);
        break;
    default:
        text_size(out, site->alloc_bytes);
        rallo_buf_printf(out, " allocated in %" PRIu64 " objects (%.1f%%), still live ", site->alloc_count,
                         percent_of(site->alloc_bytes, t->alloc_bytes));
        text_size(out, site->live_bytes);
        break;
    }
    rallo_buf_putc(out, '\n');
    text_stack(out, profile, site, depth);
}

/* A site's value for a ranking: a metric of writers.h, or RANK_TEMPORARY. */
#define RANK_TEMPORARY (-2)
#define RANK_FREED_BYTES (-3) /* sites whose free stacks are known */
static uint64_t rank_value(const rallo_prof_site *site, int metric) {
    if (metric == RANK_TEMPORARY)
        return site->lt != NULL ? site->lt->temp_count : 0;
    if (metric == RANK_FREED_BYTES)
        return site->nfree_sites > 0 ? site->free_bytes : 0;
    return rallo_metric_value(site, metric);
}

/* Sites by temporary allocations (freed by their thread before it allocated
 * anything else): churn a reused buffer would remove. */
static void text_temporaries(rallo_buf *out, const rallo_profile *profile, size_t *top, size_t want,
                             uint32_t depth) {
    size_t count = rallo_top_sites(profile, rank_value, RANK_TEMPORARY, top, want);
    rallo_buf_printf(out, "\ntop %zu sites by temporary allocations:\n", count);
    for (size_t i = 0; i < count; i++) {
        const rallo_prof_site *site = &profile->sites[top[i]];
        rallo_buf_printf(out, "  %2d. %" PRIu64 " temporary (%.1f%% of the site's %" PRIu64 " allocations), ",
                         (int)i + 1, site->lt->temp_count,
                         percent_of(site->lt->temp_count, site->alloc_count), site->alloc_count);
        text_size(out, site->lt->temp_bytes);
        rallo_buf_putc(out, '\n');
        text_stack(out, profile, site, depth);
    }
}

/* Who frees (RALLO_FREE_SITES): the sites that freed the most bytes, each
 * with the stacks that freed them, most bytes first. */
#define FREE_SITES_SHOWN 3
static void text_free_sites(rallo_buf *out, const rallo_profile *profile, size_t *top, size_t want,
                            uint32_t depth) {
    size_t count = rallo_top_sites(profile, rank_value, RANK_FREED_BYTES, top, want);
    rallo_buf_printf(out, "\nwho frees, for the top %zu sites by freed bytes:\n", count);
    for (size_t i = 0; i < count; i++) {
        const rallo_prof_site *site = &profile->sites[top[i]];
        rallo_buf_printf(out, "  %2d. ", (int)i + 1);
        text_size(out, site->free_bytes);
        rallo_buf_printf(out, " freed in %" PRIu64 " frees, allocated at\n", site->free_count);
        text_stack(out, profile, site, depth);
        for (uint32_t j = 0; j < site->nfree_sites && j < FREE_SITES_SHOWN; j++) {
            const rallo_prof_free_site *f = &site->free_sites[j];
            rallo_buf_printf(out, "      freed %" PRIu64 " times (", f->count);
            text_size(out, f->bytes);
            rallo_buf_printf(out, "; %" PRIu64 " by another thread) at\n", f->cross_thread);
            text_frames(out, profile, f->nlocations, f->locations, depth < 3 ? depth : 3);
        }
        if (site->nfree_sites > FREE_SITES_SHOWN)
            rallo_buf_printf(out, "      and at %" PRIu32 " more stacks\n",
                             site->nfree_sites - FREE_SITES_SHOWN);
    }
    if (profile->free_sites_other_count != 0)
        rallo_buf_printf(out, "  %" PRIu64 " frees not attributed: their thread's table of pairs was full\n",
                         profile->free_sites_other_count);
}

static void text_untracked(rallo_buf *out, const rallo_untracked *u) {
    uint64_t total = u->arena_full + u->no_arena + u->alignment + u->too_large + u->thread_exiting;
    rallo_buf_printf(out, "untracked: %" PRIu64 " allocations made while tracking were served untracked",
                     total);
    if (total != 0)
        rallo_buf_printf(out,
                         " (arena full %" PRIu64 ", no arena %" PRIu64 ", alignment %" PRIu64
                         ", too large %" PRIu64 ", thread exiting %" PRIu64 ")",
                         u->arena_full, u->no_arena, u->alignment, u->too_large, u->thread_exiting);
    rallo_buf_putc(out, '\n');
    if (u->bad_header != 0)
        rallo_buf_printf(out, "anomalies: %" PRIu64 " frees of arena pointers without a valid header\n",
                         u->bad_header);
}

/* How many samples a sampled profile rests on, and what that means. */
static void text_samples(rallo_buf *out, const rallo_profile *profile) {
    uint64_t live_samples, sampled;
    rallo_profile_samples(profile, &live_samples, &sampled);
    if (live_samples == 0) {
        rallo_buf_printf(out,
                         "samples: none live, at most %" PRIu64
                         " of the allocations; the live figures show nothing, however much is live",
                         sampled);
    } else {
        rallo_buf_printf(out,
                         "samples: at most %" PRIu64 " of the live blocks, %" PRIu64 " of the allocations",
                         live_samples, sampled);
        /* A total resting on n samples is off by about 1/sqrt(n) (one standard deviation). */
        uint64_t root = 1;
        while ((root + 1) * (root + 1) <= live_samples)
            root++;
        rallo_buf_printf(out, "; the live total is good to about %.0f%%", 100.0 / (double)root);
    }
    rallo_buf_puts(out, "; a smaller RALLO_SAMPLE takes more\n");
}

int rallo_write_text_options(const rallo_profile *profile, rallo_buf *out,
                             const rallo_text_options *options) {
    const rallo_totals *t = &profile->totals;
    rallo_buf_puts(out, "rallo text report v1\n");
    rallo_buf_printf(out, "program: %s (pid %" PRId32 ")\n",
                     profile->program != NULL ? profile->program : "?", profile->pid);
    if (profile->nargv > 0) {
        char command[1024];
        rallo_buf_printf(out, "command: %s\n", rallo_command_line(profile, command, sizeof command));
    }
    if (profile->time_unix_ns != 0) {
        time_t seconds = (time_t)(profile->time_unix_ns / 1000000000ull);
        struct tm when;
        char stamp[64];
        if (gmtime_r(&seconds, &when) != NULL &&
            strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &when) > 0)
            rallo_buf_printf(out, "taken: %s\n", stamp);
    }
    if (profile->sample_interval > 1) {
        rallo_buf_puts(out, "sampling: one sample per ");
        text_size(out, profile->sample_interval);
        rallo_buf_puts(out, " allocated on average; figures are unbiased estimates\n");
        text_samples(out, profile);
    } else {
        rallo_buf_puts(out, "sampling: every allocation tracked; figures are exact\n");
    }
    rallo_buf_puts(out, "live: ");
    text_size(out, t->live_bytes);
    rallo_buf_printf(out, " in %" PRIu64 " objects\n", t->live_count);
    rallo_buf_puts(out, "peak live: ");
    text_size(out, t->peak_live_bytes);
    rallo_buf_putc(out, '\n');
    rallo_buf_puts(out, "allocated: ");
    text_size(out, t->alloc_bytes);
    rallo_buf_printf(out, " in %" PRIu64 " allocations", t->alloc_count);
    if (profile->has_lifetimes) {
        rallo_buf_printf(out, ", %" PRIu64 " of them temporary (", profile->temp_count);
        text_size(out, profile->temp_bytes);
        rallo_buf_putc(out, ')');
    }
    rallo_buf_puts(out, "; freed ");
    text_size(out, t->free_bytes);
    rallo_buf_printf(out, " in %" PRIu64 " frees\n", t->free_count);
    text_untracked(out, &profile->untracked);
    if (profile->stacks_cut_short != 0)
        rallo_buf_printf(out,
                         "stacks: %" PRIu64 " cut short at code without frame pointers (RALLO_UNWIND=fp); "
                         "RALLO_UNWIND=auto gives them whole\n",
                         profile->stacks_cut_short);
    rallo_buf_printf(out, "sites: %zu\n", profile->nsites);

    size_t want = options->top ? options->top : TOP_SITES;
    uint32_t depth = options->depth ? options->depth : STACK_FRAMES;
    if (want > profile->nsites)
        want = profile->nsites;
    size_t *top = mi_malloc((want + 1) * sizeof *top);
    if (top == NULL) {
        out->failed = true;
        return -1;
    }
    static const char *const ranked_by[] = {"live bytes", "live objects", "allocated bytes", "allocations",
                                            "bytes live at the peak"};
    /* By default, lead with what tells most: when what is live now is under
     * half the peak (a program that ran to completion and freed), who held the
     * peak, then who allocated most, then what is still live (at exit: the
     * leaks); else (a dump mid-run, or a program that keeps what it allocates)
     * what is live now first. A profile without the at-peak breakdown (not
     * rallo's) has no peak ranking. */
    uint64_t attributed_peak = 0;
    for (size_t i = 0; i < profile->nsites; i++)
        attributed_peak += profile->sites[i].peak_live_bytes;
    bool peak_first = attributed_peak > 0 && t->live_bytes < t->peak_live_bytes / 2;
    static const int peak_first_rankings[] = {RALLO_METRIC_PEAK_BYTES, RALLO_METRIC_ALLOC_BYTES,
                                              RALLO_METRIC_LIVE_BYTES};
    static const int live_first_rankings[] = {RALLO_METRIC_LIVE_BYTES, RALLO_METRIC_ALLOC_BYTES,
                                              RALLO_METRIC_PEAK_BYTES};
    const int *rankings = options->metric >= 0 ? &options->metric
                          : peak_first         ? peak_first_rankings
                                               : live_first_rankings;
    int nrankings = options->metric >= 0 ? 1 : attributed_peak > 0 ? 3 : 2;
    for (int pass = 0; pass < nrankings; pass++) {
        int metric = rankings[pass];
        size_t count = rallo_top_sites(profile, rank_value, metric, top, want);
        rallo_buf_printf(out, "\ntop %zu sites by %s:\n", count, ranked_by[metric]);
        for (size_t i = 0; i < count; i++)
            text_site(out, profile, &profile->sites[top[i]], (int)i + 1, metric, depth);
        uint64_t unattributed =
            metric == RALLO_METRIC_PEAK_BYTES ? rallo_profile_peak_unattributed(profile) : 0;
        if (unattributed > 0) {
            rallo_buf_puts(out, "      ");
            text_size(out, unattributed);
            rallo_buf_puts(out,
                           " of the peak is in no site above: the per-site figures are a copy taken when "
                           "live memory last grew 1% past the previous copy, up to ~1% short of the peak\n");
        }
    }
    if (options->metric < 0 && profile->has_lifetimes && profile->temp_count > 0)
        text_temporaries(out, profile, top, want, depth);
    if (options->metric < 0 && profile->has_free_sites)
        text_free_sites(out, profile, top, want, depth);
    mi_free(top);
    return out->failed ? -1 : 0;
}

int rallo_write_text(const rallo_profile *profile, rallo_buf *out) {
    const rallo_text_options defaults = {.top = TOP_SITES, .depth = STACK_FRAMES, .metric = -1};
    return rallo_write_text_options(profile, out, &defaults);
}
