/* common.c - the helpers every subcommand of `rallo` shares. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mimalloc.h>

#include "cli.h"
#include "label.h"
#include "pprof.h"
#include "safe_open.h"
#include "symbolize.h"
#include "util/array.h"

void cli_error(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fputs("rallo: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
}

char *cli_read_file(const char *path, size_t *len) {
    const char *why = NULL;
    int fd = rallo_open_regular(path, &why);
    if (fd < 0) {
        cli_error("cannot open %s: %s", path, why);
        return NULL;
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || (uint64_t)info.st_size > RALLO_PPROF_MAX_INFLATED) {
        cli_error("%s: larger than the %zu MiB a profile may be", path, RALLO_PPROF_MAX_INFLATED >> 20);
        close(fd);
        return NULL;
    }
    size_t cap = info.st_size > 0 ? (size_t)info.st_size + 1 : 4096, used = 0;
    char *data = mi_malloc(cap);
    while (data != NULL) {
        if (used == cap && !rallo_array_reserve((void **)&data, &cap, cap + 1, 1, 0)) {
            mi_free(data);
            data = NULL;
            break;
        }
        ssize_t got = read(fd, data + used, cap - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            cli_error("cannot read %s: %s", path, strerror(errno));
            mi_free(data);
            close(fd);
            return NULL;
        }
        if (got == 0)
            break;
        used += (size_t)got;
        if (used > RALLO_PPROF_MAX_INFLATED) { /* grew while read, or a /proc file */
            cli_error("%s: larger than the %zu MiB a profile may be", path, RALLO_PPROF_MAX_INFLATED >> 20);
            mi_free(data);
            close(fd);
            return NULL;
        }
    }
    close(fd);
    if (data == NULL) {
        cli_error("%s: out of memory reading it", path);
        return NULL;
    }
    *len = used;
    return data;
}

/* text with control characters (and backslashes) as \xNN, for a message:
 * paths from a profile are anyone's bytes. Returns out. */
static const char *escaped(const char *text, char *out, size_t size) {
    size_t used = 0;
    for (; *text != '\0' && used + 5 < size; text++) {
        unsigned char c = (unsigned char)*text;
        if (c < 0x20 || c == 0x7f || c == '\\')
            used += (size_t)snprintf(out + used, size - used, "\\x%02x", c);
        else
            out[used++] = (char)c;
    }
    out[used] = '\0';
    return out;
}

/* The modules that could not be used: the first few by name, the rest
 * counted, so a profile naming 40,000 missing files says so in one line. */
#define UNUSABLE_NAMED 5
typedef struct unusable_modules {
    const char *profile_path;
    size_t count;
} unusable_modules;

static void report_unusable_module(const rallo_prof_mapping *mapping, const char *why, void *arg) {
    unusable_modules *unusable = arg;
    if (unusable->count++ < UNUSABLE_NAMED) {
        char path[512];
        cli_error("%s: frames in %s stay unsymbolized: %s", unusable->profile_path,
                  mapping->path ? escaped(mapping->path, path, sizeof path) : "(unnamed)", why);
    }
}

/* Names the frames a profile holds only addresses for, from the mapped files on
 * this machine; says which could not be named and why. */
/* Said on stderr once symbolizing has taken a second, from a SIGALRM handler
 * (write(2) only), so a person waiting on a big profile knows what is going on. */
static char symbolize_progress[512];
static size_t symbolize_progress_len;
static volatile sig_atomic_t symbolize_progress_shown;

static void symbolize_progress_tick(int signo) {
    (void)signo;
    ssize_t written = write(STDERR_FILENO, symbolize_progress, symbolize_progress_len);
    (void)written;
    symbolize_progress_shown = 1;
}

/* Names the frames a profile holds only addresses for, from the mapped files on
 * this machine; says which could not be named and why. */
static void cli_symbolize(const char *path, rallo_profile *profile) {
    size_t missing = 0;
    for (size_t i = 0; i < profile->nlocations; i++)
        missing += profile->locations[i].nlines == 0;
    if (missing == 0)
        return;
    int n = snprintf(symbolize_progress, sizeof symbolize_progress,
                     "rallo: %s: symbolizing %zu frames from %zu modules...\n", path, missing,
                     profile->nmappings);
    symbolize_progress_len =
        n > 0 ? ((size_t)n < sizeof symbolize_progress ? (size_t)n : sizeof symbolize_progress - 1) : 0;
    symbolize_progress_shown = 0;
    struct sigaction tick = {.sa_handler = symbolize_progress_tick, .sa_flags = SA_RESTART}, previous;
    sigemptyset(&tick.sa_mask);
    sigaction(SIGALRM, &tick, &previous);
    alarm(1);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    rallo_sym_stats stats = {0};
    cli_undebugged undebugged = {0};
    unusable_modules unusable = {path, 0};
    rallo_symbolizer *symbolizer = rallo_symbolizer_new(false);
    if (symbolizer != NULL) {
        rallo_symbolizer_on_undebugged(symbolizer, cli_undebugged_note, &undebugged);
        rallo_symbolize(symbolizer, profile, &stats, report_unusable_module, &unusable);
        rallo_symbolizer_free(symbolizer);
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    alarm(0);
    sigaction(SIGALRM, &previous, NULL);
    double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    if (symbolize_progress_shown)
        cli_error("%s: symbolized %zu frames in %.1f s", path, missing, seconds);
    if (unusable.count > UNUSABLE_NAMED)
        cli_error("%s: %zu modules could not be used in all (%llu missing or unreadable, %llu with another "
                  "build id); the first %d are named above",
                  path, unusable.count, (unsigned long long)stats.modules_missing,
                  (unsigned long long)stats.modules_mismatched, UNUSABLE_NAMED);
    uint64_t unnamed = cli_undebugged_report(path, &undebugged);
    uint64_t no_symbol = stats.no_symbol > unnamed ? stats.no_symbol - unnamed : 0;
    if (no_symbol + stats.no_module > 0)
        cli_error("%s: %llu frames have no symbol in their module, %llu lie in no usable module", path,
                  (unsigned long long)no_symbol, (unsigned long long)stats.no_module);
}

int cli_load_profile(const char *path, rallo_profile *out, bool symbolize) {
    size_t len = 0;
    char *data = cli_read_file(path, &len);
    if (data == NULL)
        return -1;
    char error[256] = "";
    rallo_profile_init(out);
    int result = rallo_read_pprof(data, len, out, error, sizeof error);
    mi_free(data);
    if (result != 0) {
        cli_error("%s: not a readable pprof profile: %s", path, error[0] ? error : "unknown error");
        rallo_profile_free(out);
        return -1;
    }
    if (symbolize)
        cli_symbolize(path, out);
    return 0;
}

/* Writes buf to path ("-" or NULL: stdout), opened with extra_flags besides
 * the usual; -1 after an error line. */
static int write_output(const char *path, const rallo_buf *buf, int extra_flags) {
    if (buf->failed) {
        cli_error("out of memory while writing %s", path && strcmp(path, "-") != 0 ? path : "the output");
        return -1;
    }
    FILE *out = stdout;
    if (path != NULL && strcmp(path, "-") != 0) {
        /* O_NONBLOCK: a FIFO nobody reads is an error (ENXIO), not a hang;
         * cleared once open, so a reader that is there gets every byte. */
        int fd =
            open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | extra_flags, 0666);
        if (fd < 0) {
            cli_error("cannot write %s: %s", path,
                      errno == ENXIO ? "a FIFO that no process reads" : strerror(errno));
            return -1;
        }
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0)
            fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        out = fdopen(fd, "wb");
        if (out == NULL) {
            cli_error("cannot write %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    }
    size_t written = buf->len ? fwrite(buf->data, 1, buf->len, out) : 0;
    int failed = written != buf->len || fflush(out) != 0;
    if (out != stdout && fclose(out) != 0)
        failed = 1;
    if (failed) {
        cli_error("cannot write %s: %s", path ? path : "stdout", strerror(errno));
        return -1;
    }
    return 0;
}

int cli_write_output(const char *path, const rallo_buf *buf) {
    return write_output(path, buf, 0);
}

int cli_write_output_named_here(const char *path, const rallo_buf *buf) {
    return write_output(path, buf, O_NOFOLLOW);
}

const char *cli_site_name(const rallo_profile *profile, const rallo_prof_site *site, char *text,
                          size_t size) {
    if (site->nlocations == 0) {
        snprintf(text, size, "[other: stacks beyond the depot's limit]");
        return text;
    }
    return rallo_site_label(profile, site, RALLO_LABEL_FRAMES, text, size);
}
