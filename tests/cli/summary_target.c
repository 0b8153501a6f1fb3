/* summary_target.c - the programs the summary tests (test_summary.py) run
 * under `rallo run`, each allocating what the checker knows exactly. Built -O0
 * with frame pointers so each named function is its own frame.
 *   family          parent_block: 2 MiB kept; runs "summary_target child 4 first"
 *                   and "summary_target child 8 second", waits for both
 *   child MIB NAME  child_block: MIB MiB kept (1 MiB blocks)
 *   peak_then_small big_buffer: one 64 MiB block, freed; small_kept: 10 x 100 B
 *                   kept (live at exit)
 *   touch PATH      creates PATH (the marker a flag test expects never to see)
 *   small N SIZE    small_blocks: N blocks of SIZE bytes, kept */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *kept[4096];
static int nkept;

__attribute__((noinline)) void parent_block(void) {
    kept[nkept] = malloc(2u << 20);
    memset(kept[nkept++], 1, 2u << 20);
}

__attribute__((noinline)) void child_block(int mib) {
    for (int i = 0; i < mib; i++) {
        kept[nkept] = malloc(1u << 20);
        memset(kept[nkept++], 2, 1u << 20);
    }
}

__attribute__((noinline)) void big_buffer(void) {
    char *buffer = malloc(64u << 20);
    memset(buffer, 3, 64u << 20);
    free(buffer);
}

__attribute__((noinline)) void small_kept(void) {
    for (int i = 0; i < 10; i++)
        kept[nkept++] = malloc(100);
}

__attribute__((noinline)) void small_blocks(int n, size_t size) {
    for (int i = 0; i < n && nkept < 4096; i++)
        kept[nkept++] = malloc(size);
}

static pid_t spawn(const char *self, const char *mib, const char *name) {
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, "child", mib, name, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "family") == 0) {
        parent_block();
        pid_t first = spawn(argv[0], "4", "first");
        int status;
        waitpid(first, &status, 0);
        pid_t second = spawn(argv[0], "8", "second");
        waitpid(second, &status, 0);
        return 0;
    }
    if (strcmp(mode, "child") == 0 && argc > 2) {
        child_block(atoi(argv[2]));
        return 0;
    }
    if (strcmp(mode, "peak_then_small") == 0) {
        big_buffer();
        small_kept();
        return 0;
    }
    if (strcmp(mode, "touch") == 0 && argc > 2) {
        int fd = open(argv[2], O_WRONLY | O_CREAT, 0600);
        return fd >= 0 ? close(fd) : 1;
    }
    if (strcmp(mode, "small") == 0 && argc > 3) {
        small_blocks(atoi(argv[2]), (size_t)atol(argv[3]));
        return 0;
    }
    fprintf(stderr, "summary_target: unknown mode '%s'\n", mode);
    return 2;
}
