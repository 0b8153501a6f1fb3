/* door.h - the one door between librallo.so and the report libraries
 * (librallo-report.so, librallo-symbolize.so, librallo-http.so): a table of
 * what tracking/ lets them do, with a version and a size. librallo fills it
 * (tracking/door.c) and exports one symbol to reach it, _rallo_door_get;
 * each report library checks it when it is loaded (report/inproc/door.c) and
 * calls only through it. A library built against another version says so in
 * one line and does nothing: no dump, never a crash. */
#ifndef RALLO_DOOR_H
#define RALLO_DOOR_H

#include <stdbool.h>
#include <stdint.h>

#include "depot.h"      /* site ids, RALLO_MAX_DEPTH */
#include "free_sites.h" /* rallo_fs_table */
#include "lifetime.h"   /* rallo_lt_thread, rallo_lt_site */
#include "read_side.h"  /* rallo_site_sums, _rallo_site_figures */

/* Raised whenever a field is added, removed or changes meaning. */
#define RALLO_DOOR_VERSION 3u

typedef struct rallo_door {
    /* version and size come first in every version, so that any two
     * libraries can compare them. */
    uint32_t version; /* RALLO_DOOR_VERSION of the librallo that filled it */
    uint32_t size;    /* sizeof(rallo_door) there */
    /* Tracking on or off (the toggle signal). */
    void (*tracking_set)(bool on);
    /* This thread's guard (thread.h): held while the report libraries work,
     * so that what they allocate is rallo's own memory, untracked. */
    bool (*guard_enter)(void);
    void (*guard_leave)(void);
    /* The environment and its parsers (options.h). */
    const char *(*getenv)(const char *name);
    bool (*parse_bool)(const char *text, bool *out);
    bool (*parse_size)(const char *text, uint64_t *out);
    int (*signal_take)(int signo, void (*handler)(int), const char *variable);
    void (*warn)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
    /* The read side (depot.h, read_side.h, unwind/unwind.h). */
    uint32_t (*site_count)(void);
    const uintptr_t *(*site_frames)(uint32_t site_id, uint32_t *depth);
    uint32_t (*sites_snapshot)(rallo_site_sums *out, uint32_t n);
    uint64_t (*peak_live_bytes)(void);
    uint32_t (*peak_sites)(uint64_t *out, uint32_t n, uint64_t *at_peak);
    uint64_t (*stacks_cut_short)(void);
    /* fork handlers, run around fork() with librallo's load lock held
     * (fork.h): what a report library registers instead of pthread_atfork. */
    int (*fork_handlers_add)(void (*prepare)(void), void (*parent)(void), void (*child)(void));
    /* Sizes, lifetimes, temporaries and threads (lifetime.h), when
     * RALLO_LIFETIMES is on: the thread records, a site's entry in one, the
     * clock, a thread's name, and the ages of the calling thread's live blocks
     * (NULL where tracking/ is linked without allocator/). */
    bool (*lifetimes_on)(void);
    uint32_t (*lt_thread_count)(void);
    const rallo_lt_thread *(*lt_thread_record)(uint32_t slot);
    const rallo_lt_site *(*lt_thread_site)(const rallo_lt_thread *record, uint32_t site_id);
    uint64_t (*lt_stamp_now)(void);
    uint64_t (*lt_ns_of_units)(uint64_t units);
    bool (*lt_thread_name)(const rallo_lt_thread *record, char *out, size_t room);
    int (*census_ages)(uint64_t *ages_weight, uint32_t nsites);
    /* Who frees (free_sites.h), when RALLO_FREE_SITES is on: the pair tables
     * (table(i) NULL for one not claimed). */
    bool (*free_sites_on)(void);
    uint32_t (*fs_table_count)(void);
    const rallo_fs_table *(*fs_table)(uint32_t index);
} rallo_door;

/* ---- librallo's side (tracking/door.c) ---- */
/* The table, the same for the process's life. */
const rallo_door *_rallo_door_get(void) rallo_export;

/* ---- each report library's side (report/inproc/door.c) ---- */
/* The table once checked; NULL before the check, or after a mismatch. */
extern const rallo_door *_rallo_door rallo_internal;
/* Checks librallo's table (once; the first call says what is wrong in one
 * line): true when this library may use it. */
bool _rallo_door_open(void) rallo_internal;
/* The same answer, asked by the librallo that loaded the library (loader.c)
 * before it uses the library at all. */
bool _rallo_report_door_open(void) rallo_export;

#endif
