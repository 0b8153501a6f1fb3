/* inline_fixture.c - code whose symbols test_symbolize knows exactly: a
 * return address inside outer_function, at a call that middle_inlined (always
 * inlined into it) makes to leaf_capture. The LINE_ markers name the lines. */
#include <stdint.h>

#include "inline_fixture.h"

volatile int fixture_sink;

__attribute__((noinline)) uintptr_t leaf_capture(void) {
    fixture_sink++;
    return (uintptr_t)__builtin_return_address(0);
}

static inline __attribute__((always_inline)) uintptr_t middle_inlined(void) {
    uintptr_t pc = leaf_capture(); /* LINE_MIDDLE_CALL */
    fixture_sink++;
    return pc;
}

__attribute__((noinline)) uintptr_t outer_function(void) {
    uintptr_t pc = middle_inlined(); /* LINE_OUTER_CALL */
    fixture_sink++;
    return pc;
}

/* A return address into a plain (not inlined) caller. */
__attribute__((noinline)) uintptr_t plain_caller(void) {
    uintptr_t pc = leaf_capture(); /* LINE_PLAIN_CALL */
    fixture_sink++;
    return pc;
}
