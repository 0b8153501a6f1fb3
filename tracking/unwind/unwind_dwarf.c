/* unwind_dwarf.c - the call-frame-information unwinder: from a caller's
 * (pc, sp, rbp), each step finds the pc's module (modules.c), the row that
 * covers it in the module's compiled table, and from it the caller's CFA,
 * return address and rbp. In auto mode a module built with frame pointers is
 * stepped through by its frame records instead. Every stack read is checked
 * to lie between the first caller's sp and the top of this thread's stack,
 * the CFA must rise with each frame, and depth is bounded: a bad table or a
 * corrupt stack gives a shorter stack, never a fault. Rows found are kept in
 * per-thread caches, allocated (from mimalloc directly) on a thread's first
 * unwind and freed when it exits: a thread that never unwinds by CFI pays one
 * pointer of TLS. No allocation and no lock on this path once a module has
 * been compiled and the thread's caches exist. */
#include <mimalloc.h>
#include <string.h>

#include "unwind_dwarf.h"
/* A row as this thread's caches keep it, with what the walk needs to know of
 * its module. An entry holds for the module it was found in: unless that
 * module is pinned (never unloaded), the module holding pc now is looked up
 * and compared, so a module unloaded and another loaded in its place never
 * reuses a row. 24 bytes. */
typedef struct cached_row {
    uintptr_t pc;               /* the return address it is for; 0: empty */
    const rallo_module *module; /* where it was found */
    int32_t cfa_offset;
    int16_t rbp_offset;
    uint8_t cfa_rule;           /* CFI_CFA_UNKNOWN: no row covers pc */
    uint8_t rbp_rule : 2;       /* a cfi_rbp_rule */
    uint8_t frame_pointers : 1; /* the function keeps a frame record at rbp there */
    uint8_t pinned : 1;         /* the module is pinned: pc alone identifies the row */
} cached_row;
_Static_assert(sizeof(cached_row) == 24, "cached_row is meant to be 24 bytes");
_Static_assert(CFI_RBP_UNKNOWN < 4, "rbp rules fit in cached_row.rbp_rule");

/* A thread's caches. previous: the rows of its previous unwind, by depth:
 * consecutive allocations mostly share most of their stack, and looking there
 * first needs no address computed from the pc just read, so the loads of a
 * whole stack can overlap instead of waiting on one another. rows: pc -> row,
 * so a stack not seen just before costs no look-up either. A miss runs the
 * function's CFI program (cfi_compile.c: a binary search of .eh_frame_hdr,
 * the CIE and the FDE read, ~1 us), so the cache holds 1024 rows (24 KiB a
 * thread): nginx's gzip path has ~700 return addresses on its allocation
 * stacks, and with 256 rows the misses were 3.5% of a worker's CPU. */
#define ROW_CACHE_SIZE 1024
/* A multiplicative hash: the hot return addresses of a program lie close
 * together, and their low bits alone collide (json_nofp: 493k misses in 65M
 * frames with pc ^ pc >> 9, 25k with this). */
#define ROW_CACHE_BITS 10
_Static_assert(ROW_CACHE_SIZE == 1u << ROW_CACHE_BITS, "ROW_CACHE_BITS names the size");
static inline uint32_t row_slot(uintptr_t pc) {
    return (uint32_t)((pc * 0x9E3779B97F4A7C15ull) >> (64 - ROW_CACHE_BITS));
}
typedef struct unwind_cache {
    cached_row previous[RALLO_MAX_DEPTH];
    cached_row rows[ROW_CACHE_SIZE];
} unwind_cache;

/* NULL until the thread's first unwind; CACHE_RETIRED once its exit cleanup
 * has freed its caches (an unwind after that goes without). */
#define CACHE_RETIRED ((unwind_cache *)1)
static __thread unwind_cache *thread_cache __attribute__((tls_model("initial-exec")));

/* Caches allocated and not yet freed: one per live thread that has unwound. */
static _Atomic uint32_t caches_live = 0;

static void cache_retire(void *cache) {
    thread_cache = CACHE_RETIRED;
    mi_free(cache);
    atomic_fetch_sub_explicit(&caches_live, 1, memory_order_relaxed);
}

uint32_t _rallo_unwind_caches_live(void) {
    return atomic_load_explicit(&caches_live, memory_order_relaxed);
}

/* The guard is held by our caller (both calls may allocate through malloc).
 * NULL when there is no memory: this unwind, and the next, go without. */
static rallo_noinline unwind_cache *cache_create(void) {
    if (_rallo_thread.exited)
        return NULL; /* past the thread's exit cleanup: a cache would never be freed */
    unwind_cache *cache = mi_zalloc(sizeof *cache);
    if (cache == NULL)
        return NULL;
    /* Retired before mimalloc's own thread cleanup, so the cache still goes
     * back to this thread's heap. */
    if (_rallo_at_thread_exit(cache_retire, cache) != 0) {
        mi_free(cache);
        return NULL;
    }
    atomic_fetch_add_explicit(&caches_live, 1, memory_order_relaxed);
    thread_cache = cache;
    return cache;
}

static inline unwind_cache *cache_of_thread(void) {
    unwind_cache *cache = thread_cache;
    if (rallo_likely(cache > CACHE_RETIRED))
        return cache;
    return cache == NULL ? cache_create() : NULL;
}

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

/* The cached row is the one for return address `pc` in the module there now. */
static inline bool cached_row_holds(const cached_row *entry, uintptr_t pc, unwind_modules *modules) {
    if (entry->pc != pc)
        return false;
    if (rallo_likely(entry->pinned))
        return true;
    const rallo_module_key *key = module_key(modules, pc - 1);
    return key != NULL && entry->module->map_start == key->map_start &&
           entry->module->map_end == key->map_end && entry->module->eh_frame_hdr == key->eh_frame_hdr;
}

/* The row for return address `pc` from its module's table (compiled on first
 * use); false when pc is in no module or the module could not be compiled. */
static rallo_noinline bool row_lookup(uintptr_t pc, unwind_modules *modules, cached_row *out) {
    /* A return address: the call is the instruction before it. */
    const rallo_module_key *key = module_key(modules, pc - 1);
    if (key == NULL)
        return false;
    const rallo_module *module = _rallo_module_get(pc - 1, key);
    if (module == NULL)
        return false;
    cfi_row found;
    cached_row row = {.pc = pc, .module = module, .pinned = module->pinned};
    if (_rallo_module_row(module, pc - 1, &found)) {
        row.cfa_offset = found.cfa_offset;
        row.rbp_offset = found.rbp_offset;
        row.cfa_rule = found.cfa_rule;
        row.rbp_rule = found.rbp_rule & 3;
        row.frame_pointers = cfi_row_is_frame_record(&found);
    } else {
        row.cfa_rule = CFI_CFA_UNKNOWN;
    }
    *out = row;
    return true;
}

/* The row for return address `pc` at `depth`, through the previous unwind's row and the row
 * cache (or, without caches, in `scratch`); NULL when there is none. */
static inline const cached_row *row_find(uintptr_t pc, uint32_t depth, unwind_modules *modules,
                                         unwind_cache *cache, cached_row *scratch) {
    if (rallo_unlikely(cache == NULL))
        return row_lookup(pc, modules, scratch) ? scratch : NULL;
    cached_row *previous = &cache->previous[depth];
    if (rallo_likely(cached_row_holds(previous, pc, modules)))
        return previous;
    cached_row *entry = &cache->rows[row_slot(pc)];
    if (!cached_row_holds(entry, pc, modules) && !row_lookup(pc, modules, entry))
        return NULL;
    *previous = *entry;
    return entry; /* not the copy: a load just after the store would wait on it */
}

/* A word of the stack at `address`, if it lies in [floor, floor + span + 8)
 * and is aligned: one compare for the range. */
static inline bool stack_read(uintptr_t address, uintptr_t floor, uintptr_t span, uintptr_t *value) {
    if (address - floor > span || (address & (sizeof(uintptr_t) - 1)) != 0)
        return false;
    *value = *(const uintptr_t *)address;
    return true;
}

/* How a CFI walk ended: on the stack's first frame (a row that says the
 * return address is undefined), having used rows of pinned modules only. */
typedef struct cfi_walk_end {
    bool outermost, all_pinned;
} cfi_walk_end;

/* The CFI walk from (pc, sp, rbp), pc not yet recorded, filling pcs from
 * `depth` on; stack reads lie in [floor, floor + span + 8). */
static uint32_t cfi_walk(uintptr_t pc, uintptr_t sp, uintptr_t rbp, uintptr_t floor, uintptr_t span,
                         uintptr_t *pcs, uint32_t depth, uint32_t max, uint32_t mode, uint64_t *hash,
                         unwind_cache *cache, unwind_modules *modules, cfi_walk_end *end) {
    cached_row scratch;
    end->outermost = false;
    end->all_pinned = true;
    bool rbp_known = true;
    uint64_t h = *hash;
    while (depth < max && pc >= 4096) {
        pcs[depth++] = pc;
        h = _rallo_stack_hash_step(h, pc);
        if (depth == max)
            break;
        const cached_row *row = row_find(pc, depth - 1, modules, cache, &scratch);
        if (row == NULL)
            break;
        end->all_pinned &= row->pinned;
        end->outermost = row->cfa_rule == CFI_CFA_OUTERMOST;
        uintptr_t cfa, next_rbp = rbp, next_pc;
        if (mode == RALLO_UNWIND_AUTO && row->frame_pointers && rbp_known && rbp >= sp &&
            stack_read(rbp + sizeof(uintptr_t), floor, span, &next_pc)) {
            /* A frame record: [rbp] = caller's rbp, [rbp + 8] = return address. */
            stack_read(rbp, floor, span, &next_rbp);
            cfa = rbp + 2 * sizeof(uintptr_t);
        } else {
            switch (row->cfa_rule) {
            case CFI_CFA_RSP: cfa = sp + (intptr_t)row->cfa_offset; break;
            case CFI_CFA_RBP:
                if (!rbp_known)
                    goto done;
                cfa = rbp + (intptr_t)row->cfa_offset;
                break;
            case CFI_CFA_DEREF_RBP:
                if (!rbp_known || !stack_read(rbp + (intptr_t)row->cfa_offset, floor, span, &cfa))
                    goto done;
                break;
            default: goto done;
            }
            if (cfa <= sp || !stack_read(cfa - sizeof(uintptr_t), floor, span, &next_pc))
                break;
            switch (row->rbp_rule) {
            case CFI_RBP_SAME: break;
            case CFI_RBP_AT_CFA:
                if (!stack_read(cfa + row->rbp_offset, floor, span, &next_rbp))
                    rbp_known = false;
                break;
            case CFI_RBP_AT_RBP:
                if (!rbp_known || !stack_read(rbp + row->rbp_offset, floor, span, &next_rbp))
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
done:
    *hash = h;
    return depth;
}

uint32_t _rallo_unwind_cfi_hashed(uintptr_t pc, uintptr_t sp, uintptr_t rbp, uintptr_t *pcs, uint32_t max,
                                  uint32_t mode, uint64_t *hash) {
    const rallo_thread_state *thread = &_rallo_thread;
    uintptr_t top = thread->stack_hi;
    /* Everything between our own sp and the top is mapped and in use; the
     * first caller's sp is above our own. Reads lie in [floor, top). */
    if (sp < thread->stack_lo || sp >= top || top - sp < sizeof(uintptr_t))
        return 0;
    unwind_modules modules = {0};
    cfi_walk_end end;
    if (max > RALLO_MAX_DEPTH)
        max = RALLO_MAX_DEPTH;
    return cfi_walk(pc, sp, rbp, sp, top - sizeof(uintptr_t) - sp, pcs, 0, max, mode, hash, cache_of_thread(),
                    &modules, &end);
}

#define STARTUP_FRAMES 3
uint32_t _rallo_unwind_records_hashed(uintptr_t fp, uintptr_t last_record, uintptr_t *pcs, uint32_t max,
                                      uint64_t *hash, bool *determined) {
    unwind_cache *cache = cache_of_thread();
    unwind_modules modules = {0};
    cached_row scratch;
    uintptr_t floor = fp, span = last_record + sizeof(uintptr_t) - floor;
    uint64_t h = *hash;
    uint32_t depth = 0;
    if (max > RALLO_MAX_DEPTH)
        max = RALLO_MAX_DEPTH;
    *determined = true;
    while (depth < max) {
        const uintptr_t *record = (const uintptr_t *)fp;
        uintptr_t next = record[0], pc = record[1];
        if (pc < 4096)
            break;
        const cached_row *row = row_find(pc, depth, &modules, cache, &scratch);
        if (row != NULL && !row->frame_pointers && depth + 1 < max) {
            /* pc's function keeps no frame record there: its caller is found
             * by its call-frame information (its sp is just above our record,
             * its rbp the one saved in it). That depends on the stack, not on
             * the return addresses the quick walk hashed, except where the
             * chain of records ends here too and what is left is the start-up
             * code of libc and the program (__libc_start_call_main,
             * __libc_start_main, _start; start_thread, clone3): at most
             * STARTUP_FRAMES frames of pinned modules, ending on the stack's
             * first frame. Each of those has one caller, so the return
             * addresses hashed name the whole stack. */
            bool chain_ends = next <= fp || next > last_record;
            uint32_t from = depth;
            cfi_walk_end end;
            depth = cfi_walk(pc, fp + 2 * sizeof(uintptr_t), next, floor, span, pcs, depth, max,
                             RALLO_UNWIND_AUTO, &h, cache, &modules, &end);
            *determined = chain_ends && end.outermost && end.all_pinned && depth - from <= STARTUP_FRAMES;
            break;
        }
        pcs[depth++] = pc;
        h = _rallo_stack_hash_step(h, pc);
        /* No row (no module, no rule): the stack ends here, as a CFI walk's would. */
        if (row == NULL || next <= fp || next > last_record || (next & (sizeof(uintptr_t) - 1)) != 0)
            break;
        fp = next;
    }
    *hash = h;
    return depth;
}

/* Pinned modules met so far (the program, libc...): most return addresses lie
 * in one, and their text never moves, so they are checked before a look-up. */
#define KNOWN_PINNED 6
static _Atomic(const rallo_module *) known_pinned[KNOWN_PINNED];

/* The module of return address pc, from the walk's last one, the pinned
 * ones, or a look-up. */
static const rallo_module *code_module(uintptr_t pc, const rallo_module **recent) {
    const rallo_module *module = *recent;
    if (module != NULL && _rallo_module_text_holds(module, pc - 1))
        return module;
    for (uint32_t i = 0; i < KNOWN_PINNED; i++) {
        module = atomic_load_explicit(&known_pinned[i], memory_order_acquire);
        if (module == NULL)
            break;
        if (_rallo_module_text_holds(module, pc - 1)) {
            *recent = module;
            return module;
        }
    }
    rallo_module_key key;
    if (!_rallo_module_identify(pc - 1, &key))
        return NULL;
    module = _rallo_module_get(pc - 1, &key);
    if (module == NULL || !_rallo_module_text_holds(module, pc - 1))
        return NULL;
    for (uint32_t i = 0; module->pinned && i < KNOWN_PINNED; i++) {
        const rallo_module *expected = NULL;
        if (atomic_compare_exchange_strong(&known_pinned[i], &expected, module) || expected == module)
            break;
    }
    *recent = module;
    return module;
}

/* Do the bytes before `pc` end in a call instruction? x86-64 calls are
 * e8 rel32, or ff /2 with a register or memory operand (2 to 7 bytes,
 * prefixes before the ff). */
static bool after_call(const uint8_t *pc) {
    if (pc[-5] == 0xe8)
        return true;
    for (int length = 2; length <= 7; length++) {
        const uint8_t *op = pc - length;
        if (op[0] != 0xff || ((op[1] >> 3) & 7) != 2)
            continue;
        uint8_t mod = op[1] >> 6, rm = op[1] & 7;
        int operand = 1; /* the modrm byte */
        if (mod != 3 && rm == 4)
            operand += 1 + (mod == 0 && (op[2] & 7) == 5 ? 4 : 0); /* sib, and its disp32 */
        if (mod == 0 && rm == 5)
            operand += 4; /* rip-relative disp32 */
        operand += mod == 1 ? 1 : mod == 2 ? 4 : 0;
        if (1 + operand == length)
            return true;
    }
    return false;
}

bool _rallo_return_address_ok(uintptr_t pc, const rallo_module **recent) {
    const rallo_module *module = code_module(pc, recent);
    if (module == NULL)
        return false;
    /* The call before it is read only where the code cannot be unmapped
     * meanwhile (a dlclose on another thread), and where it lies in text. */
    if (!module->pinned || !_rallo_module_text_holds(module, pc - 7))
        return true;
    return after_call((const uint8_t *)pc);
}

uint32_t _rallo_unwind_cfi(uintptr_t pc, uintptr_t sp, uintptr_t rbp, uintptr_t *pcs, uint32_t max,
                           uint32_t mode) {
    uint64_t unused_hash = RALLO_STACK_HASH_SEED;
    return _rallo_unwind_cfi_hashed(pc, sp, rbp, pcs, max, mode, &unused_hash);
}
