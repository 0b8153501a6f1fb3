/* dump-dir.c - the directory periodic, signal and exit dumps go into: its name
 * expanded (%u user, %p pid), made when missing, opened without following a
 * link and checked as ssh checks its files (ours, not writable by others unless
 * sticky). Files are then made relative to the open descriptor, so the checked
 * directory is the one written: a rename of the path afterwards changes nothing.
 * Opening it also removes the temporaries of dumps whose process was killed. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mimalloc.h>

#include "dump.h"

/* What every refusal ends with: the way out, for a service whose workers run
 * as another user than the process that set the variable. */
#define DUMP_DIR_ADVICE                                                                                      \
    "dumps go only into a directory of this user's that others cannot write; a directory per user: "         \
    "RALLO_DUMP_DIR=/var/tmp/rallo-%%u"

/* The user name of euid, for %u: looked up once per euid (a worker that calls
 * setuid gets its own). A user without a name is its number. */
static void user_name(char *out, size_t cap) {
    static uid_t cached_uid = (uid_t)-1;
    static char cached[64];
    uid_t uid = geteuid();
    if (cached_uid != uid || cached[0] == '\0') {
        struct passwd entry, *found = NULL;
        char buf[1024];
        if (getpwuid_r(uid, &entry, buf, sizeof buf, &found) == 0 && found != NULL &&
            strlen(found->pw_name) < sizeof cached && strchr(found->pw_name, '/') == NULL &&
            found->pw_name[0] != '\0' && strcmp(found->pw_name, ".") != 0 &&
            strcmp(found->pw_name, "..") != 0)
            snprintf(cached, sizeof cached, "%s", found->pw_name);
        else
            snprintf(cached, sizeof cached, "%lu", (unsigned long)uid);
        cached_uid = uid;
    }
    snprintf(out, cap, "%s", cached);
}

char *_rallo_dump_dir_expand(const char *dir) {
    if (dir == NULL || dir[0] == '\0')
        dir = ".";
    char user[64], pid[24];
    user[0] = '\0';
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    size_t cap = 1;
    for (const char *p = dir; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 'u') {
            if (user[0] == '\0')
                user_name(user, sizeof user);
            cap += strlen(user);
            p++;
        } else if (p[0] == '%' && p[1] == 'p') {
            cap += strlen(pid);
            p++;
        } else {
            cap++;
        }
    }
    char *out = mi_malloc(cap);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (const char *p = dir; *p != '\0'; p++) {
        const char *insert = NULL;
        if (p[0] == '%' && p[1] == 'u')
            insert = user;
        else if (p[0] == '%' && p[1] == 'p')
            insert = pid;
        else if (p[0] == '%' && p[1] == '%')
            insert = "%";
        if (insert != NULL) {
            size_t n = strlen(insert);
            memcpy(o, insert, n);
            o += n;
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* A refusal is said once per process and directory (a periodic dump every
 * 0.1 s says it once, not ten times a second), and again after a dump into
 * that directory went through. A forked child starts afresh. */
static pid_t refused_pid;
static char refused_dir[256];

static bool first_refusal(const char *dir) {
    if (refused_pid == getpid() && strncmp(refused_dir, dir, sizeof refused_dir - 1) == 0)
        return false;
    refused_pid = getpid();
    snprintf(refused_dir, sizeof refused_dir, "%s", dir);
    return true;
}

static void accepted(const char *dir) {
    if (refused_pid == getpid() && strncmp(refused_dir, dir, sizeof refused_dir - 1) == 0)
        refused_pid = 0;
}

/* True when name is a dump temporary of a process other than this one,
 * ".<final name>.tmp-<pid>-<8 hex digits>" (dump-file.c); its pid in *pid. */
static bool temporary_of_other(const char *name, pid_t *pid) {
    size_t len = strlen(name);
    if (name[0] != '.' || len < 16 || name[len - 9] != '-')
        return false;
    for (size_t i = len - 8; i < len; i++)
        if (!isxdigit((unsigned char)name[i]))
            return false;
    size_t digits = 0;
    while (digits < len - 9 && isdigit((unsigned char)name[len - 10 - digits]))
        digits++;
    size_t tag = len - 9 - digits - 5; /* where ".tmp-" should start */
    if (digits == 0 || digits > 9 || len - 9 - digits < 6 || strncmp(name + tag, ".tmp-", 5) != 0)
        return false;
    long value = strtol(name + tag + 5, NULL, 10);
    if (value <= 0 || value == (long)getpid())
        return false;
    *pid = (pid_t)value;
    return true;
}

/* Removes the temporaries that killed processes left in the directory: only
 * regular files of ours, and only when their process is gone (kill(pid, 0)
 * fails with ESRCH; EPERM means it runs under another user). Reads the entries
 * with getdents64 into a stack buffer: nothing allocated, nothing followed. */
static void remove_orphan_temporaries(int dir_fd) {
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[8192];
    uid_t uid = geteuid();
    for (;;) {
        ssize_t n = getdents64(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t at = 0; at < n;) {
            struct dirent64 *entry = (struct dirent64 *)(void *)(buf + at);
            at += entry->d_reclen;
            pid_t pid = 0;
            if ((entry->d_type != DT_REG && entry->d_type != DT_UNKNOWN) ||
                !temporary_of_other(entry->d_name, &pid))
                continue;
            if (kill(pid, 0) == 0 || errno != ESRCH)
                continue;
            struct stat st;
            if (fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
                st.st_uid == uid)
                unlinkat(dir_fd, entry->d_name, 0);
        }
    }
    close(fd);
}

/* Opens dir as a directory: never through a symbolic link, never blocking on a
 * FIFO planted there. Made (one level, 0700) when missing. */
static int open_or_make(const char *dir) {
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    int fd = open(dir, flags);
    if (fd < 0 && errno == ENOENT) {
        /* 0700 as the dumps are 0600: a heap profile shows code addresses. */
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return -1;
        fd = open(dir, flags);
    }
    return fd;
}

int _rallo_dump_dir_open(const char *dir_template, rallo_dump_dir *out) {
    out->fd = -1;
    out->path = _rallo_dump_dir_expand(dir_template);
    if (out->path == NULL) {
        errno = ENOMEM;
        return -1;
    }
    const char *dir = out->path;
    int fd = open_or_make(dir);
    int err = errno;
    struct stat st;
    if (fd < 0) {
        if (first_refusal(dir)) {
            struct stat link;
            if ((err == ELOOP || err == ENOTDIR) && lstat(dir, &link) == 0 && S_ISLNK(link.st_mode)) {
                _rallo_door->warn("not dumping into %s: it is a symbolic link; " DUMP_DIR_ADVICE, dir);
            } else if (err == EACCES || err == EPERM) {
                char reason[128];
                _rallo_door->warn("cannot dump into %s: %s; " DUMP_DIR_ADVICE, dir,
                                  strerror_r(err, reason, sizeof reason));
            } else {
                char reason[128];
                _rallo_door->warn("cannot dump into %s: %s", dir, strerror_r(err, reason, sizeof reason));
            }
        }
        mi_free(out->path);
        out->path = NULL;
        errno = err;
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        err = errno;
        char reason[128];
        if (first_refusal(dir))
            _rallo_door->warn("cannot dump into %s: %s", dir, strerror_r(err, reason, sizeof reason));
    } else if (st.st_uid != geteuid()) {
        err = EPERM;
        if (first_refusal(dir))
            _rallo_door->warn(
                "not dumping into %s: it belongs to uid %lu, this process runs as uid %lu; " DUMP_DIR_ADVICE,
                dir, (unsigned long)st.st_uid, (unsigned long)geteuid());
    } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
        err = EPERM;
        if (first_refusal(dir))
            _rallo_door->warn(
                "not dumping into %s: others can write to it (mode %04o, no sticky bit); " DUMP_DIR_ADVICE,
                dir, (unsigned)(st.st_mode & 07777));
    } else {
        accepted(dir);
        remove_orphan_temporaries(fd);
        out->fd = fd;
        return 0;
    }
    close(fd);
    mi_free(out->path);
    out->path = NULL;
    errno = err;
    return -1;
}

void _rallo_dump_dir_close(rallo_dump_dir *dir) {
    if (dir->fd >= 0)
        close(dir->fd);
    mi_free(dir->path);
    dir->fd = -1;
    dir->path = NULL;
}
