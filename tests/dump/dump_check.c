/* dump_check.c - running dump_target under rallo and checking dump files with
 * outside tools (see dump_check.h). */
#include "dump_check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

char *make_temp_dir(const char *tag) {
    const char *base = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/rallo-dump-%s-XXXXXX", base != NULL && base[0] ? base : "/tmp", tag);
    if (mkdtemp(path) == NULL)
        return NULL;
    chmod(path, 0755);
    return strdup(path);
}

void remove_tree(const char *dir) {
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

pid_t start_target(const char *work_dir, const char *const *env, const char *const *args, bool drop_root) {
    const char *argv[32];
    int argc = 0;
    argv[argc++] = DUMP_TARGET;
    for (; args[argc - 1] != NULL && argc < 31; argc++)
        argv[argc] = args[argc - 1];
    argv[argc] = NULL;

    const char *envp[512];
    int envc = 0;
    static char preload[4200];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", RALLO_LIB);
    envp[envc++] = preload;
    for (char **e = environ; *e != NULL && envc < 480; e++)
        if (strncmp(*e, "RALLO_", 6) != 0 && strncmp(*e, "LD_PRELOAD=", 11) != 0)
            envp[envc++] = *e;
    for (int i = 0; env != NULL && env[i] != NULL && envc < 510; i++)
        envp[envc++] = env[i];
    envp[envc] = NULL;

    char out_path[4200], err_path[4200];
    snprintf(out_path, sizeof out_path, "%s/stdout", work_dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", work_dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (out < 0 || err < 0)
            _exit(120);
        dup2(out, 1);
        dup2(err, 2);
        if (drop_root && geteuid() == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(121);
        }
        execve(DUMP_TARGET, (char *const *)argv, (char *const *)envp);
        _exit(122);
    }
    return pid;
}

static void read_file(const char *path, char *buf, size_t cap) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

bool dump_check_waits_for_helpers = true;

/* Whether some process is a dumping program's helper (`rallo _convert`, which
 * writes the formats of a periodic, signal or exit dump after the raw profile)
 * working on a dump under dir. */
static bool helpers_running(const char *dir) {
    DIR *proc = opendir("/proc");
    bool found = false;
    for (struct dirent *entry; !found && proc != NULL && (entry = readdir(proc)) != NULL;) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9')
            continue;
        char path[300], cmdline[8192] = "";
        snprintf(path, sizeof path, "/proc/%s/cmdline", entry->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
        close(fd);
        if (n <= 0)
            continue;
        cmdline[n] = '\0';
        const char *second = cmdline + strlen(cmdline) + 1; /* argv[1] */
        if (second >= cmdline + n || strcmp(second, "_convert") != 0)
            continue;
        for (const char *arg = second; arg < cmdline + n; arg += strlen(arg) + 1)
            found |= strstr(arg, dir) != NULL; /* the dump's path */
    }
    if (proc != NULL)
        closedir(proc);
    return found;
}

void wait_for_helpers(const char *dir, double timeout) {
    struct timespec step = {0, 20 * 1000 * 1000};
    for (double waited = 0; waited < timeout && helpers_running(dir); waited += 0.02)
        nanosleep(&step, NULL);
}

void finish_target(const char *work_dir, pid_t pid, double timeout, target_run *run) {
    int status = 0;
    struct timespec step = {0, 10 * 1000 * 1000};
    for (double waited = 0;; waited += 0.01) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (waited > timeout) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        nanosleep(&step, NULL);
    }
    run->pid = pid;
    run->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    if (dump_check_waits_for_helpers)
        wait_for_helpers(work_dir, 30); /* their files and their messages */
    char path[4200];
    snprintf(path, sizeof path, "%s/stdout", work_dir);
    read_file(path, run->out, sizeof run->out);
    snprintf(path, sizeof path, "%s/stderr", work_dir);
    read_file(path, run->err, sizeof run->err);
}

void run_target(const char *work_dir, const char *const *env, const char *const *args, target_run *run) {
    finish_target(work_dir, start_target(work_dir, env, args, false), 120, run);
}

int count_rallo_lines(const char *err) {
    int lines = 0;
    for (const char *p = err; (p = strstr(p, "rallo: ")) != NULL; p++)
        if (p == err || p[-1] == '\n')
            lines++;
    return lines;
}

static bool run_quiet(const char *command) {
    return system(command) == 0;
}

bool check_json(const char *path, const char *work_dir) {
    (void)work_dir;
    char command[4400];
    snprintf(command, sizeof command, "python3 -m json.tool '%s' > /dev/null 2>&1", path);
    return run_quiet(command);
}

bool check_pprof(const char *path, const char *work_dir, char *raw_out, size_t raw_cap) {
    char command[13000], raw_path[4200];
    snprintf(command, sizeof command, "gzip -t '%s' 2>/dev/null", path);
    if (!run_quiet(command))
        return false;
    snprintf(raw_path, sizeof raw_path, "%s/pprof-raw.txt", work_dir);
    /* go wants a home and a build cache even to read a profile. */
    snprintf(command, sizeof command, "HOME='%s' GOCACHE='%s/gocache' go tool pprof -raw '%s' > '%s' 2>&1",
             work_dir, work_dir, path, raw_path);
    bool ok = run_quiet(command);
    char local[16384];
    char *buf = raw_out != NULL ? raw_out : local;
    read_file(raw_path, buf, raw_out != NULL ? raw_cap : sizeof local);
    return ok && strstr(buf, "Samples:") != NULL;
}

/* Every line "frames value": a non-empty stack, one space, a decimal count. */
bool check_folded(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char line[65536];
    bool ok = true;
    int lines = 0;
    while (ok && fgets(line, sizeof line, f) != NULL) {
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n') {
            ok = false; /* a last line without its newline: truncated */
            break;
        }
        line[--len] = '\0';
        char *space = strrchr(line, ' ');
        if (space == NULL || space == line || space[1] == '\0')
            ok = false;
        for (char *p = space != NULL ? space + 1 : line; ok && *p; p++)
            if (*p < '0' || *p > '9')
                ok = false;
        lines++;
    }
    fclose(f);
    return ok && lines > 0;
}

bool check_text(const char *path) {
    char buf[256];
    read_file(path, buf, sizeof buf);
    return strncmp(buf, "rallo text report v1\n", 21) == 0;
}

bool check_html(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char head[16] = {0}, tail[64] = {0};
    size_t n = fread(head, 1, 15, f);
    bool ok = n == 15 && memcmp(head, "<!DOCTYPE html>", 15) == 0;
    if (ok && fseek(f, -(long)(sizeof tail - 1), SEEK_END) == 0) {
        n = fread(tail, 1, sizeof tail - 1, f);
        tail[n] = '\0';
        ok = strstr(tail, "</html>") != NULL; /* complete, not cut short */
    }
    fclose(f);
    return ok;
}

static bool ends_with(const char *text, const char *suffix) {
    size_t a = strlen(text), b = strlen(suffix);
    return a >= b && strcmp(text + a - b, suffix) == 0;
}

bool check_dump_file(const char *path, const char *work_dir) {
    if (ends_with(path, ".json"))
        return check_json(path, work_dir);
    if (ends_with(path, ".pb.gz"))
        return check_pprof(path, work_dir, NULL, 0);
    if (ends_with(path, ".folded"))
        return check_folded(path);
    if (ends_with(path, ".txt"))
        return check_text(path);
    if (ends_with(path, ".html"))
        return check_html(path);
    return false;
}

bool file_mode_is(const char *path, unsigned mode) {
    struct stat st;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == mode;
}

int count_dumps(const char *dir, long pid, const char *work_dir, int *max_seq, bool *all_valid) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "rallo.%ld.", pid);
    DIR *d = opendir(dir);
    int count = 0;
    *max_seq = 0;
    *all_valid = true;
    if (d == NULL)
        return 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (strncmp(entry->d_name, prefix, strlen(prefix)) != 0)
            continue;
        count++;
        int seq = atoi(entry->d_name + strlen(prefix));
        if (seq > *max_seq)
            *max_seq = seq;
        char path[4500];
        snprintf(path, sizeof path, "%s/%.256s", dir, entry->d_name);
        if (!check_dump_file(path, work_dir) || !file_mode_is(path, 0600)) {
            fprintf(stderr, "not a complete dump: %s\n", path);
            *all_valid = false;
        }
    }
    closedir(d);
    return count;
}

bool wait_for_file(const char *path, double timeout) {
    struct timespec step = {0, 20 * 1000 * 1000};
    for (double waited = 0; waited < timeout; waited += 0.02) {
        if (access(path, F_OK) == 0)
            return true;
        nanosleep(&step, NULL);
    }
    return access(path, F_OK) == 0;
}
