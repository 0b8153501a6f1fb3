/* stack_union.h - one profile holding the sites of several profiles, each
 * distinct stack once (matched by its symbolized frames, function and
 * file:line, or module+offset where unnamed, since addresses move between
 * runs): the call tree the timeline and the diff page draw. Its sites, locations and mappings point into the
 * source profiles' arenas: keep those loaded until the union is freed. */
#ifndef RALLO_STACK_UNION_H
#define RALLO_STACK_UNION_H

#include "util/index.h"
#include "writers.h"

typedef struct stack_union {
    rallo_profile profile; /* the union; site values are the caller's to fill */
    char **keys;           /* per site: its frames, root first, one a line */
    size_t cap_sites, cap_locations, cap_mappings;
    rallo_index index; /* of the sites, by key */
    uint64_t seed;     /* rallo_hash_seed: the keys come from profiles anyone can write */
} stack_union;

void stack_union_init(stack_union *u);
/* Appends a source profile's mappings; *base is the index of its first (pass
 * it to stack_union_add for that profile's sites). false: out of memory. */
bool stack_union_add_mappings(stack_union *u, const rallo_profile *source, size_t *base);
/* The union's index of a site of `source` (added with its values zero the
 * first time its stack is seen); SIZE_MAX when memory ran out. */
size_t stack_union_add(stack_union *u, const rallo_profile *source, size_t mapping_base,
                       const rallo_prof_site *site);
/* Puts the sites in a new order (site i becomes the old site order[i]; order
 * holds each index once) and renumbers the locations to follow it, as if the
 * sites had been added in that order: writers walk locations in array order
 * (the page's strings come out in site order). false: out of memory, nothing
 * changed. */
bool stack_union_reorder(stack_union *u, const size_t *order);
void stack_union_free(stack_union *u);

#endif
