/* sig_target.c - a program that, like nginx or PostgreSQL in main(), installs
 * its own handler for a signal: `sig_target sigaction|signal|none SIGNO`
 * installs it (or not), raises the signal three times, and prints how often
 * its handler ran and whether rallo tracked before and after. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rallo.h"

static volatile sig_atomic_t handled;

static void own_handler(int signo) {
    (void)signo;
    handled++;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: sig_target sigaction|signal|none SIGNO\n");
        return 2;
    }
    int signo = atoi(argv[2]);
    int before = rallo_is_enabled();
    if (strcmp(argv[1], "sigaction") == 0) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = own_handler;
        sigemptyset(&action.sa_mask);
        if (sigaction(signo, &action, NULL) != 0)
            return 3;
    } else if (strcmp(argv[1], "signal") == 0) {
        if (signal(signo, own_handler) == SIG_ERR)
            return 3;
    }
    for (int i = 0; i < 3; i++)
        raise(signo);
    printf("handled=%d enabled_before=%d enabled_after=%d\n", (int)handled, before, rallo_is_enabled());
    return 0;
}
