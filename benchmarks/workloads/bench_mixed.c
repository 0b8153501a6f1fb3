/* bench_mixed.c - the mixed workload of the allocator issue: small objects of
 * varied sizes allocated through four call chains ten frames deep, realloc
 * growth, and a phase that holds ~200k live objects. Usage:
 *   bench_mixed [SCALE] [THREADS]
 * THREADS (1 or 2) split the same total work (and the ~200k held objects), so wall(1)/wall(2) is the
 * two-thread throughput ratio. Self-check: every object carries a pattern
 * derived from its identity and is verified before it is freed. */
#include <pthread.h>

#include "bench_common.h"

#define RING_SLOTS 4096
#define HOLD_OBJECTS 200000

typedef struct object {
    uint64_t tag;
    uint32_t size;
    uint8_t body[];
} object;

static size_t pick_size(bench_rng *rng) {
    uint64_t roll = bench_below(rng, 100);
    if (roll < 60)
        return 16 + bench_below(rng, 48); /* tiny */
    if (roll < 90)
        return 64 + bench_below(rng, 192); /* small */
    if (roll < 99)
        return 256 + bench_below(rng, 768); /* medium */
    return 1024 + bench_below(rng, 7168);   /* occasional large */
}

static object *make_object(size_t size, uint64_t tag) {
    object *obj = bench_malloc(size);
    obj->tag = tag;
    obj->size = (uint32_t)size;
    memset(obj->body, (int)(tag & 0xff), size - sizeof(object));
    return obj;
}

static int object_ok(const object *obj, uint64_t tag) {
    size_t body = obj->size - sizeof(object);
    return obj->tag == tag &&
           (body == 0 || (obj->body[0] == (uint8_t)tag && obj->body[body - 1] == (uint8_t)tag));
}

/* Four call chains, ten frames each, so a profiler sees distinct deep stacks. */
/* BENCH_FOUR_CHAINS expands to whole definitions, no ";" after it */
/* clang-format off */
BENCH_FOUR_CHAINS(object *, make_object, parse, cache, session, render)
/* clang-format on */

typedef struct worker {
    unsigned id;
    uint64_t churn, grow, hold;
    uint64_t checksum;
    int ok;
} worker;

/* Churn: a ring of live objects, each new one evicting the oldest. */
static void churn_phase(worker *w, bench_rng *rng) {
    object **ring = bench_calloc(RING_SLOTS, sizeof *ring);
    uint64_t *tags = bench_calloc(RING_SLOTS, sizeof *tags);
    for (uint64_t i = 0; i < w->churn; i++) {
        size_t slot = i % RING_SLOTS;
        if (ring[slot] != NULL) {
            w->ok &= object_ok(ring[slot], tags[slot]);
            w->checksum += ring[slot]->size;
            bench_free(ring[slot]);
        }
        uint64_t tag = bench_next(rng);
        ring[slot] = chains[tag & 3](pick_size(rng), tag);
        tags[slot] = tag;
    }
    for (size_t slot = 0; slot < RING_SLOTS; slot++) {
        if (ring[slot] != NULL) {
            w->ok &= object_ok(ring[slot], tags[slot]);
            bench_free(ring[slot]);
        }
    }
    bench_free(ring);
    bench_free(tags);
}

/* Growth: byte buffers appended to and grown by realloc (x1.5 steps). */
BENCH_NOINLINE static void grow_phase(worker *w, bench_rng *rng) {
    for (uint64_t round = 0; round < w->grow; round++) {
        size_t capacity = 16, length = 0, target = 256 + bench_below(rng, 64 * 1024);
        uint8_t *buffer = bench_malloc(capacity);
        while (length < target) {
            if (length == capacity) {
                capacity += capacity / 2;
                buffer = bench_realloc(buffer, capacity);
            }
            buffer[length] = (uint8_t)(length * 31 + round);
            length++;
        }
        for (size_t i = 0; i < length; i += 97)
            w->ok &= buffer[i] == (uint8_t)(i * 31 + round);
        w->checksum += length;
        bench_free(buffer);
    }
}

/* Hold: ~200k live objects at once, then verified and freed in shuffled order. */
BENCH_NOINLINE static void hold_phase(worker *w, bench_rng *rng) {
    size_t count = w->hold;
    object **held = bench_malloc(count * sizeof *held);
    for (size_t i = 0; i < count; i++)
        held[i] = chains[i & 3](16 + bench_below(rng, 240), i * 0x100000001ull);
    for (size_t i = count; i > 1; i--) {
        size_t j = bench_below(rng, i);
        object *swap = held[i - 1];
        held[i - 1] = held[j];
        held[j] = swap;
    }
    for (size_t i = 0; i < count; i++) {
        uint64_t tag = held[i]->tag;
        w->ok &= (tag >> 32) == (tag & 0xffffffffu) && object_ok(held[i], tag);
        w->checksum += held[i]->size;
        bench_free(held[i]);
    }
    bench_free(held);
}

static pthread_barrier_t start_line;

static void *worker_main(void *arg) {
    worker *w = arg;
    pthread_barrier_wait(&start_line);
    bench_rng rng = {0x5eed0000u + w->id};
    churn_phase(w, &rng);
    grow_phase(w, &rng);
    hold_phase(w, &rng);
    bench_flush_counts();
    return NULL;
}

int main(int argc, char **argv) {
    double scale = bench_scale(argc, argv);
    unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
    if (threads < 1 || threads > 2) {
        fprintf(stderr, "threads must be 1 or 2\n");
        return 2;
    }
    worker workers[2];
    pthread_t ids[2];
    pthread_barrier_init(&start_line, NULL, threads + 1);
    for (unsigned t = 0; t < threads; t++) {
        workers[t] = (worker){.id = t,
                              .ok = 1,
                              .churn = (uint64_t)(7000000 * scale) / threads,
                              .grow = (uint64_t)(3000 * scale) / threads,
                              .hold = (uint64_t)(HOLD_OBJECTS * (scale < 1 ? scale : 1.0)) / threads};
        pthread_create(&ids[t], NULL, worker_main, &workers[t]);
    }
    bench_begin();
    pthread_barrier_wait(&start_line);
    int ok = 1;
    uint64_t checksum = 0;
    for (unsigned t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        ok &= workers[t].ok;
        checksum += workers[t].checksum;
    }
    return bench_report(threads == 1 ? "mixed" : "mixed-2t", ok, checksum);
}
