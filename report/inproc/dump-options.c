/* dump-options.c - the RALLO_DUMP_* environment: directory, interval, formats,
 * dump at exit, the signal. Read once at load; a bad value gets one stderr line
 * naming the variable and is ignored. Values are only ever printed as %s
 * arguments, never used as a format. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dump.h"

bool _rallo_parse_formats(const char *text, rallo_format_set *out, const char **bad_name, size_t *bad_len) {
    rallo_format_set set = 0;
    const char *p = text;
    *bad_name = text;
    *bad_len = 0;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        const char *start = p;
        while (*p != '\0' && *p != ',' && *p != ' ')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0)
            break;
        char name[16];
        rallo_format format;
        if (len >= sizeof name) {
            *bad_name = start;
            *bad_len = len;
            return false;
        }
        memcpy(name, start, len);
        name[len] = '\0';
        if (!rallo_format_from_name(name, &format)) {
            *bad_name = start;
            *bad_len = len;
            return false;
        }
        set |= 1u << format;
    }
    if (set == 0)
        return false;
    *out = set;
    return true;
}

bool _rallo_parse_seconds(const char *text, double *out) {
    if (text == NULL || text[0] == '\0' || isspace((unsigned char)text[0]))
        return false;
    errno = 0;
    char *end = NULL;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(value) || value < 0 || value > 1e9)
        return false;
    *out = value;
    return true;
}

/* Only signals nothing else gives a meaning: USR1, USR2 and the real-time
 * ones. TERM, INT, HUP, PIPE and the rest already mean something to the
 * program, its shell or its service manager (taking PIPE made `yes | head -1`
 * exit 1 instead of 141; taking TERM made `kill` no longer stop a service). */
static bool signal_allowed(int number) {
    return number == SIGUSR1 || number == SIGUSR2 || (number >= SIGRTMIN && number <= SIGRTMAX);
}

static bool parse_small_number(const char *text, int *out) {
    if (!isdigit((unsigned char)text[0]))
        return false;
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (*end != '\0' || value > 1024)
        return false;
    *out = (int)value;
    return true;
}

int _rallo_parse_signal(const char *text) {
    if (text == NULL)
        return 0;
    if (strncasecmp(text, "SIG", 3) == 0)
        text += 3;
    int number = 0, offset = 0;
    if (parse_small_number(text, &number))
        ;
    else if (strcasecmp(text, "USR1") == 0)
        number = SIGUSR1;
    else if (strcasecmp(text, "USR2") == 0)
        number = SIGUSR2;
    else if (strncasecmp(text, "RTMIN", 5) == 0 && text[5] == '\0')
        number = SIGRTMIN;
    else if (strncasecmp(text, "RTMIN", 5) == 0 && text[5] == '+' && parse_small_number(text + 6, &offset))
        number = SIGRTMIN + offset;
    else if (strncasecmp(text, "RTMAX", 5) == 0 && text[5] == '\0')
        number = SIGRTMAX;
    else if (strncasecmp(text, "RTMAX", 5) == 0 && text[5] == '-' && parse_small_number(text + 6, &offset))
        number = SIGRTMAX - offset;
    return signal_allowed(number) ? number : 0;
}

void _rallo_signal_refused(const char *variable, const char *text) {
    /* The value as the user can read it: printable ASCII kept, the rest \xNN. */
    char shown[64];
    size_t used = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0' && used + 5 < sizeof shown; p++) {
        static const char hex[] = "0123456789abcdef";
        if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
            shown[used++] = (char)*p;
        } else {
            shown[used++] = '\\';
            shown[used++] = 'x';
            shown[used++] = hex[*p >> 4];
            shown[used++] = hex[*p & 15];
        }
    }
    shown[used] = '\0';
    _rallo_door->warn(
        "ignoring %s=%s: rallo takes only USR1, USR2 or a real-time signal (RTMIN+N, RTMAX-N, or "
        "%d-%d), e.g. RTMIN+5",
        variable, shown, SIGRTMIN, SIGRTMAX);
}

void _rallo_dump_options_load(rallo_dump_options *out) {
    memset(out, 0, sizeof *out);
    out->formats = RALLO_FORMATS_DEFAULT;

    const char *text = _rallo_door->getenv("RALLO_DUMP_DIR");
    if (text != NULL && text[0] != '\0')
        out->dir = text;

    text = _rallo_door->getenv("RALLO_DUMP_INTERVAL");
    if (text != NULL && !_rallo_parse_seconds(text, &out->interval))
        _rallo_door->warn(
            "ignoring RALLO_DUMP_INTERVAL: expected seconds as a decimal number (e.g. 10 or 0.5)");
    /* Each dump is a whole set of files: a shorter interval only fills the disk. */
    if (out->interval > 0 && out->interval < RALLO_DUMP_INTERVAL_MIN) {
        _rallo_door->warn("RALLO_DUMP_INTERVAL=%s is below the floor of 0.1 s: dumping every 0.1 s", text);
        out->interval = RALLO_DUMP_INTERVAL_MIN;
    }

    text = _rallo_door->getenv("RALLO_DUMP_FORMATS");
    if (text != NULL) {
        const char *bad = NULL;
        size_t bad_len = 0;
        if (!_rallo_parse_formats(text, &out->formats, &bad, &bad_len)) {
            if (bad_len == 0)
                _rallo_door->warn(
                    "ignoring RALLO_DUMP_FORMATS: empty list (html, pprof, folded, text, json)");
            else
                _rallo_door->warn(
                    "ignoring RALLO_DUMP_FORMATS: unknown format \"%.*s\" (html, pprof, folded, text, "
                    "json)",
                    (int)(bad_len > 64 ? 64 : bad_len), bad);
        }
    }

    text = _rallo_door->getenv("RALLO_DUMP_ON_EXIT");
    if (text != NULL && !_rallo_door->parse_bool(text, &out->on_exit))
        _rallo_door->warn("ignoring RALLO_DUMP_ON_EXIT: expected 1 or 0 (true/false, yes/no, on/off)");

    text = _rallo_door->getenv("RALLO_DUMP_SIGNAL");
    if (text != NULL && text[0] != '\0') {
        out->signal = _rallo_parse_signal(text);
        if (out->signal == 0)
            _rallo_signal_refused("RALLO_DUMP_SIGNAL", text);
    }
}
