/* bench_prodcons.c - a producer/consumer pair: one thread allocates messages,
 * the other verifies and frees them, so every free is a cross-thread free.
 * A bounded single-producer single-consumer ring passes the pointers; a full
 * or empty ring yields. Self-check: the consumer recomputes each message's
 * contents from its sequence number and the sums of both sides must agree.
 * Usage: bench_prodcons [SCALE] */
#include <pthread.h>
#include <sched.h>

#include "bench_common.h"

#define RING 8192

typedef struct message {
    uint64_t seq;
    uint32_t size;
    uint8_t body[];
} message;

static message *_Atomic ring[RING];
static _Atomic uint64_t head, tail; /* head: next to write; tail: next to read */
static uint64_t total_messages;
static uint64_t produced_sum, consumed_sum;
static int consumer_ok = 1;
static pthread_barrier_t start_line;

static uint8_t body_byte(uint64_t seq, size_t i) {
    return (uint8_t)(seq * 7 + i);
}

static void *producer(void *arg) {
    (void)arg;
    bench_rng rng = {0x9c0dull};
    pthread_barrier_wait(&start_line);
    for (uint64_t seq = 0; seq < total_messages; seq++) {
        uint64_t roll = bench_below(&rng, 100);
        size_t body = roll < 70   ? 8 + bench_below(&rng, 120)
                      : roll < 98 ? 128 + bench_below(&rng, 896)
                                  : 1024 + bench_below(&rng, 15360);
        message *m = bench_malloc(sizeof *m + body);
        m->seq = seq;
        m->size = (uint32_t)body;
        for (size_t i = 0; i < body; i += 16)
            m->body[i] = body_byte(seq, i);
        produced_sum += body;
        uint64_t at = atomic_load_explicit(&head, memory_order_relaxed);
        while (at - atomic_load_explicit(&tail, memory_order_acquire) >= RING)
            sched_yield();
        atomic_store_explicit(&ring[at % RING], m, memory_order_relaxed);
        atomic_store_explicit(&head, at + 1, memory_order_release);
    }
    bench_flush_counts();
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    pthread_barrier_wait(&start_line);
    for (uint64_t seq = 0; seq < total_messages; seq++) {
        while (atomic_load_explicit(&head, memory_order_acquire) == seq)
            sched_yield();
        message *m = atomic_load_explicit(&ring[seq % RING], memory_order_relaxed);
        atomic_store_explicit(&tail, seq + 1, memory_order_release);
        int ok = m->seq == seq;
        for (size_t i = 0; i < m->size; i += 16)
            ok &= m->body[i] == body_byte(seq, i);
        consumer_ok &= ok;
        consumed_sum += m->size;
        bench_free(m);
    }
    bench_flush_counts();
    return NULL;
}

int main(int argc, char **argv) {
    total_messages = (uint64_t)(3000000 * bench_scale(argc, argv));
    pthread_t threads[2];
    pthread_barrier_init(&start_line, NULL, 3);
    pthread_create(&threads[0], NULL, producer, NULL);
    pthread_create(&threads[1], NULL, consumer, NULL);
    bench_begin();
    pthread_barrier_wait(&start_line);
    pthread_join(threads[0], NULL);
    pthread_join(threads[1], NULL);
    int ok = consumer_ok && produced_sum == consumed_sum;
    return bench_report("prodcons", ok, consumed_sum);
}
