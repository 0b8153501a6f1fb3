/* bench_small.c - the workload issue 3's reference figures were measured on:
 * 20M small allocations (16..128 bytes) with little work between them, so a
 * profiler's cost per allocation shows in full. Each block is made through one
 * of four call chains ten frames deep and lives in a window of 64 blocks, so
 * every allocation is followed by the free of one made 64 earlier. Usage:
 *   bench_small [SCALE]
 * Self-check: every block carries a tag derived from its identity at both
 * ends, verified before it is freed. */
#include "bench_common.h"

#define WINDOW_SLOTS 64
#define FULL_ALLOCATIONS 20000000

/* A block starts with its tag and ends with the tag's low byte. */
static void *make_block(size_t size, uint64_t tag) {
    uint8_t *block = bench_malloc(size);
    memcpy(block, &tag, sizeof tag);
    block[size - 1] = (uint8_t)tag;
    return block;
}

static int block_ok(const uint8_t *block, size_t size, uint64_t tag) {
    uint64_t stored;
    memcpy(&stored, block, sizeof stored);
    return stored == tag && block[size - 1] == (uint8_t)tag;
}

/* Four call chains, ten frames each, as in bench_mixed. */
/* BENCH_FOUR_CHAINS expands to whole definitions, no ";" after it */
/* clang-format off */
BENCH_FOUR_CHAINS(void *, make_block, token, node, event, entry)
/* clang-format on */

typedef struct window {
    uint8_t *block[WINDOW_SLOTS];
    uint64_t tag[WINDOW_SLOTS];
    uint32_t size[WINDOW_SLOTS];
} window;

/* Verifies, counts and frees the block in one slot (if any). */
static void release_slot(window *live, size_t slot, int *ok, uint64_t *checksum) {
    if (live->block[slot] == NULL)
        return;
    *ok &= block_ok(live->block[slot], live->size[slot], live->tag[slot]);
    *checksum += live->size[slot];
    bench_free(live->block[slot]);
    live->block[slot] = NULL;
}

int main(int argc, char **argv) {
    double scale = bench_scale(argc, argv);
    uint64_t allocations = (uint64_t)(FULL_ALLOCATIONS * scale);
    window live = {0};
    bench_rng rng = {0x5a11b10cull};
    uint64_t checksum = 0, requested = 0;
    int ok = 1;
    bench_begin();
    for (uint64_t i = 0; i < allocations; i++) {
        size_t slot = i % WINDOW_SLOTS;
        release_slot(&live, slot, &ok, &checksum);
        uint64_t tag = bench_next(&rng);
        size_t size = 16 + (size_t)((tag >> 8) % 113); /* 16..128 */
        live.block[slot] = chains[tag & 3](size, tag);
        live.tag[slot] = tag;
        live.size[slot] = (uint32_t)size;
        requested += size;
    }
    for (size_t slot = 0; slot < WINDOW_SLOTS; slot++)
        release_slot(&live, slot, &ok, &checksum);
    /* Every block came back intact, and the sizes freed are the sizes asked for. */
    ok &= checksum == requested && bench_thread_counts.allocs == allocations &&
          bench_thread_counts.frees == allocations;
    return bench_report("small", ok, checksum);
}
