/* safe_open.h - opening for reading a file that someone else named (a
 * profile given on the command line, a dump found in a shared directory, a
 * module a profile's mapping names): regular files only, never blocking. */
#ifndef RALLO_SAFE_OPEN_H
#define RALLO_SAFE_OPEN_H

#include <elfutils/libdwfl.h>

/* Opens path read-only (close-on-exec) if it is a regular file. A FIFO, a
 * device, a socket or a directory is refused without waiting on it (the
 * open is non-blocking, then fstat decides). Returns the descriptor, or -1
 * with *why a few words: "no such file", "not a regular file (a FIFO)", or
 * the system's reason. */
int rallo_open_regular(const char *path, const char **why);

/* libdwfl's find_debuginfo callback (in place of dwfl_standard_find_debuginfo,
 * which opens any file a module's .gnu_debuglink names with a blocking open):
 * the build-id tree under /usr/lib/debug first, then the debug link beside
 * the module, in its .debug/ and under /usr/lib/debug, each opened with
 * rallo_open_regular and taken only when its CRC matches the link's. */
int rallo_find_debuginfo(Dwfl_Module *module, void **userdata, const char *modname, Dwarf_Addr base,
                         const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                         char **debuginfo_file_name);

#endif
