/* process_info.c - what a profile says about the process it is of and about
 * itself: the command line (kept as /proc gives it, shown quoted with control
 * characters escaped), how many samples a sampled profile rests on, and how
 * much of the peak its per-site breakdown accounts for. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "writers.h"

/* Enough to tell processes apart; the rest of a long command line is cut. */
#define ARGV_MAX_STRINGS 256

int rallo_profile_set_argv(rallo_profile *profile, const char *args, size_t len) {
    size_t count = 0;
    for (size_t i = 0; i < len; i += strnlen(args + i, len - i) + 1)
        count++;
    if (count > ARGV_MAX_STRINGS)
        count = ARGV_MAX_STRINGS;
    if (count == 0)
        return 0;
    char **argv = rallo_profile_alloc(profile, count * sizeof *argv);
    if (argv == NULL)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < len && n < count;) {
        size_t arg_len = strnlen(args + i, len - i);
        argv[n] = rallo_profile_alloc(profile, arg_len + 1);
        if (argv[n] == NULL)
            return -1;
        memcpy(argv[n++], args + i, arg_len);
        i += arg_len + 1;
    }
    profile->argv = argv;
    profile->nargv = n;
    return 0;
}

/* One argument as a shell would take it back: bare when it is plain, else in
 * single quotes; control characters and non-ASCII bytes of a broken encoding
 * stay visible as \xNN either way. */
static size_t quote_arg(const char *arg, char *text, size_t size) {
    bool plain = arg[0] != '\0';
    for (const char *c = arg; *c && plain; c++)
        plain =
            strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *c) != NULL;
    size_t used = 0;
#define PUT(...)                                                                                             \
    do {                                                                                                     \
        int n_ = snprintf(text + used, size - used, __VA_ARGS__);                                            \
        if (n_ < 0 || (size_t)n_ >= size - used)                                                             \
            return size;                                                                                     \
        used += (size_t)n_;                                                                                  \
    } while (0)
    if (!plain)
        PUT("'");
    for (const unsigned char *c = (const unsigned char *)arg; *c; c++) {
        if (*c < 0x20 || *c == 0x7f)
            PUT("\\x%02x", *c);
        else if (*c == '\'')
            PUT("'\\''");
        else
            PUT("%c", *c);
    }
    if (!plain)
        PUT("'");
#undef PUT
    return used;
}

const char *rallo_command_line(const rallo_profile *profile, char *text, size_t size) {
    if (size == 0)
        return text;
    text[0] = '\0';
    if (profile->nargv == 0) {
        snprintf(text, size, "%s", profile->program != NULL ? profile->program : "?");
        return text;
    }
    size_t used = 0;
    for (size_t i = 0; i < profile->nargv; i++) {
        if (used + 1 >= size)
            break;
        if (i > 0)
            text[used++] = ' ';
        size_t n = quote_arg(profile->argv[i], text + used, size - used);
        if (n >= size - used) {
            used = size; /* cut: marked below */
            break;
        }
        used += n;
    }
    if (used >= size - 1 && size > 4)
        memcpy(text + size - 4, "...", 4);
    else
        text[used < size ? used : size - 1] = '\0';
    return text;
}

/* A sampled block of s bytes weighs s / (1 - exp(-s/interval)) bytes, never
 * less than the interval, and 1 / (1 - exp(-s/interval)) blocks, never less
 * than one: so a site's samples are at most min(bytes / interval, blocks),
 * which is close to exact when its blocks are all small or all large. */
static uint64_t samples_at_most(uint64_t bytes, uint64_t blocks, uint64_t interval) {
    uint64_t by_bytes = (bytes + interval / 2) / interval;
    return by_bytes < blocks ? by_bytes : blocks;
}

void rallo_profile_samples(const rallo_profile *profile, uint64_t *live, uint64_t *allocated) {
    *live = *allocated = 0;
    uint64_t interval = profile->sample_interval;
    for (size_t i = 0; i < profile->nsites; i++) {
        const rallo_prof_site *site = &profile->sites[i];
        if (interval <= 1) {
            *live += site->live_count;
            *allocated += site->alloc_count;
        } else {
            *live += samples_at_most(site->live_bytes, site->live_count, interval);
            *allocated += samples_at_most(site->alloc_bytes, site->alloc_count, interval);
        }
    }
}

uint64_t rallo_profile_peak_unattributed(const rallo_profile *profile) {
    uint64_t attributed = 0;
    for (size_t i = 0; i < profile->nsites; i++)
        attributed += profile->sites[i].peak_live_bytes;
    if (attributed == 0)
        return 0; /* no breakdown at all (a foreign profile): nothing to explain */
    uint64_t peak = profile->totals.peak_live_bytes;
    return peak > attributed ? peak - attributed : 0;
}
