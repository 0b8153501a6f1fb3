/* toggle.c - RALLO_TOGGLE_SIGNAL=RTMIN+5: that signal turns tracking on and off
 * in a running process. The handler only flips the tracking flag (an atomic
 * store, safe in a signal handler); the arena tracked blocks live in is
 * reserved here at load, so turning tracking on never has to map memory
 * inside a handler. */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "../../tracking/door.h"
#include "dump.h"

static void toggle_handler(int signo) {
    (void)signo;
    _rallo_door->tracking_set(!rallo_is_enabled()); /* both a single atomic access */
}

/* After init.c's constructor (101): the arena and options are set up. */
__attribute__((constructor(220))) static void toggle_load(void) {
    if (!_rallo_door_open())
        return;
    const char *text = _rallo_door->getenv("RALLO_TOGGLE_SIGNAL");
    if (text == NULL || text[0] == '\0')
        return;
    int signo = _rallo_parse_signal(text);
    if (signo == 0) {
        _rallo_signal_refused("RALLO_TOGGLE_SIGNAL", text);
        return;
    }
    /* dumper.c took RALLO_DUMP_SIGNAL first; a second handler on the same
     * signal would silently replace it. */
    const char *dump_text = _rallo_door->getenv("RALLO_DUMP_SIGNAL");
    if (dump_text != NULL && _rallo_parse_signal(dump_text) == signo) {
        _rallo_door->warn("ignoring RALLO_TOGGLE_SIGNAL: RALLO_DUMP_SIGNAL takes that signal (%d)", signo);
        return;
    }
    /* rallo_enable() reserves the arena; the handler can then only flip the flag. */
    bool was_on = rallo_is_enabled();
    if (rallo_enable() != 0) {
        _rallo_door->warn("ignoring RALLO_TOGGLE_SIGNAL: the tracked arena cannot be reserved");
        return;
    }
    if (!was_on)
        rallo_disable();
    /* Watched from here on: a program that installs its own handler for it
     * keeps that handler, and rallo says so once (tracking/signal_watch.c). */
    _rallo_door->signal_take(signo, toggle_handler, "RALLO_TOGGLE_SIGNAL");
}
