/* profile.c - a profile's memory: one bump arena of large chunks from mimalloc,
 * so a profile of 50,000 sites is a few allocations and one free. */
#include <string.h>

#include <mimalloc.h>

#include "writers.h"

#define ARENA_CHUNK_BYTES (256u * 1024u)

typedef struct prof_chunk {
    struct prof_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char bytes[];
} prof_chunk;

struct rallo_prof_arena {
    prof_chunk *chunks;
};

void rallo_profile_init(rallo_profile *profile) {
    memset(profile, 0, sizeof *profile);
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
    if (chunk == NULL || chunk->size - chunk->used < bytes) {
        size_t size = bytes > ARENA_CHUNK_BYTES ? bytes : ARENA_CHUNK_BYTES;
        prof_chunk *fresh = mi_malloc(sizeof(prof_chunk) + size);
        if (fresh == NULL)
            return NULL;
        fresh->used = 0;
        fresh->size = size;
        /* A big one-off goes behind the current chunk, which keeps its room. */
        if (chunk != NULL && size > ARENA_CHUNK_BYTES) {
            fresh->next = chunk->next;
            chunk->next = fresh;
        } else {
            fresh->next = chunk;
            profile->arena->chunks = fresh;
        }
        chunk = fresh;
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
            mi_free(chunk);
            chunk = next;
        }
        mi_free(profile->arena);
    }
    memset(profile, 0, sizeof *profile);
}
