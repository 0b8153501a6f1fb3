/* write_text.c - the text report, a person's first look: a versioned header
 * line ("rallo text report v1") for tools, then the program, the sampling
 * interval, the totals, the peak, why allocations went untracked, and the top
 * 10 sites by live bytes and by allocated bytes, each with its 5 innermost
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

static void text_site(rallo_buf *out, const rallo_profile *profile, const rallo_prof_site *site, int rank,
                      bool by_live) {
    const rallo_totals *t = &profile->totals;
    uint64_t value = by_live ? site->live_bytes : site->alloc_bytes;
    uint64_t whole = by_live ? t->live_bytes : t->alloc_bytes;
    rallo_buf_printf(out, "  %2d. ", rank);
    text_size(out, value);
    rallo_buf_printf(out, " %s in %" PRIu64 " objects (%.1f%%)", by_live ? "live" : "allocated",
                     by_live ? site->live_count : site->alloc_count,
                     whole ? 100.0 * (double)value / (double)whole : 0);
    if (by_live) {
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
static size_t top_sites(const rallo_profile *profile, bool by_live, size_t top[TOP_SITES]) {
    size_t count = 0;
    for (size_t i = 0; i < profile->nsites; i++) {
        uint64_t value = by_live ? profile->sites[i].live_bytes : profile->sites[i].alloc_bytes;
        if (value == 0)
            continue;
        size_t at = count < TOP_SITES ? count++ : TOP_SITES;
        while (at > 0) {
            const rallo_prof_site *above = &profile->sites[top[at - 1]];
            if ((by_live ? above->live_bytes : above->alloc_bytes) >= value)
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
    if (profile->stacks_cut_short != 0)
        rallo_buf_printf(out,
                         "stacks: %" PRIu64 " cut short at code without frame pointers (RALLO_UNWIND=fp); "
                         "RALLO_UNWIND=auto gives them whole\n",
                         profile->stacks_cut_short);
    rallo_buf_printf(out, "sites: %zu\n", profile->nsites);

    size_t top[TOP_SITES];
    for (int pass = 0; pass < 2; pass++) {
        bool by_live = pass == 0;
        size_t count = top_sites(profile, by_live, top);
        rallo_buf_printf(out, "\ntop %zu sites by %s:\n", count, by_live ? "live bytes" : "allocated bytes");
        for (size_t i = 0; i < count; i++)
            text_site(out, profile, &profile->sites[top[i]], (int)i + 1, by_live);
    }
    return out->failed ? -1 : 0;
}
