/* unwind.h - what the rest of rallo asks of the unwinders (unwind.c): the
 * call site of the allocation being tracked, by frame pointers or by
 * call-frame information (RALLO_UNWIND). The inline frame-pointer capture
 * the tracked path uses is in unwind_fp.h; the CFI unwinder's own files
 * share unwind_dwarf.h. */
#ifndef RALLO_UNWIND_H
#define RALLO_UNWIND_H

#include <stdint.h>

#include "internal/compiler.h"

/* Captures the stack of the allocation entry point that called it (rallo's own
 * frames skipped) and returns its site id: never RALLO_SITE_NONE. */
uint32_t _rallo_capture_site(void) rallo_internal;
/* Finds librallo's own code, whose frames a stack never shows. Once, before
 * the first capture (start.c); later calls return at once. */
void _rallo_unwind_init(void) rallo_internal;
/* Walks frame pointers from `frame`; fills up to `max` return addresses.
 * Reads only inside [stack_lo, stack_hi) of this thread. */
uint32_t _rallo_unwind_fp(void *frame, uintptr_t *pcs, uint32_t max) rallo_internal;
/* How many stack walks of RALLO_UNWIND=fp stopped at a return address that
 * is no code (a frame of code built without frame pointers): stacks cut
 * short, which auto would have given whole. */
uint64_t _rallo_stacks_cut_short(void) rallo_internal;

#endif
