/* unwind_chain.c - the call chain the unwind microbenchmark measures: ten
 * noinline levels, built without frame pointers (see tests/unwind's
 * CMakeLists.txt), each with a stack frame of its own size, so only
 * call-frame information can walk it. */
#include <stdint.h>

typedef uint32_t (*chain_leaf_fn)(void *arg);

#define CHAIN_LEVEL(n, next)                                                                                 \
    __attribute__((noinline)) uint32_t chain_level##n(chain_leaf_fn leaf, void *arg) {                       \
        volatile char pad[16 * n];                                                                           \
        pad[0] = (char)n;                                                                                    \
        uint32_t got = next;                                                                                 \
        __asm__ volatile("" ::"r"(pad) : "memory");                                                          \
        return got + (uint32_t)pad[0] - (uint32_t)n;                                                         \
    }

uint32_t chain_level1(chain_leaf_fn leaf, void *arg);
CHAIN_LEVEL(10, leaf(arg))
CHAIN_LEVEL(9, chain_level10(leaf, arg))
CHAIN_LEVEL(8, chain_level9(leaf, arg))
CHAIN_LEVEL(7, chain_level8(leaf, arg))
CHAIN_LEVEL(6, chain_level7(leaf, arg))
CHAIN_LEVEL(5, chain_level6(leaf, arg))
CHAIN_LEVEL(4, chain_level5(leaf, arg))
CHAIN_LEVEL(3, chain_level4(leaf, arg))
CHAIN_LEVEL(2, chain_level3(leaf, arg))
CHAIN_LEVEL(1, chain_level2(leaf, arg))
