/* demo.c - the program the README's first command profiles: a small service
 * that parses "requests" into a cache, keeps a history buffer that grows with
 * realloc, and leaks one record per hundred requests, so its profile has a few
 * clear owners of memory to find. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cache_entry {
    struct cache_entry *next;
    char *key;
    char *value;
} cache_entry;

#define CACHE_BUCKETS 4096

static cache_entry *cache[CACHE_BUCKETS];

static unsigned hash_key(const char *key) {
    unsigned hash = 2166136261u;
    for (; *key; key++)
        hash = (hash ^ (unsigned char)*key) * 16777619u;
    return hash;
}

__attribute__((noinline)) static char *copy_string(const char *text) {
    size_t length = strlen(text) + 1;
    char *copy = malloc(length);
    memcpy(copy, text, length);
    return copy;
}

__attribute__((noinline)) static void cache_put(const char *key, const char *value) {
    unsigned bucket = hash_key(key) % CACHE_BUCKETS;
    for (cache_entry *entry = cache[bucket]; entry; entry = entry->next)
        if (strcmp(entry->key, key) == 0) {
            free(entry->value);
            entry->value = copy_string(value);
            return;
        }
    cache_entry *entry = malloc(sizeof *entry);
    entry->key = copy_string(key);
    entry->value = copy_string(value);
    entry->next = cache[bucket];
    cache[bucket] = entry;
}

typedef struct history {
    char *bytes;
    size_t used, capacity;
} history;

__attribute__((noinline)) static void history_append(history *log, const char *line) {
    size_t length = strlen(line);
    if (log->used + length + 1 > log->capacity) {
        log->capacity = (log->capacity + length + 1) * 2;
        log->bytes = realloc(log->bytes, log->capacity);
    }
    memcpy(log->bytes + log->used, line, length + 1);
    log->used += length;
}

__attribute__((noinline)) static void *leak_session_record(int request) {
    char *record = malloc(256);
    snprintf(record, 256, "session %d", request);
    return record; /* never freed: the leak to find */
}

__attribute__((noinline)) static void handle_request(int request, history *log) {
    char key[32], value[128], line[96];
    snprintf(key, sizeof key, "user:%d", request % 20000);
    snprintf(value, sizeof value, "{\"visits\":%d,\"last\":\"request-%d\"}", request, request);
    cache_put(key, value);
    snprintf(line, sizeof line, "GET /users/%d\n", request % 20000);
    history_append(log, line);
    if (request % 100 == 0)
        leak_session_record(request);
}

int main(int argc, char **argv) {
    int requests = argc > 1 ? atoi(argv[1]) : 200000;
    history log = {0};
    for (int request = 0; request < requests; request++)
        handle_request(request, &log);
    size_t entries = 0;
    for (unsigned bucket = 0; bucket < CACHE_BUCKETS; bucket++)
        for (cache_entry *entry = cache[bucket]; entry; entry = entry->next)
            entries++;
    printf("demo: %d requests, %zu cache entries, %zu bytes of history\n", requests, entries, log.used);
    free(log.bytes);
    return 0;
}
