/* assert.c - where a failed debug assertion (internal/compiler.h) ends: one
 * line on stderr, then abort. Compiled into every build; called only from
 * debug ones (RALLO_DEBUG > 0). */
#include <stdlib.h>

#include "options.h"

void _rallo_assert_fail(const char *condition, const char *file, int line) {
    _rallo_warn("assertion failed: %s (%s:%d)", condition, file, line);
    abort();
}
