/* cfi_compile.c - the call-frame rule at one pc, from the module's .eh_frame:
 * .eh_frame_hdr's sorted search table names the FDE of the function holding
 * the pc, and that FDE's program is run up to the pc into one cfi_row
 * (unwind_dwarf.h). Nothing is compiled ahead and nothing is allocated: the
 * unwinder's per-thread caches keep the rows of the return addresses it
 * meets, so only functions actually on a stack are ever read (a whole-module
 * table cost every process 5-9 MiB on nginx and PostgreSQL). Reads of the
 * module go through checked readers: a malformed .eh_frame gives no rule,
 * never a read outside the module's segments. */
#include <string.h>

#include "unwind_dwarf.h"

/* DWARF register numbers on x86-64 and the call-frame opcodes we follow. */
#define DW_REG_RBP 6
#define DW_REG_RSP 7
#define DW_REG_RA 16

#define DW_EH_PE_omit 0xff
#define DW_EH_PE_absptr 0x00
#define DW_EH_PE_uleb128 0x01
#define DW_EH_PE_udata2 0x02
#define DW_EH_PE_udata4 0x03
#define DW_EH_PE_udata8 0x04
#define DW_EH_PE_sleb128 0x09
#define DW_EH_PE_sdata2 0x0a
#define DW_EH_PE_sdata4 0x0b
#define DW_EH_PE_sdata8 0x0c
#define DW_EH_PE_pcrel 0x10
#define DW_EH_PE_datarel 0x30

#define DW_OP_deref 0x06
#define DW_OP_breg6 0x76

typedef struct reader {
    const cfi_source *source;
    const uint8_t *at, *end; /* end: the bound of the current record */
    bool failed;
} reader;

/* Is [p, p + n) inside one readable segment of the module? */
static bool source_readable(const cfi_source *source, const void *p, size_t n) {
    uintptr_t start = (uintptr_t)p;
    for (uint32_t i = 0; i < source->segment_count; i++)
        if (start >= source->segment_start[i] && n <= source->segment_end[i] - start)
            return true;
    return false;
}

static bool reader_take(reader *r, void *out, size_t n) {
    if (r->failed || (size_t)(r->end - r->at) < n) {
        r->failed = true;
        memset(out, 0, n);
        return false;
    }
    memcpy(out, r->at, n);
    r->at += n;
    return true;
}
/* An unsigned integer of `bytes` (1, 2, 4 or 8) bytes, in the target's byte
 * order (.eh_frame is the running process's own); 0 past the end. */
static uint64_t read_unsigned(reader *r, size_t bytes) {
    union {
        uint8_t u8;
        uint16_t u16;
        uint32_t u32;
        uint64_t u64;
    } v;
    reader_take(r, &v, bytes);
    switch (bytes) {
    case 1: return v.u8;
    case 2: return v.u16;
    case 4: return v.u32;
    default: return v.u64;
    }
}
static uint8_t read_u8(reader *r) {
    return (uint8_t)read_unsigned(r, 1);
}
static uint64_t read_uleb(reader *r) {
    uint64_t value = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t byte = read_u8(r);
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80) || r->failed)
            return value;
    }
    r->failed = true;
    return 0;
}
static int64_t read_sleb(reader *r) {
    int64_t value = 0;
    unsigned shift = 0;
    uint8_t byte;
    do {
        byte = read_u8(r);
        if (shift < 64)
            value |= (int64_t)((uint64_t)(byte & 0x7f) << shift);
        shift += 7;
    } while ((byte & 0x80) && !r->failed && shift < 70);
    if (shift < 64 && (byte & 0x40))
        value = (int64_t)((uint64_t)value | ~(uint64_t)0 << shift); /* sign-extend */
    return value;
}

/* A pointer in one of the encodings .eh_frame uses. `datarel` is the base of
 * DW_EH_PE_datarel (the .eh_frame_hdr). Indirection is not followed (only the
 * personality uses it, and that value is skipped). */
static uintptr_t read_encoded(reader *r, uint8_t encoding, uintptr_t datarel) {
    uintptr_t here = (uintptr_t)r->at;
    uint64_t value = 0;
    switch (encoding & 0x0f) {
    case DW_EH_PE_absptr:
    case DW_EH_PE_udata8:
    case DW_EH_PE_sdata8: value = read_unsigned(r, 8); break;
    case DW_EH_PE_uleb128: value = read_uleb(r); break;
    case DW_EH_PE_sleb128: value = (uint64_t)read_sleb(r); break;
    case DW_EH_PE_udata2: value = read_unsigned(r, 2); break;
    case DW_EH_PE_sdata2: value = (uint64_t)(int64_t)(int16_t)read_unsigned(r, 2); break;
    case DW_EH_PE_udata4: value = read_unsigned(r, 4); break;
    case DW_EH_PE_sdata4: value = (uint64_t)(int64_t)(int32_t)read_unsigned(r, 4); break;
    default: r->failed = true; return 0;
    }
    switch (encoding & 0x70) {
    case 0: break;
    case DW_EH_PE_pcrel: value += here; break;
    case DW_EH_PE_datarel: value += datarel; break;
    default: r->failed = true; return 0;
    }
    return (uintptr_t)value;
}

/* Opens a reader on the length-prefixed record (CIE or FDE) at p: its body
 * runs from after the length to the record's end. */
static bool record_open(const cfi_source *source, const uint8_t *p, reader *r) {
    uint32_t length32;
    if (!source_readable(source, p, 4))
        return false;
    memcpy(&length32, p, 4);
    if (length32 == 0 || length32 == 0xffffffffu) /* terminator, or 64-bit DWARF (never in .eh_frame) */
        return false;
    if (!source_readable(source, p + 4, length32))
        return false;
    *r = (reader){.source = source, .at = p + 4, .end = p + 4 + length32};
    return true;
}

/* The rules at one point of a function's program. */
typedef struct cfi_state {
    int64_t cfa_offset;
    int64_t rbp_offset;
    uint8_t cfa_register; /* DWARF number, when cfa_expression is CFI_CFA_UNKNOWN and not set */
    bool cfa_by_expression;
    uint8_t cfa_expression_rule; /* a cfi_cfa_rule when cfa_by_expression */
    uint8_t rbp_rule;
    bool outermost; /* the return address is undefined: the stack ends here (_start, thread start) */
} cfi_state;

typedef struct cie_info {
    const uint8_t *address;
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_encoding;
    bool augmented;    /* 'z': FDEs carry an augmentation length */
    bool signal_frame; /* 'S': a signal trampoline's frame, not followed */
    bool usable;
    cfi_state initial;
} cie_info;

#define CFI_REMEMBER_DEPTH 8

/* Finds the row in force at one pc (an offset from the module's map start)
 * while an FDE's program runs: each rule that starts at or below the target
 * replaces the last. */
typedef struct row_builder {
    uintptr_t map_start;
    uint32_t target;
    bool found;
    cfi_row row;
} row_builder;

static cfi_row row_of(const cfi_state *state, uint32_t pc) {
    cfi_row row = {.pc = pc};
    if (state->outermost) {
        row.cfa_rule = CFI_CFA_UNKNOWN;
    } else if (state->cfa_by_expression) {
        row.cfa_rule = state->cfa_expression_rule;
    } else if (state->cfa_register == DW_REG_RSP) {
        row.cfa_rule = CFI_CFA_RSP;
    } else if (state->cfa_register == DW_REG_RBP) {
        row.cfa_rule = CFI_CFA_RBP;
    }
    if (state->cfa_offset < INT32_MIN || state->cfa_offset > INT32_MAX)
        row.cfa_rule = CFI_CFA_UNKNOWN;
    row.cfa_offset = row.cfa_rule == CFI_CFA_UNKNOWN ? 0 : (int32_t)state->cfa_offset;
    if (state->outermost)
        row.cfa_rule = CFI_CFA_OUTERMOST;
    row.rbp_rule = state->rbp_rule;
    if (state->rbp_rule == CFI_RBP_AT_CFA || state->rbp_rule == CFI_RBP_AT_RBP) {
        if (state->rbp_offset < INT16_MIN || state->rbp_offset > INT16_MAX)
            row.rbp_rule = CFI_RBP_UNKNOWN;
        else
            row.rbp_offset = (int16_t)state->rbp_offset;
    }
    return row;
}

/* The rule `state` holds from `pc` on. */
static void rows_emit(row_builder *b, const cfi_state *state, uintptr_t pc) {
    if (pc < b->map_start || pc - b->map_start > b->target)
        return;
    b->row = row_of(state, (uint32_t)(pc - b->map_start));
    b->found = true;
}

/* Past the target: no later rule can be the one in force there. */
static bool rows_past(const row_builder *b, uintptr_t pc) {
    return pc >= b->map_start && pc - b->map_start > b->target;
}

/* Reads a DWARF expression block and recognizes the one CFA form compiled
 * code needs (DW_OP_breg6 k; DW_OP_deref) and the one rbp form (DW_OP_breg6 k).
 * Returns false for anything else. */
static bool expression_breg6(reader *r, bool want_deref, int64_t *offset) {
    uint64_t length = read_uleb(r);
    if (r->failed || length > (uint64_t)(r->end - r->at)) {
        r->failed = true;
        return false;
    }
    reader block = *r;
    block.end = r->at + length;
    r->at += length;
    if (read_u8(&block) != DW_OP_breg6)
        return false;
    *offset = read_sleb(&block);
    if (want_deref && read_u8(&block) != DW_OP_deref)
        return false;
    return !block.failed && block.at == block.end;
}

/* Runs a CFA program. With b == NULL (a CIE's initial instructions) no rows
 * are emitted. Returns false on a malformed or unsupported program. */
static bool program_run(reader *r, const cie_info *cie, cfi_state *state, row_builder *b, uintptr_t pc,
                        uintptr_t pc_end) {
    cfi_state remembered[CFI_REMEMBER_DEPTH];
    uint32_t remembered_count = 0;
    while (r->at < r->end && !r->failed) {
        uint8_t op = read_u8(r);
        uint8_t low = op & 0x3f;
        uint64_t reg = 0;
        int64_t offset = 0;
        uint64_t advance = 0;
        switch (op >> 6) {
        case 1: advance = low; goto advance_pc;
        case 2:
            reg = low;
            offset = (int64_t)read_uleb(r) * cie->data_align;
            goto save_at_cfa;
        case 3: reg = low; goto restore;
        default: break;
        }
        switch (op) {
        case 0x00: break; /* nop */
        case 0x01: {      /* set_loc */
            uintptr_t to = read_encoded(r, cie->fde_encoding, 0);
            if (to < pc)
                return false;
            advance = (to - pc) / (cie->code_align ? cie->code_align : 1);
            goto advance_pc;
        }
        case 0x02: advance = read_u8(r); goto advance_pc;
        case 0x03: advance = read_unsigned(r, 2); goto advance_pc;
        case 0x04: advance = read_unsigned(r, 4); goto advance_pc;
        case 0x05:
            reg = read_uleb(r);
            offset = (int64_t)read_uleb(r) * cie->data_align;
            goto save_at_cfa;
        case 0x06: reg = read_uleb(r); goto restore;
        case 0x07: /* undefined */
        case 0x09: /* register: rbp kept in another register */
            reg = read_uleb(r);
            if (op == 0x09)
                read_uleb(r);
            if (reg == DW_REG_RBP)
                state->rbp_rule = CFI_RBP_UNKNOWN;
            if (reg == DW_REG_RA)
                state->outermost = true;
            break;
        case 0x08: /* same_value */
            reg = read_uleb(r);
            if (reg == DW_REG_RBP)
                state->rbp_rule = CFI_RBP_SAME;
            break;
        case 0x0a: /* remember_state */
            if (remembered_count == CFI_REMEMBER_DEPTH)
                return false;
            remembered[remembered_count++] = *state;
            break;
        case 0x0b: /* restore_state */
            if (remembered_count == 0)
                return false;
            *state = remembered[--remembered_count];
            break;
        case 0x0c: /* def_cfa */
            state->cfa_register = (uint8_t)read_uleb(r);
            state->cfa_offset = (int64_t)read_uleb(r);
            state->cfa_by_expression = false;
            break;
        case 0x12: /* def_cfa_sf */
            state->cfa_register = (uint8_t)read_uleb(r);
            state->cfa_offset = read_sleb(r) * cie->data_align;
            state->cfa_by_expression = false;
            break;
        case 0x0d: /* def_cfa_register */
            state->cfa_register = (uint8_t)read_uleb(r);
            state->cfa_by_expression = false;
            break;
        case 0x0e: state->cfa_offset = (int64_t)read_uleb(r); break;
        case 0x13: state->cfa_offset = read_sleb(r) * cie->data_align; break;
        case 0x0f: /* def_cfa_expression */
            state->cfa_by_expression = true;
            state->cfa_expression_rule =
                expression_breg6(r, true, &state->cfa_offset) ? CFI_CFA_DEREF_RBP : CFI_CFA_UNKNOWN;
            break;
        case 0x10: /* expression: the register is saved at the expression's address */
            reg = read_uleb(r);
            if (reg == DW_REG_RBP) {
                state->rbp_rule =
                    expression_breg6(r, false, &state->rbp_offset) ? CFI_RBP_AT_RBP : CFI_RBP_UNKNOWN;
            } else {
                int64_t ignored;
                expression_breg6(r, false, &ignored);
            }
            break;
        case 0x16: { /* val_expression */
            reg = read_uleb(r);
            int64_t ignored;
            expression_breg6(r, false, &ignored);
            if (reg == DW_REG_RBP)
                state->rbp_rule = CFI_RBP_UNKNOWN;
            break;
        }
        case 0x11:
            reg = read_uleb(r);
            offset = read_sleb(r) * cie->data_align;
            goto save_at_cfa;
        case 0x14: /* val_offset: the value, not a save slot */
        case 0x15:
            reg = read_uleb(r);
            if (op == 0x14)
                read_uleb(r);
            else
                read_sleb(r);
            if (reg == DW_REG_RBP)
                state->rbp_rule = CFI_RBP_UNKNOWN;
            break;
        case 0x2e: read_uleb(r); break; /* GNU_args_size */
        case 0x2f:                      /* GNU_negative_offset_extended */
            reg = read_uleb(r);
            offset = -(int64_t)read_uleb(r) * cie->data_align;
            goto save_at_cfa;
        default: return false;
        }
        continue;
    advance_pc:
        /* The rules so far hold from pc up to the new location. */
        if (b != NULL)
            rows_emit(b, state, pc);
        pc += advance * cie->code_align;
        if (b != NULL && (pc >= pc_end || rows_past(b, pc)))
            return !r->failed;
        continue;
    save_at_cfa:
        if (reg == DW_REG_RBP) {
            state->rbp_rule = CFI_RBP_AT_CFA;
            state->rbp_offset = offset;
        }
        continue;
    restore:
        if (reg == DW_REG_RBP) {
            state->rbp_rule = cie->initial.rbp_rule;
            state->rbp_offset = cie->initial.rbp_offset;
        }
    }
    if (b != NULL)
        rows_emit(b, state, pc);
    return !r->failed;
}

static bool cie_parse(const cfi_source *source, const uint8_t *address, cie_info *cie) {
    memset(cie, 0, sizeof *cie);
    cie->address = address;
    reader r;
    if (!record_open(source, address, &r))
        return false;
    uint32_t id;
    reader_take(&r, &id, 4);
    uint8_t version = read_u8(&r);
    if (id != 0 || (version != 1 && version != 3))
        return false;
    const uint8_t *augmentation = r.at;
    while (read_u8(&r) != 0 && !r.failed) {
    }
    if (r.failed || augmentation[0] == 'e') /* "eh": a pre-DWARF2 layout */
        return false;
    cie->code_align = read_uleb(&r);
    cie->data_align = read_sleb(&r);
    uint64_t return_register = version == 1 ? read_u8(&r) : read_uleb(&r);
    if (return_register != DW_REG_RA)
        return false;
    cie->fde_encoding = DW_EH_PE_absptr;
    if (augmentation[0] == 'z') {
        cie->augmented = true;
        uint64_t length = read_uleb(&r);
        if (r.failed || length > (uint64_t)(r.end - r.at))
            return false;
        const uint8_t *data_end = r.at + length;
        /* An unknown letter ends the walk: the length lets us skip the rest. */
        bool known = true;
        for (const uint8_t *c = augmentation + 1; *c != 0 && known && !r.failed; c++) {
            switch (*c) {
            case 'R': cie->fde_encoding = read_u8(&r); break;
            case 'L': read_u8(&r); break;
            case 'P': read_encoded(&r, read_u8(&r) & 0x7f, 0); break;
            case 'S': cie->signal_frame = true; break;
            default: known = false; break;
            }
        }
        if (r.failed)
            return false;
        r.at = data_end;
    }
    /* The initial rules: x86-64 compilers start every CIE with CFA = rsp + 8. */
    cie->initial = (cfi_state){.cfa_register = DW_REG_RSP, .cfa_offset = 8, .rbp_rule = CFI_RBP_SAME};
    if (!program_run(&r, cie, &cie->initial, NULL, 0, 0))
        return false;
    cie->usable = !r.failed && !cie->signal_frame;
    return true;
}

/* Runs the FDE at `fde` up to the target of *b. False when the FDE is
 * malformed or its program cannot be followed; *pc_end_out: one past the
 * function's last byte. */
static bool fde_run(const cfi_source *source, const uint8_t *fde, row_builder *b, uintptr_t *pc_end_out) {
    reader r;
    if (!record_open(source, fde, &r))
        return false;
    const uint8_t *cie_pointer_at = r.at;
    uint32_t cie_offset;
    reader_take(&r, &cie_offset, 4);
    if (cie_offset == 0 || (uintptr_t)cie_pointer_at < cie_offset)
        return false; /* a CIE, not an FDE */
    cie_info cie;
    if (!cie_parse(source, cie_pointer_at - cie_offset, &cie) || !cie.usable)
        return false;
    uintptr_t pc_begin = read_encoded(&r, cie.fde_encoding, 0);
    uintptr_t pc_range = read_encoded(&r, cie.fde_encoding & 0x0f, 0);
    if (cie.augmented) {
        uint64_t length = read_uleb(&r);
        if (r.failed || length > (uint64_t)(r.end - r.at))
            return false;
        r.at += length;
    }
    if (r.failed || pc_range == 0)
        return false;
    *pc_end_out = pc_begin + pc_range;
    uintptr_t target = b->map_start + b->target;
    if (target < pc_begin || target - pc_begin >= pc_range)
        return false; /* the function does not hold the target */
    cfi_state state = cie.initial;
    return program_run(&r, &cie, &state, b, pc_begin, pc_begin + pc_range) && b->found;
}

bool _rallo_cfi_table_open(const cfi_source *source, cfi_table *table) {
    table->entries = NULL;
    table->count = 0;
    const uint8_t *hdr = source->eh_frame_hdr;
    if (hdr == NULL || !source_readable(source, hdr, 4))
        return false;
    reader r = {.source = source, .at = hdr, .end = hdr + 4};
    uint8_t version = read_u8(&r), eh_frame_encoding = read_u8(&r);
    uint8_t count_encoding = read_u8(&r), table_encoding = read_u8(&r);
    /* The search table gcc/ld and lld emit: datarel sdata4 pairs, sorted. */
    if (version != 1 || count_encoding == DW_EH_PE_omit ||
        table_encoding != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
        return false;
    r.end = hdr + 4 + 16;
    if (!source_readable(source, hdr + 4, 16))
        r.end = hdr + 4;
    read_encoded(&r, eh_frame_encoding, (uintptr_t)hdr);
    uint64_t fde_count = read_encoded(&r, count_encoding, (uintptr_t)hdr);
    if (r.failed || fde_count == 0 || fde_count > (1u << 24))
        return false;
    const int32_t *entries = (const int32_t *)r.at;
    if (!source_readable(source, entries, fde_count * 8))
        return false;
    table->entries = entries;
    table->count = (uint32_t)fde_count;
    return true;
}

bool _rallo_cfi_row_at(const cfi_source *source, const cfi_table *table, uintptr_t pc, cfi_row *row) {
    if (table->count == 0 || pc < source->map_start || pc - source->map_start > UINT32_MAX)
        return false;
    /* The last function that starts at or below pc (the table is sorted by
     * start, relative to .eh_frame_hdr). */
    const uint8_t *hdr = source->eh_frame_hdr;
    intptr_t at = (intptr_t)(pc - (uintptr_t)hdr);
    const int32_t *entries = table->entries;
    if (at < entries[0])
        return false;
    uint32_t lo = 0, hi = table->count;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (entries[2 * mid] <= at)
            lo = mid;
        else
            hi = mid;
    }
    row_builder b = {.map_start = source->map_start, .target = (uint32_t)(pc - source->map_start)};
    uintptr_t pc_end = 0;
    if (fde_run(source, hdr + entries[2 * lo + 1], &b, &pc_end)) {
        *row = b.row;
        return true;
    }
    if (pc_end == 0 || pc < pc_end) {
        /* Inside a function whose program we cannot follow: no rule. */
        *row = (cfi_row){.pc = b.target, .cfa_rule = CFI_CFA_UNKNOWN, .rbp_rule = CFI_RBP_UNKNOWN};
        return true;
    }
    return false; /* past the function's end: in no function we know */
}
