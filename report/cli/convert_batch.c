/* convert_batch.c - one `rallo _convert` at a time per dump directory and
 * user, naming every dump handed to it with one symbolizer. A server that
 * forks a process per connection (PostgreSQL under `pgbench -C`) dumps at
 * every exit; a helper per dump that reads libc's DWARF afresh costs a few
 * hundred milliseconds of CPU each time. So each helper leaves a request
 * beside the raw profile and only the one holding the directory's lock
 * (flock on the directory, one its user alone can open) converts: every request it finds, then
 * whatever arrives while it lingers a moment, and exits. The others wait for
 * their request to be done, asleep.
 *
 * The symbolizer answers from its cache only for the very same module layout,
 * and each process of a program has its own (ASLR). Before naming, a profile
 * whose modules are those of the last one (same files, build ids, offsets and
 * sizes, in the same order) is moved onto the last one's addresses, and moved
 * back after: the names of a module do not depend on where it was loaded. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mimalloc.h>

#include "cli.h"
#include "symbolize.h"

/* How long the converting helper waits for more work once it has none. */
#define LINGER_MS 500
/* How long a helper waits for another to convert its dump. */
#define WAIT_OTHER_MS (60 * 1000)
#define REQUEST_PREFIX ".rallo-convert."
#define REQUEST_SUFFIX ".req"

struct cli_namer {
    rallo_symbolizer *symbolizer;
    rallo_prof_mapping *layout; /* the modules the symbolizer was last given, own copies */
    size_t nlayout;
    const char *own_name; /* the dump this helper was started for, */
    int own_result;       /* and what became of it: 0, or -1 when it was not converted */
};

static void layout_clear(cli_namer *namer) {
    for (size_t i = 0; i < namer->nlayout; i++) {
        mi_free((char *)namer->layout[i].path);
        mi_free((char *)namer->layout[i].build_id);
    }
    mi_free(namer->layout);
    namer->layout = NULL;
    namer->nlayout = 0;
}

static bool same_text(const char *a, const char *b) {
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static bool same_module(const rallo_prof_mapping *a, const rallo_prof_mapping *b) {
    return same_text(a->path, b->path) && same_text(a->build_id, b->build_id) &&
           a->file_offset == b->file_offset && a->limit - a->start == b->limit - b->start;
}

/* Keeps a copy of the profile's modules as the layout; false when out of memory. */
static bool layout_take(cli_namer *namer, const rallo_profile *profile) {
    layout_clear(namer);
    namer->layout = mi_zalloc((profile->nmappings + 1) * sizeof *namer->layout);
    if (namer->layout == NULL)
        return false;
    for (size_t i = 0; i < profile->nmappings; i++) {
        rallo_prof_mapping m = profile->mappings[i];
        m.path = m.path != NULL ? mi_strdup(m.path) : NULL;
        m.build_id = m.build_id != NULL ? mi_strdup(m.build_id) : NULL;
        namer->layout[namer->nlayout++] = m;
        if ((profile->mappings[i].path != NULL && m.path == NULL) ||
            (profile->mappings[i].build_id != NULL && m.build_id == NULL)) {
            layout_clear(namer);
            return false;
        }
    }
    return true;
}

/* Moves every mapping and the addresses in it by delta[mapping] (sign +1) or
 * back (sign -1). */
static void shift(rallo_profile *profile, const uint64_t *delta, int sign) {
    for (size_t i = 0; i < profile->nmappings; i++) {
        uint64_t d = sign > 0 ? delta[i] : (uint64_t)0 - delta[i];
        profile->mappings[i].start += d;
        profile->mappings[i].limit += d;
    }
    for (size_t i = 0; i < profile->nlocations; i++) {
        rallo_prof_location *location = &profile->locations[i];
        if (location->mapping < profile->nmappings)
            location->address += sign > 0 ? delta[location->mapping] : (uint64_t)0 - delta[location->mapping];
    }
}

int cli_namer_name(cli_namer *namer, rallo_profile *profile) {
    if (namer == NULL || namer->symbolizer == NULL)
        return rallo_symbolize_offline(profile, NULL, NULL, NULL);
    bool same = namer->nlayout == profile->nmappings && namer->layout != NULL;
    for (size_t i = 0; same && i < profile->nmappings; i++)
        same = same_module(&namer->layout[i], &profile->mappings[i]);
    uint64_t *delta = same ? mi_mallocn(profile->nmappings + 1, sizeof *delta) : NULL;
    if (delta == NULL) {
        if (!layout_take(namer, profile))
            return rallo_symbolize_offline(profile, NULL, NULL, NULL);
        return rallo_symbolize(namer->symbolizer, profile, NULL, NULL, NULL);
    }
    for (size_t i = 0; i < profile->nmappings; i++)
        delta[i] = namer->layout[i].start - profile->mappings[i].start;
    shift(profile, delta, +1);
    int rc = rallo_symbolize(namer->symbolizer, profile, NULL, NULL, NULL);
    shift(profile, delta, -1);
    mi_free(delta);
    return rc;
}

/* ---- requests and the directory's lock ---- */

/* The request for dir/raw_name: ".rallo-convert.<raw_name>.req" holding the
 * format list and whether the helper was quiet. Written through a temporary
 * and renamed, so a reader sees all of it or none. 0, or -1 with errno. */
static int request_leave(int dir_fd, const char *raw_name, const char *formats, bool quiet) {
    char name[600], text[300];
    if (snprintf(name, sizeof name, REQUEST_PREFIX "%s" REQUEST_SUFFIX, raw_name) >= (int)sizeof name) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int len = snprintf(text, sizeof text, "%s %d\n", formats, quiet ? 1 : 0);
    return cli_write_replacing(dir_fd, name, text, (size_t)len);
}

/* Reads one request (a regular file of this user's only: others in a shared
 * sticky directory are left alone); one that cannot be read is removed.
 * true when it was one: the caller removes it once converted (its helper
 * waits for that). */
static bool request_take(int dir_fd, const char *name, char *formats, size_t size, bool *quiet) {
    int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat info;
    char text[300];
    bool own = fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && info.st_uid == geteuid();
    ssize_t n = own ? read(fd, text, sizeof text - 1) : -1;
    close(fd);
    if (!own)
        return false;
    int q = 0;
    char list[256];
    if (n > 0)
        text[n] = '\0';
    if (n <= 0 || sscanf(text, "%255s %d", list, &q) != 2) {
        unlinkat(dir_fd, name, 0); /* never looked at twice */
        return false;
    }
    snprintf(formats, size, "%s", list);
    *quiet = q != 0;
    return true;
}

/* A listing of the directory from its start, on a descriptor of its own
 * (closedir closes that one, not dir_fd); NULL when it cannot be read. */
static DIR *listing_open(int dir_fd) {
    int scan_fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *listing = scan_fd >= 0 ? fdopendir(scan_fd) : NULL;
    if (listing == NULL && scan_fd >= 0)
        close(scan_fd);
    return listing;
}

/* Converts every request in the directory; how many there were. */
static int requests_serve(cli_namer *namer, int dir_fd, const char *dir) {
    int served = 0;
    for (bool again = true; again;) {
        again = false;
        DIR *listing = listing_open(dir_fd);
        if (listing == NULL)
            return served;
        for (struct dirent *entry; (entry = readdir(listing)) != NULL;) {
            const char *name = entry->d_name;
            size_t len = strlen(name), prefix = sizeof REQUEST_PREFIX - 1, suffix = sizeof REQUEST_SUFFIX - 1;
            if (len <= prefix + suffix || strncmp(name, REQUEST_PREFIX, prefix) != 0 ||
                strcmp(name + len - suffix, REQUEST_SUFFIX) != 0)
                continue;
            char raw_name[600], formats[256];
            bool quiet = false;
            snprintf(raw_name, sizeof raw_name, "%.*s", (int)(len - prefix - suffix), name + prefix);
            if (strchr(raw_name, '/') != NULL || !request_take(dir_fd, name, formats, sizeof formats, &quiet))
                continue;
            unsigned set = 0;
            int rc = -1;
            if (cli_convert_parse_formats(formats, &set) == 0 && set != 0) {
                char path[4800];
                snprintf(path, sizeof path, "%s%s", dir, raw_name);
                rc = cli_convert_dump(path, set, quiet, namer);
            }
            unlinkat(dir_fd, name, 0);
            if (strcmp(raw_name, namer->own_name) == 0)
                namer->own_result = rc;
            served++;
            again = true;
        }
        closedir(listing);
    }
    return served;
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits until `deadline` (ms) for something renamed into the directory
 * (inotify; a look every 100 ms without it). false once the deadline passed. */
static bool requests_wait(int notify_fd, uint64_t deadline) {
    uint64_t now = now_ms();
    if (now >= deadline)
        return false;
    int wait_ms = (int)(deadline - now);
    if (notify_fd < 0) {
        usleep((useconds_t)(wait_ms < 100 ? wait_ms : 100) * 1000u);
        return true;
    }
    struct pollfd ready = {.fd = notify_fd, .events = POLLIN};
    if (poll(&ready, 1, wait_ms) <= 0)
        return false;
    char events[4096];
    while (read(notify_fd, events, sizeof events) > 0) {
    }
    return true;
}

/* Whether a request of this user's waits in the directory. */
static bool request_pending(int dir_fd) {
    DIR *listing = listing_open(dir_fd);
    if (listing == NULL)
        return false;
    bool pending = false;
    for (struct dirent *entry; !pending && (entry = readdir(listing)) != NULL;) {
        struct stat info;
        pending = strncmp(entry->d_name, REQUEST_PREFIX, sizeof REQUEST_PREFIX - 1) == 0 &&
                  strstr(entry->d_name, REQUEST_SUFFIX) != NULL &&
                  fstatat(dir_fd, entry->d_name, &info, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(info.st_mode) &&
                  info.st_uid == geteuid();
    }
    closedir(listing);
    return pending;
}

int cli_convert_batched(const char *raw_path, const char *formats, bool quiet) {
    const char *slash = strrchr(raw_path, '/');
    const char *raw_name = slash != NULL ? slash + 1 : raw_path;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)(raw_name - raw_path), raw_path);
    unsigned set = 0;
    if (cli_convert_parse_formats(formats, &set) != 0 || set == 0)
        return -1;
    /* Not a dump's raw profile: said at once, by the one-shot conversion. */
    static const char suffix[] = ".pb.gz";
    size_t len = strlen(raw_name);
    struct stat raw;
    if (len <= sizeof suffix - 1 || strcmp(raw_name + len - (sizeof suffix - 1), suffix) != 0 ||
        stat(raw_path, &raw) != 0 || !S_ISREG(raw.st_mode))
        return cli_convert_dump(raw_path, set, quiet, NULL);
    int dir_fd = open(dir[0] != '\0' ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* The lock is flock on the directory itself, so nothing is added to it;
     * only where no other user can open the directory to hold that lock (its
     * owner's, not readable by group or others: as rallo makes it). Elsewhere,
     * or without a place for the request, this helper converts its dump alone. */
    struct stat info;
    if (dir_fd < 0 || fstat(dir_fd, &info) != 0 || info.st_uid != geteuid() ||
        (info.st_mode & (S_IRGRP | S_IROTH)) != 0 || request_leave(dir_fd, raw_name, formats, quiet) != 0) {
        if (dir_fd >= 0)
            close(dir_fd);
        return cli_convert_dump(raw_path, set, quiet, NULL);
    }
    int lock_fd = dir_fd;
    cli_namer namer = {.symbolizer = rallo_symbolizer_new(false), .own_name = raw_name};
    int notify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (notify_fd >= 0 && inotify_add_watch(notify_fd, dir[0] != '\0' ? dir : ".", IN_MOVED_TO) < 0) {
        close(notify_fd);
        notify_fd = -1;
    }
    /* The request is in place before the lock is tried: whoever holds it
     * looks at the directory again after letting go, so no request is left
     * behind between the two. */
    while (flock(lock_fd, LOCK_EX | LOCK_NB) == 0) {
        uint64_t deadline = now_ms() + LINGER_MS;
        do {
            if (requests_serve(&namer, dir_fd, dir) > 0)
                deadline = now_ms() + LINGER_MS;
        } while (requests_wait(notify_fd, deadline));
        flock(lock_fd, LOCK_UN);
        /* What came meanwhile is this helper's again, unless another took the lock. */
        if (!request_pending(dir_fd))
            break;
    }
    /* Converted by another: this helper waits for it, so that a program's
     * periodic dumps still wait when their helpers fall behind (dump-convert.c)
     * and `rallo run` sees every file its programs' dumps make. */
    char request[600];
    snprintf(request, sizeof request, REQUEST_PREFIX "%s" REQUEST_SUFFIX, raw_name);
    for (int waited_ms = 0;
         waited_ms < WAIT_OTHER_MS && faccessat(dir_fd, request, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
         waited_ms += 20)
        usleep(20 * 1000);
    if (notify_fd >= 0)
        close(notify_fd);
    if (namer.symbolizer != NULL)
        rallo_symbolizer_free(namer.symbolizer);
    layout_clear(&namer);
    close(dir_fd);
    return namer.own_result;
}
