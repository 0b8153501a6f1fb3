/* follow.c - RALLO_FOLLOW=0 (`rallo run --no-follow`): profile this process
 * only. Once rallo has read its configuration, librallo is taken out of
 * LD_PRELOAD and the variables that would turn tracking and dumps on are
 * removed from the environment, so the programs this one executes run without
 * rallo. (A child forked without exec keeps librallo: it is this process.) */
#include <dlfcn.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../tracking/door.h"

/* Whether one LD_PRELOAD entry names the file this library was loaded from. */
static bool entry_is_us(const char *entry, size_t len, const struct stat *us) {
    char path[4096];
    if (len == 0 || len >= sizeof path)
        return false;
    memcpy(path, entry, len);
    path[len] = '\0';
    struct stat info;
    return stat(path, &info) == 0 && info.st_dev == us->st_dev && info.st_ino == us->st_ino;
}

/* environ is edited directly, not through getenv/unsetenv: some programs
 * (bash) bring their own versions of those that keep a table of their own
 * and are not ready before main. Removing an entry only moves pointers. */
static void remove_entry(char **slot) {
    do
        slot[0] = slot[1];
    while (*slot++ != NULL);
}

static char **find_entry(const char *prefix) {
    size_t len = strlen(prefix);
    for (char **entry = environ; entry != NULL && *entry != NULL; entry++)
        if (strncmp(*entry, prefix, len) == 0)
            return entry;
    return NULL;
}

/* Removes our entries from LD_PRELOAD in place (the value only gets shorter,
 * so nothing is allocated); removes the variable when nothing else is left. */
static void unpreload(void) {
    Dl_info self;
    struct stat us;
    /* librallo's own file (this code lives in librallo-report.so, loaded beside it). */
    if (dladdr((void *)&rallo_enable, &self) == 0 || self.dli_fname == NULL || stat(self.dli_fname, &us) != 0)
        return;
    char **slot = find_entry("LD_PRELOAD=");
    if (slot == NULL)
        return;
    char *list = *slot + strlen("LD_PRELOAD=");
    char *write = list;
    const char *read = list;
    while (*read != '\0') {
        /* ld.so separates entries by colons or spaces. */
        read += strspn(read, ": ");
        size_t len = strcspn(read, ": ");
        if (len == 0)
            break;
        if (!entry_is_us(read, len, &us)) {
            if (write != list)
                *write++ = ':';
            memmove(write, read, len);
            write += len;
        }
        read += len;
    }
    *write = '\0';
    if (list[0] == '\0')
        remove_entry(slot);
}

/* Every variable that would have a child of ours track, dump or serve. */
static bool variable_starts_rallo(const char *entry) {
    static const char *const names[] = {"RALLO_ENABLE=", "RALLO_HTTP=", "RALLO_TOGGLE_SIGNAL="};
    if (strncmp(entry, "RALLO_DUMP_", 11) == 0)
        return true;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncmp(entry, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

static void forget_variables(void) {
    for (char **entry = environ; entry != NULL && *entry != NULL;) {
        if (variable_starts_rallo(*entry))
            remove_entry(entry); /* the next one moved here */
        else
            entry++;
    }
}

/* After every constructor that reads the environment: init.c (101),
 * dumper.c (200), http.c (210), toggle.c (220). */
__attribute__((constructor(300))) static void follow_load(void) {
    if (!_rallo_door_open())
        return;
    const char *text = _rallo_door->getenv("RALLO_FOLLOW");
    bool follow = true;
    if (text != NULL && text[0] != '\0' && !_rallo_door->parse_bool(text, &follow))
        _rallo_door->warn("ignoring RALLO_FOLLOW: expected 1 or 0 (true/false, yes/no, on/off)");
    if (follow)
        return;
    unpreload();
    forget_variables();
}
