/* run_summary.h - the summary `rallo run` prints once its program ended
 * (run_summary.c), for run.c. */
#ifndef RALLO_CLI_RUN_SUMMARY_H
#define RALLO_CLI_RUN_SUMMARY_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

/* Every process this run profiled (the program's descendants that left an
 * exit dump since `started`, found in dir), biggest first; then the biggest
 * one's top sites, on stderr. pid: the program's; was_static: it was
 * statically linked (said when nothing was profiled). */
void run_print_summary(const char *program, const char *dir, pid_t pid, time_t started, bool was_static);

#endif
