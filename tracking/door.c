/* door.c - librallo's side of the door (door.h): the table of what the
 * report libraries may do, filled at build time. */
#include "door.h"
#include "fork.h"
#include "free_sites.h"
#include "lifetime.h"
#include "options.h"
#include "thread.h"
#include "tracking.h"
#include "unwind/unwind.h"

/* The guard is inline for librallo's own files; the report libraries get
 * functions. */
static bool door_guard_enter(void) {
    return _rallo_guard_enter();
}
static void door_guard_leave(void) {
    _rallo_guard_leave();
}

/* allocator/census-ages.c: weak, so that tracking/ links alone (its tests)
 * with the entry NULL. */
#pragma weak _rallo_census_ages

static bool door_lifetimes_on(void) {
    return _rallo_lt_on();
}

static bool door_free_sites_on(void) {
    return _rallo_fs_on();
}

static const rallo_door door = {
    .version = RALLO_DOOR_VERSION,
    .size = sizeof(rallo_door),
    .tracking_set = _rallo_tracking_set,
    .guard_enter = door_guard_enter,
    .guard_leave = door_guard_leave,
    .getenv = _rallo_getenv,
    .parse_bool = _rallo_parse_bool,
    .parse_size = _rallo_parse_size,
    .signal_take = _rallo_signal_take,
    .warn = _rallo_warn,
    .site_count = _rallo_site_count,
    .site_frames = _rallo_site_frames,
    .sites_snapshot = _rallo_sites_snapshot,
    .peak_live_bytes = _rallo_peak_live_bytes,
    .peak_sites = _rallo_peak_sites,
    .stacks_cut_short = _rallo_stacks_cut_short,
    .fork_handlers_add = _rallo_fork_forward_add,
    .lifetimes_on = door_lifetimes_on,
    .lt_thread_count = _rallo_lt_thread_count,
    .lt_thread_record = _rallo_lt_thread_record,
    .lt_thread_site = _rallo_lt_thread_site,
    .lt_stamp_now = _rallo_lt_stamp_now,
    .lt_ns_of_units = _rallo_lt_ns_of_units,
    .lt_thread_name = _rallo_lt_thread_name,
    .census_ages = _rallo_census_ages,
    .free_sites_on = door_free_sites_on,
    .fs_table_count = _rallo_fs_table_count,
    .fs_table = _rallo_fs_table,
};

const rallo_door *_rallo_door_get(void) {
    return &door;
}
