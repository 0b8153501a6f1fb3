/* door.c - a report library's side of the door (tracking/door.h): librallo's
 * table checked once, when the library is loaded and before any of its own
 * constructors runs; every call into librallo goes through it. */
#include <stdio.h>
#include <unistd.h>

#include "../../tracking/door.h"

const rallo_door *_rallo_door = NULL;
static bool door_checked;

bool _rallo_door_open(void) {
    if (door_checked)
        return _rallo_door != NULL;
    door_checked = true;
    const rallo_door *door = _rallo_door_get();
    if (door != NULL && door->version == RALLO_DOOR_VERSION && door->size == sizeof(rallo_door)) {
        _rallo_door = door;
        return true;
    }
    /* Not through the table, which is not this library's: one line, by hand
     * (snprintf into the stack, one write), and nothing more from here on. */
    char line[160];
    int len = snprintf(line, sizeof line,
                       "rallo: a report library built for door version %u (%zu bytes) found version %u "
                       "(%u bytes) in librallo: no reports\n",
                       RALLO_DOOR_VERSION, sizeof(rallo_door), door != NULL ? door->version : 0,
                       door != NULL ? door->size : 0);
    if (len > 0)
        (void)!write(STDERR_FILENO, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
    return false;
}

bool _rallo_report_door_open(void) {
    return _rallo_door_open();
}

/* Before every other constructor of the report libraries (the earliest of
 * theirs runs at 200). */
__attribute__((constructor(110))) static void door_load(void) {
    _rallo_door_open();
}
