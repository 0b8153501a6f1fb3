/* sym_addresses.c - rallo's symbolizer on one ELF file, for
 * check_cu_ranges.py: reads code addresses of FILE (hex, one a line, as
 * addr2line takes them) and prints "ADDRESS FILE:LINE" for each, "??:0" when
 * rallo finds no source line. Each is put in a profile as the return address
 * after it (address + 1), the way the symbolizer sees captured frames.
 * Usage: sym_addresses FILE < addresses */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <gelf.h>
#include <mimalloc.h>

#include "symbolize.h"
#include "writers.h"

/* The executable segment: the mapping of the file's code, loaded at its own addresses. */
static int code_segment(const char *path, rallo_prof_mapping *mapping) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    elf_version(EV_CURRENT);
    Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
    size_t phnum = 0;
    int result = -1;
    if (elf != NULL && elf_getphdrnum(elf, &phnum) == 0) {
        for (size_t i = 0; i < phnum && result != 0; i++) {
            GElf_Phdr phdr;
            if (gelf_getphdr(elf, (int)i, &phdr) != NULL && phdr.p_type == PT_LOAD && (phdr.p_flags & PF_X)) {
                mapping->start = phdr.p_vaddr;
                mapping->limit = phdr.p_vaddr + phdr.p_memsz;
                mapping->file_offset = phdr.p_offset;
                result = 0;
            }
        }
    }
    if (elf != NULL)
        elf_end(elf);
    if (fd >= 0)
        close(fd);
    return result;
}

int main(int argc, char **argv) {
    if (argc != 2 || argv[1][0] != '/') {
        fprintf(stderr, "usage: sym_addresses /ABSOLUTE/FILE < addresses\n");
        return 2;
    }
    rallo_profile profile;
    rallo_profile_init(&profile);
    profile.mappings = rallo_profile_alloc(&profile, sizeof *profile.mappings);
    if (profile.mappings == NULL || code_segment(argv[1], &profile.mappings[0]) != 0) {
        fprintf(stderr, "sym_addresses: %s has no executable segment\n", argv[1]);
        return 1;
    }
    profile.mappings[0].path = argv[1];
    profile.nmappings = 1;
    size_t cap = 1024;
    rallo_prof_location *locations = mi_calloc(cap, sizeof *locations);
    uint64_t address;
    while (locations != NULL && scanf("%" SCNx64, &address) == 1) {
        if (profile.nlocations == cap) {
            rallo_prof_location *grown = mi_reallocn(locations, cap * 2, sizeof *locations);
            if (grown == NULL) {
                mi_free(locations);
                locations = NULL;
                break;
            }
            locations = grown;
            cap *= 2;
        }
        locations[profile.nlocations++] = (rallo_prof_location){.address = address + 1, .mapping = 0};
    }
    profile.locations = locations;
    if (locations == NULL || rallo_symbolize_offline(&profile, NULL, NULL, NULL) != 0) {
        fprintf(stderr, "sym_addresses: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < profile.nlocations; i++) {
        const rallo_prof_location *location = &profile.locations[i];
        const rallo_prof_line *line = location->nlines > 0 ? &location->lines[0] : NULL;
        if (line != NULL && line->file != NULL)
            printf("%" PRIx64 " %s:%" PRIu32 "\n", location->address - 1, line->file, line->line);
        else
            printf("%" PRIx64 " ??:0\n", location->address - 1);
    }
    profile.locations = NULL;
    mi_free(locations);
    rallo_profile_free(&profile);
    return 0;
}
