/* loader.h - librallo's side of loading the report libraries (loader.c):
 * the public API's dump calls (allocator/api.c) land here. */
#ifndef RALLO_LOADER_H
#define RALLO_LOADER_H

#include "internal/compiler.h"

/* rallo_dump and rallo_dump_every (include/rallo.h), through
 * librallo-report.so, loaded on first use. */
int _rallo_loader_dump(const char *path, const char *format) rallo_internal;
int _rallo_loader_dump_every(double seconds, const char *dir, const char *formats) rallo_internal;

#endif
