/* diff.c - `rallo diff BASE NEW`: per call site, what grew and what shrank
 * between two profiles (live bytes, allocated bytes, counts): text sorted by
 * growth, folded stacks of the growth, JSON, or an HTML flame graph coloured by
 * growth and shrinkage. Sites are matched by their symbolized stacks, each
 * frame's function and file:line (module+offset where unnamed), since
 * addresses move between runs: two calls in one function stay two sites. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>

#include "util/array.h"
#include "cli.h"
#include "diff.h"

static void diff_usage(FILE *out) {
    fputs("usage: rallo diff BASE NEW [-f FORMAT] [-o OUT]\n"
          "\n"
          "What grew and what shrank between two pprof profiles, per call site.\n"
          "\n"
          "  -f, --format FORMAT  text (default: sorted by growth of live bytes), folded (the\n"
          "                       growth of live bytes, for flame graph tools), json, or html\n"
          "                       (a flame graph of the growth, shrinkage in blue)\n"
          "  -o, --output OUT     where to write (default: stdout)\n",
          out);
}

/* Adds a side's values to the site's. */
static void add_side(rallo_diff_side *to, const rallo_prof_site *from) {
    to->live_bytes += from->live_bytes;
    to->live_count += from->live_count;
    to->alloc_bytes += from->alloc_bytes;
    to->alloc_count += from->alloc_count;
}

/* Adds a profile's sites to the union, summing their values into BEFORE or
 * AFTER; false when memory ran out. */
static bool add_sites(rallo_diff *diff, size_t *cap, const rallo_profile *profile, size_t mapping_base,
                      bool is_new) {
    for (size_t n = 0; n < profile->nsites; n++) {
        /* The union keeps the frames of the first site it sees with a stack
         * (sites whose frames differ only in addresses share one): NEW goes in
         * first, from its last site down, so a stack is shown by NEW's last
         * site with it, else by BASE's first. */
        const rallo_prof_site *from = &profile->sites[is_new ? profile->nsites - 1 - n : n];
        size_t index = stack_union_add(&diff->u, profile, mapping_base, from);
        if (index == SIZE_MAX)
            return false;
        if (index == diff->count) {
            if (!rallo_array_reserve((void **)&diff->sites, cap, diff->count + 1, sizeof *diff->sites, 256))
                return false;
            memset(&diff->sites[diff->count++], 0, sizeof *diff->sites);
        }
        add_side(is_new ? &diff->sites[index].after : &diff->sites[index].before, from);
    }
    return true;
}

typedef struct ranked_site {
    size_t index; /* in the union */
    const char *key;
    rallo_diff_site values;
} ranked_site;

static int by_growth(const void *a, const void *b) {
    const ranked_site *left = a, *right = b;
    int64_t l = rallo_diff_live_growth(&left->values), r = rallo_diff_live_growth(&right->values);
    if (l != r)
        return l > r ? -1 : 1;
    int64_t la = (int64_t)(left->values.after.alloc_bytes - left->values.before.alloc_bytes);
    int64_t ra = (int64_t)(right->values.after.alloc_bytes - right->values.before.alloc_bytes);
    return la > ra ? -1 : la < ra ? 1 : strcmp(left->key, right->key);
}

/* Puts the union's sites in order of growth; false when memory ran out. */
static bool sort_by_growth(rallo_diff *diff) {
    ranked_site *ranked = mi_malloc((diff->count + 1) * sizeof *ranked);
    size_t *order = mi_malloc((diff->count + 1) * sizeof *order);
    bool ok = ranked != NULL && order != NULL;
    if (ok) {
        for (size_t i = 0; i < diff->count; i++)
            ranked[i] = (ranked_site){i, diff->u.keys[i], diff->sites[i]};
        qsort(ranked, diff->count, sizeof *ranked, by_growth);
        for (size_t i = 0; i < diff->count; i++) {
            order[i] = ranked[i].index;
            diff->sites[i] = ranked[i].values;
        }
        ok = stack_union_reorder(&diff->u, order);
    }
    mi_free(ranked);
    mi_free(order);
    return ok;
}

/* Matches BASE's and NEW's sites by stack into diff->u; false when memory ran out. */
static bool diff_build(rallo_diff *diff) {
    size_t base_map = 0, new_map = 0, cap = 0;
    if (!stack_union_add_mappings(&diff->u, diff->base, &base_map) ||
        !stack_union_add_mappings(&diff->u, diff->fresh, &new_map) ||
        !add_sites(diff, &cap, diff->fresh, new_map, true) ||
        !add_sites(diff, &cap, diff->base, base_map, false) || !sort_by_growth(diff))
        return false;
    rallo_profile *p = &diff->u.profile;
    for (size_t i = 0; i < diff->count; i++) {
        const rallo_diff_side *after = &diff->sites[i].after;
        p->sites[i].live_bytes = after->live_bytes;
        p->sites[i].live_count = after->live_count;
        p->sites[i].alloc_bytes = after->alloc_bytes;
        p->sites[i].alloc_count = after->alloc_count;
    }
    p->pid = diff->fresh->pid;
    p->program = diff->fresh->program;
    p->time_unix_ns = diff->fresh->time_unix_ns;
    p->sample_interval = diff->fresh->sample_interval;
    p->totals = diff->fresh->totals;
    return true;
}

int cli_diff(int argc, char **argv) {
    static const struct option options[] = {{"format", required_argument, NULL, 'f'},
                                            {"output", required_argument, NULL, 'o'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *format_name = NULL, *out_path = NULL;
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "f:o:h", options, NULL)) != -1) {
        switch (option) {
        case 'f': format_name = optarg; break;
        case 'o': out_path = optarg; break;
        case 'h': diff_usage(stdout); return 0;
        default: diff_usage(stderr); return 2;
        }
    }
    if (optind != argc - 2) {
        cli_error("diff: give BASE and NEW");
        diff_usage(stderr);
        return 2;
    }
    rallo_format format = RALLO_FORMAT_TEXT;
    if (format_name != NULL) {
        if (!rallo_format_from_name(format_name, &format) || format == RALLO_FORMAT_PPROF) {
            cli_error("diff: unknown format '%s' (text, folded, json, html)", format_name);
            return 2;
        }
    } else if (out_path != NULL && strcmp(out_path, "-") != 0 && !rallo_format_from_path(out_path, &format)) {
        cli_error("diff: cannot tell the format from %s's extension; use -f", out_path);
        return 2;
    }
    rallo_profile base, fresh;
    if (cli_load_profile(argv[optind], &base, true) != 0)
        return 1;
    if (cli_load_profile(argv[optind + 1], &fresh, true) != 0) {
        rallo_profile_free(&base);
        return 1;
    }
    rallo_diff diff = {
        .base_path = argv[optind], .new_path = argv[optind + 1], .base = &base, .fresh = &fresh};
    stack_union_init(&diff.u);
    int result = 1;
    if (!diff_build(&diff)) {
        cli_error("diff: out of memory");
        goto done;
    }
    rallo_buf out;
    rallo_buf_init(&out);
    rallo_diff_write(&diff, format, &out);
    result = cli_write_output(out_path, &out) == 0 ? 0 : 1;
    rallo_buf_free(&out);
done:
    stack_union_free(&diff.u);
    mi_free(diff.sites);
    rallo_profile_free(&base);
    rallo_profile_free(&fresh);
    return result;
}
