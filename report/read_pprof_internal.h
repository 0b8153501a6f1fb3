/* read_pprof_internal.h - what the pprof reader's files share (read_pprof.c,
 * the entry points and protobuf-c's memory budget; read_pprof_inflate.c,
 * capped gunzip; read_pprof_ids.c, the id index; read_pprof_messages.c, the
 * messages into a rallo_profile; read_pprof_lifetimes.c, sizes, lifetimes,
 * temporaries and threads): the reader's state and its error line. Not
 * for anyone outside the reader. */
#ifndef RALLO_READ_PPROF_INTERNAL_H
#define RALLO_READ_PPROF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile pb_profile;
typedef Perftools__Profiles__Sample pb_sample;
typedef Perftools__Profiles__Location pb_location;
typedef Perftools__Profiles__Function pb_function;
typedef Perftools__Profiles__Mapping pb_mapping;

/* rallo's four values, in the order of rallo_write_pprof()'s sample types. */
enum { V_ALLOC_COUNT, V_ALLOC_BYTES, V_LIVE_COUNT, V_LIVE_BYTES, V_COUNT };

typedef struct pprof_reader {
    const pb_profile *pb;
    rallo_profile *out;
    char *error;
    size_t error_len;
    char notes[512];            /* what was mapped loosely, handed back on success */
    char **strings;             /* the string table copied into out on first use */
    int value_slot[V_COUNT];    /* sample value index per rallo value, -1: absent */
    uint64_t sums[V_COUNT + 1]; /* every sample's values (and peaks) added up so far */
    bool clamped_negative;
} pprof_reader;

/* ---- read_pprof.c ---- */

/* Sets the reader's error line ("pprof: " and the message); returns false so
 * that a check can end with `return rallo_pprof_fail(...)`. */
bool rallo_pprof_fail(pprof_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds to the notes of what was mapped loosely ("; " between). */
void rallo_pprof_note(pprof_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- read_pprof_inflate.c ---- */

/* Inflates a gzip (or zlib) stream, members one after another, into *out
 * (mi_malloc'd, exactly the inflated size). false with an error when corrupt,
 * truncated, or past cap: a bomb is refused at the cap having allocated
 * nothing. */
bool rallo_pprof_inflate(pprof_reader *r, const unsigned char *data, size_t len, size_t cap,
                         unsigned char **out, size_t *out_len);

/* ---- read_pprof_ids.c ---- */

/* Each id of one kind of message (pprof's are any nonzero numbers) to its index. */
typedef struct pprof_id_entry {
    uint64_t id;
    size_t index;
} pprof_id_entry;

typedef struct pprof_ids {
    uint32_t *dense;         /* ids 1..count: dense[id - 1] = index + 1 */
    pprof_id_entry *sorted;  /* otherwise: every (id, index), by id */
    pprof_id_entry *scratch; /* filled by the caller before rallo_pprof_ids_index */
    size_t count;
} pprof_ids;

/* Ready for count ids: the caller fills scratch[0, count). false when out of memory. */
bool rallo_pprof_ids_init(pprof_ids *x, size_t count);
void rallo_pprof_ids_free(pprof_ids *x);
/* Indexes what the caller put in scratch: false with an error naming what
 * ("mapping", ...) when an id appears twice or memory ran out. */
bool rallo_pprof_ids_index(pprof_reader *r, pprof_ids *x, const char *what);
/* The index of id; false when there is none. */
bool rallo_pprof_ids_get(const pprof_ids *x, uint64_t id, size_t *index);

/* ---- read_pprof_messages.c ---- */

/* The unpacked message r->pb into r->out, every id and string index checked. */
bool rallo_pprof_convert(pprof_reader *r);

/* ---- read_pprof_lifetimes.c ---- */

/* Sizes, lifetimes, temporaries and threads (pprof_lifetimes.h), once the
 * samples and comments are read, when the profile carries them. */
bool rallo_pprof_lifetimes_read(pprof_reader *r);

#endif
