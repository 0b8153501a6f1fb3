/* tracking.h - what allocator/ needs of tracking/ on the hot path: the on/off
 * flag, the sampler, and (through the headers at the end) the per-thread
 * state, the memo, the depot and the counters. The call map of a tracked
 * malloc is at the top of allocator/tracked.c. tracking/ never calls the
 * allocation entry points; its own memory comes from mimalloc directly. */
#ifndef RALLO_TRACKING_H
#define RALLO_TRACKING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/compiler.h"
#include "options.h"
#include "rallo.h"
#include "thread.h"

/* ---- on/off (state.c) ---- */

/* Guards the allocator's choice between the untracked and the tracked path:
 * one relaxed load of it is all the untracked path pays. */
extern _Atomic int _rallo_tracking_on rallo_internal;
void _rallo_tracking_set(bool on) rallo_internal;
bool _rallo_tracking_is_on(void) rallo_internal;

/* ---- sampling (sampler.h, sampler.c) ----
 * An epoch names the sampling interval a block was sampled under, so its weight
 * can be recomputed exactly when it is freed. Epoch 0: every allocation, weight 1. */
typedef uint8_t rallo_epoch;
/* The weight of a block of `size` bytes sampled in `epoch`, as a count in
 * 1/65536ths and as bytes. Deterministic: alloc and free compute the same. */
void _rallo_weight(rallo_epoch epoch, uint64_t size, uint64_t *count_weight, uint64_t *bytes) rallo_internal;

/* The rest of the hot path. */
#include "counters.h"
#include "memo.h"

#endif
