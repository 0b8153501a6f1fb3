/* unwind_dwarf.c - the call-frame-information unwinder: from a caller's
 * (pc, sp, rbp), each step finds the pc's module (modules.c), the row that
 * covers it in the module's compiled table, and from it the caller's CFA,
 * return address and rbp. In auto mode a module built with frame pointers is
 * stepped through by its frame records instead. Every stack read is checked
 * to lie between the first caller's sp and the top of this thread's stack,
 * the CFA must rise with each frame, and depth is bounded: a bad table or a
 * corrupt stack gives a shorter stack, never a fault. No allocation and no
 * lock on this path once a module has been compiled. */
#include <string.h>

#include "unwind_dwarf.h"

/* A word of the stack at `address`, if it lies in [floor, top). */
static inline bool stack_read(uintptr_t address, uintptr_t floor, uintptr_t top, uintptr_t *value) {
    if (address < floor || address > top - sizeof(uintptr_t) || (address & (sizeof(uintptr_t) - 1)) != 0)
        return false;
    *value = *(const uintptr_t *)address;
    return true;
}

/* A per-thread cache of pc -> row, so a hot stack costs no binary searches.
 * An entry holds for the module it was found in: its key is checked against
 * what _dl_find_object says now, so a module unloaded and another loaded in
 * its place never reuses a row. Thread-local: no lock, no sharing. */
#define ROW_CACHE_SIZE 256
typedef struct row_cache_entry {
    uintptr_t pc;
    uintptr_t map_start;
    const void *eh_frame_hdr;
    cfi_row row;         /* row.pc unused; cfa_rule CFI_CFA_UNKNOWN: no row */
    bool frame_pointers; /* the module keeps frame pointers */
} row_cache_entry;
static __thread row_cache_entry row_cache[ROW_CACHE_SIZE] __attribute__((tls_model("initial-exec")));

/* The rows of this thread's previous unwind, by depth: consecutive
 * allocations mostly share most of their stack, and looking here first needs
 * no address computed from the pc just read, so the loads of a whole stack
 * can overlap instead of waiting on one another. Checked like the cache. */
#define STACK_MEMO_DEPTH 128
typedef struct stack_memo_entry {
    uintptr_t pc;
    uintptr_t map_start;
    const void *eh_frame_hdr;
    cfi_row row;
    bool frame_pointers;
} stack_memo_entry;
static __thread stack_memo_entry stack_memo[STACK_MEMO_DEPTH] __attribute__((tls_model("initial-exec")));

/* The modules met so far in this unwind, most recent first (map_end 0: none
 * yet). Each has a live frame on this very stack, so no dlclose can unload it
 * while the unwind runs, and a pc inside one's range needs no second look-up
 * (stacks go program -> libc -> program at the top: two are enough). */
typedef struct unwind_modules {
    rallo_module_key recent[2];
} unwind_modules;

static inline bool in_module(const rallo_module_key *key, uintptr_t pc) {
    return pc - key->map_start < key->map_end - key->map_start;
}

/* The module key for return address `pc`: from this unwind's recent ones, or
 * _dl_find_object. NULL when pc is in no module. */
static inline const rallo_module_key *module_key(unwind_modules *modules, uintptr_t pc) {
    if (rallo_likely(in_module(&modules->recent[0], pc)))
        return &modules->recent[0];
    rallo_module_key found;
    if (in_module(&modules->recent[1], pc))
        found = modules->recent[1];
    else if (!_rallo_module_identify(pc, &found))
        return NULL;
    modules->recent[1] = modules->recent[0];
    modules->recent[0] = found;
    return &modules->recent[0];
}

/* The row for return address `pc`, through the memo and the cache; false
 * when pc is in no module. */
static inline bool row_find(uintptr_t pc, uint32_t depth, unwind_modules *modules, cfi_row *row,
                            bool *frame_pointers) {
    /* A return address: the call is the instruction before it. */
    const rallo_module_key *key = module_key(modules, pc - 1);
    if (key == NULL)
        return false;
    stack_memo_entry *memo = depth < STACK_MEMO_DEPTH ? &stack_memo[depth] : NULL;
    if (rallo_likely(memo != NULL && memo->pc == pc && memo->map_start == key->map_start &&
                     memo->eh_frame_hdr == key->eh_frame_hdr)) {
        *row = memo->row;
        *frame_pointers = memo->frame_pointers;
        return true;
    }
    row_cache_entry *entry = &row_cache[(pc ^ (pc >> 9)) & (ROW_CACHE_SIZE - 1)];
    if (rallo_likely(entry->pc == pc && entry->map_start == key->map_start &&
                     entry->eh_frame_hdr == key->eh_frame_hdr)) {
        *row = entry->row;
        *frame_pointers = entry->frame_pointers;
    } else {
        const rallo_module *module = _rallo_module_get(pc - 1, key);
        if (module == NULL)
            return false;
        const cfi_row *found = _rallo_module_row(module, pc - 1);
        *row = found != NULL ? *found : (cfi_row){.cfa_rule = CFI_CFA_UNKNOWN};
        *frame_pointers = module->has_frame_pointers;
        *entry = (row_cache_entry){.pc = pc,
                                   .map_start = key->map_start,
                                   .eh_frame_hdr = key->eh_frame_hdr,
                                   .row = *row,
                                   .frame_pointers = module->has_frame_pointers};
    }
    if (memo != NULL)
        *memo = (stack_memo_entry){.pc = pc,
                                   .map_start = key->map_start,
                                   .eh_frame_hdr = key->eh_frame_hdr,
                                   .row = *row,
                                   .frame_pointers = *frame_pointers};
    return true;
}

uint32_t _rallo_unwind_cfi(uintptr_t pc, uintptr_t sp, uintptr_t rbp, uintptr_t *pcs, uint32_t max,
                           uint32_t mode) {
    const rallo_thread_state *thread = &_rallo_thread;
    uintptr_t top = thread->stack_hi;
    /* Everything between our own sp and the top is mapped and in use; the
     * first caller's sp is above our own. */
    uintptr_t floor = sp;
    if (sp < thread->stack_lo || sp >= top)
        return 0;
    bool rbp_known = true;
    uint32_t depth = 0;
    unwind_modules modules = {0};
    while (depth < max && pc >= 4096) {
        pcs[depth++] = pc;
        cfi_row row;
        bool frame_pointers;
        if (depth == max || !row_find(pc, depth - 1, &modules, &row, &frame_pointers))
            break;
        uintptr_t cfa, next_rbp = rbp, next_pc;
        if (mode == RALLO_UNWIND_AUTO && frame_pointers && rbp_known && rbp >= sp &&
            stack_read(rbp + sizeof(uintptr_t), floor, top, &next_pc)) {
            /* A frame record: [rbp] = caller's rbp, [rbp + 8] = return address. */
            stack_read(rbp, floor, top, &next_rbp);
            cfa = rbp + 2 * sizeof(uintptr_t);
        } else {
            switch (row.cfa_rule) {
            case CFI_CFA_RSP: cfa = sp + (intptr_t)row.cfa_offset; break;
            case CFI_CFA_RBP:
                if (!rbp_known)
                    return depth;
                cfa = rbp + (intptr_t)row.cfa_offset;
                break;
            case CFI_CFA_DEREF_RBP:
                if (!rbp_known || !stack_read(rbp + (intptr_t)row.cfa_offset, floor, top, &cfa))
                    return depth;
                break;
            default: return depth;
            }
            if (cfa <= sp || !stack_read(cfa - sizeof(uintptr_t), floor, top, &next_pc))
                break;
            switch (row.rbp_rule) {
            case CFI_RBP_SAME: break;
            case CFI_RBP_AT_CFA:
                if (!stack_read(cfa + row.rbp_offset, floor, top, &next_rbp))
                    rbp_known = false;
                break;
            case CFI_RBP_AT_RBP:
                if (!rbp_known || !stack_read(rbp + row.rbp_offset, floor, top, &next_rbp))
                    rbp_known = false;
                break;
            default: rbp_known = false; break;
            }
        }
        if (cfa <= sp)
            break;
        sp = cfa;
        rbp = next_rbp;
        pc = next_pc;
    }
    return depth;
}
