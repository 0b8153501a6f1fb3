/* write_text.c - the text report, a person's first look: a versioned header
 * line ("rallo text report v1") for tools, then the program and its command
 * line, the sampling interval and the samples it gave, the totals, the peak,
 * why allocations went untracked, and the top 10 sites at peak, by allocated
 * bytes and by live bytes (the most telling first), each with its 5 innermost
 * frames as "function (file:line)". Exact byte figures come first on each
 * line, a human-readable size after them. */
#include <inttypes.h>
#include <time.h>

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
        uint64_t offset;
        const char *module = rallo_location_module(profile, location, &offset);
        if (module != NULL)
            rallo_buf_printf(out, "        %s+0x%" PRIx64 "\n", module, offset);
        else
            rallo_buf_printf(out, "        0x%" PRIx64 "\n", offset);
        (*left)--;
        return;
    }
    for (uint32_t j = 0; j<location->nlines && * left> 0; j++, (*left)--) {
        const rallo_prof_line *line = &location->lines[j];
        rallo_buf_printf(out, "        %s", line->function != NULL ? line->function : "??");
        if (line->file != NULL)
            rallo_buf_printf(out, " (%s:%" PRIu32 ")", line->file, line->line);
        if (j + 1 < location->nlines)
            rallo_buf_puts(out, " [inlined]");
        rallo_buf_putc(out, '\n');
    }
}

/* What a top list ranks by. */
typedef enum text_rank { RANK_PEAK, RANK_ALLOC, RANK_LIVE } text_rank;

static uint64_t rank_value(const rallo_prof_site *site, text_rank rank) {
    return rank == RANK_PEAK    ? site->peak_live_bytes
           : rank == RANK_ALLOC ? site->alloc_bytes
                                : site->live_bytes;
}

static void text_site(rallo_buf *out, const rallo_profile *profile, const rallo_prof_site *site, int rank,
                      text_rank by) {
    const rallo_totals *t = &profile->totals;
    uint64_t value = rank_value(site, by);
    uint64_t whole = by == RANK_PEAK ? t->peak_live_bytes : by == RANK_ALLOC ? t->alloc_bytes : t->live_bytes;
    rallo_buf_printf(out, "  %2d. ", rank);
    text_size(out, value);
    if (by == RANK_PEAK)
        rallo_buf_printf(out, " at peak (%.1f%%), live now ",
                         whole ? 100.0 * (double)value / (double)whole : 0);
    else
        rallo_buf_printf(out, " %s in %" PRIu64 " objects (%.1f%%)", by == RANK_LIVE ? "live" : "allocated",
                         by == RANK_LIVE ? site->live_count : site->alloc_count,
                         whole ? 100.0 * (double)value / (double)whole : 0);
    if (by == RANK_PEAK) {
        text_size(out, site->live_bytes);
        rallo_buf_puts(out, ", allocated ");
        text_size(out, site->alloc_bytes);
    } else if (by == RANK_LIVE) {
        rallo_buf_puts(out, ", at peak ");
        text_size(out, site->peak_live_bytes);
    } else {
        rallo_buf_puts(out, ", still live ");
        text_size(out, site->live_bytes);
    }
    rallo_buf_putc(out, '\n');
    uint32_t left = STACK_FRAMES;
    for (uint32_t i = 0; i < site->nlocations && left > 0; i++)
        text_location(out, profile, &profile->locations[site->locations[i]], &left);
    if (site->nlocations == 0)
        rallo_buf_puts(out, "        [no stack]\n");
    else if (left == 0)
        rallo_buf_puts(out, "        ...\n");
}

/* The indices of the (at most) TOP_SITES largest sites by the metric, largest first. */
static size_t top_sites(const rallo_profile *profile, text_rank by, size_t top[TOP_SITES]) {
    size_t count = 0;
    for (size_t i = 0; i < profile->nsites; i++) {
        uint64_t value = rank_value(&profile->sites[i], by);
        if (value == 0)
            continue;
        size_t at = count < TOP_SITES ? count++ : TOP_SITES;
        while (at > 0) {
            if (rank_value(&profile->sites[top[at - 1]], by) >= value)
                break;
            if (at < TOP_SITES)
                top[at] = top[at - 1];
            at--;
        }
        if (at < TOP_SITES)
            top[at] = i;
    }
    return count;
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

int rallo_write_text(const rallo_profile *profile, rallo_buf *out) {
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
        uint64_t live_samples, sampled;
        rallo_profile_samples(profile, &live_samples, &sampled);
        if (live_samples == 0) {
            rallo_buf_printf(out,
                             "samples: none live, at most %" PRIu64
                             " of the allocations; the live figures show nothing, however much is live",
                             sampled);
        } else {
            rallo_buf_printf(
                out, "samples: at most %" PRIu64 " of the live blocks, %" PRIu64 " of the allocations",
                live_samples, sampled);
            /* A total resting on n samples is off by about 1/sqrt(n) (one standard deviation). */
            uint64_t root = 1;
            while ((root + 1) * (root + 1) <= live_samples)
                root++;
            rallo_buf_printf(out, "; the live total is good to about %.0f%%", 100.0 / (double)root);
        }
        rallo_buf_puts(out, "; a smaller RALLO_SAMPLE takes more\n");
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
    rallo_buf_printf(out, " in %" PRIu64 " allocations; freed ", t->alloc_count);
    text_size(out, t->free_bytes);
    rallo_buf_printf(out, " in %" PRIu64 " frees\n", t->free_count);
    text_untracked(out, &profile->untracked);
    rallo_buf_printf(out, "sites: %zu\n", profile->nsites);

    /* Lead with what tells most: when what is live now is under half the
     * peak (a program that ran to completion and freed), who held the peak,
     * then who allocated most, then what is still live (at exit: the leaks);
     * else (a dump mid-run, or a program that keeps what it allocates) what is
     * live now first. */
    uint64_t attributed_peak = 0;
    for (size_t i = 0; i < profile->nsites; i++)
        attributed_peak += profile->sites[i].peak_live_bytes;
    bool peak_first = attributed_peak > 0 && t->live_bytes < t->peak_live_bytes / 2;
    text_rank order[3] = {RANK_LIVE, RANK_ALLOC, RANK_PEAK};
    if (peak_first) {
        order[0] = RANK_PEAK;
        order[2] = RANK_LIVE;
    }
    size_t top[TOP_SITES];
    for (int pass = 0; pass < 3; pass++) {
        text_rank by = order[pass];
        if (by == RANK_PEAK && attributed_peak == 0)
            continue; /* a profile without the breakdown (not rallo's) */
        size_t count = top_sites(profile, by, top);
        if (by == RANK_PEAK) {
            rallo_buf_printf(out, "\ntop %zu sites at peak (what each held when live memory peaked at ",
                             count);
            text_size(out, t->peak_live_bytes);
            rallo_buf_puts(out, "):\n");
        } else {
            rallo_buf_printf(out, "\ntop %zu sites by %s:\n", count,
                             by == RANK_LIVE
                                 ? "live bytes (still held when this report was taken; at exit, leaks)"
                                 : "allocated bytes");
        }
        for (size_t i = 0; i < count; i++)
            text_site(out, profile, &profile->sites[top[i]], (int)i + 1, by);
        uint64_t unattributed = by == RANK_PEAK ? rallo_profile_peak_unattributed(profile) : 0;
        if (unattributed > 0) {
            rallo_buf_puts(out, "      ");
            text_size(out, unattributed);
            rallo_buf_puts(out,
                           " of the peak is in no site above: the per-site figures are a copy taken when "
                           "live memory last grew 1% past the previous copy, up to ~1% short of the peak\n");
        }
    }
    return out->failed ? -1 : 0;
}
