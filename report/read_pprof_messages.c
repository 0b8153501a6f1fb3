/* read_pprof_messages.c - the pprof reader's messages into a rallo_profile:
 * the string table (each string copied once, on first use), sample types by
 * name, mappings, functions, locations, samples (their sums kept within
 * int64) and rallo's own comments. Every id and string index is checked
 * before it is used. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>

#include "pprof.h"
#include "../tracking/read_side.h" /* RALLO_SITE_FIGURES_ADD */
#include "pprof_lifetimes.h"
#include "read_pprof_internal.h"
#include "writers.h"

static const char *const value_names[V_COUNT] = {"alloc_objects", "alloc_space", "inuse_objects",
                                                 "inuse_space"};

/* ---- strings ---- */

static bool string_ok(pprof_reader *r, int64_t index, const char *what) {
    if (index < 0 || (uint64_t)index >= r->pb->n_string_table)
        return rallo_pprof_fail(r, "%s names string %" PRId64 ", outside the table of %zu", what, index,
                                r->pb->n_string_table);
    return true;
}

/* The string at a checked index, copied into the profile once; NULL for "". */
static bool string_at(pprof_reader *r, int64_t index, const char *what, const char **text) {
    if (!string_ok(r, index, what))
        return false;
    const char *s = r->pb->string_table[index];
    if (s == NULL || s[0] == '\0') {
        *text = NULL;
        return true;
    }
    if (r->strings[index] == NULL && (r->strings[index] = rallo_profile_strdup(r->out, s)) == NULL)
        return rallo_pprof_fail(r, "out of memory copying strings");
    *text = r->strings[index];
    return true;
}

/* ---- the messages ---- */

static bool map_sample_types(pprof_reader *r) {
    const pb_profile *pb = r->pb;
    for (int v = 0; v < V_COUNT; v++)
        r->value_slot[v] = -1;
    /* Exact names first; then "objects"/"space" (heapz, tcmalloc: in use). */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < pb->n_sample_type; i++) {
            const Perftools__Profiles__ValueType *vt = pb->sample_type[i];
            if (!string_ok(r, vt->type, "a sample type") || !string_ok(r, vt->unit, "a sample unit"))
                return false;
            const char *name = pb->string_table[vt->type];
            int v = -1;
            for (int k = 0; k < V_COUNT && pass == 0; k++)
                if (strcmp(name, value_names[k]) == 0)
                    v = k;
            if (pass == 1 && strcmp(name, "objects") == 0)
                v = V_LIVE_COUNT;
            if (pass == 1 && strcmp(name, "space") == 0)
                v = V_LIVE_BYTES;
            if (v >= 0 && r->value_slot[v] < 0)
                r->value_slot[v] = (int)i;
            else if (v >= 0 && pass == 0)
                rallo_pprof_note(r, "sample type %s appears twice: the first is used", name);
        }
    }
    bool any = false;
    for (int v = 0; v < V_COUNT; v++)
        any |= r->value_slot[v] >= 0;
    if (!any) {
        char have[256] = "";
        for (size_t i = 0; i < pb->n_sample_type && strlen(have) + 2 < sizeof have; i++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s/%s", i ? ", " : "",
                     pb->string_table[pb->sample_type[i]->type], pb->string_table[pb->sample_type[i]->unit]);
        return rallo_pprof_fail(
            r,
            "no heap sample type (alloc_objects, alloc_space, inuse_objects, inuse_space, objects, "
            "space) in this profile; it has: %s",
            pb->n_sample_type ? have : "none");
    }
    for (size_t i = 0; i < pb->n_sample_type; i++) {
        bool used = false;
        for (int v = 0; v < V_COUNT; v++)
            used |= r->value_slot[v] == (int)i;
        const char *name = pb->string_table[pb->sample_type[i]->type];
        if (!used && strcmp(name, RALLO_PPROF_TEMP_OBJECTS) != 0 && strcmp(name, RALLO_PPROF_TEMP_SPACE) != 0)
            rallo_pprof_note(r, "sample type %s ignored", name);
    }
    for (int v = 0; v < V_COUNT; v++)
        if (r->value_slot[v] < 0)
            rallo_pprof_note(r, "no %s in the profile: read as 0", value_names[v]);
    return true;
}

static bool read_mappings(pprof_reader *r, pprof_ids *ids) {
    const pb_profile *pb = r->pb;
    rallo_profile *out = r->out;
    if (pb->n_mapping >= RALLO_NO_MAPPING)
        return rallo_pprof_fail(r, "%zu mappings: too many", pb->n_mapping);
    if (!rallo_pprof_ids_init(ids, pb->n_mapping))
        return rallo_pprof_fail(r, "out of memory indexing mappings");
    out->mappings = rallo_profile_alloc(out, (pb->n_mapping ? pb->n_mapping : 1) * sizeof *out->mappings);
    if (out->mappings == NULL)
        return rallo_pprof_fail(r, "out of memory for %zu mappings", pb->n_mapping);
    for (size_t i = 0; i < pb->n_mapping; i++) {
        const pb_mapping *pm = pb->mapping[i];
        rallo_prof_mapping *m = &out->mappings[i];
        if (pm->id == 0)
            return rallo_pprof_fail(r, "mapping %zu has id 0", i);
        ids->scratch[i] = (pprof_id_entry){pm->id, i};
        m->start = pm->memory_start;
        m->limit = pm->memory_limit;
        m->file_offset = pm->file_offset;
        if (!string_at(r, pm->filename, "a mapping's file name", &m->path) ||
            !string_at(r, pm->build_id, "a mapping's build id", &m->build_id))
            return false;
    }
    out->nmappings = pb->n_mapping;
    return rallo_pprof_ids_index(r, ids, "mapping");
}

static bool read_functions(pprof_reader *r, pprof_ids *ids) {
    const pb_profile *pb = r->pb;
    if (!rallo_pprof_ids_init(ids, pb->n_function))
        return rallo_pprof_fail(r, "out of memory indexing functions");
    for (size_t i = 0; i < pb->n_function; i++) {
        const pb_function *f = pb->function[i];
        if (f->id == 0)
            return rallo_pprof_fail(r, "function %zu has id 0", i);
        ids->scratch[i] = (pprof_id_entry){f->id, i};
        if (!string_ok(r, f->name, "a function's name") ||
            !string_ok(r, f->system_name, "a function's system name") ||
            !string_ok(r, f->filename, "a function's file name"))
            return false;
    }
    return rallo_pprof_ids_index(r, ids, "function");
}

static bool read_line(pprof_reader *r, const Perftools__Profiles__Line *pl, const pprof_ids *functions,
                      rallo_prof_line *line) {
    if (pl->function_id != 0) {
        size_t fi;
        if (!rallo_pprof_ids_get(functions, pl->function_id, &fi))
            return rallo_pprof_fail(r, "a line names function id %" PRIu64 ", which does not exist",
                                    pl->function_id);
        const pb_function *f = r->pb->function[fi];
        if (!string_at(r, f->name, "a function's name", &line->function) ||
            !string_at(r, f->filename, "a function's file name", &line->file))
            return false;
        if (line->function == NULL &&
            !string_at(r, f->system_name, "a function's system name", &line->function))
            return false;
    }
    line->line = pl->line < 0 ? 0 : pl->line > UINT32_MAX ? UINT32_MAX : (uint32_t)pl->line;
    return true;
}

static bool read_locations(pprof_reader *r, pprof_ids *ids, const pprof_ids *mappings,
                           const pprof_ids *functions) {
    const pb_profile *pb = r->pb;
    rallo_profile *out = r->out;
    if (pb->n_location > UINT32_MAX)
        return rallo_pprof_fail(r, "%zu locations: too many", pb->n_location);
    if (!rallo_pprof_ids_init(ids, pb->n_location))
        return rallo_pprof_fail(r, "out of memory indexing locations");
    out->locations = rallo_profile_alloc(out, (pb->n_location ? pb->n_location : 1) * sizeof *out->locations);
    if (out->locations == NULL)
        return rallo_pprof_fail(r, "out of memory for %zu locations", pb->n_location);
    for (size_t i = 0; i < pb->n_location; i++) {
        if (pb->location[i]->id == 0)
            return rallo_pprof_fail(r, "location %zu has id 0", i);
        ids->scratch[i] = (pprof_id_entry){pb->location[i]->id, i};
    }
    if (!rallo_pprof_ids_index(r, ids, "location"))
        return false;
    for (size_t i = 0; i < pb->n_location; i++) {
        const pb_location *pl = pb->location[i];
        rallo_prof_location *loc = &out->locations[i];
        loc->address = pl->address;
        loc->mapping = RALLO_NO_MAPPING;
        if (pl->mapping_id != 0) {
            size_t mi;
            if (!rallo_pprof_ids_get(mappings, pl->mapping_id, &mi))
                return rallo_pprof_fail(
                    r, "location id %" PRIu64 " names mapping id %" PRIu64 ", which does not exist", pl->id,
                    pl->mapping_id);
            loc->mapping = (uint32_t)mi;
        }
        if (pl->n_line > UINT32_MAX)
            return rallo_pprof_fail(r, "location id %" PRIu64 " has too many lines", pl->id);
        if (pl->n_line == 0)
            continue;
        loc->lines = rallo_profile_alloc(out, pl->n_line * sizeof *loc->lines);
        if (loc->lines == NULL)
            return rallo_pprof_fail(r, "out of memory for lines");
        for (size_t l = 0; l < pl->n_line; l++)
            if (!read_line(r, pl->line[l], functions, &loc->lines[l]))
                return false;
        loc->nlines = (uint32_t)pl->n_line;
    }
    out->nlocations = pb->n_location;
    return true;
}

static uint64_t sample_value(pprof_reader *r, const pb_sample *ps, int v) {
    if (r->value_slot[v] < 0)
        return 0;
    int64_t x = ps->value[r->value_slot[v]];
    if (x < 0) {
        r->clamped_negative = true;
        return 0;
    }
    return (uint64_t)x;
}

/* Adds a sample's value to its running sum. Every sum the writers, the flame
 * graph's tree and `rallo diff` make of a profile is at most the sum over all
 * its samples, so one that stays within int64 (pprof's own type) keeps every
 * total exact: past that the profile is refused, never wrapped. */
static bool sum_fits(pprof_reader *r, size_t sample, int v, uint64_t value) {
    uint64_t *sum = &r->sums[v];
    if (!__builtin_add_overflow(*sum, value, sum) && *sum <= INT64_MAX)
        return true;
    return rallo_pprof_fail(r,
                            "sample %zu: the %s values add up past 2^63-1, where totals would wrap: refused",
                            sample, v < V_COUNT ? value_names[v] : "peak_live_bytes");
}

static bool read_samples(pprof_reader *r, const pprof_ids *locations) {
    const pb_profile *pb = r->pb;
    rallo_profile *out = r->out;
    out->sites = rallo_profile_alloc(out, (pb->n_sample ? pb->n_sample : 1) * sizeof *out->sites);
    if (out->sites == NULL)
        return rallo_pprof_fail(r, "out of memory for %zu samples", pb->n_sample);
    for (size_t i = 0; i < pb->n_sample; i++) {
        const pb_sample *ps = pb->sample[i];
        rallo_prof_site *site = &out->sites[i];
        if (ps->n_value != pb->n_sample_type)
            return rallo_pprof_fail(r, "sample %zu has %zu values for %zu sample types", i, ps->n_value,
                                    pb->n_sample_type);
        if (ps->n_location_id > UINT32_MAX)
            return rallo_pprof_fail(r, "sample %zu has too many locations", i);
        site->alloc_count = sample_value(r, ps, V_ALLOC_COUNT);
        site->alloc_bytes = sample_value(r, ps, V_ALLOC_BYTES);
        site->live_count = sample_value(r, ps, V_LIVE_COUNT);
        site->live_bytes = sample_value(r, ps, V_LIVE_BYTES);
        if (!sum_fits(r, i, V_ALLOC_COUNT, site->alloc_count) ||
            !sum_fits(r, i, V_ALLOC_BYTES, site->alloc_bytes) ||
            !sum_fits(r, i, V_LIVE_COUNT, site->live_count) ||
            !sum_fits(r, i, V_LIVE_BYTES, site->live_bytes))
            return false;
        /* pprof has no frees: what was allocated and is not live was freed. */
        site->free_count = site->alloc_count > site->live_count ? site->alloc_count - site->live_count : 0;
        site->free_bytes = site->alloc_bytes > site->live_bytes ? site->alloc_bytes - site->live_bytes : 0;
        if (ps->n_location_id > 0) {
            site->locations = rallo_profile_alloc(out, ps->n_location_id * sizeof *site->locations);
            if (site->locations == NULL)
                return rallo_pprof_fail(r, "out of memory for sample locations");
        }
        for (size_t l = 0; l < ps->n_location_id; l++) {
            size_t li;
            if (!rallo_pprof_ids_get(locations, ps->location_id[l], &li))
                return rallo_pprof_fail(r, "sample %zu names location id %" PRIu64 ", which does not exist",
                                        i, ps->location_id[l]);
            site->locations[l] = (uint32_t)li;
        }
        site->nlocations = (uint32_t)ps->n_location_id;
        for (size_t k = 0; k < ps->n_label; k++) {
            const Perftools__Profiles__Label *label = ps->label[k];
            if (!string_ok(r, label->key, "a label key") || !string_ok(r, label->str, "a label value") ||
                !string_ok(r, label->num_unit, "a label unit"))
                return false;
            if (strcmp(pb->string_table[label->key], "peak_live_bytes") == 0 && label->num > 0) {
                site->peak_live_bytes = (uint64_t)label->num;
                if (!sum_fits(r, i, V_COUNT, site->peak_live_bytes))
                    return false;
            }
        }
    }
    out->nsites = pb->n_sample;
    return true;
}

/* The value after "key=" in a space-separated comment, or 0. */
static uint64_t comment_field(const char *text, const char *key) {
    size_t klen = strlen(key);
    for (const char *p = text; (p = strstr(p, key)) != NULL; p += klen)
        if ((p == text || p[-1] == ' ') && p[klen] == '=')
            return strtoull(p + klen + 1, NULL, 10);
    return 0;
}

/* rallo's own comments (see write_pprof.c); a profile from elsewhere has none
 * and gets totals summed from its samples. */
static bool read_comments(pprof_reader *r) {
    const pb_profile *pb = r->pb;
    rallo_profile *out = r->out;
    bool have_totals = false, have_interval = false;
    size_t nargv = 0;
    for (size_t i = 0; i < pb->n_comment; i++)
        if (string_ok(r, pb->comment[i], "a comment") &&
            strncmp(pb->string_table[pb->comment[i]], "rallo.argv=", 11) == 0)
            nargv++;
    if (nargv > 0 && (out->argv = rallo_profile_alloc(out, nargv * sizeof *out->argv)) == NULL)
        return rallo_pprof_fail(r, "out of memory");
    for (size_t i = 0; i < pb->n_comment; i++) {
        if (!string_ok(r, pb->comment[i], "a comment"))
            return false;
        const char *c = pb->string_table[pb->comment[i]];
        if (strncmp(c, "rallo.pid=", 10) == 0) {
            out->pid = (int32_t)strtol(c + 10, NULL, 10);
            out->ppid = (int32_t)comment_field(c, "ppid");
        } else if (strncmp(c, "rallo.argv=", 11) == 0) {
            if ((out->argv[out->nargv++] = rallo_profile_strdup(out, c + 11)) == NULL)
                return rallo_pprof_fail(r, "out of memory");
        } else if (strncmp(c, "rallo.program=", 14) == 0) {
            if ((out->program = rallo_profile_strdup(out, c + 14)) == NULL)
                return rallo_pprof_fail(r, "out of memory");
        } else if (strncmp(c, "rallo.sample_interval=", 22) == 0) {
            out->sample_interval = strtoull(c + 22, NULL, 10);
            have_interval = true;
        } else if (strncmp(c, "rallo.totals ", 13) == 0) {
            rallo_totals *t = &out->totals;
            t->alloc_count = comment_field(c, "alloc_count");
            t->alloc_bytes = comment_field(c, "alloc_bytes");
            t->free_count = comment_field(c, "free_count");
            t->free_bytes = comment_field(c, "free_bytes");
            t->live_count = comment_field(c, "live_count");
            t->live_bytes = comment_field(c, "live_bytes");
            t->peak_live_bytes = comment_field(c, "peak_live_bytes");
            t->untracked_count = comment_field(c, "untracked_count");
            have_totals = true;
        } else if (strncmp(c, "rallo.untracked ", 16) == 0) {
            rallo_untracked *u = &out->untracked;
            u->arena_full = comment_field(c, "arena_full");
            u->no_arena = comment_field(c, "no_arena");
            u->alignment = comment_field(c, "alignment");
            u->too_large = comment_field(c, "too_large");
            u->thread_exiting = comment_field(c, "thread_exiting");
            u->bad_header = comment_field(c, "bad_header");
        } else if (strncmp(c, "rallo.unwind ", 13) == 0) {
            out->stacks_cut_short = comment_field(c, "stacks_cut_short");
        }
    }
    if (!have_interval)
        out->sample_interval = pb->period > 1 ? (uint64_t)pb->period : 0;
    if (!have_totals) {
        rallo_totals *t = &out->totals;
        for (size_t i = 0; i < out->nsites; i++)
            RALLO_SITE_FIGURES_ADD(t, &out->sites[i]);
        t->peak_live_bytes = t->live_bytes; /* the best a foreign profile says */
    }
    /* pprof puts the main binary's mapping first. */
    if (out->program == NULL && out->nmappings > 0)
        out->program = out->mappings[0].path;
    return true;
}

/* The scalar string indexes of the Profile itself. */
static bool check_profile_strings(pprof_reader *r) {
    const pb_profile *pb = r->pb;
    if (pb->n_string_table == 0 || pb->string_table[0] == NULL || pb->string_table[0][0] != '\0')
        return rallo_pprof_fail(r, "the string table does not start with \"\"");
    if (!string_ok(r, pb->drop_frames, "drop_frames") || !string_ok(r, pb->keep_frames, "keep_frames") ||
        !string_ok(r, pb->default_sample_type, "default_sample_type") ||
        !string_ok(r, pb->doc_url, "doc_url"))
        return false;
    if (pb->period_type != NULL && (!string_ok(r, pb->period_type->type, "period_type") ||
                                    !string_ok(r, pb->period_type->unit, "period_type")))
        return false;
    return true;
}

bool rallo_pprof_convert(pprof_reader *r) {
    pprof_ids mappings = {0}, functions = {0}, locations = {0};
    r->strings = mi_zalloc((r->pb->n_string_table ? r->pb->n_string_table : 1) * sizeof *r->strings);
    bool ok = (r->strings != NULL || rallo_pprof_fail(r, "out of memory")) && check_profile_strings(r) &&
              map_sample_types(r) && read_mappings(r, &mappings) && read_functions(r, &functions) &&
              read_locations(r, &locations, &mappings, &functions) && read_samples(r, &locations) &&
              read_comments(r) && rallo_pprof_lifetimes_read(r);
    if (ok) {
        r->out->time_unix_ns = r->pb->time_nanos > 0 ? (uint64_t)r->pb->time_nanos : 0;
        if (r->clamped_negative)
            rallo_pprof_note(r, "negative values (a diff profile?) read as 0");
    }
    rallo_pprof_ids_free(&mappings);
    rallo_pprof_ids_free(&functions);
    rallo_pprof_ids_free(&locations);
    mi_free(r->strings);
    return ok;
}
