/* bench_json.c - a JSON-like document builder, writer and parser: many small
 * strings, arrays and objects grown by realloc, and an output buffer grown by
 * realloc. Each document is built from a seed, written out, parsed back, and
 * the parsed tree compared with the built one (the self-check). Usage:
 *   bench_json [SCALE] */
#include "bench_common.h"

typedef enum kind { NUM, STR, ARR, OBJ } kind;

typedef struct value {
    kind kind;
    uint32_t count, capacity; /* ARR/OBJ: children (OBJ: keys[i] names items[i]) */
    union {
        int64_t number;
        char *text;
        struct value **items;
    };
    char **keys;
} value;

static value *new_value(kind k) {
    value *v = bench_malloc(sizeof *v);
    memset(v, 0, sizeof *v);
    v->kind = k;
    return v;
}

static void append_child(value *parent, char *key, value *child) {
    if (parent->count == parent->capacity) {
        parent->capacity = parent->capacity ? parent->capacity * 2 : 2;
        parent->items = bench_realloc(parent->items, parent->capacity * sizeof *parent->items);
        if (parent->kind == OBJ)
            parent->keys = bench_realloc(parent->keys, parent->capacity * sizeof *parent->keys);
    }
    if (parent->kind == OBJ)
        parent->keys[parent->count] = key;
    parent->items[parent->count++] = child;
}

static void free_value(value *v) {
    if (v->kind == STR)
        bench_free(v->text);
    if (v->kind == ARR || v->kind == OBJ) {
        for (uint32_t i = 0; i < v->count; i++) {
            if (v->kind == OBJ)
                bench_free(v->keys[i]);
            free_value(v->items[i]);
        }
        bench_free(v->items);
        bench_free(v->keys);
    }
    bench_free(v);
}

static char *random_word(bench_rng *rng, size_t min, size_t spread) {
    size_t length = min + bench_below(rng, spread);
    char *word = bench_malloc(length + 1);
    for (size_t i = 0; i < length; i++)
        word[i] = (char)('a' + bench_below(rng, 26));
    word[length] = 0;
    return word;
}

static value *build(bench_rng *rng, int depth) {
    uint64_t roll = bench_below(rng, 10);
    if (depth >= 5 || roll < 4) {
        if (roll & 1) {
            value *v = new_value(NUM);
            v->number = (int64_t)bench_below(rng, 2000000) - 1000000;
            return v;
        }
        value *v = new_value(STR);
        v->text = random_word(rng, 1, 40);
        return v;
    }
    value *v = new_value(roll < 7 ? OBJ : ARR);
    uint64_t children = 1 + bench_below(rng, depth < 2 ? 12 : 6);
    for (uint64_t i = 0; i < children; i++)
        append_child(v, v->kind == OBJ ? random_word(rng, 3, 12) : NULL, build(rng, depth + 1));
    return v;
}

/* ---- writer: a growing text buffer ---- */
typedef struct text {
    char *data;
    size_t length, capacity;
} text;

static void put(text *out, const char *bytes, size_t length) {
    if (out->length + length + 1 > out->capacity) {
        while (out->length + length + 1 > out->capacity)
            out->capacity = out->capacity ? out->capacity * 2 : 64;
        out->data = bench_realloc(out->data, out->capacity);
    }
    memcpy(out->data + out->length, bytes, length);
    out->length += length;
    out->data[out->length] = 0;
}

static void put_string(text *out, const char *s) {
    put(out, "\"", 1);
    put(out, s, strlen(s));
    put(out, "\"", 1);
}

static void write_value(text *out, const value *v) {
    char number[32];
    switch (v->kind) {
    case NUM: put(out, number, (size_t)snprintf(number, sizeof number, "%lld", (long long)v->number)); break;
    case STR: put_string(out, v->text); break;
    case ARR:
    case OBJ:
        put(out, v->kind == OBJ ? "{" : "[", 1);
        for (uint32_t i = 0; i < v->count; i++) {
            if (i)
                put(out, ",", 1);
            if (v->kind == OBJ) {
                put_string(out, v->keys[i]);
                put(out, ":", 1);
            }
            write_value(out, v->items[i]);
        }
        put(out, v->kind == OBJ ? "}" : "]", 1);
        break;
    }
}

/* ---- parser: the writer's subset of JSON ---- */
static char *parse_string(const char **at) {
    const char *start = ++*at;
    while (**at != '"')
        ++*at;
    size_t length = (size_t)(*at - start);
    char *s = bench_malloc(length + 1);
    memcpy(s, start, length);
    s[length] = 0;
    ++*at;
    return s;
}

static value *parse_value(const char **at) {
    char c = **at;
    if (c == '"') {
        value *v = new_value(STR);
        v->text = parse_string(at);
        return v;
    }
    if (c == '{' || c == '[') {
        value *v = new_value(c == '{' ? OBJ : ARR);
        char close = c == '{' ? '}' : ']';
        ++*at;
        while (**at != close) {
            char *key = NULL;
            if (v->kind == OBJ) {
                key = parse_string(at);
                ++*at; /* ':' */
            }
            append_child(v, key, parse_value(at));
            if (**at == ',')
                ++*at;
        }
        ++*at;
        return v;
    }
    value *v = new_value(NUM);
    char *end;
    v->number = strtoll(*at, &end, 10);
    *at = end;
    return v;
}

static int same(const value *a, const value *b) {
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case NUM: return a->number == b->number;
    case STR: return strcmp(a->text, b->text) == 0;
    default:
        if (a->count != b->count)
            return 0;
        for (uint32_t i = 0; i < a->count; i++) {
            if (a->kind == OBJ && strcmp(a->keys[i], b->keys[i]) != 0)
                return 0;
            if (!same(a->items[i], b->items[i]))
                return 0;
        }
        return 1;
    }
}

int main(int argc, char **argv) {
    uint64_t documents = (uint64_t)(5000 * bench_scale(argc, argv));
    bench_rng rng = {0x15011ull};
    int ok = 1;
    uint64_t checksum = 0;
    /* A few documents stay alive across rounds, like a cache of parsed requests. */
    value *kept[64] = {0};
    bench_begin();
    for (uint64_t d = 0; d < documents; d++) {
        value *doc = new_value(OBJ);
        for (int section = 0; section < 4; section++)
            append_child(doc, random_word(&rng, 4, 8), build(&rng, 1));
        text out = {0};
        write_value(&out, doc);
        const char *at = out.data;
        value *parsed = parse_value(&at);
        ok &= same(doc, parsed) && *at == 0;
        checksum = checksum * 31 + out.length;
        bench_free(out.data);
        free_value(doc);
        size_t slot = d % 64;
        if (kept[slot])
            free_value(kept[slot]);
        kept[slot] = parsed;
    }
    for (size_t slot = 0; slot < 64; slot++)
        if (kept[slot])
            free_value(kept[slot]);
    return bench_report("json", ok, checksum);
}
