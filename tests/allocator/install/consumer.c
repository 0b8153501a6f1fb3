/* consumer.c - a program built against an installed rallo (install.sh): its
 * malloc must be rallo's, which it shows by rallo's own count of a block it
 * allocates with tracking on (RALLO_ENABLE=1). */
#include <rallo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    rallo_totals before, after;
    rallo_get_totals(&before);
    char *block = malloc(12345);
    if (block == NULL)
        return 2;
    memset(block, 1, 12345);
    rallo_get_totals(&after);
    free(block);
    int counted = rallo_is_enabled() && after.alloc_count >= before.alloc_count + 1 &&
                  after.alloc_bytes >= before.alloc_bytes + 12345;
    printf("enabled=%d counted=%d\n", rallo_is_enabled(), counted);
    return counted ? 0 : 1;
}
