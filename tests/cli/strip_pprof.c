/* strip_pprof.c - writes an address-only copy of a pprof profile: every
 * function name, file and line removed, addresses and mappings (with build
 * ids) kept, as a profile from another tool that does not symbolize would be.
 * Usage: strip_pprof IN.pb.gz OUT.pb.gz. The `rallo report` test checks that
 * rallo names the frames again from the mapped files. */
#include <stdio.h>
#include <stdlib.h>

#include <mimalloc.h>

#include "pprof.h"
#include "writers.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: strip_pprof IN OUT\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL) {
        perror(argv[1]);
        return 1;
    }
    size_t cap = 1 << 20, len = 0;
    char *data = mi_malloc(cap);
    size_t got;
    while (data != NULL && (got = fread(data + len, 1, cap - len, in)) > 0) {
        len += got;
        if (len == cap)
            data = mi_realloc(data, cap *= 2);
    }
    fclose(in);
    if (data == NULL)
        return 1;
    rallo_profile profile;
    char error[256];
    if (rallo_read_pprof(data, len, &profile, error, sizeof error) != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], error);
        return 1;
    }
    size_t stripped = 0;
    for (size_t i = 0; i < profile.nlocations; i++) {
        stripped += profile.locations[i].nlines > 0;
        profile.locations[i].nlines = 0;
        profile.locations[i].lines = NULL;
    }
    rallo_buf out;
    rallo_buf_init(&out);
    if (rallo_write_pprof(&profile, &out) != 0)
        return 1;
    FILE *file = fopen(argv[2], "wb");
    if (file == NULL || fwrite(out.data, 1, out.len, file) != out.len || fclose(file) != 0) {
        perror(argv[2]);
        return 1;
    }
    printf("%zu locations stripped\n", stripped);
    rallo_buf_free(&out);
    rallo_profile_free(&profile);
    mi_free(data);
    return 0;
}
