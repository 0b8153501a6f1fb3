/* dump-file.c - one dump file, made new every time: a private temporary
 * (O_CREAT|O_EXCL|O_NOFOLLOW, 0600) beside the final name, written in full and
 * synced, then renamed over it. Nothing already at a dump name is opened, so a
 * FIFO, link or file planted there is neither written to nor waited on, and no
 * reader (and no kill -9) ever sees a partial file at a final name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mimalloc.h>

#include "dump.h"

/* Writes all of data, riding out short writes and EINTR. 0, or -1 with errno. */
static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) { /* a write that makes no progress: treat as a full device */
            errno = ENOSPC;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Creates a fresh temporary beside `name` in dir_fd: ".<name>.tmp-<pid>-<n>".
 * The pid lets a later dump remove it once this process is gone (dump-dir.c);
 * the name is new (O_EXCL), so nothing planted there is ever opened. */
static int open_temporary(int dir_fd, const char *name, char **temp_out) {
    static _Atomic unsigned counter;
    size_t cap = strlen(name) + 64;
    char *temp = mi_malloc(cap);
    if (temp == NULL) {
        errno = ENOMEM;
        return -1;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        unsigned n = counter++ ^ (unsigned)now.tv_nsec;
        snprintf(temp, cap, ".%s.tmp-%ld-%08x", name, (long)getpid(), n);
        int fd = openat(dir_fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd >= 0) {
            *temp_out = temp;
            return fd;
        }
        if (errno != EEXIST)
            break;
    }
    int saved = errno;
    mi_free(temp);
    errno = saved;
    return -1;
}

static const char *kind_of(mode_t mode) {
    return S_ISFIFO(mode)   ? "FIFO"
           : S_ISLNK(mode)  ? "symbolic link"
           : S_ISSOCK(mode) ? "socket"
           : S_ISDIR(mode)  ? "directory"
                            : "device";
}

/* Replacing something that is not a regular file at a dump name is worth one
 * line (someone planted it, or a name was reused), once per process. */
static void say_replaced(const char *dir_path, const char *name, mode_t mode) {
    static pid_t said_in;
    if (said_in == getpid())
        return;
    said_in = getpid();
    _rallo_door->warn("replaced the %s at %s/%s with a new dump file (dumps never write into what is there)",
                      kind_of(mode), dir_path, name);
}

int _rallo_dump_write_at(int dir_fd, const char *dir_path, const char *name, const void *data, size_t len) {
    char *temp = NULL;
    int fd = open_temporary(dir_fd, name, &temp);
    if (fd < 0)
        return -1;
    /* Exactly 0600 whatever the umask: a heap profile shows code addresses. */
    int rc = fchmod(fd, 0600);
    if (rc == 0)
        rc = write_all(fd, data, len);
    if (rc == 0)
        rc = fsync(fd);
    int saved = errno;
    if (close(fd) != 0 && rc == 0) { /* NFS reports write errors at close */
        rc = -1;
        saved = errno;
    }
    struct stat there;
    bool planted = fstatat(dir_fd, name, &there, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(there.st_mode);
    if (rc == 0 && renameat(dir_fd, temp, dir_fd, name) != 0) {
        rc = -1;
        /* Not ours to replace (another user's, in a sticky directory) or a
         * directory: skipped, and said as "File exists", not "Permission denied". */
        saved = planted ? EEXIST : errno;
    }
    if (rc != 0) {
        unlinkat(dir_fd, temp, 0);
    } else {
        if (planted)
            say_replaced(dir_path, name, there.st_mode);
        fsync(dir_fd); /* the rename itself durable; a failure here loses nothing written */
    }
    mi_free(temp);
    errno = saved;
    return rc;
}

/* A character device the caller named (say /dev/null or /dev/full): renaming
 * over it would replace the node, so write into it; only root can make one, so
 * none is planted. Returns 1 when handled (result in *result), 0 when path is
 * not one. A FIFO is not written into: it could block, and its reader could be
 * anyone. O_NOFOLLOW: a link is never written through. */
static int write_device(const char *path, const void *data, size_t len, int *result) {
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISCHR(st.st_mode))
        return 0;
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        *result = -1;
        return 1;
    }
    if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode)) {
        close(fd); /* swapped meanwhile: take the normal way */
        return 0;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    int rc = write_all(fd, data, len);
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    errno = saved;
    *result = rc;
    return 1;
}

int _rallo_dump_write_file(const char *path, const void *data, size_t len) {
    if (path == NULL || path[0] == '\0') {
        errno = EINVAL;
        return -1;
    }
    int device = 0;
    if (write_device(path, data, len, &device))
        return device;
    const char *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;
    if (name[0] == '\0') {
        errno = EISDIR;
        return -1;
    }
    char *dir = slash == NULL   ? mi_strdup(".")
                : slash == path ? mi_strdup("/")
                                : mi_strndup(path, (size_t)(slash - path));
    if (dir == NULL) {
        errno = ENOMEM;
        return -1;
    }
    /* The caller's own path: its directory is taken as named (links and all). */
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
    int rc = dir_fd < 0 ? -1 : _rallo_dump_write_at(dir_fd, dir, name, data, len);
    int saved = errno;
    if (dir_fd >= 0)
        close(dir_fd);
    mi_free(dir);
    errno = saved;
    return rc;
}
