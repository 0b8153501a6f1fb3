/* fault_target.c - the program the process fault tests run under
 * LD_PRELOAD=librallo.so (not linked against it). Holds 1000 x 1000 bytes,
 * prints "ready", then by its first argument:
 *   run SECONDS    allocate for SECONDS, print "done", return 0 (exit runs)
 *   quit SECONDS   allocate for SECONDS, print "done", _exit(0) (exit never runs)
 *   hold           allocate until killed */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/churn.h"

static void *held[1000];

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    for (int i = 0; i < 1000; i++) {
        held[i] = malloc(1000);
        memset(held[i], 1, 1000);
    }
    printf("ready\n");
    fflush(stdout);
    if (strcmp(argv[1], "hold") == 0)
        churn_for(-1);
    if (argc < 3)
        return 2;
    churn_for(atof(argv[2]));
    printf("done\n");
    fflush(stdout);
    if (strcmp(argv[1], "quit") == 0)
        _exit(0);
    return 0;
}
