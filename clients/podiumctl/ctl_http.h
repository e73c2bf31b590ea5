/*
 * ctl_http.h - podiumctl's HTTP client: blocking libcurl calls to podiumd.
 *
 * Every call sends the token as a bearer header and gives back the status
 * and the whole body (ctl_request), or hands the body over piece by piece
 * as it arrives (ctl_stream: exports, SSE). Network failures come back as
 * status 0 with a message meant for a person.
 */
#ifndef PODIUMCTL_HTTP_H
#define PODIUMCTL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ctl_conn {
    const char *url;   /* base, such as http://127.0.0.1:7420 (no trailing slash) */
    const char *token; /* NULL: no Authorization header */
    long timeout_s;    /* whole request; 0 = none (streams) */
} ctl_conn;

typedef struct ctl_resp {
    long status; /* 0 when no answer came */
    char *body;  /* NUL-terminated (owned) */
    size_t len;
    char error[256]; /* why there was no answer */
    char ctype[128]; /* Content-Type */
} ctl_resp;

/* Sends method path (with its query) and an optional body of content type
 * ctype; fills out (free it with ctl_resp_free). Returns out->status. */
long ctl_request(const ctl_conn *c, const char *method, const char *path, const char *body,
                 size_t blen, const char *ctype, ctl_resp *out);
/* Frees what ctl_request filled; out may be zeroed or NULL. */
void ctl_resp_free(ctl_resp *out);

/* Called with each piece of a streamed body; returns false to stop. */
typedef bool ctl_piece_fn(void *arg, const char *data, size_t len);
/* GETs path and hands the body to fn as it arrives (status in out, and
 * out->body holds the body only for answers other than 200). Returns
 * out->status. extra_header may be NULL ("Accept: text/event-stream"). */
long ctl_stream(const ctl_conn *c, const char *path, const char *extra_header, ctl_piece_fn *fn,
                void *arg, ctl_resp *out);

/* Percent-encodes s for a query string into out (len bytes); false when
 * it does not fit. */
bool ctl_urlencode(const char *s, char *out, size_t len);

#endif
