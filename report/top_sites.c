/* top_sites.c - which sites of a profile rank highest by a value: the one
 * selection the text report's rankings and `rallo run`'s summary share. */
#include "writers.h"

size_t rallo_top_sites(const rallo_profile *profile, rallo_site_value_fn value, int metric, size_t *top,
                       size_t want) {
    size_t count = 0;
    for (size_t i = 0; i < profile->nsites; i++) {
        uint64_t site_value = value(&profile->sites[i], metric);
        if (site_value == 0)
            continue;
        /* Insertion into the sorted top: a site that ties one already there
         * goes after it, so ties keep the profile's order. */
        size_t at = count < want ? count++ : want;
        while (at > 0 && value(&profile->sites[top[at - 1]], metric) < site_value) {
            if (at < want)
                top[at] = top[at - 1];
            at--;
        }
        if (at < want)
            top[at] = i;
    }
    return count;
}
