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

#include <zlib.h>

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

/* zlib's CRC-32 is the one .gnu_debuglink records. */
static bool crc_matches(int fd, GElf_Word expected) {
    unsigned char buffer[1 << 16];
    uLong crc = crc32(0L, Z_NULL, 0);
    off_t offset = 0;
    for (;;) {
        ssize_t got = pread(fd, buffer, sizeof buffer, offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return false;
        if (got == 0)
            break;
        crc = crc32(crc, buffer, (uInt)got);
        offset += got;
    }
    return (GElf_Word)crc == expected;
}

int rallo_find_debuginfo(Dwfl_Module *module, void **userdata, const char *modname, Dwarf_Addr base,
                         const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                         char **debuginfo_file_name) {
    /* By build id: under the absolute entries of libdwfl's default path
     * (/usr/lib/debug/.build-id/), which only root writes to. */
    int fd = dwfl_build_id_find_debuginfo(module, userdata, modname, base, file_name, debuglink_file,
                                          debuglink_crc, debuginfo_file_name);
    if (fd >= 0 || debuglink_file == NULL || file_name == NULL || strchr(debuglink_file, '/') != NULL)
        return fd;
    /* By the debug link, where gdb and libdwfl look: beside the module, in
     * its .debug/, and in the same directory under /usr/lib/debug. */
    const char *slash = strrchr(file_name, '/');
    int dir_len = slash != NULL ? (int)(slash - file_name) : 0;
    static const char *const formats[] = {"%.*s/%s", "%.*s/.debug/%s", "/usr/lib/debug%.*s/%s"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        char path[PATH_MAX];
        int n = snprintf(path, sizeof path, formats[i], dir_len, file_name, debuglink_file);
        if (n < 0 || (size_t)n >= sizeof path || strcmp(path, file_name) == 0)
            continue;
        const char *why = NULL;
        fd = rallo_open_regular(path, &why);
        if (fd < 0)
            continue;
        if (crc_matches(fd, debuglink_crc)) {
            *debuginfo_file_name = strdup(path); /* libdwfl frees it */
            return fd;
        }
        close(fd);
    }
    errno = 0; /* nothing found is not an error */
    return -1;
}
