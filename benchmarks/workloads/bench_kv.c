/* bench_kv.c - a key-value store under churn: a chained hash table holding
 * ~500k live entries (malloc'd keys and values), then random inserts, deletes
 * and value rewrites (realloc) that keep it near that size. Every value's bytes
 * derive from its key and version, checked on every lookup and at the end
 * (the self-check), and the entry count is checked against a shadow count.
 * Usage: bench_kv [SCALE] */
#include "bench_common.h"

typedef struct entry {
    struct entry *next;
    char *key;
    uint8_t *value;
    uint32_t value_size, version;
    uint64_t hash;
} entry;

typedef struct table {
    entry **buckets;
    size_t mask, count;
} table;

static uint64_t hash_key(const char *key) {
    uint64_t h = 1469598103934665603ull;
    for (; *key; key++)
        h = (h ^ (uint8_t)*key) * 1099511628211ull;
    return h;
}

static uint8_t value_byte(uint64_t hash, uint32_t version, size_t i) {
    return (uint8_t)((hash >> (i % 7 * 8)) + version * 13 + i);
}

static void fill_value(entry *e) {
    for (size_t i = 0; i < e->value_size; i++)
        e->value[i] = value_byte(e->hash, e->version, i);
}

static int value_ok(const entry *e) {
    size_t last = e->value_size - 1;
    return e->value[0] == value_byte(e->hash, e->version, 0) &&
           e->value[last] == value_byte(e->hash, e->version, last);
}

static void make_key(uint64_t id, char *key) {
    /* Keys of 8..40 characters: the id in decimal, padded by a seed-derived tail. */
    int n = snprintf(key, 48, "k%llu-", (unsigned long long)id);
    size_t pad = 4 + (id * 2654435761u) % 32;
    for (size_t i = 0; i < pad; i++)
        key[n + i] = (char)('a' + (id + i) % 26);
    key[n + pad] = 0;
}

static entry **find_slot(table *t, const char *key, uint64_t hash) {
    entry **slot = &t->buckets[hash & t->mask];
    while (*slot != NULL && ((*slot)->hash != hash || strcmp((*slot)->key, key) != 0))
        slot = &(*slot)->next;
    return slot;
}

static void insert(table *t, const char *key, uint64_t hash, bench_rng *rng) {
    entry *e = bench_malloc(sizeof *e);
    e->key = bench_strdup(key);
    e->hash = hash;
    e->version = 0;
    e->value_size = 16 + (uint32_t)bench_below(rng, 184);
    e->value = bench_malloc(e->value_size);
    fill_value(e);
    entry **slot = find_slot(t, key, hash);
    e->next = NULL;
    *slot = e;
    t->count++;
}

static void destroy(entry *e) {
    bench_free(e->key);
    bench_free(e->value);
    bench_free(e);
}

int main(int argc, char **argv) {
    double scale = bench_scale(argc, argv);
    uint64_t live_target = (uint64_t)(500000 * (scale < 1 ? scale : 1.0));
    uint64_t churn = (uint64_t)(400000 * scale);
    /* Ids 0..universe-1; about live_target of them present at any time. */
    uint64_t universe = live_target * 2;
    bench_rng rng = {0x4b56ull};
    table t = {0};
    size_t buckets = 1;
    while (buckets < live_target)
        buckets <<= 1;
    bench_begin();
    t.buckets = bench_calloc(buckets, sizeof *t.buckets);
    t.mask = buckets - 1;
    uint8_t *present = bench_calloc(universe, 1);
    char key[64];
    int ok = 1;
    uint64_t checksum = 0, shadow = 0;
    for (uint64_t id = 0; id < universe; id += 2) {
        make_key(id, key);
        insert(&t, key, hash_key(key), &rng);
        present[id] = 1;
        shadow++;
    }
    for (uint64_t op = 0; op < churn; op++) {
        uint64_t id = bench_below(&rng, universe);
        make_key(id, key);
        uint64_t hash = hash_key(key);
        entry **slot = find_slot(&t, key, hash);
        ok &= (*slot != NULL) == present[id];
        if (*slot == NULL) {
            insert(&t, key, hash, &rng);
            present[id] = 1;
            shadow++;
        } else if (bench_below(&rng, 3) == 0) {
            entry *e = *slot;
            ok &= value_ok(e);
            e->version++;
            e->value_size = 16 + (uint32_t)bench_below(&rng, 400);
            e->value = bench_realloc(e->value, e->value_size);
            fill_value(e);
        } else {
            entry *e = *slot;
            ok &= value_ok(e);
            checksum += e->value_size;
            *slot = e->next;
            destroy(e);
            t.count--;
            present[id] = 0;
            shadow--;
        }
    }
    ok &= t.count == shadow;
    for (size_t b = 0; b < buckets; b++) {
        for (entry *e = t.buckets[b], *next; e != NULL; e = next) {
            next = e->next;
            ok &= value_ok(e);
            checksum += e->version;
            destroy(e);
        }
    }
    bench_free(t.buckets);
    bench_free(present);
    return bench_report("kv", ok, checksum);
}
