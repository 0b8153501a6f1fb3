/* safe_open.c - reading files that someone else named: the profile given to
 * `rallo report`, the dumps found in a shared directory, the modules and debug
 * files a profile's mappings lead the symbolizer to. A plain open() of a FIFO
 * planted at such a name blocks forever (and a device may do worse), so every
 * such file is opened non-blocking and kept only if fstat says regular. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safe_open.h"

static const char *file_kind(mode_t mode) {
    if (S_ISFIFO(mode))
        return "not a regular file (a FIFO)";
    if (S_ISDIR(mode))
        return "not a regular file (a directory)";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "not a regular file (a device)";
    if (S_ISSOCK(mode))
        return "not a regular file (a socket)";
    return "not a regular file";
}

int rallo_open_regular(const char *path, const char **why) {
    /* O_NONBLOCK: open() of a FIFO returns at once instead of waiting for a
     * writer; O_NOCTTY: a terminal named here never becomes ours. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        *why = errno == ENOENT ? "no such file" : strerror(errno);
        return -1;
    }
    struct stat info;
    if (fstat(fd, &info) != 0) {
        *why = strerror(errno);
        close(fd);
        return -1;
    }
    if (!S_ISREG(info.st_mode)) {
        *why = file_kind(info.st_mode);
        close(fd);
        errno = EINVAL;
        return -1;
    }
    /* Regular files ignore O_NONBLOCK; cleared so nothing downstream sees it. */
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) != 0)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    *why = NULL;
    return fd;
}
