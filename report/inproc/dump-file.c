/* dump-file.c - one dump file, written so that no reader (and no kill -9) ever
 * sees a partial file at its final name: a private temporary beside it, written
 * in full and synced, then renamed over the final name. */
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

/* The directory part of path ("." for a bare name), in mimalloc memory. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return mi_strdup(".");
    if (slash == path)
        return mi_strdup("/");
    return mi_strndup(path, (size_t)(slash - path));
}

/* Creates a fresh temporary file beside `path`: ".<name>.tmp-<pid>-<n>". The
 * name is new (O_EXCL), so nothing planted there, link or file, is ever opened. */
static int open_temporary(const char *path, char **temp_out) {
    static _Atomic unsigned counter;
    const char *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;
    size_t dir_len = (size_t)(name - path);
    size_t cap = strlen(path) + 64;
    char *temp = mi_malloc(cap);
    if (temp == NULL) {
        errno = ENOMEM;
        return -1;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        unsigned n = counter++ ^ (unsigned)now.tv_nsec;
        snprintf(temp, cap, "%.*s.%s.tmp-%ld-%08x", (int)dir_len, path, name, (long)getpid(), n);
        int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
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

/* A device or FIFO the caller named (say /dev/null or /dev/full): renaming over
 * it would replace the node, so write into it. Returns 1 when handled (result in
 * *result), 0 when path is not such a node. O_NOFOLLOW: a link is never written
 * through; O_NONBLOCK: a FIFO without a reader fails instead of hanging. */
static int write_in_place(const char *path, const void *data, size_t len, int *result) {
    struct stat st;
    if (lstat(path, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)))
        return 0;
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        *result = -1;
        return 1;
    }
    if (fstat(fd, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
        close(fd); /* swapped for a regular file meanwhile: take the normal way */
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
    int in_place = 0;
    if (write_in_place(path, data, len, &in_place))
        return in_place;

    char *temp = NULL;
    int fd = open_temporary(path, &temp);
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
    if (rc == 0 && rename(temp, path) != 0) {
        rc = -1;
        saved = errno;
    }
    if (rc != 0) {
        unlink(temp);
    } else {
        /* Make the rename itself durable; a failure here loses nothing written. */
        char *dir = dir_of(path);
        if (dir != NULL) {
            int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            mi_free(dir);
        }
    }
    mi_free(temp);
    errno = saved;
    return rc;
}
