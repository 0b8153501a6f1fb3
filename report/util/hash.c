/* util/hash.c - the per-process hash seed (see hash.h). */
#include "util/hash.h"

#include <stdatomic.h>
#include <sys/random.h>
#include <unistd.h>

uint64_t rallo_hash_seed(void) {
    static _Atomic uint64_t seed; /* 0 until drawn; never 0 after */
    uint64_t current = atomic_load_explicit(&seed, memory_order_acquire);
    if (current != 0)
        return current;
    uint64_t fresh;
    if (getrandom(&fresh, sizeof fresh, GRND_NONBLOCK) != sizeof fresh)
        fresh = rallo_hash_mix((uintptr_t)&fresh ^ (uint64_t)getpid());
    fresh |= 1;
    /* Two first callers may race: the first to store wins, both return it. */
    if (!atomic_compare_exchange_strong_explicit(&seed, &current, fresh, memory_order_acq_rel,
                                                 memory_order_acquire))
        return current;
    return fresh;
}
