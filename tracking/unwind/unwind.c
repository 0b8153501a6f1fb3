/* unwind.c - the frame-pointer unwinder and call-site capture. Every frame is
 * checked against this thread's stack bounds (found once per thread), must lie
 * above the previous one and be aligned; depth is bounded. Code built without
 * frame pointers gives a shorter stack, never a read outside the stack, and
 * never a frame that is not code: the full walk stops at the first return
 * address outside every module's text (or, in code that stays loaded, not
 * after a call), and counts the stacks it so cuts short. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../tracking.h"
#include "unwind_dwarf.h"
#include "unwind_fp.h"

/* librallo's own code: leading frames inside it are the allocator's, not the
 * program's, and never appear in a stack. */
uintptr_t _rallo_own_text_start, _rallo_own_text_end;

typedef struct own_text_search {
    uintptr_t probe;
} own_text_search;

static int own_text_visit(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    own_text_search *search = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD || !(segment->p_flags & PF_X))
            continue;
        uintptr_t start = info->dlpi_addr + segment->p_vaddr;
        uintptr_t end = start + segment->p_memsz;
        if (search->probe >= start && search->probe < end) {
            _rallo_own_text_start = start;
            _rallo_own_text_end = end;
            return 1;
        }
    }
    return 0;
}

void _rallo_unwind_init(void) {
    if (_rallo_own_text_end != 0)
        return;
    own_text_search search = {.probe = (uintptr_t)&_rallo_unwind_init};
    dl_iterate_phdr(own_text_visit, &search);
}

/* The main thread's stack without /proc (glibc's pthread_getattr_np reads
 * /proc/self/maps for it, and a sandbox or a chroot may have none): the kernel
 * puts the program's file name (AT_EXECFN) at the top of the initial stack,
 * above every frame, and the stack can grow down by RLIMIT_STACK from there.
 * Only taken when the calling frame lies between the two. */
static bool main_stack_from_auxv(uintptr_t here, uintptr_t *lo, uintptr_t *hi) {
    if (getpid() != gettid())
        return false;
    uintptr_t top = (uintptr_t)getauxval(AT_EXECFN);
    struct rlimit limit;
    if (top == 0 || getrlimit(RLIMIT_STACK, &limit) != 0)
        return false;
    uintptr_t reach = limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > ((uintptr_t)1 << 32)
                          ? (uintptr_t)1 << 32 /* 4 GiB: far past any real stack */
                          : (uintptr_t)limit.rlim_cur;
    uintptr_t bottom = top > reach ? top - reach : 0;
    if (here <= bottom || here >= top)
        return false;
    *lo = bottom;
    *hi = top;
    return true;
}

rallo_noinline void _rallo_stack_bounds_learn(rallo_thread_state *thread) {
    /* Once per thread. pthread_getattr_np may allocate (and reads /proc for the
     * main thread); the caller holds the guard, so that goes untracked. */
    pthread_attr_t attr;
    void *stack_addr = NULL;
    size_t stack_size = 0;
    /* Until found, bounds no address passes (lo above hi): bounds of 0 would
     * make the highest record 0 - 16, the top of the address space, and let a
     * walk follow any rbp at all. */
    thread->stack_lo = UINTPTR_MAX;
    thread->stack_hi = 0;
    thread->stack_known = 1;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &stack_addr, &stack_size) == 0) {
            thread->stack_lo = (uintptr_t)stack_addr;
            thread->stack_hi = (uintptr_t)stack_addr + stack_size;
        }
        pthread_attr_destroy(&attr);
        return;
    }
    uintptr_t lo, hi;
    if (main_stack_from_auxv((uintptr_t)__builtin_frame_address(0), &lo, &hi)) {
        thread->stack_lo = lo;
        thread->stack_hi = hi;
    }
}

/* Full walks of fp mode that stopped at a return address that is no code. */
static _Atomic uint64_t stacks_cut_short = 0;

uint64_t _rallo_stacks_cut_short(void) {
    return atomic_load_explicit(&stacks_cut_short, memory_order_relaxed);
}

/* The full walk (unwind_fp.h says which checks it adds to the quick one): from
 * the record at fp (checked by _rallo_fp_start), up to max return addresses
 * into pcs, hashed on the way (*hash). With check_code, each return address
 * must pass _rallo_return_address_ok (the caller holds the guard). */
static uint32_t fp_walk(uintptr_t fp, uintptr_t last_record, uintptr_t *pcs, uint32_t max, uint64_t *hash,
                        bool check_code) {
    uintptr_t *out = pcs, *end = pcs + max;
    uint64_t h = *hash;
    const rallo_module *recent = NULL;
    while (out < end) {
        const uintptr_t *record = (const uintptr_t *)fp;
        uintptr_t next = record[0];
        uintptr_t pc = record[1];
        if (rallo_unlikely(pc < 4096))
            break;
        if (check_code && !_rallo_return_address_ok(pc, &recent)) {
            atomic_fetch_add_explicit(&stacks_cut_short, 1, memory_order_relaxed);
            break;
        }
        *out++ = pc;
        h = _rallo_stack_hash_step(h, pc);
        /* Three branches, not one test of or'ed flags: a compare and jump each. */
        if (rallo_unlikely(next <= fp))
            break;
        if (rallo_unlikely(next > last_record))
            break;
        if (rallo_unlikely((next & (sizeof(uintptr_t) - 1)) != 0))
            break;
        fp = next;
    }
    *hash = h;
    return (uint32_t)(out - pcs);
}

uint32_t _rallo_unwind_fp(void *frame, uintptr_t *pcs, uint32_t max) {
    uintptr_t last_record;
    uint64_t unused_hash = 0;
    if (!_rallo_fp_start((uintptr_t)frame, &last_record))
        return 0;
    return fp_walk((uintptr_t)frame, last_record, pcs, max, &unused_hash, false);
}

/* Follows librallo's own frame records (it is built with frame pointers) to
 * the first return address outside it: the program's caller, as its pc, its
 * sp at that return and its rbp (saved in our outermost record). */
static bool own_frames_leave(uintptr_t fp, uintptr_t *pc, uintptr_t *sp, uintptr_t *rbp) {
    uintptr_t last_record;
    if (!_rallo_fp_start(fp, &last_record))
        return false;
    if (!_rallo_own_frames_skip(&fp, last_record, 15))
        return false;
    const uintptr_t *record = (const uintptr_t *)fp;
    *pc = record[1];
    *sp = fp + 2 * sizeof(uintptr_t);
    *rbp = record[0];
    return true;
}

rallo_site_ref _rallo_capture_fp_miss(uintptr_t fp, uintptr_t last_record, uint32_t keep,
                                      rallo_memo_entry *entry, uint64_t quick_hash) {
    uintptr_t pcs[RALLO_MAX_DEPTH];
    uint64_t hash = RALLO_STACK_HASH_SEED;
    uint32_t depth;
    if (_rallo_options.unwind == RALLO_UNWIND_AUTO) {
        bool determined;
        depth = _rallo_unwind_records_hashed(fp, last_record, pcs, keep, &hash, &determined);
        if (!determined) {
            /* Not for the quick walk's memo entry: the memo under the stack's own hash. */
            uint64_t finished = _rallo_stack_hash_finish(hash, depth);
            rallo_memo_entry *own = _rallo_memo_entry(finished);
            uint32_t site_id = _rallo_memo_hit(own, finished);
            if (site_id == 0) {
                site_id = _rallo_depot_intern_hashed(pcs, depth, finished);
                _rallo_memo_fill(own, finished, site_id);
            }
            return (rallo_site_ref){.site_id = site_id, .memo_entry = own};
        }
    } else {
        depth = fp_walk(fp, last_record, pcs, keep, &hash, true);
    }
    uint32_t site_id = _rallo_depot_intern_hashed(pcs, depth, _rallo_stack_hash_finish(hash, depth));
    _rallo_memo_fill(entry, quick_hash, site_id);
    return (rallo_site_ref){.site_id = site_id, .memo_entry = entry};
}

uint32_t _rallo_capture_site(void) {
    uintptr_t pcs[RALLO_MAX_DEPTH + 16];
    uint32_t keep = _rallo_options.depth;
    if (rallo_likely(_rallo_options.unwind != RALLO_UNWIND_DWARF))
        return _rallo_capture_fp((uintptr_t)__builtin_frame_address(0), keep).site_id;
    /* Call-frame information (unwind_dwarf.c) from the program's caller on,
     * hashed as it goes. */
    uintptr_t pc, sp, rbp;
    uint32_t depth = 0;
    uint64_t hash = RALLO_STACK_HASH_SEED;
    if (own_frames_leave((uintptr_t)__builtin_frame_address(0), &pc, &sp, &rbp))
        depth = _rallo_unwind_cfi_hashed(pc, sp, rbp, pcs, keep, _rallo_options.unwind, &hash);
    return _rallo_site_of_stack(pcs, depth, _rallo_stack_hash_finish(hash, depth));
}
