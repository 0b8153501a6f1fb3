/* report_cmd.c - `rallo report`: a saved pprof profile (ours, or any heap
 * profile with addresses and mappings) into html, folded, text or json,
 * symbolized from the mapped files on this machine; a directory of dumps: the
 * processes it holds, and one of them as a timeline page or a report. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static void report_usage(FILE *out) {
    fputs("usage: rallo report PROFILE [-f FORMAT] [-o OUT] [--top N] [--depth N] [--metric METRIC]\n"
          "       rallo report DIR [--pid PID] [-f FORMAT] [-o OUT] [--top N] [--depth N] [--metric M]\n"
          "\n"
          "PROFILE: a pprof profile (rallo's .pb.gz dumps, or any heap profile with addresses\n"
          "and mappings; frames without names are symbolized from the mapped files here).\n"
          "DIR: a directory of dumps (rallo run -o DIR). Lists the processes that dumped\n"
          "there (pid, peak, allocated, live at the end, command line), biggest first, then\n"
          "shows one: as html (its default), a page with its live bytes over time (rallo run\n"
          "--interval) and the top sites stacked; choose a moment on the chart to see its flame\n"
          "graph. Written to DIR/rallo.<pid>.timeline.html unless -o is given. Other formats:\n"
          "its latest dump.\n"
          "\n"
          "  -f, --format FORMAT  html, folded, text, json or pprof (default: by OUT's\n"
          "                       extension, else text)\n"
          "  -o, --output OUT     where to write (default: stdout; for DIR, see above)\n"
          "  --pid PID            DIR: the process to show (default: the one with most dumps,\n"
          "                       the biggest among equals)\n"
          "  --top N              text: sites in each ranking (default 10)\n"
          "  --depth N            text: frames shown per site, inlined ones included (default 5)\n"
          "  --metric METRIC      text and folded: live (bytes live, folded's default), allocated\n"
          "                       (bytes), counts (allocations) or peak (bytes live at the peak);\n"
          "                       text ranks by it alone instead of by live and by allocated bytes\n",
          out);
}

/* A value as an error message shows it: control characters as \xHH, cut at size. */
static const char *printable(const char *text, char *out, size_t size) {
    size_t used = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0' && used + 5 < size; c++) {
        if (*c < 0x20 || *c == 0x7f)
            used += (size_t)snprintf(out + used, size - used, "\\x%02x", *c);
        else
            out[used++] = (char)*c;
    }
    out[used] = '\0';
    return out;
}

/* A profile to a format (text and folded shaped by text): symbolized, written to out_path. */
static int report_profile(const char *input, rallo_format format, const rallo_text_options *text,
                          const char *out_path) {
    rallo_profile profile;
    if (cli_load_profile(input, &profile, true) != 0)
        return 1;
    rallo_buf out;
    rallo_buf_init(&out);
    if (format == RALLO_FORMAT_TEXT)
        rallo_write_text_options(&profile, &out, text);
    else if (format == RALLO_FORMAT_FOLDED && text->metric >= 0)
        rallo_write_folded_metric(&profile, &out, text->metric);
    else
        rallo_write_profile(&profile, format, &out);
    int result = cli_write_output(out_path, &out);
    rallo_buf_free(&out);
    rallo_profile_free(&profile);
    return result == 0 ? 0 : 1;
}

/* DIR: says which processes dumped there (on stderr), then shows one: the
 * timeline of its dumps (html), or its latest dump in another format. */
static int report_dir(const char *dir, int pid, rallo_format format, const rallo_text_options *text,
                      const char *out_path) {
    cli_process_list list;
    if (cli_processes_scan(dir, &list) != 0)
        return 1;
    if (list.count == 0) {
        cli_error("%s: no pprof dumps (rallo.<pid>.<seq>.pb.gz); make them with rallo run", dir);
        cli_processes_free(&list);
        return 1;
    }
    /* Default: the process with most dumps (a timeline has most to show),
     * the biggest among equals (the list is biggest first). */
    const cli_process *chosen = NULL;
    for (size_t i = 0; i < list.count; i++) {
        const cli_process *process = &list.items[i];
        if (pid != 0 ? process->pid == pid : chosen == NULL || process->ndumps > chosen->ndumps)
            chosen = process;
    }
    if (chosen == NULL) {
        cli_error("%s: no dumps of pid %d here; the processes that dumped here are:", dir, pid);
        cli_processes_print(stderr, &list, 0, false);
        cli_processes_free(&list);
        return 1;
    }
    if (list.count > 1 || pid == 0) {
        fprintf(stderr, "rallo: %s: %zu process%s dumped here, biggest (peak live) first:\n", dir, list.count,
                list.count == 1 ? "" : "es");
        cli_processes_print(stderr, &list, 0, false);
        fprintf(stderr, "rallo: showing pid %d (%zu dump%s)%s\n", chosen->pid, chosen->ndumps,
                chosen->ndumps == 1 ? "" : "s",
                pid == 0 && list.count > 1 ? "; --pid PID shows another" : "");
    }
    int result;
    if (format == RALLO_FORMAT_HTML)
        result = cli_timeline(dir, chosen->pid, out_path) == 0 ? 0 : 1;
    else
        result = report_profile(chosen->path, format, text, out_path);
    cli_processes_free(&list);
    return result;
}

int cli_report(int argc, char **argv) {
    static const struct option options[] = {
        {"format", required_argument, NULL, 'f'}, {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},         {"pid", required_argument, NULL, 'p'},
        {"top", required_argument, NULL, 't'},    {"depth", required_argument, NULL, 'd'},
        {"metric", required_argument, NULL, 'm'}, {NULL, 0, NULL, 0}};
    const char *format_name = NULL, *out_path = NULL;
    int option, pid = 0;
    char *end = NULL;
    rallo_text_options text = {.metric = -1};
    char shown[128];
    bool shaped = false; /* --top, --depth or --metric given */
    optind = 1;
    while ((option = getopt_long(argc, argv, "f:o:h", options, NULL)) != -1) {
        switch (option) {
        case 'f': format_name = optarg; break;
        case 'o': out_path = optarg; break;
        case 'h': report_usage(stdout); return 0;
        case 'p':
            pid = (int)strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || pid <= 0) {
                cli_error("report: --pid takes a process id, not '%s'", optarg);
                return 2;
            }
            break;
        case 't':
        case 'd': {
            long value = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || value <= 0 || value > 100000) {
                cli_error("report: --%s takes a number from 1 to 100000, not '%s'",
                          option == 't' ? "top" : "depth", printable(optarg, shown, sizeof shown));
                return 2;
            }
            if (option == 't')
                text.top = (size_t)value;
            else
                text.depth = (uint32_t)value;
            shaped = true;
            break;
        }
        case 'm':
            if (!rallo_metric_from_name(optarg, &text.metric)) {
                cli_error("report: --metric takes live, allocated, counts or peak, not '%s'",
                          printable(optarg, shown, sizeof shown));
                return 2;
            }
            shaped = true;
            break;
        default: report_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        cli_error("report: give exactly one PROFILE or DIR");
        report_usage(stderr);
        return 2;
    }
    const char *input = argv[optind];
    struct stat info;
    bool is_dir = stat(input, &info) == 0 && S_ISDIR(info.st_mode);
    if (!is_dir && pid != 0) {
        cli_error("report: --pid chooses a process of a directory of dumps; %s is a profile", input);
        return 2;
    }
    /* A directory's default is its timeline page; a profile's, text. */
    rallo_format format = is_dir && format_name == NULL ? RALLO_FORMAT_HTML : RALLO_FORMAT_TEXT;
    if (format_name != NULL) {
        if (!rallo_format_from_name(format_name, &format)) {
            cli_error("report: unknown format '%s' (html, pprof, folded, text, json)", format_name);
            return 2;
        }
    } else if (!is_dir && out_path != NULL && strcmp(out_path, "-") != 0 &&
               !rallo_format_from_path(out_path, &format)) {
        cli_error("report: cannot tell the format from %s's extension; use -f", out_path);
        return 2;
    }
    if (shaped && format != RALLO_FORMAT_TEXT &&
        (format != RALLO_FORMAT_FOLDED || text.top != 0 || text.depth != 0)) {
        cli_error("report: --top and --depth shape the text report, --metric text and folded; not %s",
                  rallo_format_name(format));
        return 2;
    }
    if (is_dir)
        return report_dir(input, pid, format, &text, out_path);
    return report_profile(input, format, &text, out_path);
}
