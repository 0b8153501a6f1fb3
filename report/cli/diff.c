/* diff.c - `rallo diff BASE NEW`: per call site, what grew and what shrank
 * between two profiles (live bytes, allocated bytes, counts): text sorted by
 * growth, folded stacks of the growth, JSON, or an HTML flame graph coloured by
 * growth and shrinkage. Sites are matched by their symbolized stacks, since
 * addresses move between runs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>

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

/* A site's stack as folded text, root first: the key that matches sites. */
static char *site_key(const rallo_profile *profile, const rallo_prof_site *site) {
    rallo_buf key;
    rallo_buf_init(&key);
    rallo_folded_stack(profile, site, &key);
    if (key.failed) {
        rallo_buf_free(&key);
        return NULL;
    }
    char *text = key.data ? key.data : mi_strdup("");
    return text;
}

typedef struct diff_table {
    rallo_diff_site *sites;
    size_t count, cap;
    size_t *slots; /* index + 1; 0 = empty */
    size_t nslots;
} diff_table;

static uint64_t key_hash(const char *key) {
    uint64_t hash = 1469598103934665603ull;
    for (; *key; key++)
        hash = (hash ^ (unsigned char)*key) * 1099511628211ull;
    return hash;
}

static rallo_diff_site *table_find(diff_table *table, char *key) {
    if (table->count * 2 >= table->nslots) {
        size_t nslots = table->nslots ? table->nslots * 2 : 1024;
        size_t *slots = mi_zalloc(nslots * sizeof(size_t));
        if (slots == NULL)
            return NULL;
        for (size_t i = 0; i < table->count; i++) {
            size_t slot = key_hash(table->sites[i].key) & (nslots - 1);
            while (slots[slot] != 0)
                slot = (slot + 1) & (nslots - 1);
            slots[slot] = i + 1;
        }
        mi_free(table->slots);
        table->slots = slots;
        table->nslots = nslots;
    }
    size_t slot = key_hash(key) & (table->nslots - 1);
    while (table->slots[slot] != 0) {
        rallo_diff_site *site = &table->sites[table->slots[slot] - 1];
        if (strcmp(site->key, key) == 0) {
            mi_free(key);
            return site;
        }
        slot = (slot + 1) & (table->nslots - 1);
    }
    if (table->count == table->cap) {
        size_t cap = table->cap ? table->cap * 2 : 256;
        rallo_diff_site *sites = mi_realloc(table->sites, cap * sizeof *sites);
        if (sites == NULL)
            return NULL;
        table->sites = sites;
        table->cap = cap;
    }
    rallo_diff_site *site = &table->sites[table->count];
    memset(site, 0, sizeof *site);
    site->key = key;
    table->slots[slot] = ++table->count;
    return site;
}

static int table_add(diff_table *table, const rallo_profile *profile, bool is_new) {
    for (size_t i = 0; i < profile->nsites; i++) {
        const rallo_prof_site *from = &profile->sites[i];
        char *key = site_key(profile, from);
        rallo_diff_site *site = key ? table_find(table, key) : NULL;
        if (site == NULL)
            return -1;
        rallo_diff_side *side = is_new ? &site->after : &site->before;
        side->live_bytes += from->live_bytes;
        side->live_count += from->live_count;
        side->alloc_bytes += from->alloc_bytes;
        side->alloc_count += from->alloc_count;
        if (is_new || site->site == NULL) {
            site->profile = profile;
            site->site = from;
        }
    }
    return 0;
}

static int by_growth(const void *a, const void *b) {
    const rallo_diff_site *left = a, *right = b;
    int64_t l = rallo_diff_live_growth(left), r = rallo_diff_live_growth(right);
    if (l != r)
        return l > r ? -1 : 1;
    int64_t la = (int64_t)(left->after.alloc_bytes - left->before.alloc_bytes);
    int64_t ra = (int64_t)(right->after.alloc_bytes - right->before.alloc_bytes);
    return la > ra ? -1 : la < ra ? 1 : strcmp(left->key, right->key);
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
    diff_table table = {0};
    int result = 1;
    if (table_add(&table, &base, false) != 0 || table_add(&table, &fresh, true) != 0) {
        cli_error("diff: out of memory");
        goto done;
    }
    if (table.count > 1)
        qsort(table.sites, table.count, sizeof *table.sites, by_growth);
    rallo_diff diff = {.base_path = argv[optind], .new_path = argv[optind + 1], .base = &base, .fresh = &fresh,
                       .sites = table.sites, .count = table.count};
    rallo_buf out;
    rallo_buf_init(&out);
    rallo_diff_write(&diff, format, &out);
    result = cli_write_output(out_path, &out) == 0 ? 0 : 1;
    rallo_buf_free(&out);
done:
    for (size_t i = 0; i < table.count; i++)
        mi_free(table.sites[i].key);
    mi_free(table.sites);
    mi_free(table.slots);
    rallo_profile_free(&base);
    rallo_profile_free(&fresh);
    return result;
}
