/* convert.c - `rallo _convert`: the helper process a dumping program starts
 * (report/inproc/dump-convert.c) on the raw pprof profile it has just written.
 * Names the frames from the mapped files and writes each format asked for
 * beside it, as the program itself would have (temporary name, then rename,
 * mode 0600); the raw profile is replaced by the named one when pprof was
 * asked for, else removed once everything else is written. Not for people:
 * `rallo report` is. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mimalloc.h>

#include "cli.h"
#include "pprof.h"
#include "symbolize.h"

/* data to `name` in the directory dir_fd through a fresh temporary beside it
 * (O_EXCL|O_NOFOLLOW: nothing already there is ever opened), then renamed: no
 * reader ever sees a partial file at the final name. Relative to the
 * directory the raw profile was read from: if that directory is removed
 * meanwhile, nothing is written into one made again at its path. Not
 * fsync'd: these files are derived from the raw profile, which the program
 * fsync'd, and a sync per format made a periodic dump wait tens of
 * milliseconds a file. 0, or -1 with errno. */
int cli_write_replacing(int dir_fd, const char *name, const void *data, size_t len) {
    char temp[4096];
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (snprintf(temp, sizeof temp, ".%s.tmp-%ld-%08lx", name, (long)getpid(), (unsigned long)now.tv_nsec) >=
        (int)sizeof temp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = openat(dir_fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = fchmod(fd, 0600);
    const char *at = data;
    while (rc == 0 && len > 0) {
        ssize_t n = write(fd, at, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ENOSPC;
            rc = -1;
            break;
        }
        at += n;
        len -= (size_t)n;
    }
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && renameat(dir_fd, temp, dir_fd, name) != 0) {
        rc = -1;
        saved = errno;
    }
    if (rc != 0)
        unlinkat(dir_fd, temp, 0);
    errno = saved;
    return rc;
}

int cli_convert_dump(const char *raw_path, unsigned formats, bool quiet, cli_namer *namer) {
    static const char suffix[] = ".pb.gz";
    size_t len = strlen(raw_path);
    if (len <= sizeof suffix - 1 || strcmp(raw_path + len - (sizeof suffix - 1), suffix) != 0 ||
        len + 16 > 4096) {
        cli_error("_convert: %s is not a dump's .pb.gz", raw_path);
        return -1;
    }
    const char *slash = strrchr(raw_path, '/');
    const char *raw_name = slash != NULL ? slash + 1 : raw_path;
    char dir[4096]; /* what comes before the name, with its slash; "" for none */
    snprintf(dir, sizeof dir, "%.*s", (int)(raw_name - raw_path), raw_path);
    int dir_fd = open(dir[0] != '\0' ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
        if (!quiet)
            cli_error("cannot read %s: %s", raw_path, strerror(errno));
        return -1;
    }
    size_t data_len = 0;
    char *data = quiet ? NULL : cli_read_file(raw_path, &data_len);
    if (quiet) {
        /* Periodic dumps: the program says once per outage what went wrong
         * with its directory; a vanished dump is nothing to say again. */
        int fd = openat(dir_fd, raw_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            close(fd);
            data = cli_read_file(raw_path, &data_len);
        }
    }
    if (data == NULL) {
        close(dir_fd);
        return -1;
    }
    rallo_profile profile;
    rallo_profile_init(&profile);
    char error[256] = "";
    int rc = rallo_read_pprof(data, data_len, &profile, error, sizeof error);
    mi_free(data);
    if (rc != 0) {
        cli_error("%s: not a readable pprof profile: %s", raw_path, error[0] ? error : "unknown error");
        rallo_profile_free(&profile);
        close(dir_fd);
        return -1;
    }
    /* Quietly: what cannot be named stays module+offset, as in-process. */
    cli_namer_name(namer, &profile);
    int result = 0, first_error = 0;
    bool said_replaced = false; /* one line for the set, as the program says one */
    char first_failed[8400] = "";
    for (int format = 0; format < RALLO_FORMAT_COUNT; format++) {
        if (!(formats & (1u << format)))
            continue;
        char name[4200];
        snprintf(name, sizeof name, "%.*s.%s", (int)(strlen(raw_name) - (sizeof suffix - 1)), raw_name,
                 rallo_format_extension((rallo_format)format));
        rallo_buf out;
        rallo_buf_init(&out);
        rallo_write_profile(&profile, (rallo_format)format, &out);
        /* Whatever is not a regular file at the name (a planted link, FIFO or
         * socket) is replaced by the rename, never opened: said
         * once a set, as the program itself says it (report/inproc/dump-file.c). */
        struct stat there;
        bool replacing = fstatat(dir_fd, name, &there, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(there.st_mode);
        int failed = out.failed                                                  ? ENOMEM
                     : cli_write_replacing(dir_fd, name, out.data, out.len) != 0 ? errno
                                                                                 : 0;
        if (replacing && failed == 0 && !quiet && !said_replaced) {
            said_replaced = true;
            cli_error("replaced the %s at %s%s with a new dump file (dumps never write into what is there)",
                      S_ISLNK(there.st_mode)    ? "symbolic link"
                      : S_ISFIFO(there.st_mode) ? "FIFO"
                      : S_ISSOCK(there.st_mode) ? "socket"
                                                : "file",
                      dir, name);
        }
        rallo_buf_free(&out);
        if (failed != 0 && result == 0) {
            result = -1;
            first_error = failed;
            snprintf(first_failed, sizeof first_failed, "%s%s", dir, name);
        }
    }
    rallo_profile_free(&profile);
    /* One line for the whole set, not one per format. */
    if (result != 0 && !quiet)
        cli_error("cannot write %s: %s", first_failed, strerror(first_error));
    if (result == 0 && !(formats & (1u << RALLO_FORMAT_PPROF)))
        unlinkat(dir_fd, raw_name, 0);
    close(dir_fd);
    return result;
}

int cli_convert_parse_formats(const char *text, unsigned *formats) {
    char list[256];
    snprintf(list, sizeof list, "%s", text);
    *formats = 0;
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name != NULL;
         name = strtok_r(NULL, ",", &save)) {
        rallo_format format;
        if (!rallo_format_from_name(name, &format)) {
            cli_error("_convert: unknown format '%s'", name);
            return -1;
        }
        *formats |= 1u << format;
    }
    return 0;
}

int cli_convert(int argc, char **argv) {
    /* Started with every signal blocked (see dump-convert.c). */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The program's own work comes first: a helper only makes files, and on a
     * busy machine it waits for spare CPU rather than taking the program's. */
    if (setpriority(PRIO_PROCESS, 0, getpriority(PRIO_PROCESS, 0) + 10) != 0) {
        /* left at the program's priority */
    }
    unsigned formats = 0;
    const char *path = NULL, *list = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
            continue;
        }
        if (strcmp(argv[i], "--formats") == 0 && i + 1 < argc) {
            list = argv[++i];
            if (cli_convert_parse_formats(list, &formats) != 0)
                return 2;
        } else if (path == NULL && argv[i][0] != '-') {
            path = argv[i];
        } else {
            cli_error(
                "usage: rallo _convert [--quiet] --formats LIST DUMP.pb.gz (started by a dumping program)");
            return 2;
        }
    }
    if (path == NULL || formats == 0) {
        cli_error("usage: rallo _convert [--quiet] --formats LIST DUMP.pb.gz (started by a dumping program)");
        return 2;
    }
    return cli_convert_batched(path, list, quiet) == 0 ? 0 : 1;
}
