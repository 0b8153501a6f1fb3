/* report_cmd.c - `rallo report`: a saved pprof profile (ours, or any heap
 * profile with addresses and mappings) into html, folded, text or json,
 * symbolized from the mapped files on this machine; a directory of periodic
 * dumps into one timeline page. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static void report_usage(FILE *out) {
    fputs("usage: rallo report PROFILE [-f FORMAT] [-o OUT] [--top N] [--depth N] [--metric METRIC]\n"
          "       rallo report DIR [--pid PID] [-o OUT]\n"
          "\n"
          "PROFILE: a pprof profile (rallo's .pb.gz dumps, or any heap profile with addresses\n"
          "and mappings; frames without names are symbolized from the mapped files here).\n"
          "DIR: the periodic dumps of one process (rallo run --interval): one HTML page with\n"
          "live bytes over time with the top sites stacked; choose a moment on the chart to\n"
          "see its flame graph. Written to DIR/rallo.<pid>.timeline.html unless -o is given.\n"
          "\n"
          "  -f, --format FORMAT  html, folded, text, json or pprof (default: by OUT's\n"
          "                       extension, else text)\n"
          "  -o, --output OUT     where to write (default: stdout; for DIR, see above)\n"
          "  --pid PID            DIR: the process to show (default: the one with most dumps)\n"
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
    if (stat(input, &info) == 0 && S_ISDIR(info.st_mode)) {
        if (shaped) {
            cli_error("report: --top, --depth and --metric shape a text or folded report, not a timeline");
            return 2;
        }
        if (format_name != NULL && strcmp(format_name, "html") != 0) {
            cli_error("report: a directory of dumps becomes an html timeline only, not '%s'", format_name);
            return 2;
        }
        return cli_timeline(input, pid, out_path) == 0 ? 0 : 1;
    }
    rallo_format format = RALLO_FORMAT_TEXT;
    if (format_name != NULL) {
        if (!rallo_format_from_name(format_name, &format)) {
            cli_error("report: unknown format '%s' (html, pprof, folded, text, json)", format_name);
            return 2;
        }
    } else if (out_path != NULL && strcmp(out_path, "-") != 0 && !rallo_format_from_path(out_path, &format)) {
        cli_error("report: cannot tell the format from %s's extension; use -f", out_path);
        return 2;
    }
    if (shaped && format != RALLO_FORMAT_TEXT &&
        (format != RALLO_FORMAT_FOLDED || text.top != 0 || text.depth != 0)) {
        cli_error("report: --top and --depth shape the text report, --metric text and folded; not %s",
                  rallo_format_name(format));
        return 2;
    }
    rallo_profile profile;
    if (cli_load_profile(input, &profile, true) != 0)
        return 1;
    rallo_buf out;
    rallo_buf_init(&out);
    if (format == RALLO_FORMAT_TEXT)
        rallo_write_text_options(&profile, &out, &text);
    else if (format == RALLO_FORMAT_FOLDED && text.metric >= 0)
        rallo_write_folded_metric(&profile, &out, text.metric);
    else
        rallo_write_profile(&profile, format, &out);
    int result = cli_write_output(out_path, &out);
    rallo_buf_free(&out);
    rallo_profile_free(&profile);
    return result == 0 ? 0 : 1;
}
