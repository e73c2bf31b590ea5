/*
 * ctl_http.c - blocking libcurl calls for podiumctl (see ctl_http.h).
 *
 * One easy handle per call: podiumctl makes a handful of calls per run, so
 * connection reuse buys nothing. Redirects are not followed (podiumd never
 * sends one, and following would hand the token to another host).
 */
#include "ctl_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing body buffer. */
struct sink {
    char *buf;
    size_t len, cap;
    ctl_piece_fn *fn; /* streams: pieces of 200 answers go here */
    void *arg;
    long status;
    CURL *h;
    bool stopped;
};

/* Appends n bytes to the sink. */
static void sink_add(struct sink *s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        s->cap = (s->len + n + 1) * 2;
        s->buf = realloc(s->buf, s->cap);
        if (s->buf == NULL) {
            fputs("podiumctl: out of memory\n", stderr);
            exit(5);
        }
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

/* CURLOPT_WRITEFUNCTION: keeps the body, or streams a 200 one. */
static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    if (s->fn) {
        if (s->status == 0)
            curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
        if (s->status == 200) {
            if (!s->fn(s->arg, p, len)) {
                s->stopped = true;
                return 0; /* curl stops with CURLE_WRITE_ERROR */
            }
            return len;
        }
    }
    sink_add(s, p, len);
    return len;
}

/* Builds a handle for c and path with the common options. */
static CURL *handle(const ctl_conn *c, const char *path, struct curl_slist **hdrs,
                    const char *extra, struct sink *s)
{
    static bool init;
    if (!init) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        init = true;
    }
    CURL *h = curl_easy_init();
    if (h == NULL)
        return NULL;
    char url[4096], auth[512];
    snprintf(url, sizeof(url), "%s%s", c->url, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "podiumctl/" PODIUM_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    if (c->timeout_s > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    if (c->token && *c->token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
        *hdrs = curl_slist_append(*hdrs, auth);
    }
    if (extra)
        *hdrs = curl_slist_append(*hdrs, extra);
    *hdrs = curl_slist_append(*hdrs, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    s->h = h;
    return h;
}

/* Runs h and fills out. */
static long perform(CURL *h, struct sink *s, ctl_resp *out)
{
    CURLcode rc = curl_easy_perform(h);
    memset(out, 0, sizeof(*out));
    char *ct = NULL;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    if (ct)
        snprintf(out->ctype, sizeof(out->ctype), "%s", ct);
    if (rc != CURLE_OK && !(s->stopped && rc == CURLE_WRITE_ERROR)) {
        if (out->status == 0 || rc != CURLE_PARTIAL_FILE)
            snprintf(out->error, sizeof(out->error), "%s", curl_easy_strerror(rc));
        if (rc != CURLE_HTTP_RETURNED_ERROR && out->status == 200 && s->fn)
            out->status = 0; /* a stream cut short is a failure */
    }
    if (s->buf == NULL)
        sink_add(s, "", 0);
    out->body = s->buf;
    out->len = s->len;
    return out->status;
}

long ctl_request(const ctl_conn *c, const char *method, const char *path, const char *body,
                 size_t blen, const char *ctype, ctl_resp *out)
{
    struct sink s = {0};
    struct curl_slist *hdrs = NULL;
    char ct[160];
    snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
    CURL *h = handle(c, path, &hdrs, body ? ct : NULL, &s);
    if (h == NULL) {
        memset(out, 0, sizeof(*out));
        snprintf(out->error, sizeof(out->error), "cannot start libcurl");
        return 0;
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    long st = perform(h, &s, out);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return st;
}

long ctl_stream(const ctl_conn *c, const char *path, const char *extra_header, ctl_piece_fn *fn,
                void *arg, ctl_resp *out)
{
    struct sink s = {.fn = fn, .arg = arg};
    struct curl_slist *hdrs = NULL;
    CURL *h = handle(c, path, &hdrs, extra_header, &s);
    if (h == NULL) {
        memset(out, 0, sizeof(*out));
        snprintf(out->error, sizeof(out->error), "cannot start libcurl");
        return 0;
    }
    long st = perform(h, &s, out);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return st;
}

void ctl_resp_free(ctl_resp *out)
{
    if (out != NULL) {
        free(out->body);
        out->body = NULL;
    }
}

bool ctl_urlencode(const char *s, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~", *p);
        if (n + (plain ? 1 : 3) >= len)
            return false;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return true;
}
