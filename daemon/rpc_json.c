/*
 * rpc_json.c - msgpack objects to jansson values and back.
 *
 * Params: msgpack to jansson values, recursively (depth is bounded by the
 * codec's limit, 16). Map keys must be strings and strings UTF-8, as in
 * JSON; positive integers above INT64_MAX, bin and ext are refused.
 *
 * Results: the JSON text podiumd rendered is packed in one pass, without
 * building a tree (jansson's parse and its mallocs were most of the cost of
 * an answer). Containers are written as array32/map32 with their count
 * patched when they close, which every msgpack reader accepts. Numbers
 * read as jansson would (integer unless it has a fraction or exponent), so
 * a value reads the same through HTTP.
 */
#include "rpc_json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends "/key" to a pointer, escaping '~' and '/' (RFC 6901). */
static void pointer_add(char *dst, size_t cap, const char *at, const char *key, size_t klen)
{
    size_t n = (size_t)snprintf(dst, cap, "%s/", at);
    for (size_t i = 0; i < klen && n + 3 < cap; i++) {
        if (key[i] == '~' || key[i] == '/') {
            dst[n++] = '~';
            dst[n++] = key[i] == '~' ? '0' : '1';
        } else {
            dst[n++] = key[i];
        }
    }
    dst[n < cap ? n : cap - 1] = '\0';
}

json_t *rpc_json_from(const msgpack_object *o, const char *at, errlist *errs)
{
    char ptr[256];
    json_t *v = NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX)
            break;
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        v = json_stringn(o->via.str.ptr, o->via.str.size);
        if (v == NULL)
            errlist_add(errs, at, "must be UTF-8 text");
        return v;
    case MSGPACK_OBJECT_ARRAY:
        v = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            snprintf(ptr, sizeof(ptr), "%s/%u", at, i);
            json_t *item = rpc_json_from(&o->via.array.ptr[i], ptr, errs);
            if (item == NULL) {
                json_decref(v);
                return NULL;
            }
            json_array_append_new(v, item);
        }
        return v;
    case MSGPACK_OBJECT_MAP:
        v = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (k->type != MSGPACK_OBJECT_STR || memchr(k->via.str.ptr, 0, k->via.str.size)) {
                json_decref(v);
                errlist_add(errs, at, "map keys must be strings");
                return NULL;
            }
            pointer_add(ptr, sizeof(ptr), at, k->via.str.ptr, k->via.str.size);
            json_t *key = json_stringn(k->via.str.ptr, k->via.str.size);
            if (key == NULL) {
                json_decref(v);
                errlist_add(errs, ptr, "member names must be UTF-8 text");
                return NULL;
            }
            json_decref(key);
            if (json_object_getn(v, k->via.str.ptr, k->via.str.size)) {
                json_decref(v);
                errlist_add(errs, ptr, "is given twice");
                return NULL;
            }
            json_t *item = rpc_json_from(&o->via.map.ptr[i].val, ptr, errs);
            if (item == NULL) {
                json_decref(v);
                return NULL;
            }
            json_object_setn_new_nocheck(v, k->via.str.ptr, k->via.str.size, item);
        }
        return v;
    default:
        break;
    }
    errlist_add(errs, at,
                "must be a value JSON can hold (no binary, extension or integer "
                "above 2^63-1)");
    return NULL;
}

/* A JSON text being packed: input cursor, output, and the containers open. */
struct transcode {
    const char *p, *end;
    msgpack_sbuffer *sb;
    msgpack_packer pk;
    char *scratch; /* unescaped strings */
    size_t scap;
    int depth;
    size_t head[RPC_JSON_DEPTH];    /* offset of each open container's 32-bit count */
    uint32_t count[RPC_JSON_DEPTH]; /* members (pairs for maps) so far */
};

/* Skips JSON white space. */
static void ws(struct transcode *t)
{
    while (t->p < t->end && (*t->p == ' ' || *t->p == '\n' || *t->p == '\r' || *t->p == '\t'))
        t->p++;
}

/* Value of 4 hex digits at p, or -1. */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* Packs the string at t->p (just after its opening quote). */
static int tc_string(struct transcode *t)
{
    const char *s = t->p;
    while (t->p < t->end && *t->p != '"' && *t->p != '\\')
        t->p++;
    if (t->p < t->end && *t->p == '"') { /* no escapes: straight from the input */
        size_t n = (size_t)(t->p - s);
        t->p++;
        return msgpack_pack_str(&t->pk, n) || msgpack_pack_str_body(&t->pk, s, n) ? -1 : 0;
    }
    if (t->p >= t->end)
        return -1; /* unterminated */
    size_t n = (size_t)(t->p - s);
    if (t->scap < (size_t)(t->end - s)) {
        t->scap = (size_t)(t->end - s);
        char *ns = realloc(t->scratch, t->scap);
        if (ns == NULL)
            return -1;
        t->scratch = ns;
    }
    memcpy(t->scratch, s, n);
    while (t->p < t->end && *t->p != '"') {
        char c = *t->p++;
        if (c != '\\') {
            t->scratch[n++] = c;
            continue;
        }
        if (t->p >= t->end)
            return -1;
        c = *t->p++;
        const char *simple = strchr("\"\\/bfnrt", c);
        if (simple && c) {
            static const char to[] = "\"\\/\b\f\n\r\t";
            t->scratch[n++] = to[simple - "\"\\/bfnrt"];
            continue;
        }
        if (c != 'u' || t->end - t->p < 4)
            return -1;
        long u = hex4(t->p);
        t->p += 4;
        if (u >= 0xd800 && u <= 0xdbff && t->end - t->p >= 6 && t->p[0] == '\\' && t->p[1] == 'u') {
            long lo = hex4(t->p + 2);
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                t->p += 6;
            }
        }
        if (u < 0)
            return -1;
        if (u < 0x80) {
            t->scratch[n++] = (char)u;
        } else if (u < 0x800) {
            t->scratch[n++] = (char)(0xc0 | (u >> 6));
            t->scratch[n++] = (char)(0x80 | (u & 0x3f));
        } else if (u < 0x10000) {
            t->scratch[n++] = (char)(0xe0 | (u >> 12));
            t->scratch[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
            t->scratch[n++] = (char)(0x80 | (u & 0x3f));
        } else {
            t->scratch[n++] = (char)(0xf0 | (u >> 18));
            t->scratch[n++] = (char)(0x80 | ((u >> 12) & 0x3f));
            t->scratch[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
            t->scratch[n++] = (char)(0x80 | (u & 0x3f));
        }
    }
    if (t->p >= t->end)
        return -1;
    t->p++;
    return msgpack_pack_str(&t->pk, n) || msgpack_pack_str_body(&t->pk, t->scratch, n) ? -1 : 0;
}

/* Packs the number at t->p: an integer when it has no fraction or
 * exponent and fits 64 bits (as jansson reads it), else a double. */
static int tc_number(struct transcode *t)
{
    char buf[64];
    size_t n = 0;
    bool real = false;
    while (t->p < t->end && n < sizeof(buf) - 1 && strchr("+-0123456789.eE", *t->p) && *t->p) {
        real |= *t->p == '.' || *t->p == 'e' || *t->p == 'E';
        buf[n++] = *t->p++;
    }
    buf[n] = '\0';
    if (n == 0 || n == sizeof(buf) - 1)
        return -1;
    char *endp;
    errno = 0;
    if (!real) {
        long long v = strtoll(buf, &endp, 10);
        if (*endp == '\0' && errno == 0)
            return msgpack_pack_int64(&t->pk, v);
    }
    errno = 0;
    double d = strtod(buf, &endp);
    return *endp || errno ? -1 : msgpack_pack_double(&t->pk, d);
}

/* Opens an array or map: a 32-bit count, patched when it closes. */
static int tc_open(struct transcode *t, unsigned char type)
{
    if (t->depth >= RPC_JSON_DEPTH)
        return -1;
    t->head[t->depth] = t->sb->size + 1;
    t->count[t->depth++] = 0;
    const unsigned char h[5] = {type, 0, 0, 0, 0};
    return msgpack_sbuffer_write(t->sb, (const char *)h, 5);
}

/* Closes the innermost container, writing its count. */
static void tc_close(struct transcode *t)
{
    uint32_t n = t->count[--t->depth];
    unsigned char *h = (unsigned char *)t->sb->data + t->head[t->depth];
    h[0] = (unsigned char)(n >> 24);
    h[1] = (unsigned char)(n >> 16);
    h[2] = (unsigned char)(n >> 8);
    h[3] = (unsigned char)n;
}

/* Packs one JSON value (and, for containers, all it holds). */
static int tc_value(struct transcode *t)
{
    ws(t);
    if (t->p >= t->end)
        return -1;
    char c = *t->p;
    if (c == '"') {
        t->p++;
        return tc_string(t);
    }
    if (c == '{' || c == '[') {
        bool map = c == '{';
        t->p++;
        if (tc_open(t, map ? 0xdf : 0xdd) < 0)
            return -1;
        ws(t);
        if (t->p < t->end && *t->p == (map ? '}' : ']')) {
            t->p++;
            tc_close(t);
            return 0;
        }
        for (;;) {
            if (map) {
                ws(t);
                if (t->p >= t->end || *t->p != '"')
                    return -1;
                t->p++;
                if (tc_string(t) < 0)
                    return -1;
                ws(t);
                if (t->p >= t->end || *t->p++ != ':')
                    return -1;
            }
            if (tc_value(t) < 0)
                return -1;
            t->count[t->depth - 1]++;
            ws(t);
            if (t->p >= t->end)
                return -1;
            c = *t->p++;
            if (c == ',')
                continue;
            if (c != (map ? '}' : ']'))
                return -1;
            tc_close(t);
            return 0;
        }
    }
    if (t->end - t->p >= 4 && memcmp(t->p, "true", 4) == 0) {
        t->p += 4;
        return msgpack_pack_true(&t->pk);
    }
    if (t->end - t->p >= 5 && memcmp(t->p, "false", 5) == 0) {
        t->p += 5;
        return msgpack_pack_false(&t->pk);
    }
    if (t->end - t->p >= 4 && memcmp(t->p, "null", 4) == 0) {
        t->p += 4;
        return msgpack_pack_nil(&t->pk);
    }
    return tc_number(t);
}

int rpc_json_pack_text(msgpack_sbuffer *sb, const char *text, size_t len)
{
    struct transcode t = {.p = text, .end = text + len, .sb = sb};
    size_t start = sb->size;
    msgpack_packer_init(&t.pk, sb, msgpack_sbuffer_write);
    int rc = tc_value(&t);
    ws(&t);
    if (rc == 0 && t.p != t.end)
        rc = -1;
    free(t.scratch);
    if (rc < 0)
        sb->size = start; /* nothing half-written stays */
    return rc;
}
