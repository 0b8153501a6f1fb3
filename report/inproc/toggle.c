/* toggle.c - RALLO_TOGGLE_SIGNAL=USR1: that signal turns tracking on and off
 * in a running process. The handler only flips the tracking flag (an atomic
 * store, safe in a signal handler); the arena tracked blocks live in is
 * reserved here at load, so turning tracking on never has to map memory
 * inside a handler. */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "../../tracking/tracking.h"
#include "dump.h"

static void toggle_handler(int signo) {
    (void)signo;
    _rallo_tracking_set(!rallo_is_enabled()); /* both a single atomic access */
}

/* After init.c's constructor (101): the arena and options are set up. */
__attribute__((constructor(220))) static void toggle_load(void) {
    const char *text = _rallo_getenv("RALLO_TOGGLE_SIGNAL");
    if (text == NULL || text[0] == '\0')
        return;
    int signo = _rallo_parse_signal(text);
    if (signo == 0) {
        _rallo_warn("ignoring RALLO_TOGGLE_SIGNAL=%s: not a signal name rallo may take (e.g. USR1)", text);
        return;
    }
    /* dumper.c took RALLO_DUMP_SIGNAL first; a second handler on the same
     * signal would silently replace it. */
    const char *dump_text = _rallo_getenv("RALLO_DUMP_SIGNAL");
    if (dump_text != NULL && _rallo_parse_signal(dump_text) == signo) {
        _rallo_warn("ignoring RALLO_TOGGLE_SIGNAL=%s: RALLO_DUMP_SIGNAL=%s takes that signal", text,
                    dump_text);
        return;
    }
    /* rallo_enable() reserves the arena; the handler can then only flip the flag. */
    bool was_on = rallo_is_enabled();
    if (rallo_enable() != 0) {
        _rallo_warn("ignoring RALLO_TOGGLE_SIGNAL: the tracked arena cannot be reserved");
        return;
    }
    if (!was_on)
        rallo_disable();
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = toggle_handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (sigaction(signo, &action, NULL) != 0)
        _rallo_warn("ignoring RALLO_TOGGLE_SIGNAL: cannot install a handler for signal %d", signo);
}
