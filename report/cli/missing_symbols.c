/* missing_symbols.c - what `rallo report` says about the modules whose frames
 * got no file:line because the module has no debug information: each module
 * once, with how many of its frames stay without a name, and how to get the
 * symbols (on Debian the owning package's -dbgsym from the debug archive,
 * found with dpkg-query; anywhere, debuginfod). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mimalloc.h>

#include "util/array.h"
#include "cli.h"

void cli_undebugged_note(const char *path, uint64_t named, uint64_t unnamed, void *arg) {
    cli_undebugged *u = arg;
    if (!rallo_array_reserve((void **)&u->modules, &u->cap, u->count + 1, sizeof *u->modules, 8))
        return;
    char *copy = mi_strdup(path != NULL ? path : "?");
    if (copy == NULL)
        return;
    u->modules[u->count++] = (cli_undebugged_module){copy, named, unnamed, NULL};
}

/* "a, b:arch: /path" -> "a" */
static char *package_of_line(const char *line) {
    size_t len = strcspn(line, ",: ");
    return len > 0 ? mi_strndup(line, len) : NULL;
}

/* Fills in each module's Debian package from one `dpkg-query -S` (run
 * without a shell; its absence or failure leaves them unknown). A merged /usr
 * keeps dpkg's records under /lib: both spellings are asked for. */
static void find_packages(cli_undebugged *u) {
    const char **argv = mi_calloc(2 * u->count + 3, sizeof *argv);
    if (argv == NULL)
        return;
    size_t argc = 0;
    argv[argc++] = "dpkg-query";
    argv[argc++] = "-S";
    for (size_t i = 0; i < u->count; i++) {
        argv[argc++] = u->modules[i].path;
        if (strncmp(u->modules[i].path, "/usr/", 5) == 0)
            argv[argc++] = u->modules[i].path + 4;
    }
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        mi_free(argv);
        return;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        int null_fd = open("/dev/null", O_RDWR);
        dup2(pipe_fds[1], STDOUT_FILENO);
        if (null_fd >= 0) {
            dup2(null_fd, STDIN_FILENO);
            dup2(null_fd, STDERR_FILENO);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipe_fds[1]);
    mi_free(argv);
    if (child < 0) {
        close(pipe_fds[0]);
        return;
    }
    rallo_buf out;
    rallo_buf_init(&out);
    char chunk[4096];
    ssize_t got;
    while ((got = read(pipe_fds[0], chunk, sizeof chunk)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 || out.len > (1u << 20))
            break;
        rallo_buf_put(&out, chunk, (size_t)got);
    }
    close(pipe_fds[0]);
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
    }
    rallo_buf_putc(&out, '\0');
    for (char *line = out.failed ? NULL : out.data; line != NULL && *line != '\0';) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        const char *found = strstr(line, ": ");
        if (found != NULL && strncmp(line, "diversion", 9) != 0) {
            found += 2;
            for (size_t i = 0; i < u->count; i++) {
                const char *path = u->modules[i].path;
                bool same = strcmp(found, path) == 0 ||
                            (strncmp(path, "/usr/", 5) == 0 && strcmp(found, path + 4) == 0);
                if (same && u->modules[i].package == NULL)
                    u->modules[i].package = package_of_line(line);
            }
        }
        line = end != NULL ? end + 1 : NULL;
    }
    rallo_buf_free(&out);
}

/* The release's code name from /etc/os-release ("bookworm"), for the debug
 * archive's suite; "<release>" when unknown. */
static void release_codename(char *name, size_t size) {
    snprintf(name, size, "<release>");
    FILE *file = fopen("/etc/os-release", "r");
    if (file == NULL)
        return;
    char line[256];
    while (fgets(line, sizeof line, file) != NULL) {
        if (strncmp(line, "VERSION_CODENAME=", 17) != 0)
            continue;
        size_t len = strcspn(line + 17, "\"\n ");
        if (len > 0 && len < size) {
            memcpy(name, line + 17, len);
            name[len] = '\0';
        }
    }
    fclose(file);
}

uint64_t cli_undebugged_report(const char *profile_path, cli_undebugged *u) {
    uint64_t unnamed = 0;
    if (u->count == 0)
        return 0;
    find_packages(u);
    cli_error("%s: %zu module%s no debug information, so %s frames have no file:line:", profile_path,
              u->count, u->count == 1 ? " has" : "s have", u->count == 1 ? "its" : "their");
    bool any_package = false;
    for (size_t i = 0; i < u->count; i++) {
        const cli_undebugged_module *m = &u->modules[i];
        unnamed += m->unnamed;
        char package[160] = "";
        if (m->package != NULL) {
            /* glibc's debug symbols come as libc6-dbg, every other package's as NAME-dbgsym */
            snprintf(package, sizeof package, "; install %s%s", m->package,
                     strcmp(m->package, "libc6") == 0 ? "-dbg" : "-dbgsym");
            any_package = true;
        }
        cli_error("  %s: %" PRIu64 " frames named by its symbol table, %" PRIu64 " with no name%s", m->path,
                  m->named, m->unnamed, package);
    }
    char codename[64];
    release_codename(codename, sizeof codename);
    if (any_package)
        cli_error(
            "  (Debian's -dbgsym packages come from the debug archive: deb "
            "http://deb.debian.org/debian-debug "
            "%s-debug main; or set DEBUGINFOD_URLS=https://debuginfod.debian.net and run this again)",
            codename);
    else
        cli_error(
            "  (install the distribution's debug symbols for them, or set DEBUGINFOD_URLS to a debuginfod "
            "server, e.g. https://debuginfod.debian.net, and run this again)");
    for (size_t i = 0; i < u->count; i++) {
        mi_free(u->modules[i].path);
        mi_free(u->modules[i].package);
    }
    mi_free(u->modules);
    memset(u, 0, sizeof *u);
    return unnamed;
}
