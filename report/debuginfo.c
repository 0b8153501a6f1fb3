/* debuginfo.c - libdwfl's debuginfo search for the symbolizer, opening only
 * regular files (safe_open.c): kept beside symbolize.c, out of the writers'
 * object library, since it needs libdw. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "debuginfo.h"
#include "safe_open.h"

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
