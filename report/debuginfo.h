/* debuginfo.h - the symbolizer's search for a module's separate debug
 * information, opening only regular files. */
#ifndef RALLO_DEBUGINFO_H
#define RALLO_DEBUGINFO_H

#include <elfutils/libdwfl.h>

/* libdwfl's find_debuginfo callback (in place of dwfl_standard_find_debuginfo,
 * which opens any file a module's .gnu_debuglink names with a blocking open):
 * the build-id tree under /usr/lib/debug first, then the debug link beside
 * the module, in its .debug/ and under /usr/lib/debug, each opened with
 * rallo_open_regular and taken only when its CRC matches the link's. */
int rallo_find_debuginfo(Dwfl_Module *module, void **userdata, const char *modname, Dwarf_Addr base,
                         const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                         char **debuginfo_file_name);

#endif
