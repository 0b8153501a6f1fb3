/* unwind_dwarf.h - what the CFI unwinder's files share: the compiled row a
 * module's call-frame information becomes (cfi_compile.c), the per-module
 * record that holds those rows (modules.c), and the unwinder (unwind_dwarf.c)
 * that unwind.c calls. x86-64 only: the CFA is always rsp- or rbp-based in
 * compiled code, the return address sits at CFA-8, and rbp is the one callee
 * register an unwinder needs to carry from frame to frame. */
#ifndef RALLO_UNWIND_DWARF_H
#define RALLO_UNWIND_DWARF_H

#include "../tracking.h"
#include "unwind.h"

/* How the CFA of a row is found. */
enum cfi_cfa_rule {
    CFI_CFA_UNKNOWN = 0, /* no rule we can follow: the unwind stops here */
    CFI_CFA_RSP,         /* CFA = rsp + cfa_offset */
    CFI_CFA_RBP,         /* CFA = rbp + cfa_offset */
    CFI_CFA_DEREF_RBP,   /* CFA = *(rbp + cfa_offset): gcc's stack realignment (DRAP) */
    CFI_CFA_OUTERMOST,   /* the return address is undefined: the stack's first frame (_start, clone3) */
};
/* Where the caller's rbp is. */
enum cfi_rbp_rule {
    CFI_RBP_SAME = 0, /* untouched by this function */
    CFI_RBP_AT_CFA,   /* saved at CFA + rbp_offset */
    CFI_RBP_AT_RBP,   /* saved at rbp + rbp_offset (DRAP) */
    CFI_RBP_UNKNOWN,  /* lost: frames that need rbp stop */
};

/* The rule at a pc (an offset from the module's map start) and on up to the
 * function's next change of rule. 12 bytes. */
typedef struct cfi_row {
    uint32_t pc;
    int32_t cfa_offset;
    int16_t rbp_offset;
    uint8_t cfa_rule;
    uint8_t rbp_rule;
} cfi_row;
/* The row of a function that keeps rbp as a frame pointer there: CFA =
 * rbp + 16, the caller's rbp saved at CFA - 16. Its frame record at rbp is
 * then exactly what a frame-pointer walk reads. */
static inline bool cfi_row_is_frame_record(const cfi_row *row) {
    return row->cfa_rule == CFI_CFA_RBP && row->cfa_offset == 16 && row->rbp_rule == CFI_RBP_AT_CFA &&
           row->rbp_offset == -16;
}

/* The input to a look-up: the module's load bias and its readable segments,
 * so every read of its .eh_frame is checked. */
#define CFI_MAX_SEGMENTS 16
typedef struct cfi_source {
    uintptr_t bias, map_start;
    const uint8_t *eh_frame_hdr;
    uint32_t segment_count;
    uintptr_t segment_start[CFI_MAX_SEGMENTS], segment_end[CFI_MAX_SEGMENTS];
} cfi_source;
/* .eh_frame_hdr's search table, in the module's own (file-backed) memory:
 * count pairs of (function start, FDE address), relative to the header. */
typedef struct cfi_table {
    const int32_t *entries;
    uint32_t count;
} cfi_table;

/* cfi_compile.c: finds the search table; false when the module has none we
 * can use. Call with the module pinned (inside dl_iterate_phdr). */
bool _rallo_cfi_table_open(const cfi_source *source, cfi_table *table) rallo_internal;
/* The rule in force at pc (an address inside the module), from the FDE of
 * the function that holds it: its program is run up to pc. False when no
 * function holds pc; a row of rule CFI_CFA_UNKNOWN when one does but its
 * program cannot be followed. Reads the module: pc must be a return address
 * on a live stack (its module cannot be unloaded meanwhile). Allocates
 * nothing, takes no lock. */
bool _rallo_cfi_row_at(const cfi_source *source, const cfi_table *table, uintptr_t pc,
                       cfi_row *row) rallo_internal;

/* A module met by an unwind. Never freed (a cached row may point at it);
 * identified by what _dl_find_object reports, so a module loaded again
 * elsewhere gets a record of its own. About 330 bytes: no rows are kept here
 * (cfi_compile.c finds them on demand, the unwinder's caches keep them). */
#define MODULE_MAX_TEXT 4
typedef struct rallo_module {
    uintptr_t map_start, map_end;
    const void *eh_frame_hdr;
    cfi_source source;
    cfi_table table; /* count 0: no usable CFI */
    /* Its executable segments: a return address lies in one. */
    uint32_t text_count;
    uintptr_t text_start[MODULE_MAX_TEXT], text_end[MODULE_MAX_TEXT];
    /* Never unloaded while librallo is: the main program and librallo's own
     * dependencies (libc, the loader, libmimalloc, librallo). A return address
     * once found in one is found there for good, so a cached row for it needs
     * no look-up of the module to be trusted again, and its code can be read. */
    bool pinned;
} rallo_module;

/* modules.c: what names a loaded module (as _dl_find_object reports it: a
 * module loaded again elsewhere, or another in its place, differs). */
typedef struct rallo_module_key {
    uintptr_t map_start, map_end;
    const void *eh_frame_hdr;
} rallo_module_key;
/* The key of the module that holds pc; false when no module does. Lock-free
 * and async-signal-safe, always current with dlopen/dlclose. */
bool _rallo_module_identify(uintptr_t pc, rallo_module_key *key) rallo_internal;
/* The record for a key just identified from pc, made on first use (inside
 * dl_iterate_phdr: the loader's lock, once per module); NULL when it could
 * not be. The guard must be held. */
const rallo_module *_rallo_module_get(uintptr_t pc, const rallo_module_key *key) rallo_internal;
/* The row for `pc` in a module (see _rallo_cfi_row_at). */
bool _rallo_module_row(const rallo_module *module, uintptr_t pc, cfi_row *row) rallo_internal;
/* Does `pc` lie in one of the module's executable segments? */
bool _rallo_module_text_holds(const rallo_module *module, uintptr_t pc) rallo_internal;

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

/* auto mode's full walk on a miss of the quick walk's memo (unwind_fp.h):
 * from the frame record at fp (in [fp, last_record], as _rallo_fp_start and
 * _rallo_own_frames_skip left it), frame records are followed while the
 * function of each return address keeps one there (its call-frame rule says
 * so), and call-frame information from the first that does not. Hashes as it
 * goes, like _rallo_unwind_cfi_hashed. *determined: the stack found follows
 * from the return addresses the quick walk read alone, so its memo may keep
 * it under the quick walk's hash. */
uint32_t _rallo_unwind_records_hashed(uintptr_t fp, uintptr_t last_record, uintptr_t *pcs, uint32_t max,
                                      uint64_t *hash, bool *determined) rallo_internal;
/* fp mode's check of a return address found by a full walk: it lies in the
 * executable text of a loaded module and, where that code cannot be unloaded
 * meanwhile, follows a call instruction. *recent: the module the walk's last
 * return address was found in (NULL at first). The guard must be held. */
bool _rallo_return_address_ok(uintptr_t pc, const rallo_module **recent) rallo_internal;

/* How many threads hold unwind caches now (each frees its own at exit). */
uint32_t _rallo_unwind_caches_live(void) rallo_internal;

#endif
