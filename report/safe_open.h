/* safe_open.h - opening for reading a file that someone else named (a
 * profile given on the command line, a dump found in a shared directory, a
 * module a profile's mapping names): regular files only, never blocking. */
#ifndef RALLO_SAFE_OPEN_H
#define RALLO_SAFE_OPEN_H

/* Opens path read-only (close-on-exec) if it is a regular file. A FIFO, a
 * device, a socket or a directory is refused without waiting on it (the
 * open is non-blocking, then fstat decides). Returns the descriptor, or -1
 * with *why a few words: "no such file", "not a regular file (a FIFO)", or
 * the system's reason. */
int rallo_open_regular(const char *path, const char **why);

#endif
