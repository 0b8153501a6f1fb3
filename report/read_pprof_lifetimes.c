/* read_pprof_lifetimes.c - the pprof reader's part for sizes, lifetimes,
 * temporaries and threads (the form pprof_lifetimes.h describes), read once
 * the samples and comments are: only from a profile whose rallo.lifetimes
 * comment says it carries them. The file is not trusted: numbers are digits
 * only and at most 2^63-1, buckets and thread indexes are checked against
 * their bounds, a site's thread keys must come in whole entries, and every
 * figure's sum over the profile stays within int64 (as the four values' sums
 * do, read_pprof_messages.c), so no writer's total can wrap; and their
 * memory is held to the reader's budget. */
#include <inttypes.h>
#include <string.h>

#include "pprof.h"
#include "pprof_lifetimes.h"
#include "read_pprof_internal.h"
#include "writers.h"

enum { HIST_SIZE, HIST_LIFETIME, HIST_AGE, HIST_COUNT };
static const char *const hist_prefixes[HIST_COUNT] = {"size_log2.", "lifetime_log2_ns.", "live_age_log2_ns."};
static const uint32_t hist_buckets[HIST_COUNT] = {RALLO_PROF_SIZE_BUCKETS, RALLO_PROF_TIME_BUCKETS,
                                                  RALLO_PROF_TIME_BUCKETS};

/* A site's thread figures, in the order pprof_lifetimes.h gives their keys. */
enum { TK_INDEX, TK_ALLOC_COUNT, TK_ALLOC_BYTES, TK_LIVE_COUNT, TK_LIVE_BYTES, TK_COUNT };
static const char *const thread_keys[TK_COUNT] = {"thread_index", "thread_alloc_count", "thread_alloc_bytes",
                                                  "thread_live_count", "thread_live_bytes"};

/* Running sums over the profile, each kept within int64. */
enum {
    SUM_TEMP_COUNT,
    SUM_TEMP_BYTES,
    SUM_HIST,
    SUM_THREAD = SUM_HIST + HIST_COUNT,
    SUM_COUNT = SUM_THREAD + TK_COUNT
};

typedef struct lt_reader {
    pprof_reader *r;
    int temp_slot[2]; /* value index of temp_objects, temp_space; -1: absent */
    uint64_t sums[SUM_COUNT];
} lt_reader;

static bool sum_fits(lt_reader *lr, int which, uint64_t value, size_t sample) {
    uint64_t *sum = &lr->sums[which];
    if (!__builtin_add_overflow(*sum, value, sum) && *sum <= INT64_MAX)
        return true;
    return rallo_pprof_fail(lr->r, "sample %zu: lifetimes figures add up past 2^63-1: refused", sample);
}

/* ---- the comments: strict "key=value" fields in a fixed order ---- */

/* Decimal digits, at most INT64_MAX; advances *p past them. */
static bool parse_u64(const char **p, uint64_t *out) {
    const char *s = *p;
    uint64_t value = 0;
    size_t digits = 0;
    for (; s[digits] >= '0' && s[digits] <= '9'; digits++) {
        if (value > ((uint64_t)INT64_MAX - (uint64_t)(s[digits] - '0')) / 10)
            return false;
        value = value * 10 + (uint64_t)(s[digits] - '0');
    }
    if (digits == 0)
        return false;
    *p = s + digits;
    *out = value;
    return true;
}

/* " key=" (no space before the first) then a number. */
static bool field(const char **p, const char *key, bool first, uint64_t *out) {
    size_t len = strlen(key);
    const char *s = *p;
    if (!first && *s++ != ' ')
        return false;
    if (strncmp(s, key, len) != 0 || s[len] != '=')
        return false;
    s += len + 1;
    if (!parse_u64(&s, out))
        return false;
    *p = s;
    return true;
}

static bool read_process_comment(lt_reader *lr, const char *text) {
    rallo_profile *out = lr->r->out;
    const char *p = text + strlen(RALLO_PPROF_LIFETIMES_COMMENT);
    bool ok = field(&p, "temp_count", true, &out->temp_count) &&
              field(&p, "temp_bytes", false, &out->temp_bytes) && strncmp(p, " size_log2=", 11) == 0;
    p += ok ? 11 : 0;
    for (uint32_t k = 0; ok && k < RALLO_PROF_SIZE_BUCKETS; k++) {
        ok = parse_u64(&p, &out->size_log2[k]);
        if (!ok || *p != ',')
            break;
        p++;
    }
    if (!ok || *p != '\0')
        return rallo_pprof_fail(lr->r, "a malformed rallo.lifetimes comment");
    return true;
}

static bool read_thread_comment(lt_reader *lr, const char *text, size_t index) {
    rallo_profile *out = lr->r->out;
    rallo_prof_thread *t = &out->threads[index];
    const char *p = text + strlen(RALLO_PPROF_THREAD_COMMENT);
    uint64_t at = 0, tid = 0, exited = 0;
    bool negative = false;
    bool ok = field(&p, "index", true, &at) && at == index && strncmp(p, " tid=", 5) == 0;
    if (ok) {
        p += 5;
        negative = *p == '-';
        p += negative;
        ok = parse_u64(&p, &tid) && tid <= (negative ? (uint64_t)INT32_MAX + 1 : (uint64_t)INT32_MAX);
    }
    ok = ok && field(&p, "exited", false, &exited) && exited <= 1 &&
         field(&p, "alloc_count", false, &t->alloc_count) &&
         field(&p, "alloc_bytes", false, &t->alloc_bytes) && field(&p, "live_count", false, &t->live_count) &&
         field(&p, "live_bytes", false, &t->live_bytes) && strncmp(p, " name=", 6) == 0;
    if (!ok)
        return rallo_pprof_fail(lr->r, "a malformed rallo.thread comment (thread %zu)", index);
    t->tid = negative ? (int32_t)(0 - (int64_t)tid) : (int32_t)tid;
    t->exited = exited != 0;
    if ((t->name = rallo_profile_strdup(out, p + 6)) == NULL)
        return rallo_pprof_fail(lr->r, "out of memory");
    return true;
}

/* The process's figures and the threads; *found false when the profile has none. */
static bool read_comments(lt_reader *lr, bool *found) {
    const pb_profile *pb = lr->r->pb;
    rallo_profile *out = lr->r->out;
    size_t marks = 0, nthreads = 0;
    for (size_t i = 0; i < pb->n_comment; i++) {
        const char *c = pb->string_table[pb->comment[i]]; /* indexes checked by read_comments */
        marks += strncmp(c, RALLO_PPROF_LIFETIMES_COMMENT, strlen(RALLO_PPROF_LIFETIMES_COMMENT)) == 0;
        nthreads += strncmp(c, RALLO_PPROF_THREAD_COMMENT, strlen(RALLO_PPROF_THREAD_COMMENT)) == 0;
    }
    *found = marks > 0;
    if (marks == 0)
        return true;
    if (marks > 1)
        return rallo_pprof_fail(lr->r, "%zu rallo.lifetimes comments", marks);
    out->threads = rallo_profile_alloc(out, (nthreads ? nthreads : 1) * sizeof *out->threads);
    if (out->threads == NULL)
        return rallo_pprof_fail(lr->r, "out of memory for %zu threads", nthreads);
    size_t index = 0;
    for (size_t i = 0; i < pb->n_comment; i++) {
        const char *c = pb->string_table[pb->comment[i]];
        if (strncmp(c, RALLO_PPROF_LIFETIMES_COMMENT, strlen(RALLO_PPROF_LIFETIMES_COMMENT)) == 0 &&
            !read_process_comment(lr, c))
            return false;
        if (strncmp(c, RALLO_PPROF_THREAD_COMMENT, strlen(RALLO_PPROF_THREAD_COMMENT)) == 0 &&
            !read_thread_comment(lr, c, index++))
            return false;
    }
    out->nthreads = nthreads;
    return true;
}

/* ---- the samples ---- */

/* Which histogram a label's key names (-1: none), and its bucket; *bad when
 * the key names a histogram but no bucket of it. */
static int bucket_of(const char *key, uint32_t *k, bool *bad) {
    for (int h = 0; h < HIST_COUNT; h++) {
        size_t len = strlen(hist_prefixes[h]);
        if (strncmp(key, hist_prefixes[h], len) != 0)
            continue;
        const char *p = key + len;
        uint64_t bucket;
        *bad = !parse_u64(&p, &bucket) || *p != '\0' || bucket >= hist_buckets[h];
        *k = *bad ? 0 : (uint32_t)bucket;
        return h;
    }
    return -1;
}

static int thread_key_of(const char *key) {
    for (int k = 0; k < TK_COUNT; k++)
        if (strcmp(key, thread_keys[k]) == 0)
            return k;
    return -1;
}

static uint64_t temp_value(lt_reader *lr, const pb_sample *ps, int which) {
    if (lr->temp_slot[which] < 0)
        return 0;
    int64_t x = ps->value[lr->temp_slot[which]]; /* n_value checked by read_samples */
    if (x < 0) {
        lr->r->clamped_negative = true;
        return 0;
    }
    return (uint64_t)x;
}

static bool read_sample(lt_reader *lr, size_t i) {
    pprof_reader *r = lr->r;
    const pb_sample *ps = r->pb->sample[i];
    rallo_profile *out = r->out;
    rallo_prof_lifetimes *lt = rallo_profile_alloc(out, sizeof *lt);
    if (lt == NULL)
        return rallo_pprof_fail(r, "out of memory");
    lt->temp_count = temp_value(lr, ps, 0);
    lt->temp_bytes = temp_value(lr, ps, 1);
    if (!sum_fits(lr, SUM_TEMP_COUNT, lt->temp_count, i) || !sum_fits(lr, SUM_TEMP_BYTES, lt->temp_bytes, i))
        return false;
    size_t per_key[TK_COUNT] = {0};
    for (size_t l = 0; l < ps->n_label; l++) {
        const Perftools__Profiles__Label *label = ps->label[l];
        const char *key = r->pb->string_table[label->key]; /* checked by read_samples */
        int tk = thread_key_of(key);
        uint32_t k = 0;
        bool bad = false;
        int hist = tk < 0 ? bucket_of(key, &k, &bad) : -1;
        bool is_bucket = hist >= 0;
        if (bad)
            return rallo_pprof_fail(r, "sample %zu: label %.64s names no bucket", i, key);
        if ((tk >= 0 || is_bucket) && label->num < 0)
            return rallo_pprof_fail(r, "sample %zu: label %.64s is negative", i, key);
        if (tk >= 0)
            per_key[tk]++;
        if (!is_bucket)
            continue;
        uint64_t *bucket = hist == HIST_SIZE       ? &lt->size_log2[k]
                           : hist == HIST_LIFETIME ? &lt->lifetime_log2_ns[k]
                                                   : &lt->live_age_log2_ns[k];
        if (!sum_fits(lr, SUM_HIST + hist, (uint64_t)label->num, i))
            return false;
        *bucket += (uint64_t)label->num; /* within the sum just checked */
    }
    size_t n = per_key[TK_INDEX];
    for (int k = 1; k < TK_COUNT; k++)
        if (per_key[k] != n)
            return rallo_pprof_fail(r, "sample %zu: %zu %s labels for %zu thread_index labels", i, per_key[k],
                                    thread_keys[k], n);
    if (n > UINT32_MAX)
        return rallo_pprof_fail(r, "sample %zu: too many threads", i);
    lt->threads = rallo_profile_alloc(out, (n ? n : 1) * sizeof *lt->threads);
    if (lt->threads == NULL)
        return rallo_pprof_fail(r, "out of memory for sample %zu's threads", i);
    size_t filled[TK_COUNT] = {0};
    for (size_t l = 0; l < ps->n_label; l++) {
        const Perftools__Profiles__Label *label = ps->label[l];
        int tk = thread_key_of(r->pb->string_table[label->key]);
        if (tk < 0)
            continue;
        rallo_prof_site_thread *t = &lt->threads[filled[tk]++];
        uint64_t value = (uint64_t)label->num; /* not negative: checked above */
        if (tk == TK_INDEX) {
            if (value >= out->nthreads)
                return rallo_pprof_fail(r, "sample %zu names thread %" PRIu64 " of %zu", i, value,
                                        out->nthreads);
            t->thread = (uint32_t)value;
            continue;
        }
        if (!sum_fits(lr, SUM_THREAD + tk, value, i))
            return false;
        uint64_t *field = tk == TK_ALLOC_COUNT   ? &t->alloc_count
                          : tk == TK_ALLOC_BYTES ? &t->alloc_bytes
                          : tk == TK_LIVE_COUNT  ? &t->live_count
                                                 : &t->live_bytes;
        *field = value;
    }
    lt->nthreads = (uint32_t)n;
    out->sites[i].lt = lt;
    return true;
}

bool rallo_pprof_lifetimes_read(pprof_reader *r) {
    lt_reader lr;
    memset(&lr, 0, sizeof lr);
    lr.r = r;
    bool found = false;
    if (!read_comments(&lr, &found))
        return false;
    if (!found)
        return true;
    const pb_profile *pb = r->pb;
    lr.temp_slot[0] = lr.temp_slot[1] = -1;
    for (size_t i = 0; i < pb->n_sample_type; i++) {
        const char *name = pb->string_table[pb->sample_type[i]->type]; /* checked by map_sample_types */
        if (strcmp(name, RALLO_PPROF_TEMP_OBJECTS) == 0 && lr.temp_slot[0] < 0)
            lr.temp_slot[0] = (int)i;
        if (strcmp(name, RALLO_PPROF_TEMP_SPACE) == 0 && lr.temp_slot[1] < 0)
            lr.temp_slot[1] = (int)i;
    }
    /* A site's figures take ~1 KiB whatever its sample's size: held to the
     * budget read_pprof.c gives the decoded messages (48 bytes per encoded
     * byte and 16 MiB, at most RALLO_PPROF_MAX_UNPACKED), so that a file of
     * tiny samples cannot make the reader take many times that. */
    size_t encoded = protobuf_c_message_get_packed_size(&pb->base);
    size_t budget = encoded < (RALLO_PPROF_MAX_UNPACKED - (16u << 20)) / 48 ? encoded * 48 + (16u << 20)
                                                                            : RALLO_PPROF_MAX_UNPACKED;
    if (r->out->nsites > budget / sizeof(rallo_prof_lifetimes))
        return rallo_pprof_fail(r, "%zu samples' lifetimes in %zu bytes: past the %zu MiB budget, refused",
                                r->out->nsites, encoded, budget >> 20);
    for (size_t i = 0; i < r->out->nsites; i++)
        if (!read_sample(&lr, i))
            return false;
    r->out->has_lifetimes = true;
    return true;
}
