/*
 * webhook_body.c - rendering webhook bodies (json, slack, teams) and signing
 * them per Standard Webhooks.
 *
 * Every body is built as a jansson tree and dumped compact, so JSON escaping
 * is jansson's. The payload is parsed once per render; the shapes it may
 * have are those of webhook.h (period_closed, digest, test). A member that
 * is missing or of the wrong type reads as "" or 0: a payload is written by
 * podiumd itself, and a half-empty message is better than none.
 *
 * Slack limits that a body must respect: a header's text is at most 150
 * characters, a section's text at most 3000; long names are cut at a
 * character boundary and standings stop after STANDINGS_SHOWN lines.
 */
#include "webhook_body.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define STANDINGS_SHOWN 10
#define HEADER_MAX      150  /* characters of a Slack header */
#define SECTION_MAX     3000 /* characters of a Slack section */

static const char *const format_names[] = {"json", "slack", "teams"};

bool webhook_body_format_parse(const char *s, webhook_format *out)
{
    for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
        if (strcmp(s, format_names[i]) == 0) {
            *out = (webhook_format)i;
            return true;
        }
    }
    return false;
}

const char *webhook_body_format_name(webhook_format f)
{
    return (size_t)f < sizeof(format_names) / sizeof(format_names[0]) ? format_names[f] : "?";
}

bool webhook_body_type_known(const char *type)
{
    return strcmp(type, "period_closed") == 0 || strcmp(type, "digest") == 0 ||
           strcmp(type, "test") == 0;
}

/* A growing NUL-terminated string; aborts when memory runs out. */
struct text {
    char *s;
    size_t n, cap;
};

/* Makes room for n more bytes and a NUL. */
static void text_reserve(struct text *t, size_t n)
{
    if (t->n + n + 1 <= t->cap)
        return;
    size_t cap = t->cap ? t->cap : 256;
    while (t->n + n + 1 > cap)
        cap *= 2;
    char *s = realloc(t->s, cap);
    if (s == NULL)
        abort();
    t->s = s;
    t->cap = cap;
}

/* Appends n bytes of p. */
static void text_add(struct text *t, const char *p, size_t n)
{
    text_reserve(t, n);
    memcpy(t->s + t->n, p, n);
    t->n += n;
    t->s[t->n] = '\0';
}

/* Appends a formatted string, whatever its length. */
__attribute__((format(printf, 2, 3))) static void text_printf(struct text *t, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0) {
        text_reserve(t, (size_t)n);
        vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap2);
        t->n += (size_t)n;
    }
    va_end(ap2);
}

/* Appends s with Slack mrkdwn's control characters as entities. */
static void text_mrkdwn(struct text *t, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            text_add(t, "&amp;", 5);
        else if (*s == '<')
            text_add(t, "&lt;", 4);
        else if (*s == '>')
            text_add(t, "&gt;", 4);
        else
            text_add(t, s, 1);
    }
}

/* Cuts t to at most max characters (UTF-8 code points), ending in "…" when cut. */
static void text_limit(struct text *t, size_t max)
{
    size_t chars = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (((unsigned char)t->s[i] & 0xC0) == 0x80)
            continue;
        if (++chars == max) { /* room for the ellipsis in the last character */
            size_t rest = 0;
            for (size_t j = i + 1; j < t->n; j++)
                rest += ((unsigned char)t->s[j] & 0xC0) != 0x80;
            if (rest == 0)
                return;
            t->n = i;
            t->s[i] = '\0';
            text_add(t, "\xE2\x80\xA6", 3);
            return;
        }
    }
}

/* The string member k of o, or "". */
static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* The integer member k of o, or 0. */
static int64_t num(const json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

/* The English ordinal suffix of n: "st", "nd", "rd" or "th". */
static const char *ordinal(int64_t n)
{
    int64_t m100 = n % 100, m10 = n % 10;
    if (m100 >= 11 && m100 <= 13)
        return "th";
    return m10 == 1 ? "st" : m10 == 2 ? "nd" : m10 == 3 ? "rd" : "th";
}

/* "point" or "points" for n. */
static const char *points_word(int64_t n)
{
    return n == 1 || n == -1 ? "point" : "points";
}

/* The readable parts of a message, shared by the slack and teams renderers. */
struct message {
    struct text title;    /* one line, plain text */
    struct text summary;  /* the notification line, plain text */
    struct text context;  /* the small print, plain text */
    json_t *rows;         /* period_closed: the standings shown, borrowed */
    size_t more;          /* standings not shown */
    const char *sentence; /* digest: its "text", borrowed */
};

/* The name of a standings row: its name, else its leader id. */
static const char *row_name(const json_t *row)
{
    const char *name = str(row, "name");
    return *name ? name : str(row, "leader");
}

/* Builds the readable parts of a message from a payload. */
static void message_build(struct message *m, const char *type, const json_t *p)
{
    memset(m, 0, sizeof(*m));
    const char *chname = *str(p, "challenge_name") ? str(p, "challenge_name") : str(p, "challenge");
    if (strcmp(type, "period_closed") == 0) {
        text_printf(&m->title, "%s: results of %s", chname, str(p, "period"));
        json_t *winners = json_object_get(p, "winners");
        size_t nw = json_array_size(winners);
        text_printf(&m->summary, "%s, %s is over. ", chname, str(p, "period"));
        if (nw == 0) {
            text_printf(&m->summary, "Nobody scored.");
        } else {
            text_printf(&m->summary, "%s ", nw == 1 ? "Winner:" : "Winners:");
            for (size_t i = 0; i < nw; i++) {
                const json_t *w = json_array_get(winners, i);
                text_printf(&m->summary, "%s%s",
                            i == 0        ? ""
                            : i + 1 == nw ? " and "
                                          : ", ",
                            row_name(w));
            }
            int64_t score = num(json_array_get(winners, 0), "score");
            text_printf(&m->summary, " with %" PRId64 " %s.", score, points_word(score));
        }
        json_t *st = json_object_get(p, "standings");
        m->rows = json_array();
        for (size_t i = 0; i < json_array_size(st); i++) {
            if (i < STANDINGS_SHOWN)
                json_array_append(m->rows, json_array_get(st, i));
            else
                m->more++;
        }
        int64_t leaders = num(p, "leaders");
        text_printf(&m->context, "%" PRId64 " %s took part. Closed at %s.", leaders,
                    leaders == 1 ? "leader" : "leaders", str(p, "closed_at"));
    } else if (strcmp(type, "digest") == 0) {
        int64_t rank = num(p, "rank"), score = num(p, "score");
        text_printf(&m->title, "%s, %s: %s", chname, str(p, "period"), row_name(p));
        if (rank > 0)
            text_printf(&m->summary, "%s is %" PRId64 "%s in %s with %" PRId64 " %s.", row_name(p),
                        rank, ordinal(rank), chname, score, points_word(score));
        else
            text_printf(&m->summary, "%s has not scored in %s yet.", row_name(p), chname);
        m->sentence = str(p, "text");
        int64_t streak = num(p, "streak");
        text_printf(&m->context, "Streak: %" PRId64 " %s. Score: %" PRId64 ".", streak,
                    streak == 1 ? "day" : "days", score);
    } else {
        text_printf(&m->title, "Podium test event");
        text_printf(&m->summary, "This is a test delivery from Podium: the webhook works.");
        text_printf(&m->context, "Webhook %s", str(p, "webhook"));
    }
    text_limit(&m->title, HEADER_MAX);
}

/* Frees what a message owns. */
static void message_free(struct message *m)
{
    free(m->title.s);
    free(m->summary.s);
    free(m->context.s);
    json_decref(m->rows);
}

/* The movement of a standings row as shown: "(+2)", "(-1)", "(=)" or "(new)". */
static void movement(const json_t *row, char out[32])
{
    json_t *mv = json_object_get(row, "movement");
    if (!json_is_integer(mv))
        snprintf(out, 32, "(new)");
    else if (json_integer_value(mv) == 0)
        snprintf(out, 32, "(=)");
    else
        snprintf(out, 32, "(%+" PRId64 ")", (int64_t)json_integer_value(mv));
}

/* The mrkdwn of a Slack section: the standings or the digest's sentence. */
static void slack_section(const struct message *m, const char *type, struct text *t)
{
    if (strcmp(type, "period_closed") == 0) {
        for (size_t i = 0; i < json_array_size(m->rows); i++) {
            const json_t *row = json_array_get(m->rows, i);
            int64_t score = num(row, "score");
            char mv[32];
            movement(row, mv);
            text_printf(t, "%s*%" PRId64 ".* ", i ? "\n" : "", num(row, "rank"));
            text_mrkdwn(t, row_name(row));
            text_printf(t, " \xE2\x80\x94 %" PRId64 " %s %s", score, points_word(score), mv);
        }
        if (m->more)
            text_printf(t, "\n_and %zu more_", m->more);
        if (json_array_size(m->rows) == 0)
            text_printf(t, "_Nobody scored in this period._");
    } else if (strcmp(type, "digest") == 0) {
        text_mrkdwn(t, *m->sentence ? m->sentence : m->summary.s);
    } else {
        text_mrkdwn(t, m->summary.s);
    }
    text_limit(t, SECTION_MAX);
}

/* A Slack message: {"text", "blocks": [header, section, context]}. */
static json_t *render_slack(const char *type, const json_t *p)
{
    struct message m;
    struct text section = {0}, ctx = {0}, text = {0};
    message_build(&m, type, p);
    slack_section(&m, type, &section);
    text_mrkdwn(&ctx, m.context.s);
    text_mrkdwn(&text, m.summary.s); /* the notification line is mrkdwn too */
    json_t *blocks =
        json_pack("[{s:s, s:{s:s, s:s, s:b}}, {s:s, s:{s:s, s:s}}, {s:s, s:[{s:s, s:s}]}]", "type",
                  "header", "text", "type", "plain_text", "text", m.title.s, "emoji", 1, "type",
                  "section", "text", "type", "mrkdwn", "text", section.s, "type", "context",
                  "elements", "type", "mrkdwn", "text", ctx.s);
    json_t *body = json_pack("{s:s, s:o}", "text", text.s, "blocks", blocks);
    free(text.s);
    free(section.s);
    free(ctx.s);
    message_free(&m);
    return body;
}

/* A Teams Workflows message: one Adaptive Card 1.4 with a title, the
 * standings as a FactSet (or the digest's sentence) and a subtle footer. */
static json_t *render_teams(const char *type, const json_t *p)
{
    struct message m;
    message_build(&m, type, p);
    json_t *body = json_array();
    json_array_append_new(body,
                          json_pack("{s:s, s:s, s:s, s:s, s:b}", "type", "TextBlock", "text",
                                    m.title.s, "weight", "Bolder", "size", "Medium", "wrap", 1));
    json_array_append_new(
        body, json_pack("{s:s, s:s, s:b}", "type", "TextBlock", "text",
                        strcmp(type, "digest") == 0 && *m.sentence ? m.sentence : m.summary.s,
                        "wrap", 1));
    if (json_array_size(m.rows)) {
        json_t *facts = json_array();
        for (size_t i = 0; i < json_array_size(m.rows); i++) {
            const json_t *row = json_array_get(m.rows, i);
            char title[32], mv[32];
            struct text value = {0};
            int64_t score = num(row, "score");
            movement(row, mv);
            snprintf(title, sizeof(title), "%" PRId64 ".", num(row, "rank"));
            text_printf(&value, "%s \xE2\x80\x94 %" PRId64 " %s %s", row_name(row), score,
                        points_word(score), mv);
            json_array_append_new(facts, json_pack("{s:s, s:s}", "title", title, "value", value.s));
            free(value.s);
        }
        json_array_append_new(body, json_pack("{s:s, s:o}", "type", "FactSet", "facts", facts));
    }
    if (m.more) {
        char more[64];
        snprintf(more, sizeof(more), "and %zu more", m.more);
        json_array_append_new(body, json_pack("{s:s, s:s, s:b, s:b}", "type", "TextBlock", "text",
                                              more, "isSubtle", 1, "wrap", 1));
    }
    json_array_append_new(body, json_pack("{s:s, s:s, s:b, s:s, s:b}", "type", "TextBlock", "text",
                                          m.context.s, "isSubtle", 1, "size", "Small", "wrap", 1));
    json_t *card = json_pack("{s:s, s:s, s:s, s:o}", "$schema",
                             "http://adaptivecards.io/schemas/adaptive-card.json", "type",
                             "AdaptiveCard", "version", "1.4", "body", body);
    message_free(&m);
    return json_pack("{s:s, s:[{s:s, s:n, s:o}]}", "type", "message", "attachments", "contentType",
                     "application/vnd.microsoft.card.adaptive", "contentUrl", "content", card);
}

char *webhook_body_render(webhook_format f, const char *type, int64_t created_ms,
                          const char *payload, size_t len, size_t *outlen)
{
    json_t *p = json_loadb(payload, len, 0, NULL);
    json_t *body = NULL;
    char *out = NULL;
    if (p == NULL || !json_is_object(p))
        goto out;
    if (f == WEBHOOK_FORMAT_SLACK) {
        body = render_slack(type, p);
    } else if (f == WEBHOOK_FORMAT_TEAMS) {
        body = render_teams(type, p);
    } else {
        char ts[32];
        util_format_rfc3339(created_ms, ts);
        body = json_pack("{s:s, s:s, s:O}", "type", type, "timestamp", ts, "data", p);
    }
    if (body == NULL)
        goto out;
    out = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (out)
        *outlen = strlen(out);
out:
    json_decref(body);
    json_decref(p);
    return out;
}

int webhook_body_sign(const unsigned char *key, size_t keylen, const char *id, int64_t timestamp,
                      const char *body, size_t len, char out[WEBHOOK_SIG_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char head[160];
    int hn = snprintf(head, sizeof(head), "%s.%" PRId64 ".", id, timestamp);
    if (hn < 0 || (size_t)hn >= sizeof(head))
        return -1;
    /* HMAC over head then body, without copying the body. */
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    int rc = -1;
    if (ctx && EVP_MAC_init(ctx, key, keylen, params) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)head, (size_t)hn) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)body, len) == 1 &&
        EVP_MAC_final(ctx, md, &outl, sizeof(md)) == 1) {
        mdlen = (unsigned int)outl;
        memcpy(out, "v1,", 3);
        EVP_EncodeBlock((unsigned char *)out + 3, md, (int)mdlen); /* 44 chars and a NUL */
        rc = 0;
    }
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

int webhook_body_secret_decode(const char *secret, unsigned char *key)
{
    if (strncmp(secret, "whsec_", 6) == 0)
        secret += 6;
    size_t n = strlen(secret);
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > WEBHOOK_KEY_MAX)
        return -1;
    unsigned char buf[WEBHOOK_KEY_MAX + 3];
    int got = EVP_DecodeBlock(buf, (const unsigned char *)secret, (int)n);
    if (got < 0)
        return -1;
    /* EVP_DecodeBlock counts the bytes that '=' padding stands for. */
    got -= (secret[n - 1] == '=') + (secret[n - 2] == '=');
    memcpy(key, buf, (size_t)got);
    return got;
}

void webhook_body_secret_encode(const unsigned char *key, size_t keylen,
                                char out[WEBHOOK_SECRET_MAX])
{
    if (keylen > WEBHOOK_KEY_MAX)
        keylen = WEBHOOK_KEY_MAX;
    memcpy(out, "whsec_", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, key, (int)keylen);
}
