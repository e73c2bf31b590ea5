/*
 * url.c - normalisation of event URLs (the rules are listed in url.h).
 *
 * The input is read once, as slices of the trimmed string: scheme, authority
 * (userinfo, host, port), path, query, fragment. Each part is checked and
 * written by its own function through a bounded writer that never writes
 * past the caller's buffer; when a part does not fit, the writer only
 * remembers that it is full, and url_normalize fails at the end. Every '%'
 * and every byte is checked before any part is written, so the part writers
 * can trust them. No allocation; case is folded by hand, for ASCII only, so
 * the locale plays no part.
 */
#include "url.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* A bounded output: at most cap bytes of text, then a NUL that url_normalize adds. */
typedef struct {
    char *buf;
    size_t len, cap;
    bool full; /* something did not fit; the text is incomplete */
} writer;

/* Appends s[0..n) to w, or marks w full when it does not fit. */
static void put(writer *w, const char *s, size_t n)
{
    if (w->full || n > w->cap - w->len) {
        w->full = true;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

/* Appends one byte to w. */
static void put_char(writer *w, char c)
{
    put(w, &c, 1);
}

/* ASCII lowercase of c; other bytes unchanged. */
static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ASCII uppercase of c; other bytes unchanged. */
static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* True for ASCII letters and digits. */
static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* True for a hex digit in either case. */
static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Value of a hex digit already checked by is_hex. */
static int hex_val(char c)
{
    return c <= '9' ? c - '0' : lower(c) - 'a' + 10;
}

/* True for RFC 3986 unreserved characters: ALPHA DIGIT - . _ ~ */
static bool is_unreserved(char c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* True for the ASCII whitespace that is trimmed from both ends. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* True if s[0..n) equals the NUL-terminated word, ignoring ASCII case. */
static bool ieq(const char *s, size_t n, const char *word)
{
    if (strlen(word) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != lower(word[i]))
            return false;
    return true;
}

/* True if s[0..n) starts with the NUL-terminated prefix, ignoring ASCII case. */
static bool istarts(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && ieq(s, k, prefix);
}

/* True if s[0..n) has no control byte or space and every '%' is followed by
 * two hex digits. */
static bool bytes_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f)
            return false;
        if (c == '%' && (n - i < 3 || !is_hex(s[i + 1]) || !is_hex(s[i + 2])))
            return false;
    }
    return true;
}

/* Checks and writes a host name h[0..n) (not an IPv6 literal): lowercased,
 * trailing dot and leading "www." labels removed. False when it is invalid. */
static bool put_reg_name(writer *w, const char *h, size_t n)
{
    if (n > 0 && h[n - 1] == '.')
        n--;
    if (n == 0 || n > 253 || h[0] == '.' || h[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        bool ok = is_unreserved(c) || (unsigned char)c >= 0x80;
        if (!ok || (c == '.' && h[i + 1] == '.'))
            return false;
    }
    /* labels are not empty, so what follows a "www." prefix is a name */
    while (n > 4 && istarts(h, n, "www.")) {
        h += 4;
        n -= 4;
    }
    for (size_t i = 0; i < n; i++)
        put_char(w, lower(h[i]));
    return true;
}

/* Checks and writes an IPv6 literal h[0..n) including its brackets,
 * lowercased. False when it is not hex digits, ':' and '.' with one ':' at least. */
static bool put_ipv6(writer *w, const char *h, size_t n)
{
    if (n < 4 || h[0] != '[' || h[n - 1] != ']' || memchr(h, ':', n) == NULL)
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_hex(h[i]) && h[i] != ':' && h[i] != '.')
            return false;
    for (size_t i = 0; i < n; i++)
        put_char(w, lower(h[i]));
    return true;
}

/* Checks and writes the port p[0..n) (the text after ':'): nothing when it is
 * empty, 80 or 443, else ":" and the number. False unless decimal and <= 65535. */
static bool put_port(writer *w, const char *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(p[i] - '0');
        if (v > 65535)
            return false;
    }
    if (n == 0 || v == 80 || v == 443)
        return true;
    char num[8];
    int len = snprintf(num, sizeof(num), ":%u", (unsigned)v);
    put(w, num, (size_t)len);
    return true;
}

/* Checks and writes the authority a[0..n): userinfo dropped, then the host
 * and the port. False when the host is missing or invalid, or the port bad. */
static bool put_authority(writer *w, const char *a, size_t n)
{
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (a[i] == '@')
            at = a + i;
    if (at != NULL) {
        n -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    size_t hostlen;
    if (n > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (close == NULL)
            return false;
        hostlen = (size_t)(close - a) + 1;
        if (!put_ipv6(w, a, hostlen))
            return false;
    } else {
        const char *colon = memchr(a, ':', n);
        hostlen = colon != NULL ? (size_t)(colon - a) : n;
        if (!put_reg_name(w, a, hostlen))
            return false;
    }
    if (hostlen == n)
        return true;
    if (a[hostlen] != ':')
        return false;
    return put_port(w, a + hostlen + 1, n - hostlen - 1);
}

/* Writes the path p[0..n) (empty, or starting with '/'): "/" when empty,
 * trailing slashes removed, unreserved percent-encodings decoded, the others
 * uppercased. The '%' sequences were checked by bytes_ok. */
static void put_path(writer *w, const char *p, size_t n)
{
    /* "%2F" is not decoded, so the trailing slashes of the input are those of the output */
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n == 0) {
        put_char(w, '/');
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '%') {
            put_char(w, p[i]);
            continue;
        }
        char c = (char)(hex_val(p[i + 1]) << 4 | hex_val(p[i + 2]));
        if (is_unreserved(c)) {
            put_char(w, c);
        } else {
            char enc[3] = {'%', upper(p[i + 1]), upper(p[i + 2])};
            put(w, enc, sizeof(enc));
        }
        i += 2;
    }
}

/* True if a query parameter named name[0..n) is a tracking parameter. */
static bool is_tracking(const char *name, size_t n)
{
    static const char *const names[] = {
        "fbclid",  "gclid", "dclid",      "msclkid",   "mc_cid",  "mc_eid", "igshid",
        "si",      "trk",   "trackingId", "ref_src",   "ref_url", "_hsenc", "_hsmi",
        "mkt_tok", "yclid", "twclid",     "li_fat_id", "rcm",
    };
    if (istarts(name, n, "utm_"))
        return true;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (ieq(name, n, names[i]))
            return true;
    return false;
}

/* Writes the query q[0..n) (without its '?'): empty and tracking parameters
 * removed, the others as written and in order; nothing at all when none is left. */
static void put_query(writer *w, const char *q, size_t n)
{
    bool first = true;
    size_t start = 0;
    while (start <= n) {
        const char *amp = memchr(q + start, '&', n - start);
        size_t end = amp != NULL ? (size_t)(amp - q) : n;
        const char *param = q + start;
        size_t len = end - start;
        const char *eq = memchr(param, '=', len);
        size_t namelen = eq != NULL ? (size_t)(eq - param) : len;
        if (len > 0 && !is_tracking(param, namelen)) {
            put_char(w, first ? '?' : '&');
            put(w, param, len);
            first = false;
        }
        start = end + 1;
    }
}

int url_normalize(const char *url, char *out, size_t outlen)
{
    if (out != NULL && outlen > 0)
        out[0] = '\0';
    if (url == NULL || out == NULL || outlen == 0)
        return -1;
    size_t n = strnlen(url, URL_MAX + 1);
    if (n > URL_MAX)
        return -1;
    const char *s = url;
    while (n > 0 && is_space(s[0]))
        s++, n--;
    while (n > 0 && is_space(s[n - 1]))
        n--;
    if (!bytes_ok(s, n))
        return -1;

    size_t skip;
    if (istarts(s, n, "http://"))
        skip = 7;
    else if (istarts(s, n, "https://"))
        skip = 8;
    else
        return -1;
    s += skip, n -= skip;

    const char *hash = memchr(s, '#', n);
    if (hash != NULL)
        n = (size_t)(hash - s);
    size_t auth_end = 0;
    while (auth_end < n && s[auth_end] != '/' && s[auth_end] != '?')
        auth_end++;
    const char *qmark = memchr(s + auth_end, '?', n - auth_end);
    size_t path_end = qmark != NULL ? (size_t)(qmark - s) : n;

    writer w = {out, 0, outlen - 1, false};
    put(&w, "https://", 8);
    if (!put_authority(&w, s, auth_end)) {
        out[0] = '\0';
        return -1;
    }
    put_path(&w, s + auth_end, path_end - auth_end);
    if (qmark != NULL)
        put_query(&w, qmark + 1, n - path_end - 1);
    if (w.full) {
        out[0] = '\0';
        return -1;
    }
    out[w.len] = '\0';
    return (int)w.len; /* at most URL_MAX + 2 */
}

bool url_key(const char *url, char out[65])
{
    char norm[URL_OUT_MAX];
    out[0] = '\0';
    int n = url_normalize(url, norm, sizeof(norm));
    if (n < 0)
        return false;
    util_sha256_hex(norm, (size_t)n, out);
    return true;
}
