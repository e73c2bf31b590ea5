/*
 * pcodec.c - incremental, bounded msgpack-RPC decoding; message encoding.
 *
 * The decoder keeps the bytes it was fed in one buffer: [0, start) is
 * consumed, [start, len) is the frame being scanned, and `pos` is where
 * the scan stopped (always at an element boundary). The scan state (a
 * stack of members still expected per open container, and the element
 * count of the frame) survives between feeds, so each header is read
 * once however the bytes are split. A header is acted on only when all
 * its bytes are there; a scalar (str, bin, ext, number) is stepped over
 * only when its payload is there too. Every declared length is checked
 * against the limits when its header is read, before any wait for its
 * payload: a frame declaring a 4 GiB string fails at once.
 *
 * A complete frame is copied into its own allocation and unpacked there
 * by msgpack_unpack_next; the copy and the msgpack zone belong to the
 * message. By then every container size was checked against real bytes,
 * so msgpack-c's allocations are bounded by the frame.
 */
#include "pcodec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pcodec_decoder {
    pcodec_limits lim;
    unsigned char *buf;
    size_t len, cap, start, pos;
    size_t depth;   /* open containers */
    size_t *remain; /* members still expected, per open container */
    size_t count;   /* elements of this frame so far */
    bool failed;
    char err[160];
};

/* What a message owns: its frame copy and msgpack's zone. */
struct pcodec_own {
    msgpack_unpacked up;
    char *frame;
};

pcodec_limits pcodec_default_limits(void)
{
    pcodec_limits l = {PCODEC_DEFAULT_FRAME, PCODEC_DEFAULT_DEPTH, PCODEC_DEFAULT_ELEMS,
                       PCODEC_DEFAULT_TOTAL, PCODEC_DEFAULT_STR};
    return l;
}

pcodec_decoder *pcodec_decoder_new(const pcodec_limits *lim)
{
    pcodec_decoder *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->lim = lim ? *lim : pcodec_default_limits();
    if (d->lim.depth == 0)
        d->lim.depth = 1;
    d->remain = calloc(d->lim.depth, sizeof(*d->remain));
    if (d->remain == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

void pcodec_decoder_free(pcodec_decoder *d)
{
    if (d == NULL)
        return;
    free(d->buf);
    free(d->remain);
    free(d);
}

static int fail(pcodec_decoder *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Marks the decoder failed with a message for a person; returns -1. */
static int fail(pcodec_decoder *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, sizeof(d->err), fmt, ap);
    va_end(ap);
    d->failed = true;
    return -1;
}

int pcodec_feed(pcodec_decoder *d, const void *buf, size_t len)
{
    if (d->failed)
        return -1;
    if (d->start > 0 && d->start == d->len) { /* all consumed: start over */
        d->len = d->pos = d->start = 0;
    } else if (d->start > 0 && d->start >= d->cap / 2) { /* move the partial frame down */
        memmove(d->buf, d->buf + d->start, d->len - d->start);
        d->len -= d->start;
        d->pos -= d->start;
        d->start = 0;
    }
    if (len > d->cap - d->len) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap - d->len < len)
            cap *= 2;
        unsigned char *nb = realloc(d->buf, cap);
        if (nb == NULL)
            return fail(d, "out of memory (%zu bytes buffered)", d->len);
        d->buf = nb;
        d->cap = cap;
    }
    if (len)
        memcpy(d->buf + d->len, buf, len);
    d->len += len;
    return 0;
}

/* Big-endian unsigned integer of n bytes at p. */
static size_t be(const unsigned char *p, int n)
{
    size_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads the element header at pos. Returns 0 when the header is not all
 * there, 1 for a scalar of *size bytes in all (header and payload), 2 for
 * a container of *members elements after a header of *size bytes; -1 for
 * the byte 0xc1, which msgpack never uses. *payload is the declared str,
 * bin or ext length (0 otherwise). */
static int header(const unsigned char *p, size_t avail, size_t *size, size_t *members,
                  size_t *declared, size_t *payload)
{
    static const signed char ext_fix[] = {3, 4, 6, 10, 18}; /* d4..d8 */
    unsigned c = p[0];
    int hn = 0;    /* bytes of the length field */
    int extra = 0; /* bytes after the length field (ext type) */
    int kind = 1;  /* 1 scalar with payload, 2 container */
    int per = 1;   /* members per declared count (2 for maps) */
    *payload = 0;
    *members = 0;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
        *size = 1;
        return 1;
    }
    if (c >= 0x80 && c <= 0x9f) {
        *size = 1;
        *declared = c & 0x0f;
        *members = *declared * (c <= 0x8f ? 2 : 1);
        return 2;
    }
    if (c >= 0xa0 && c <= 0xbf) {
        *payload = c & 0x1f;
        *size = 1 + *payload;
        return 1;
    }
    switch (c) {
    case 0xc1:
        return -1;
    case 0xca:
    case 0xcb:
        *size = c == 0xca ? 5 : 9;
        return 1;
    case 0xcc:
    case 0xd0:
        *size = 2;
        return 1;
    case 0xcd:
    case 0xd1:
        *size = 3;
        return 1;
    case 0xce:
    case 0xd2:
        *size = 5;
        return 1;
    case 0xcf:
    case 0xd3:
        *size = 9;
        return 1;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        *size = (size_t)ext_fix[c - 0xd4];
        *payload = *size - 2;
        return 1;
    case 0xc4:
    case 0xd9:
        hn = 1;
        break;
    case 0xc5:
    case 0xda:
        hn = 2;
        break;
    case 0xc6:
    case 0xdb:
        hn = 4;
        break;
    case 0xc7:
        hn = 1, extra = 1;
        break;
    case 0xc8:
        hn = 2, extra = 1;
        break;
    case 0xc9:
        hn = 4, extra = 1;
        break;
    case 0xdc:
        hn = 2, kind = 2;
        break;
    case 0xdd:
        hn = 4, kind = 2;
        break;
    case 0xde:
        hn = 2, kind = 2, per = 2;
        break;
    default: /* 0xdf */
        hn = 4, kind = 2, per = 2;
        break;
    }
    if (avail < (size_t)(1 + hn + extra))
        return 0;
    size_t n = be(p + 1, hn);
    if (kind == 2) {
        *size = (size_t)(1 + hn);
        *declared = n;
        *members = n * (size_t)per;
        return 2;
    }
    *payload = n;
    *size = (size_t)(1 + hn + extra) + n;
    return 1;
}

/* Scans from pos: 1 when the frame [start, pos) is complete, 0 when more
 * bytes are needed, -1 on a limit or format error. */
static int scan(pcodec_decoder *d)
{
    const pcodec_limits *l = &d->lim;
    for (;;) {
        if (d->pos >= d->len)
            return 0;
        size_t size, members, declared = 0, payload;
        int k = header(d->buf + d->pos, d->len - d->pos, &size, &members, &declared, &payload);
        if (k < 0)
            return fail(d, "byte 0xc1 at offset %zu is not msgpack", d->pos - d->start);
        if (k == 0)
            return 0;
        if (payload > l->str)
            return fail(d, "a string or binary of %zu bytes passes the limit of %zu", payload,
                        l->str);
        if (k == 2 && declared > l->elems)
            return fail(d, "a container of %zu elements passes the limit of %zu", declared,
                        l->elems);
        if (k == 2 && d->depth >= l->depth)
            return fail(d, "nesting deeper than %zu levels passes the limit", l->depth);
        if (d->count >= l->total)
            return fail(d, "a message of more than %zu elements passes the limit", l->total);
        if (d->pos - d->start + size > l->frame)
            return fail(d, "a message of more than %zu bytes passes the limit of %zu",
                        d->pos - d->start + size, l->frame);
        if (k == 1 && size > d->len - d->pos)
            return 0; /* the payload is still on its way; the header is read again then */
        d->pos += size;
        d->count++;
        if (k == 2 && members > 0) {
            d->remain[d->depth++] = members;
            continue;
        }
        /* One element complete: close the containers it completes. */
        while (d->depth > 0 && --d->remain[d->depth - 1] == 0)
            d->depth--;
        if (d->depth == 0)
            return 1;
    }
}

/* Reads the msgid of a message array if it has one: false otherwise. */
static bool read_msgid(const msgpack_object *o, uint32_t *id)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
        return false;
    *id = (uint32_t)o->via.u64;
    return true;
}

/* Checks the shape of an unpacked message and fills m; -1 with d->err. */
static int shape(pcodec_decoder *d, const msgpack_object *root, pcodec_msg *m)
{
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 3 || root->via.array.size > 4)
        return fail(d, "a message must be an array of 3 or 4 elements");
    const msgpack_object *v = root->via.array.ptr;
    size_t n = root->via.array.size;
    if (v[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || v[0].via.u64 > 2)
        return fail(d, "a message must start with its type: 0, 1 or 2");
    m->kind = (pcodec_kind)v[0].via.u64;
    if (m->kind == PCODEC_NOTIFICATION) {
        if (n != 3 || v[1].type != MSGPACK_OBJECT_STR)
            return fail(d, "a notification is [2, method, params]");
        m->method = v[1].via.str.ptr;
        m->method_len = v[1].via.str.size;
        m->params = &v[2];
        return 0;
    }
    m->has_msgid = n == 4 && read_msgid(&v[1], &m->msgid);
    if (n != 4)
        return fail(d, "requests and responses are arrays of 4 elements");
    if (!m->has_msgid)
        return fail(d, "the msgid must be an unsigned integer below 2^32");
    if (m->kind == PCODEC_RESPONSE) {
        m->error = &v[2];
        m->result = &v[3];
        return 0;
    }
    if (v[2].type != MSGPACK_OBJECT_STR)
        return fail(d, "a request's method must be a string");
    m->method = v[2].via.str.ptr;
    m->method_len = v[2].via.str.size;
    m->params = &v[3];
    return 0;
}

int pcodec_next(pcodec_decoder *d, pcodec_msg *m)
{
    memset(m, 0, sizeof(*m));
    if (d->failed)
        return -1;
    int rc = scan(d);
    if (rc <= 0)
        return rc;
    size_t flen = d->pos - d->start;
    struct pcodec_own *own = calloc(1, sizeof(*own));
    char *frame = malloc(flen);
    if (own == NULL || frame == NULL) {
        free(own);
        free(frame);
        return fail(d, "out of memory for a message of %zu bytes", flen);
    }
    memcpy(frame, d->buf + d->start, flen);
    d->start = d->pos;
    d->count = 0;
    own->frame = frame;
    msgpack_unpacked_init(&own->up);
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&own->up, frame, flen, &off);
    m->own_ = own;
    if (ur != MSGPACK_UNPACK_SUCCESS || off != flen) {
        pcodec_msg_free(m);
        return fail(d, "a message of %zu bytes could not be unpacked (%d)", flen, (int)ur);
    }
    if (shape(d, &own->up.data, m) < 0) {
        bool has = m->has_msgid;
        uint32_t id = m->msgid;
        pcodec_msg_free(m);
        m->has_msgid = has;
        m->msgid = id;
        return -1;
    }
    return 1;
}

const char *pcodec_error(const pcodec_decoder *d)
{
    return d->failed ? d->err : "";
}

size_t pcodec_pending(const pcodec_decoder *d)
{
    return d->len - d->start;
}

void pcodec_msg_free(pcodec_msg *m)
{
    if (m == NULL || m->own_ == NULL)
        return;
    struct pcodec_own *own = m->own_;
    msgpack_unpacked_destroy(&own->up);
    free(own->frame);
    free(own);
    memset(m, 0, sizeof(*m));
}

int pcodec_pack_cstr(msgpack_packer *pk, const char *s)
{
    if (s == NULL)
        return msgpack_pack_nil(pk);
    size_t n = strlen(s);
    if (msgpack_pack_str(pk, n) < 0)
        return -1;
    return msgpack_pack_str_body(pk, s, n);
}

int pcodec_pack_request(msgpack_packer *pk, uint32_t msgid, const char *method)
{
    if (msgpack_pack_array(pk, 4) < 0 || msgpack_pack_uint8(pk, 0) < 0 ||
        msgpack_pack_uint32(pk, msgid) < 0)
        return -1;
    return pcodec_pack_cstr(pk, method);
}

int pcodec_pack_response(msgpack_packer *pk, int64_t msgid)
{
    if (msgpack_pack_array(pk, 4) < 0 || msgpack_pack_uint8(pk, 1) < 0)
        return -1;
    return msgid < 0 ? msgpack_pack_nil(pk) : msgpack_pack_uint32(pk, (uint32_t)msgid);
}

int pcodec_pack_notification(msgpack_packer *pk, const char *method)
{
    if (msgpack_pack_array(pk, 3) < 0 || msgpack_pack_uint8(pk, 2) < 0)
        return -1;
    return pcodec_pack_cstr(pk, method);
}

int pcodec_pack_error(msgpack_packer *pk, const char *code, int status, const char *message,
                      size_t n, const char *const *pointers, const char *const *messages)
{
    int rc = msgpack_pack_map(pk, n ? 4 : 3);
    rc |= pcodec_pack_cstr(pk, "code");
    rc |= pcodec_pack_cstr(pk, code);
    rc |= pcodec_pack_cstr(pk, "status");
    rc |= msgpack_pack_int(pk, status);
    rc |= pcodec_pack_cstr(pk, "message");
    rc |= pcodec_pack_cstr(pk, message);
    if (n) {
        rc |= pcodec_pack_cstr(pk, "errors");
        rc |= msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++) {
            rc |= msgpack_pack_map(pk, 2);
            rc |= pcodec_pack_cstr(pk, "pointer");
            rc |= pcodec_pack_cstr(pk, pointers[i]);
            rc |= pcodec_pack_cstr(pk, "message");
            rc |= pcodec_pack_cstr(pk, messages[i]);
        }
    }
    return rc ? -1 : 0;
}

bool pcodec_str_eq(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

const msgpack_object *pcodec_map_get(const msgpack_object *o, const char *key)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < o->via.map.size; i++)
        if (pcodec_str_eq(&o->via.map.ptr[i].key, key))
            return &o->via.map.ptr[i].val;
    return NULL;
}
