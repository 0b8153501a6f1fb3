/* list.c - `rallo list`: the processes that serve RALLO_HTTP on this machine,
 * found by their per-process sockets (@rallo/<pid> in /proc/net/unix, see
 * report/inproc/http-serve.c), each asked who it is over its own socket:
 * pid, parent, and whether it holds the TCP port or waits for it. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"

#define LIST_MAX 4096 /* processes shown; more are counted */

/* GET /debug/rallo/process over @rallo/<pid>; the answer's body in `line`.
 * The socket must belong to that pid (SO_PEERCRED): a name is only a name. */
static bool ask(long pid, char *line, size_t size) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct timeval timeout = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    int len = snprintf(address.sun_path + 1, sizeof address.sun_path - 1, "rallo/%ld", pid);
    socklen_t address_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
    struct ucred peer;
    socklen_t peer_len = sizeof peer;
    static const char request[] = "GET /debug/rallo/process HTTP/1.0\r\nHost: localhost\r\n\r\n";
    char reply[1024];
    size_t got = 0;
    bool ok = connect(fd, (struct sockaddr *)&address, address_len) == 0 &&
              getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) == 0 && peer.pid == pid &&
              write(fd, request, sizeof request - 1) == (ssize_t)(sizeof request - 1);
    while (ok && got < sizeof reply - 1) {
        ssize_t n = read(fd, reply + got, sizeof reply - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    reply[got] = '\0';
    const char *body = strstr(reply, "\r\n\r\n");
    if (!ok || strncmp(reply, "HTTP/1.", 7) != 0 || strncmp(reply + 8, " 200", 4) != 0 || body == NULL)
        return false;
    snprintf(line, size, "%s", body + 4);
    line[strcspn(line, "\n")] = '\0';
    return true;
}

/* The command line, NULs as spaces, control characters as '?'. */
static void command_of(long pid, char *text, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    FILE *file = fopen(path, "r");
    size_t n = file != NULL ? fread(text, 1, size - 1, file) : 0;
    if (file != NULL)
        fclose(file);
    while (n > 0 && text[n - 1] == '\0')
        n--;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            text[i] = text[i] == '\0' ? ' ' : '?';
    text[n] = '\0';
}

static int compare_pids(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int cli_list(int argc, char **argv) {
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("usage: rallo list\n"
             "\n"
             "The processes on this machine that serve RALLO_HTTP, one line each:\n"
             "pid, parent pid, the TCP port and whether this process serves it now\n"
             "(one process at a time does) or waits for it, and the command line.\n"
             "Every one of them answers on its own socket, to its own user and root:\n"
             "  curl --abstract-unix-socket rallo/PID http://localhost/debug/pprof/heap");
        return 0;
    }
    if (argc > 1) {
        cli_error("list takes no arguments (see rallo list --help)");
        return 2;
    }
    FILE *table = fopen("/proc/net/unix", "r");
    if (table == NULL) {
        cli_error("cannot open /proc/net/unix: %s", strerror(errno));
        return 1;
    }
    static long pids[LIST_MAX];
    size_t count = 0, more = 0;
    char row[512];
    while (fgets(row, sizeof row, table) != NULL) {
        /* Num RefCount Protocol Flags Type St Inode Path; listening: Flags 00010000. */
        unsigned long flags = 0;
        char name[256] = "";
        if (sscanf(row, "%*s %*s %*s %lx %*s %*s %*s %255s", &flags, name) != 2 || !(flags & 0x10000))
            continue;
        char *end = NULL;
        if (strncmp(name, "@rallo/", 7) != 0)
            continue;
        long pid = strtol(name + 7, &end, 10);
        if (pid <= 0 || *end != '\0')
            continue;
        if (count < LIST_MAX)
            pids[count++] = pid;
        else
            more++;
    }
    fclose(table);
    qsort(pids, count, sizeof pids[0], compare_pids);
    printf("%-8s %-8s %-6s %-8s %s\n", "PID", "PPID", "PORT", "STATE", "COMMAND");
    for (size_t i = 0; i < count; i++) {
        char answer[256], command[256];
        long pid = 0, ppid = 0;
        char port[16] = "-", state[16] = "?";
        command_of(pids[i], command, sizeof command);
        if (!ask(pids[i], answer, sizeof answer) ||
            sscanf(answer, "pid %ld ppid %ld port %15s %15s", &pid, &ppid, port, state) != 4) {
            printf("%-8ld %-8s %-6s %-8s %s\n", pids[i], "-", "-", "no-reply", command);
            continue;
        }
        printf("%-8ld %-8ld %-6s %-8s %s\n", pid, ppid, port, state, command);
    }
    if (more > 0)
        printf("(%zu more not shown)\n", more);
    return 0;
}
