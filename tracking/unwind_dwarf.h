/* unwind_dwarf.h - what the CFI unwinder's files share: the compiled row a
 * module's call-frame information becomes (cfi_compile.c), the per-module
 * record that holds those rows (modules.c), and the unwinder (unwind_dwarf.c)
 * that unwind.c calls. x86-64 only: the CFA is always rsp- or rbp-based in
 * compiled code, the return address sits at CFA-8, and rbp is the one callee
 * register an unwinder needs to carry from frame to frame. */
#ifndef RALLO_UNWIND_DWARF_H
#define RALLO_UNWIND_DWARF_H

#include "tracking.h"

/* How the CFA of a row is found. */
enum cfi_cfa_rule {
    CFI_CFA_UNKNOWN = 0, /* no rule we can follow: the unwind stops here */
    CFI_CFA_RSP,         /* CFA = rsp + cfa_offset */
    CFI_CFA_RBP,         /* CFA = rbp + cfa_offset */
    CFI_CFA_DEREF_RBP,   /* CFA = *(rbp + cfa_offset): gcc's stack realignment (DRAP) */
};
/* Where the caller's rbp is. */
enum cfi_rbp_rule {
    CFI_RBP_SAME = 0, /* untouched by this function */
    CFI_RBP_AT_CFA,   /* saved at CFA + rbp_offset */
    CFI_RBP_AT_RBP,   /* saved at rbp + rbp_offset (DRAP) */
    CFI_RBP_UNKNOWN,  /* lost: frames that need rbp stop */
};

/* One row of a module's table: the rule from `pc` (an offset from the
 * module's map start) up to the next row's pc. 12 bytes. */
typedef struct cfi_row {
    uint32_t pc;
    int32_t cfa_offset;
    int16_t rbp_offset;
    uint8_t cfa_rule;
    uint8_t rbp_rule;
} cfi_row;

/* A compiled module. Never freed (a stack may name it at any time); identified
 * by what _dl_find_object reports, so a module loaded again elsewhere gets a
 * record of its own. */
typedef struct rallo_module {
    uintptr_t map_start, map_end;
    const void *eh_frame_hdr;
    const cfi_row *rows; /* sorted by pc; NULL when the module has no usable CFI */
    uint32_t row_count;
    bool has_frame_pointers; /* nearly every function keeps rbp as a frame pointer */
    /* Never unloaded while librallo is: the main program and librallo's own
     * dependencies (libc, the loader, libmimalloc, librallo). A return address
     * once found in one is found there for good, so a cached row for it needs
     * no look-up of the module to be trusted again. */
    bool pinned;
} rallo_module;

/* The input to a compile: the module's load bias and its readable segments,
 * so every read of its .eh_frame is checked. */
#define CFI_MAX_SEGMENTS 16
typedef struct cfi_source {
    uintptr_t bias, map_start;
    const uint8_t *eh_frame_hdr;
    uint32_t segment_count;
    uintptr_t segment_start[CFI_MAX_SEGMENTS], segment_end[CFI_MAX_SEGMENTS];
} cfi_source;

/* cfi_compile.c: compiles the module's .eh_frame (through .eh_frame_hdr's
 * search table) into rows allocated with mi_malloc. Returns false (and
 * leaves *module's rows NULL) when there is nothing usable. Call with the
 * guard held and the module pinned (inside dl_iterate_phdr). */
bool _rallo_cfi_compile(const cfi_source *source, rallo_module *module) rallo_internal;

/* modules.c: what names a loaded module (as _dl_find_object reports it: a
 * module loaded again elsewhere, or another in its place, differs). */
typedef struct rallo_module_key {
    uintptr_t map_start, map_end;
    const void *eh_frame_hdr;
} rallo_module_key;
/* The key of the module that holds pc; false when no module does. Lock-free
 * and async-signal-safe, always current with dlopen/dlclose. */
bool _rallo_module_identify(uintptr_t pc, rallo_module_key *key) rallo_internal;
/* The compiled module for a key just identified from pc, compiled on first
 * use; NULL when it could not be. The guard must be held. */
const rallo_module *_rallo_module_get(uintptr_t pc, const rallo_module_key *key) rallo_internal;
/* The row for `pc` in a module; NULL when no row covers it. */
const cfi_row *_rallo_module_row(const rallo_module *module, uintptr_t pc) rallo_internal;

/* unwind_dwarf.c: unwinds from the caller state (pc = a return address, sp =
 * the caller's stack pointer at that return, rbp = its rbp) by call-frame
 * information (mode RALLO_UNWIND_DWARF) or frame pointers where the module
 * keeps them and CFI elsewhere (RALLO_UNWIND_AUTO). pcs[0] is pc; at most
 * min(max, RALLO_MAX_DEPTH) frames. Reads only inside this thread's stack; the
 * caller has learned the stack bounds. On a thread's first call it allocates
 * the thread's caches (with malloc's help: hold the guard). */
uint32_t _rallo_unwind_cfi(uintptr_t pc, uintptr_t sp, uintptr_t rbp, uintptr_t *pcs, uint32_t max,
                           uint32_t mode) rallo_internal;
/* The same, also stepping *hash (_rallo_stack_hash_step, tracking.h) over each
 * frame found, as it is found, so the depot need not walk the stack again:
 * start from RALLO_STACK_HASH_SEED and finish with _rallo_stack_hash_finish. */
uint32_t _rallo_unwind_cfi_hashed(uintptr_t pc, uintptr_t sp, uintptr_t rbp, uintptr_t *pcs, uint32_t max,
                                  uint32_t mode, uint64_t *hash) rallo_internal;

/* How many threads hold unwind caches now (each frees its own at exit). */
uint32_t _rallo_unwind_caches_live(void) rallo_internal;

#endif
