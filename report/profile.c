/* profile.c - a profile's memory: one bump arena of large chunks from mimalloc,
 * so a profile of 50,000 sites is a few allocations and one free. An array
 * larger than a chunk (a snapshot's sites: 4 MB at 50,000) is mapped on its
 * own, its pages populated in one call and unmapped when the profile is freed:
 * the pages come zeroed, so they are not cleared again, and they are not taken
 * one fault at a time (a fault a page cost a scrape of 50,000 sites more than
 * the rest of building it). Chunks, which the snapshot's first allocations
 * take while a dump holds its lock, stay mimalloc's. */
#include <string.h>
#include <sys/mman.h>

#include <mimalloc.h>

#include "writers.h"

#define ARENA_CHUNK_BYTES (256u * 1024u)

typedef struct prof_chunk {
    struct prof_chunk *next;
    size_t used, size;
    bool mapped; /* a big one-off from mmap, of sizeof(prof_chunk) + size bytes */
    _Alignas(16) unsigned char bytes[];
} prof_chunk;

struct rallo_prof_arena {
    prof_chunk *chunks;
};

void rallo_profile_init(rallo_profile *profile) {
    memset(profile, 0, sizeof *profile);
}

/* A big one-off goes behind the current chunk, which keeps its room. */
static void *big_alloc(struct rallo_prof_arena *arena, size_t bytes) {
    if (bytes > SIZE_MAX - sizeof(prof_chunk))
        return NULL;
    void *room = mmap(NULL, sizeof(prof_chunk) + bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (room == MAP_FAILED)
        return NULL;
    prof_chunk *big = room;
    big->used = big->size = bytes;
    big->mapped = true;
    if (arena->chunks != NULL) {
        big->next = arena->chunks->next;
        arena->chunks->next = big;
    } else {
        big->next = NULL;
        arena->chunks = big;
    }
    return big->bytes;
}

void *rallo_profile_alloc(rallo_profile *profile, size_t bytes) {
    if (profile->arena == NULL) {
        profile->arena = mi_zalloc(sizeof *profile->arena);
        if (profile->arena == NULL)
            return NULL;
    }
    bytes = (bytes + 15) & ~(size_t)15;
    if (bytes == 0)
        bytes = 16;
    prof_chunk *chunk = profile->arena->chunks;
    if (bytes > ARENA_CHUNK_BYTES)
        return big_alloc(profile->arena, bytes);
    if (chunk == NULL || chunk->size - chunk->used < bytes) {
        prof_chunk *fresh = mi_malloc(sizeof(prof_chunk) + ARENA_CHUNK_BYTES);
        if (fresh == NULL)
            return NULL;
        fresh->used = 0;
        fresh->size = ARENA_CHUNK_BYTES;
        fresh->mapped = false;
        fresh->next = chunk;
        profile->arena->chunks = chunk = fresh;
    }
    void *p = chunk->bytes + chunk->used;
    chunk->used += bytes;
    memset(p, 0, bytes);
    return p;
}

char *rallo_profile_strdup(rallo_profile *profile, const char *text) {
    if (text == NULL)
        return NULL;
    size_t len = strlen(text) + 1;
    char *copy = rallo_profile_alloc(profile, len);
    if (copy != NULL)
        memcpy(copy, text, len);
    return copy;
}

void rallo_profile_free(rallo_profile *profile) {
    if (profile->arena != NULL) {
        prof_chunk *chunk = profile->arena->chunks;
        while (chunk != NULL) {
            prof_chunk *next = chunk->next;
            if (chunk->mapped)
                munmap(chunk, sizeof(prof_chunk) + chunk->size);
            else
                mi_free(chunk);
            chunk = next;
        }
        mi_free(profile->arena);
    }
    memset(profile, 0, sizeof *profile);
}
