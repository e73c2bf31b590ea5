/*
 * event.c - turns POST /v1/events bodies (JSON or form-encoded) into events.
 *
 * Design: both syntaxes funnel every member through one validator
 * (event_set_field), so JSON and form input obey the same rules and give the
 * same messages. Problems are collected, not returned at the first: the whole
 * body is checked and each problem goes to the caller's errlist under an
 * RFC 6901 pointer ("/events/3/leader" in a batch, "/leader" for one object
 * or a form). Optional members that are null or "" count as absent, because
 * phone shortcuts send empty variables that way; required ones must be
 * non-empty strings.
 *
 * Invariants: on success every event has a valid leader and type, `at` is set
 * and not more than EVENT_FUTURE_SKEW ms after `now`, and each optional member
 * is either absent ("" or NULL) or valid. On failure the batch is
 * {NULL, 0, false} and nothing is left allocated.
 *
 * Ownership: the batch owns its array; each event owns its url and note
 * (malloc'd only when present). The jansson tree is freed before returning,
 * and no event points into it or into the body.
 *
 * Speed: this is on the ingest hot path. One jansson parse, one calloc for
 * the array, fixed buffers for short members, member names dispatched by
 * length and memcmp. Once the errlist is full, further errors are only
 * counted, so a hostile batch cannot make us format thousands of messages.
 */
#include "event.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"
#include "util.h"

enum field { F_ID, F_LEADER, F_TYPE, F_AT, F_CHANNEL, F_STAKEHOLDER, F_URL, F_NOTE, F_COUNT };

static const struct {
    const char *name;
    size_t len;
} event_fields[F_COUNT] = {
    [F_ID] = {"id", 2},   [F_LEADER] = {"leader", 6},   [F_TYPE] = {"type", 4},
    [F_AT] = {"at", 2},   [F_CHANNEL] = {"channel", 7}, [F_STAKEHOLDER] = {"stakeholder", 11},
    [F_URL] = {"url", 3}, [F_NOTE] = {"note", 4},
};

#define EVENT_MEMBERS "id, leader, type, at, channel, stakeholder, url or note"
#define EVENT_ID_RULE                                                                              \
    "1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
#define EVENT_PREFIX_MAX    32  /* "/events/999" and room to spare */
#define EVENT_POINTER_STACK 256 /* longer pointers (odd unknown keys) are malloc'd */
#define EVENT_FORM_NAME_MAX 255 /* longer form field names are reported without a pointer */
/* Decoded form values: the longest legal one is a note of EVENT_NOTE_MAX 4-byte characters. */
#define EVENT_FORM_VALUE_MAX (4 * EVENT_NOTE_MAX)

_Static_assert(EVENT_FORM_VALUE_MAX >= EVENT_URL_MAX, "form value buffer must hold a url");

/* State of one parse: where errors go and the pointer prefix of the current event. */
typedef struct parse_ctx {
    errlist *errs;
    int64_t now;
    size_t nerr;                /* problems found by this parse, kept in errs or not */
    bool is_form;               /* input came from a form body (affects some hints) */
    const char *default_leader; /* fills an absent leader; NULL: leader required */
    char prefix[EVENT_PREFIX_MAX];
} parse_ctx;

/* Appends member (escaped per RFC 6901) to the prefix in buf of size cap; returns needed length. */
static size_t pointer_build(char *buf, size_t cap, const char *prefix, const char *member,
                            size_t mlen)
{
    size_t n = strlen(prefix);
    if (n < cap)
        memcpy(buf, prefix, n);
    if (member != NULL) {
        if (n < cap)
            buf[n] = '/';
        n++;
        for (size_t i = 0; i < mlen; i++) {
            char c = member[i];
            const char *rep = c == '~' ? "~0" : c == '/' ? "~1" : NULL;
            if (rep != NULL) {
                if (n + 1 < cap)
                    buf[n] = rep[0], buf[n + 1] = rep[1];
                n += 2;
            } else {
                if (n < cap)
                    buf[n] = c;
                n++;
            }
        }
    }
    if (n < cap)
        buf[n] = '\0';
    return n;
}

/* Records a problem at prefix/member (member NULL: at the prefix itself). */
static void report(parse_ctx *c, const char *member, size_t mlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(parse_ctx *c, const char *member, size_t mlen, const char *fmt, ...)
{
    c->nerr++;
    if (c->errs == NULL || c->errs->n >= ERRLIST_MAX)
        return; /* errlist would drop it anyway: skip the formatting */
    char msg[512], stackptr[EVENT_POINTER_STACK], *ptr = stackptr;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t need = pointer_build(stackptr, sizeof(stackptr), c->prefix, member, mlen);
    if (need >= sizeof(stackptr)) {
        ptr = malloc(need + 1);
        if (ptr == NULL)
            abort();
        pointer_build(ptr, need + 1, c->prefix, member, mlen);
    }
    errlist_add(c->errs, ptr, "%s", msg);
    if (ptr != stackptr)
        free(ptr);
}

/* Reports a problem with a known member. */
#define report_field(c, f, ...) report((c), event_fields[f].name, event_fields[f].len, __VA_ARGS__)

/* Returns the field named by name[0..len), or -1. */
static int field_lookup(const char *name, size_t len)
{
    for (int f = 0; f < F_COUNT; f++)
        if (event_fields[f].len == len && memcmp(event_fields[f].name, name, len) == 0)
            return f;
    return -1;
}

/* Checks that s[0..len) is valid UTF-8 (no overlongs, surrogates or values
 * above U+10FFFF); stores the number of code points in *chars. */
static bool utf8_check(const char *s, size_t len, size_t *chars)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t n = 0;
    while (p < end) {
        unsigned c = *p;
        size_t k;
        unsigned min;
        if (c < 0x80) {
            p++;
            n++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1, min = 0x80, c &= 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2, min = 0x800, c &= 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - p) <= k)
            return false;
        for (size_t i = 1; i <= k; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (p[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
        p += k + 1;
        n++;
    }
    *chars = n;
    return true;
}

/* True if s starts with http:// or https:// (scheme in any case) and has a host after it. */
static bool url_scheme_ok(const char *s, size_t len)
{
    size_t skip = 0;
    if (len > 7 && strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (len > 8 && strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    return skip != 0 && s[skip] != '/';
}

/* Returns a malloc'd copy of s[0..len); aborts when memory is gone, like errlist. */
static char *dup_n(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d == NULL)
        abort();
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

/* Validates value s[0..len) (NUL-terminated at len) of field f and stores it
 * in ev; reports problems instead. Empty values of optional fields are absent. */
static void event_set_field(parse_ctx *c, event *ev, int f, const char *s, size_t len)
{
    if (len == 0) {
        if (f == F_LEADER || f == F_TYPE)
            report_field(c, f, "must not be empty: %s", EVENT_ID_RULE);
        return;
    }
    if (memchr(s, '\0', len) != NULL) {
        report_field(c, f, "must not contain NUL bytes");
        return;
    }
    switch (f) {
    case F_ID:
        if (len > EVENT_ID_MAX) {
            report_field(c, f, "must be at most %d characters", EVENT_ID_MAX);
            return;
        }
        for (size_t i = 0; i < len; i++) {
            if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
                report_field(c, f, "must be printable ASCII without spaces (0x21 to 0x7e)");
                return;
            }
        }
        memcpy(ev->id, s, len + 1);
        return;
    case F_LEADER:
    case F_TYPE:
    case F_CHANNEL:
    case F_STAKEHOLDER: {
        if (len > EVENT_NAME_MAX || !util_valid_id(s)) {
            report_field(c, f, "must be an id: %s", EVENT_ID_RULE);
            return;
        }
        char *dst = f == F_LEADER    ? ev->leader
                    : f == F_TYPE    ? ev->type
                    : f == F_CHANNEL ? ev->channel
                                     : ev->stakeholder;
        memcpy(dst, s, len + 1);
        return;
    }
    case F_AT: {
        int64_t at;
        if (!util_parse_rfc3339(s, &at)) {
            report_field(
                c, f, "must be an RFC 3339 date-time such as 2026-11-27T10:00:00Z%s",
                c->is_form && strchr(s, ' ') != NULL ? " (in a form body, write '+' as %2B)" : "");
            return;
        }
        if (at > c->now + EVENT_FUTURE_SKEW) {
            char nowbuf[32];
            util_format_rfc3339(c->now, nowbuf);
            report_field(c, f,
                         "is more than %d minutes in the future (server time is %s); check the "
                         "device's clock",
                         EVENT_FUTURE_SKEW / 60000, nowbuf);
            return;
        }
        ev->at = at;
        return;
    }
    case F_URL: {
        size_t chars;
        if (len > EVENT_URL_MAX) {
            report_field(c, f, "must be at most %d bytes", EVENT_URL_MAX);
            return;
        }
        if (!url_scheme_ok(s, len)) {
            report_field(c, f, "must be an http:// or https:// URL");
            return;
        }
        for (size_t i = 0; i < len; i++) {
            if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) {
                report_field(c, f, "must not contain spaces or control characters");
                return;
            }
        }
        if (!utf8_check(s, len, &chars)) {
            report_field(c, f, "must be valid UTF-8");
            return;
        }
        char norm[URL_OUT_MAX];
        if (url_normalize(s, norm, sizeof(norm)) < 0) {
            report_field(c, f, "is not a URL Podium can read: check its host, port and %%-escapes");
            return;
        }
        free(ev->url);
        ev->url = dup_n(s, len);
        return;
    }
    case F_NOTE: {
        size_t chars;
        if (!utf8_check(s, len, &chars)) {
            report_field(c, f, "must be valid UTF-8");
            return;
        }
        if (chars > EVENT_NOTE_MAX) {
            report_field(c, f, "must be at most %d characters (got %zu)", EVENT_NOTE_MAX, chars);
            return;
        }
        free(ev->note);
        ev->note = dup_n(s, len);
        return;
    }
    default:
        return;
    }
}

/* Checks the members that must be present and fills the default `at`. */
static void event_finish(parse_ctx *c, event *ev, unsigned seen, bool at_given)
{
    if (!(seen & (1u << F_LEADER)) && c->default_leader)
        snprintf(ev->leader, sizeof(ev->leader), "%s", c->default_leader);
    else if (!(seen & (1u << F_LEADER)))
        report_field(c, F_LEADER, "is required");
    if (!(seen & (1u << F_TYPE)))
        report_field(c, F_TYPE, "is required");
    if (!at_given)
        ev->at = c->now;
}

/* Parses one JSON event object into ev, reporting under c->prefix. */
static void parse_json_event(parse_ctx *c, event *ev, json_t *obj)
{
    const char *key;
    size_t klen;
    json_t *val;
    unsigned seen = 0;
    bool at_given = false;
    json_object_keylen_foreach(obj, key, klen, val)
    {
        int f = field_lookup(key, klen);
        if (f < 0) {
            report(c, key, klen, "unknown member; expected " EVENT_MEMBERS);
            continue;
        }
        seen |= 1u << f;
        if (json_is_null(val) && f != F_LEADER && f != F_TYPE)
            continue;
        if (!json_is_string(val)) {
            if (f == F_AT)
                report_field(c, f, "must be a string: an RFC 3339 date-time");
            else
                report_field(c, f, "must be a string");
            continue;
        }
        size_t len = json_string_length(val);
        if (f == F_AT && len > 0)
            at_given = true;
        event_set_field(c, ev, f, json_string_value(val), len);
    }
    event_finish(c, ev, seen, at_given);
}

/* Copies a jansson error text, replacing anything but printable ASCII. */
static void sanitize(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] != '\0' && i + 1 < cap; i++)
        dst[i] = (src[i] >= 0x20 && src[i] <= 0x7e) ? src[i] : '?';
    dst[i] = '\0';
}

/* Allocates n zeroed events into b; aborts when memory is gone. */
static void batch_alloc(event_batch *b, size_t n)
{
    b->v = calloc(n, sizeof(*b->v));
    if (b->v == NULL)
        abort();
    b->n = n;
}

int event_parse_json(const char *body, size_t len, int64_t now, event_batch *out, errlist *errs)
{
    return event_parse_json_as(body, len, now, NULL, out, errs);
}

int event_parse_json_as(const char *body, size_t len, int64_t now, const char *default_leader,
                        event_batch *out, errlist *errs)
{
    parse_ctx c = {.errs = errs, .now = now, .default_leader = default_leader};
    json_error_t jerr;
    json_t *root = NULL;
    *out = (event_batch){0};

    root =
        json_loadb(body != NULL ? body : "", len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        char text[sizeof(jerr.text)];
        sanitize(text, sizeof(text), jerr.text);
        report(&c, NULL, 0, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, text);
        event_batch_free(out);
        return -1;
    }
    int rc = event_parse_value_as(root, now, default_leader, out, errs);
    json_decref(root);
    return rc;
}

int event_parse_value_as(json_t *root, int64_t now, const char *default_leader, event_batch *out,
                         errlist *errs)
{
    parse_ctx c = {.errs = errs, .now = now, .default_leader = default_leader};
    *out = (event_batch){0};
    if (!json_is_object(root)) {
        report(&c, NULL, 0, "must be one event object, or {\"events\": [...]}");
        goto out;
    }
    json_t *events = json_object_get(root, "events");
    if (events == NULL) {
        batch_alloc(out, 1);
        parse_json_event(&c, &out->v[0], root);
        goto out;
    }

    out->is_batch = true;
    const char *key;
    size_t klen;
    json_t *val;
    json_object_keylen_foreach(root, key, klen, val)
    {
        if (!(klen == 6 && memcmp(key, "events", 6) == 0))
            report(&c, key, klen,
                   "is not allowed beside \"events\": send one event object, or "
                   "{\"events\": [...]} with every member inside the events");
    }
    if (!json_is_array(events)) {
        report(&c, "events", 6, "must be an array of event objects");
        goto out;
    }
    size_t n = json_array_size(events);
    if (n == 0 || n > EVENT_BATCH_MAX) {
        report(&c, "events", 6, "must hold 1 to %d events (got %zu)", EVENT_BATCH_MAX, n);
        goto out;
    }
    batch_alloc(out, n);
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(events, i);
        snprintf(c.prefix, sizeof(c.prefix), "/events/%zu", i);
        if (!json_is_object(item)) {
            report(&c, NULL, 0, "must be an event object");
            continue;
        }
        parse_json_event(&c, &out->v[i], item);
    }

out:
    if (c.nerr > 0) {
        event_batch_free(out);
        return -1;
    }
    return 0;
}

/* Value of one hex digit, or -1. */
static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes like event_form_decode; returns the length, -1 if malformed, -2 if too long. */
static long form_decode(const char *in, size_t inlen, char *out, size_t outlen)
{
    size_t n = 0;
    if (outlen == 0)
        return -2;
    for (size_t i = 0; i < inlen; i++) {
        char ch = in[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (inlen - i < 3)
                return -1;
            int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (char)(hi << 4 | lo);
            i += 2;
        }
        if (n + 1 >= outlen)
            return -2;
        out[n++] = ch;
    }
    out[n] = '\0';
    return (long)n;
}

int event_form_decode(const char *in, size_t inlen, char *out, size_t outlen)
{
    long n = form_decode(in, inlen, out, outlen);
    return n < 0 || n > 0x7fffffff ? -1 : (int)n;
}

/* Reports a form value that does not fit the decode buffer, in the words event_set_field uses. */
static void report_too_long(parse_ctx *c, int f)
{
    switch (f) {
    case F_ID:
        report_field(c, f, "must be at most %d characters", EVENT_ID_MAX);
        break;
    case F_URL:
        report_field(c, f, "must be at most %d bytes", EVENT_URL_MAX);
        break;
    case F_NOTE:
        report_field(c, f, "must be at most %d characters", EVENT_NOTE_MAX);
        break;
    case F_AT:
        report_field(c, f, "must be an RFC 3339 date-time such as 2026-11-27T10:00:00Z");
        break;
    default:
        report_field(c, f, "must be an id: %s", EVENT_ID_RULE);
        break;
    }
}

/* Parses one name=value pair of a form body into ev; *seen tracks fields already given. */
static void parse_form_pair(parse_ctx *c, event *ev, const char *seg, size_t seglen, unsigned *seen,
                            bool *at_given)
{
    const char *eq = memchr(seg, '=', seglen);
    size_t name_rawlen = eq != NULL ? (size_t)(eq - seg) : seglen;
    const char *val_raw = eq != NULL ? eq + 1 : seg + seglen;
    size_t val_rawlen = seglen - (size_t)(val_raw - seg);

    char name[EVENT_FORM_NAME_MAX + 1];
    long nl = form_decode(seg, name_rawlen, name, sizeof(name));
    if (nl == -1) {
        report(c, NULL, 0,
               "a field name has malformed percent-encoding (%%XY needs two hex digits)");
        return;
    }
    int f = nl < 0 ? -1 : field_lookup(name, (size_t)nl);
    if (f < 0) {
        size_t chars;
        bool printable = nl >= 0 && utf8_check(name, (size_t)nl, &chars);
        for (long i = 0; printable && i < nl; i++)
            printable = (unsigned char)name[i] >= 0x20 && name[i] != 0x7f;
        if (printable)
            report(c, name, (size_t)nl, "unknown field; expected " EVENT_MEMBERS);
        else
            report(c, NULL, 0,
                   "unknown field with an overlong or unprintable name; expected " EVENT_MEMBERS);
        return;
    }
    if (*seen & (1u << f)) {
        report_field(c, f, "is given more than once");
        return;
    }
    *seen |= 1u << f;

    char value[EVENT_FORM_VALUE_MAX + 1];
    long vl = form_decode(val_raw, val_rawlen, value, sizeof(value));
    if (vl == -1) {
        report_field(c, f, "has malformed percent-encoding (%%XY needs two hex digits)");
        return;
    }
    if (vl == -2) {
        report_too_long(c, f);
        return;
    }
    if (f == F_AT && vl > 0)
        *at_given = true;
    event_set_field(c, ev, f, value, (size_t)vl);
}

int event_parse_form(const char *body, size_t len, int64_t now, event_batch *out, errlist *errs)
{
    return event_parse_form_as(body, len, now, NULL, out, errs);
}

int event_parse_form_as(const char *body, size_t len, int64_t now, const char *default_leader,
                        event_batch *out, errlist *errs)
{
    parse_ctx c = {.errs = errs, .now = now, .is_form = true, .default_leader = default_leader};
    unsigned seen = 0;
    bool at_given = false;
    *out = (event_batch){0};
    batch_alloc(out, 1);

    const char *p = body != NULL ? body : "", *end = p + (body != NULL ? len : 0);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp != NULL ? amp : end;
        if (seg_end > p) /* empty pairs ("a=1&&b=2", a trailing '&') are skipped */
            parse_form_pair(&c, &out->v[0], p, (size_t)(seg_end - p), &seen, &at_given);
        p = amp != NULL ? amp + 1 : end;
    }
    event_finish(&c, &out->v[0], seen, at_given);

    if (c.nerr > 0) {
        event_batch_free(out);
        return -1;
    }
    return 0;
}

void event_batch_free(event_batch *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].url);
        free(b->v[i].note);
    }
    free(b->v);
    *b = (event_batch){0};
}
