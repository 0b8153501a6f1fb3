/* known_sites.c - a program whose allocations the report test knows exactly.
 * Run with librallo preloaded and RALLO_ENABLE=1 RALLO_SAMPLE=0; it dumps
 * json, folded and text into argv[1] through the public rallo_dump (looked up
 * with dlsym, so the program builds without librallo). Built -O0 with frame
 * pointers so each function is its own frame.
 *   alloc_A   : A_BLOCKS blocks of A_SIZE bytes, kept
 *   realloc_B : one block of 16 bytes (kept site: malloc), then B_STEPS reallocs
 *               growing by 16 bytes (site: realloc); the last one stays live
 *   thread_C  : in a second thread, C_BLOCKS blocks of C_SIZE bytes
 *   free_D    : in a third thread, frees C_FREED of C's blocks
 *   peak_E    : E_BLOCKS blocks of E_SIZE, all freed again (the process peak)
 *   after_F   : F_BLOCKS blocks of E_SIZE, kept (below the peak) */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "known_sites.h"

static void *kept_A[A_BLOCKS];
static void *kept_B;
static void *blocks_C[C_BLOCKS];
static void *blocks_E[E_BLOCKS];
static void *kept_F[F_BLOCKS];

void alloc_A(void) {
    for (int i = 0; i < A_BLOCKS; i++)
        kept_A[i] = malloc(A_SIZE);
}

void realloc_B(void) {
    char *p = malloc(16);
    for (int i = 0; i < B_STEPS; i++)
        p = realloc(p, 16 * (size_t)(i + 2));
    kept_B = p;
}

void *thread_C(void *arg) {
    (void)arg;
    for (int i = 0; i < C_BLOCKS; i++)
        blocks_C[i] = malloc(C_SIZE);
    return NULL;
}

void *free_D(void *arg) {
    (void)arg;
    for (int i = 0; i < C_FREED; i++)
        free(blocks_C[i]);
    return NULL;
}

void peak_E(void) {
    for (int i = 0; i < E_BLOCKS; i++)
        blocks_E[i] = malloc(E_SIZE);
    for (int i = 0; i < E_BLOCKS; i++)
        free(blocks_E[i]);
}

void after_F(void) {
    for (int i = 0; i < F_BLOCKS; i++)
        kept_F[i] = malloc(E_SIZE);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: known_sites DIR\n");
        return 2;
    }
    int (*dump)(const char *, const char *) =
        (int (*)(const char *, const char *))dlsym(RTLD_DEFAULT, "rallo_dump");
    if (dump == NULL) {
        fprintf(stderr, "known_sites: rallo_dump not found: run with librallo preloaded\n");
        return 3;
    }
    alloc_A();
    realloc_B();
    pthread_t thread;
    pthread_create(&thread, NULL, thread_C, NULL);
    pthread_join(thread, NULL);
    pthread_create(&thread, NULL, free_D, NULL);
    pthread_join(thread, NULL);
    peak_E();
    after_F();
    static const char *formats[][2] = {
        {"json", "known.json"}, {"folded", "known.folded"}, {"text", "known.txt"}};
    for (int i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], formats[i][1]);
        if (dump(path, formats[i][0]) != 0) {
            perror("known_sites: rallo_dump");
            return 4;
        }
    }
    return kept_A[0] != NULL && kept_B != NULL && kept_F[0] != NULL ? 0 : 5;
}
