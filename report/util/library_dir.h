/* util/library_dir.h - where the shared object that holds a given function
 * lies on disk: how librallo finds the report library beside it, and the
 * report library the `rallo` command. Header-only: librallo (report/loader/)
 * and the report libraries each compile their own copy, about themselves. */
#ifndef RALLO_UTIL_LIBRARY_DIR_H
#define RALLO_UTIL_LIBRARY_DIR_H

#include <dlfcn.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The directory of the object that holds `code`, resolved (realpath), with a
 * trailing '/', into dir (PATH_MAX bytes); false when the dynamic loader
 * cannot say. Done at load, while a relative path the object was loaded by
 * still means what it meant. */
static inline bool rallo_library_dir(const void *code, char dir[PATH_MAX]) {
    Dl_info self;
    if (dladdr(code, &self) == 0 || self.dli_fname == NULL || realpath(self.dli_fname, dir) == NULL)
        return false;
    char *slash = strrchr(dir, '/'); /* a resolved path is absolute: there is one */
    if (slash == NULL)
        return false;
    slash[1] = '\0';
    return true;
}

#endif
