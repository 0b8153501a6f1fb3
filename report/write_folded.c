/* write_folded.c - folded stacks, the input of flamegraph.pl, speedscope and
 * inferno: one line per site, "root;caller;...;leaf value", frames root first,
 * an inlined call expanded into one frame per function. The default metric
 * (rallo_write_folded) is LIVE BYTES; rallo_write_folded_metric picks live
 * count, allocated bytes, allocation count or bytes at the peak instead. Sites whose value is 0
 * are left out. Frames without a symbol read "module+0xOFFSET" (the offset in
 * the module's file); a site with no frames reads "[no stack]". ';' and line
 * breaks inside a name become '_' so the line stays parseable. */
#include <inttypes.h>
#include <string.h>

#include "writers.h"

static void folded_name(rallo_buf *out, const char *name) {
    for (const char *c = name; *c; c++)
        rallo_buf_putc(out, (*c == ';' || *c == '\n' || *c == '\r') ? '_' : *c);
}

static void folded_location(rallo_buf *out, const rallo_profile *profile, const rallo_prof_location *location,
                            bool *first) {
    if (location->nlines == 0 || location->lines[location->nlines - 1].function == NULL) {
        if (!*first)
            rallo_buf_putc(out, ';');
        *first = false;
        uint64_t offset;
        const char *module = rallo_location_module(profile, location, &offset);
        if (module != NULL) {
            folded_name(out, module);
            rallo_buf_putc(out, '+');
        }
        rallo_buf_printf(out, "0x%" PRIx64, offset);
        return;
    }
    /* Outermost function first, the innermost inlined one last. */
    for (uint32_t j = location->nlines; j-- > 0;) {
        if (!*first)
            rallo_buf_putc(out, ';');
        *first = false;
        const char *function = location->lines[j].function;
        folded_name(out, function != NULL ? function : "[inlined]");
    }
}

uint64_t rallo_metric_value(const rallo_prof_site *site, int metric) {
    switch (metric) {
    case RALLO_METRIC_LIVE_COUNT: return site->live_count;
    case RALLO_METRIC_ALLOC_BYTES: return site->alloc_bytes;
    case RALLO_METRIC_ALLOC_COUNT: return site->alloc_count;
    case RALLO_METRIC_PEAK_BYTES: return site->peak_live_bytes;
    default: return site->live_bytes;
    }
}

bool rallo_metric_from_name(const char *name, int *metric) {
    static const struct {
        const char *name;
        int metric;
    } names[] = {{"live", RALLO_METRIC_LIVE_BYTES},
                 {"allocated", RALLO_METRIC_ALLOC_BYTES},
                 {"counts", RALLO_METRIC_ALLOC_COUNT},
                 {"peak", RALLO_METRIC_PEAK_BYTES}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *metric = names[i].metric;
            return true;
        }
    }
    return false;
}

void rallo_folded_stack(const rallo_profile *profile, const rallo_prof_site *site, rallo_buf *out) {
    bool first = true;
    for (uint32_t k = site->nlocations; k-- > 0;)
        folded_location(out, profile, &profile->locations[site->locations[k]], &first);
    if (first)
        rallo_buf_puts(out, "[no stack]");
}

int rallo_write_folded_metric(const rallo_profile *profile, rallo_buf *out, int metric) {
    for (size_t i = 0; i < profile->nsites; i++) {
        const rallo_prof_site *site = &profile->sites[i];
        uint64_t value = rallo_metric_value(site, metric);
        if (value == 0)
            continue;
        rallo_folded_stack(profile, site, out);
        rallo_buf_printf(out, " %" PRIu64 "\n", value);
    }
    return out->failed ? -1 : 0;
}

int rallo_write_folded(const rallo_profile *profile, rallo_buf *out) {
    return rallo_write_folded_metric(profile, out, RALLO_METRIC_LIVE_BYTES);
}
