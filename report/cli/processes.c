/* processes.c - the processes a dump directory holds: one entry per pid with
 * its command line, parent, totals and latest dump (the exit dump when there
 * is one), ranked biggest first; and the table `rallo run` and `rallo report
 * DIR` print of them, with the processes that allocated almost nothing folded
 * into one line. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mimalloc.h>

#include "util/array.h"
#include "cli.h"

bool cli_dump_name_parse(const char *name, int *pid, unsigned long *seq) {
    /* Digits only where numbers go: strtol would also take spaces, signs and
     * control characters before them, which then reach messages. */
    if (strncmp(name, "rallo.", 6) != 0 || name[6] < '0' || name[6] > '9')
        return false;
    char *end = NULL;
    errno = 0;
    long number = strtol(name + 6, &end, 10);
    if (end == name + 6 || *end != '.' || number <= 0 || number > INT32_MAX || errno != 0)
        return false;
    *pid = (int)number;
    const char *rest = end + 1;
    if (strcmp(rest, "final.pb.gz") == 0) {
        *seq = ULONG_MAX;
        return true;
    }
    if (rest[0] < '0' || rest[0] > '9')
        return false;
    unsigned long value = strtoul(rest, &end, 10);
    if (end == rest || strcmp(end, ".pb.gz") != 0 || value == 0)
        return false;
    *seq = value;
    return true;
}

static cli_process *process_of(cli_process_list *list, int pid) {
    for (size_t i = 0; i < list->count; i++)
        if (list->items[i].pid == pid)
            return &list->items[i];
    if (!rallo_array_reserve((void **)&list->items, &list->cap, list->count + 1, sizeof *list->items, 32))
        return NULL;
    cli_process *process = &list->items[list->count++];
    memset(process, 0, sizeof *process);
    process->pid = pid;
    return process;
}

/* Biggest first: by peak live bytes, then bytes allocated, then pid. */
static int by_size(const void *a, const void *b) {
    const cli_process *left = a, *right = b;
    if (left->totals.peak_live_bytes != right->totals.peak_live_bytes)
        return left->totals.peak_live_bytes > right->totals.peak_live_bytes ? -1 : 1;
    if (left->totals.alloc_bytes != right->totals.alloc_bytes)
        return left->totals.alloc_bytes > right->totals.alloc_bytes ? -1 : 1;
    return left->pid < right->pid ? -1 : left->pid > right->pid;
}

int cli_processes_scan(const char *dir, cli_process_list *list) {
    memset(list, 0, sizeof *list);
    DIR *handle = opendir(dir);
    if (handle == NULL) {
        cli_error("cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *entry;
    while ((entry = readdir(handle)) != NULL) {
        int pid;
        unsigned long seq;
        if (!cli_dump_name_parse(entry->d_name, &pid, &seq))
            continue;
        cli_process *process = process_of(list, pid);
        if (process == NULL)
            break;
        if (process->path != NULL && seq <= process->seq) {
            process->ndumps++;
            continue;
        }
        size_t len = strlen(dir) + strlen(entry->d_name) + 2;
        char *path = mi_malloc(len);
        if (path == NULL)
            break;
        snprintf(path, len, "%s/%s", dir, entry->d_name);
        /* Only regular files can be a process's latest dump: a FIFO or a link
         * planted under a dump's name is passed over here (the timeline,
         * which opens every dump, says so). */
        struct stat entry_info;
        if (lstat(path, &entry_info) != 0 || !S_ISREG(entry_info.st_mode)) {
            mi_free(path);
            continue;
        }
        process->ndumps++;
        mi_free(process->path);
        process->path = path;
        process->seq = seq;
    }
    closedir(handle);
    /* Each one's latest dump, for its totals and command line (no symbols needed). */
    size_t kept = 0;
    for (size_t i = 0; i < list->count; i++) {
        cli_process *process = &list->items[i];
        rallo_profile profile;
        struct stat info;
        if (process->path == NULL || stat(process->path, &info) != 0 ||
            cli_load_profile(process->path, &profile, false) != 0) {
            mi_free(process->path);
            continue;
        }
        process->mtime = info.st_mtime;
        process->final = process->seq == ULONG_MAX;
        process->ppid = profile.ppid;
        process->totals = profile.totals;
        process->sample_interval = profile.sample_interval;
        char command[1024];
        process->command = mi_strdup(rallo_command_line(&profile, command, sizeof command));
        process->program = mi_strdup(profile.program != NULL ? profile.program : "?");
        rallo_profile_free(&profile);
        list->items[kept++] = *process;
    }
    list->count = kept;
    if (kept > 1) /* no dumps: items is NULL, which qsort may not be given even empty */
        qsort(list->items, list->count, sizeof *list->items, by_size);
    return 0;
}

void cli_processes_keep(cli_process_list *list, const bool *keep) {
    size_t kept = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (keep[i]) {
            list->items[kept++] = list->items[i];
            continue;
        }
        mi_free(list->items[i].path);
        mi_free(list->items[i].command);
        mi_free(list->items[i].program);
    }
    list->count = kept;
}

void cli_processes_free(cli_process_list *list) {
    for (size_t i = 0; i < list->count; i++) {
        mi_free(list->items[i].path);
        mi_free(list->items[i].command);
        mi_free(list->items[i].program);
    }
    mi_free(list->items);
    memset(list, 0, sizeof *list);
}

/* At most this many rows; the rest, and every process that allocated less than
 * 1% of the biggest allocator (and under 1 MiB), share one line. */
#define TABLE_ROWS 12
#define SMALL_BYTES ((uint64_t)1 << 20)

static bool is_small(const cli_process *process, uint64_t most_allocated) {
    uint64_t bytes = process->totals.alloc_bytes;
    return bytes < SMALL_BYTES && bytes * 100 < most_allocated;
}

void cli_processes_print(FILE *out, const cli_process_list *list, int always_show, bool fold) {
    uint64_t most_allocated = 0;
    for (size_t i = 0; i < list->count; i++)
        if (list->items[i].totals.alloc_bytes > most_allocated)
            most_allocated = list->items[i].totals.alloc_bytes;
    fprintf(out, "  %8s %11s %11s %13s  %s\n", "pid", "peak live", "allocated", "live at exit", "command");
    size_t rows = 0, folded = 0;
    uint64_t folded_bytes = 0;
    for (size_t i = 0; i < list->count; i++) {
        const cli_process *process = &list->items[i];
        if (fold && process->pid != always_show &&
            (rows >= TABLE_ROWS || is_small(process, most_allocated))) {
            folded++;
            folded_bytes += process->totals.alloc_bytes;
            continue;
        }
        rows++;
        char peak[32], allocated[32], live[32];
        fprintf(out, "  %8d %11s %11s %13s  %.120s%s%s\n", process->pid,
                rallo_format_bytes(process->totals.peak_live_bytes, peak, sizeof peak),
                rallo_format_bytes(process->totals.alloc_bytes, allocated, sizeof allocated),
                rallo_format_bytes(process->totals.live_bytes, live, sizeof live), process->command,
                strlen(process->command) > 120 ? "..." : "", process->final ? "" : " [no exit dump: latest]");
    }
    if (folded > 0) {
        char bytes[32];
        fprintf(out, "  %8s %zu more process%s, small or beyond the first %d, allocated %s in all\n", "+",
                folded, folded == 1 ? "" : "es", TABLE_ROWS,
                rallo_format_bytes(folded_bytes, bytes, sizeof bytes));
    }
}
