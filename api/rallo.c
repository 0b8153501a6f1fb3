/* rallo.c - the public API, include/rallo.h, in the header's order: each call
 * delegates to the room that does the work. */
#include "rallo.h"

#include "../allocator/alloc-internal.h"
#include "../report/loader/loader.h"
#include "../tracking/read_side.h"
#include "../tracking/sampler.h"
#include "../tracking/tracking.h"

int rallo_enable(void) {
    if (_rallo_start() != 0)
        return -1;
    _rallo_tracking_set(true);
    return 0;
}

void rallo_disable(void) {
    _rallo_tracking_set(false);
}

int rallo_is_enabled(void) {
    return _rallo_tracking_is_on() ? 1 : 0;
}

int rallo_set_sample_interval(uint64_t bytes) {
    return _rallo_sampler_set_interval(bytes);
}

uint64_t rallo_get_sample_interval(void) {
    return _rallo_sampler_interval();
}

int rallo_dump(const char *path, const char *format) {
    return _rallo_loader_dump(path, format);
}

int rallo_dump_every(double seconds, const char *dir, const char *formats) {
    return _rallo_loader_dump_every(seconds, dir, formats);
}

void rallo_get_totals(rallo_totals *out) {
    _rallo_totals(out);
}

void rallo_get_untracked(rallo_untracked *out) {
    _rallo_untracked_counts(out);
}

int rallo_for_each_site(rallo_site_fn fn, void *arg) {
    return _rallo_sites_each(fn, arg);
}

int rallo_census(rallo_site_fn fn, void *arg) {
    return _rallo_census(fn, arg);
}
