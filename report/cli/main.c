/* main.c - the `rallo` command: run a program under rallo, turn saved profiles
 * into other formats, compare two profiles. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out) {
    fputs("usage: rallo <command> [options]\n"
          "\n"
          "commands:\n"
          "  run [-o DIR] [--sample BYTES] [--interval SECONDS] [--formats LIST] [--depth N]\n"
          "      [--unwind fp|dwarf|auto] [--no-follow] -- PROGRAM [ARGS]\n"
          "                     run PROGRAM with rallo tracking every allocation; dump at exit\n"
          "  report PROFILE|DIR [-f FORMAT] [-o OUT]\n"
          "                     a saved pprof profile as html, folded, text or json;\n"
          "                     a directory of periodic dumps as one timeline page\n"
          "  diff BASE NEW [-f FORMAT] [-o OUT]\n"
          "                     what grew and what shrank between two profiles\n"
          "  list               the processes serving RALLO_HTTP, each reachable by pid\n"
          "\n"
          "`rallo <command> --help` tells more.\n",
          out);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *command = argv[1];
    if (strcmp(command, "run") == 0)
        return cli_run(argc - 1, argv + 1);
    if (strcmp(command, "report") == 0)
        return cli_report(argc - 1, argv + 1);
    if (strcmp(command, "diff") == 0)
        return cli_diff(argc - 1, argv + 1);
    if (strcmp(command, "list") == 0)
        return cli_list(argc - 1, argv + 1);
    if (strcmp(command, "_convert") == 0)
        return cli_convert(argc - 1, argv + 1);
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 || strcmp(command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(command, "--version") == 0) {
        printf("rallo %d.%d\n", RALLO_VERSION_MAJOR, RALLO_VERSION_MINOR);
        return 0;
    }
    cli_error("unknown command '%s'", command);
    usage(stderr);
    return 2;
}
