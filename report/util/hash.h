/* util/hash.h - the report library's hashes: one string hash, one integer
 * mixer, and the per-process random seed every table whose keys come from a
 * profile hashes with, so that keys chosen to collide cannot make it quadratic. */
#ifndef RALLO_UTIL_HASH_H
#define RALLO_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Random, drawn once per process (getrandom; the address of a local and the
 * pid when that fails), the same for every caller. */
uint64_t rallo_hash_seed(void);

/* A 64-bit finalizer (MurmurHash3's): every input bit moves every output bit. */
static inline uint64_t rallo_hash_mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* FNV-1a over len bytes from a seeded start, finished by the mixer (plain
 * FNV's low bits never see the high bits of a byte). */
static inline uint64_t rallo_hash_bytes(uint64_t seed, const char *text, size_t len) {
    uint64_t hash = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < len; i++)
        hash = (hash ^ (unsigned char)text[i]) * 0x100000001b3ull;
    return rallo_hash_mix(hash);
}

/* The same over a NUL-terminated string. */
static inline uint64_t rallo_hash_string(uint64_t seed, const char *text) {
    uint64_t hash = 0xcbf29ce484222325ull ^ seed;
    for (; *text; text++)
        hash = (hash ^ (unsigned char)*text) * 0x100000001b3ull;
    return rallo_hash_mix(hash);
}

#endif
