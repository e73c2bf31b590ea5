/*
 * http_widget.c - the web widget's script and the embed page.
 *
 * GET /widget/podium-leaderboard.js answers clients/widget/
 * podium-leaderboard.js, embedded into the binary at build time (see
 * CMakeLists.txt): no file is read at run time, and the ETag is the file's
 * SHA-256, also computed at build time, so it changes exactly when the
 * script does. It is public (it holds no data) and may be loaded and
 * fetched from any origin.
 *
 * GET /embed/{challenge} answers a small HTML page that holds the widget
 * and nothing else, for iframes in SharePoint, Teams or Confluence. It is
 * the one route that may be framed, by the sites listed in the
 * embed_frame_ancestors setting (read per request: a reload applies at
 * once). The page's own policy lets it load only podiumd's script, talk
 * only to podiumd, and show avatar images; it sends no Referer (its URL
 * carries the reader token) and is never cached. The query parameters
 * token, period, limit and theme become the widget's attributes; a value
 * outside its strict character set is dropped, and everything written into
 * the page is HTML-escaped all the same. An unknown challenge answers a
 * friendly 404 page (framable like the embed page, so that an editor sees
 * the mistake inside the frame rather than a browser's refusal).
 *
 * Neither route checks a token (ACCESS_NONE in http_server.c): the widget
 * sends its token with every read of data.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "http_server.h"
#include "orgs.h"
#include "rules.h"
#include "util.h"

/* Generated at build time by daemon/scripts/embed.cmake. */
extern const char widget_leaderboard_js[], widget_leaderboard_js_sha256[];

#define ETAG_HEX 32 /* hex digits of the SHA-256 kept in the ETag */

/* Appends s with the five HTML special characters escaped. */
static void html_text(struct evbuffer *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            evbuffer_add(b, "&amp;", 5);
            break;
        case '<':
            evbuffer_add(b, "&lt;", 4);
            break;
        case '>':
            evbuffer_add(b, "&gt;", 4);
            break;
        case '"':
            evbuffer_add(b, "&quot;", 6);
            break;
        case '\'':
            evbuffer_add(b, "&#39;", 5);
            break;
        default:
            evbuffer_add(b, s, 1);
        }
    }
}

/* True if s is 1..max bytes, each a letter, a digit or in `extra`. */
static bool plain(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(extra, *s)))
            return false;
    return true;
}

void http_widget_js(http_req *q)
{
    char etag[ETAG_HEX + 3];
    snprintf(etag, sizeof(etag), "\"%.*s\"", ETAG_HEX, widget_leaderboard_js_sha256);
    struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);
    evhttp_add_header(h, "ETag", etag);
    evhttp_add_header(h, "Cache-Control", "public, max-age=300");
    evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
    evhttp_add_header(h, "Cross-Origin-Resource-Policy", "cross-origin");
    const char *inm = http_header(q, "If-None-Match");
    if (inm && (strstr(inm, etag) || strcmp(inm, "*") == 0)) {
        http_reply_type(q, 304, NULL, NULL);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_reference(b, widget_leaderboard_js, strlen(widget_leaderboard_js), NULL, NULL);
    http_reply_type(q, 200, "text/javascript; charset=utf-8", b);
}

/* Sets the headers of an HTML answer of the embed route: framable by
 * embed_frame_ancestors only, scripts from podiumd only when `script`. */
static void embed_headers(http_req *q, bool script)
{
    char csp[1024 + 256];
    snprintf(csp, sizeof(csp),
             "default-src 'none'; %sstyle-src 'unsafe-inline'; img-src 'self' https: data:; "
             "base-uri 'none'; form-action 'none'; frame-ancestors %s",
             script ? "script-src 'self'; connect-src 'self'; " : "",
             q->a->cfg->embed_frame_ancestors);
    struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);
    evhttp_add_header(h, "Content-Security-Policy", csp);
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Robots-Tag", "noindex");
}

/* The page's head up to <body>, with a title. */
static void page_head(struct evbuffer *b, const char *title)
{
    evbuffer_add_printf(b, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                           "<meta name=\"viewport\" content=\"width=device-width, "
                           "initial-scale=1\">\n<meta name=\"referrer\" content=\"no-referrer\">\n"
                           "<title>");
    html_text(b, title);
    evbuffer_add_printf(b,
                        "</title>\n<style>html,body{margin:0;height:100%%;background:transparent}"
                        "body{box-sizing:border-box;padding:4px}"
                        "podium-leaderboard{height:100%%}"
                        "p{font:15px system-ui,sans-serif;color:#5b6573;margin:16px}</style>\n");
}

/* A short HTML page that says what went wrong, in the frame. */
static void embed_error(http_req *q, int status, const char *what)
{
    struct evbuffer *b = evbuffer_new();
    embed_headers(q, false);
    page_head(b, "Podium");
    evbuffer_add_printf(b, "</head>\n<body>\n<p>");
    html_text(b, what);
    evbuffer_add_printf(b, "</p>\n</body>\n</html>\n");
    http_reply_type(q, status, "text/html; charset=utf-8", b);
}

/* Appends ` name="value"` when query parameter `name` is present and
 * plain (at most max bytes of letters, digits and `extra`). */
static void attr_from_query(struct evbuffer *b, http_req *q, const char *name, size_t max,
                            const char *extra)
{
    char v[160];
    if (http_query(q, name, v, sizeof(v)) == NULL || !plain(v, max, extra))
        return;
    evbuffer_add_printf(b, " %s=\"", name);
    html_text(b, v);
    evbuffer_add(b, "\"", 1);
}

/* The embed page's org is known: answer the page. */
static void on_embed_org(void *arg, struct org *o)
{
    http_req *q = arg;
    q->org = o;
    const rules *r = o && org_get_state(o) == ORG_ACTIVE ? org_rules_or_empty(o) : NULL;
    if (o == NULL) {
        embed_error(q, 503, "The leaderboard is not available yet; try again in a moment.");
        return;
    }
    const char *id = q->param[0];
    if (r == NULL || !util_valid_id(id) || rules_challenge_index(r, id) < 0) {
        char what[200];
        snprintf(what, sizeof(what),
                 "There is no challenge \"%.64s\" on this Podium server: check the address "
                 "of this frame.",
                 util_valid_id(id) ? id : "(an invalid id)");
        embed_error(q, 404, what);
        return;
    }
    char title[128];
    snprintf(title, sizeof(title), "Podium: %s", id);
    struct evbuffer *b = evbuffer_new();
    embed_headers(q, true);
    page_head(b, title);
    evbuffer_add_printf(b, "<script src=\"../widget/podium-leaderboard.js\" defer></script>\n"
                           "</head>\n<body>\n<podium-leaderboard challenge=\"");
    html_text(b, id);
    evbuffer_add(b, "\"", 1);
    attr_from_query(b, q, "token", AUTH_TOKEN_MAX, "_-.");
    attr_from_query(b, q, "period", 32, "-:");
    char limit[8];
    if (http_query(q, "limit", limit, sizeof(limit)) && strlen(limit) <= 3 &&
        strspn(limit, "0123456789") == strlen(limit) && limit[0] != '\0')
        evbuffer_add_printf(b, " limit=\"%s\"", limit);
    char theme[8];
    if (http_query(q, "theme", theme, sizeof(theme)) &&
        (strcmp(theme, "light") == 0 || strcmp(theme, "dark") == 0 || strcmp(theme, "auto") == 0))
        evbuffer_add_printf(b, " theme=\"%s\"", theme);
    evbuffer_add_printf(b, "></podium-leaderboard>\n</body>\n</html>\n");
    http_reply_type(q, 200, "text/html; charset=utf-8", b);
}

void http_embed_get(http_req *q)
{
    /* The page takes no token itself: its org is the `org` parameter, else
     * the one its `token` names, else default. */
    char org[ORG_ID_MAX + 1] = ORG_DEFAULT, token[AUTH_TOKEN_MAX + 2];
    if (http_query(q, "org", org, sizeof(org))) {
        if (!util_valid_id(org)) {
            embed_error(q, 404,
                        "There is no such organisation on this Podium server: check "
                        "the address of this frame.");
            return;
        }
    } else if (!http_query(q, "token", token, sizeof(token)) ||
               !auth_token_org(token, org, sizeof(org))) {
        snprintf(org, sizeof(org), "%s", ORG_DEFAULT);
    }
    orgs_acquire(q->a->orgs, org, on_embed_org, q);
}
