/* fork.h - tracking/'s fork handlers, registered once in allocator/init.c:
 * each lock a census, snapshot or peak copy may hold is taken before fork and
 * released (or re-made, in the child) after it. */
#ifndef RALLO_FORK_H
#define RALLO_FORK_H

#include "internal/compiler.h"

/* counters.c: the lock the census and snapshots take. */
void _rallo_counters_atfork_prepare(void) rallo_internal;
void _rallo_counters_atfork_parent(void) rallo_internal;
void _rallo_counters_atfork_child(void) rallo_internal;
/* peak.c: waits for a copy in progress. */
void _rallo_peak_atfork_prepare(void) rallo_internal;
void _rallo_peak_atfork_release(void) rallo_internal;
/* sampler.c's handlers (the sampler's setting lock) are declared with the
 * sampler, in sampler.h. */
#include "sampler.h"

#endif
