/*
 * results.c - JSON and text renderings of score results (see results.h).
 *
 * A standing's notes ("daily_cap,first_of_day:2,goal:connector:25", see
 * scoring.h) are split here into limits and bonuses.
 */
#include "results.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "jsonw.h"
#include "util.h"

/* Appends a string literal (not a pointer: sizeof must see the array). */
#define ADD(b, s) evbuffer_add((b), "" s, sizeof(s) - 1)

/* Appends a number. */
static void add_int(struct evbuffer *b, int64_t v)
{
    char num[24];
    evbuffer_add(b, num, util_i64toa(v, num));
}

/* One note of a standing, split at ':' into up to three parts. */
typedef struct note {
    char kind[24], a[EVENT_NAME_MAX + 1], b[24];
} note;

/* Reads the next note of a comma-separated list p[0..*left); false at the end. */
static bool next_note(const char **p, size_t *left, note *n)
{
    if (*left == 0)
        return false;
    const char *comma = memchr(*p, ',', *left);
    size_t len = comma ? (size_t)(comma - *p) : *left;
    char buf[160];
    snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) ? len : sizeof(buf) - 1), *p);
    *p += len + (comma != NULL);
    *left -= len + (comma != NULL);
    char *c1 = strchr(buf, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c1)
        *c1 = '\0';
    if (c2)
        *c2 = '\0';
    snprintf(n->kind, sizeof(n->kind), "%.23s", buf);
    snprintf(n->a, sizeof(n->a), "%.64s", c1 ? c1 + 1 : "");
    snprintf(n->b, sizeof(n->b), "%.23s", c2 ? c2 + 1 : "");
    return true;
}

/* True for the notes that are limits rather than bonuses. */
static bool is_limit(const note *n)
{
    return n->a[0] == '\0';
}

/* The badge of goal `id` in challenge `ch` under rules r, or NULL. */
static const char *badge_of(const rules *r, const char *ch, const char *id)
{
    int c = r ? rules_challenge_index(r, ch) : -1;
    if (c < 0)
        return NULL;
    for (size_t i = 0; i < r->challenges[c].n_goals; i++)
        if (strcmp(r->challenges[c].goals[i].id, id) == 0)
            return r->challenges[c].goals[i].badge;
    return NULL;
}

/* Appends a comma-separated list of names as a JSON array. */
static void name_list(struct evbuffer *b, const char *list)
{
    ADD(b, "[");
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (p != list)
            ADD(b, ",");
        ADD(b, "\"");
        evbuffer_add(b, p, n);
        ADD(b, "\"");
        p += n + (p[n] == ',');
    }
    ADD(b, "]");
}

/* Appends a standing's limits and bonuses. */
static void notes_json(struct evbuffer *b, const rules *r, const score_standing *s)
{
    note n;
    bool first = true;
    ADD(b, ",\"limits\":[");
    const char *p = s->notes;
    size_t left = s->notes_len;
    while (next_note(&p, &left, &n)) {
        if (!is_limit(&n))
            continue;
        evbuffer_add_printf(b, "%s\"%s\"", first ? "" : ",", n.kind);
        first = false;
    }
    ADD(b, "],\"bonuses\":[");
    first = true;
    p = s->notes;
    left = s->notes_len;
    while (next_note(&p, &left, &n)) {
        if (is_limit(&n))
            continue;
        if (!first)
            ADD(b, ",");
        ADD(b, "{\"kind\":");
        first = false;
        jsonw_str(b, n.kind);
        if (strcmp(n.kind, "goal") == 0) {
            ADD(b, ",\"goal\":");
            jsonw_str(b, n.a);
            ADD(b, ",\"badge\":");
            jsonw_str_or_null(b, badge_of(r, s->challenge, n.a));
            ADD(b, ",\"points\":");
            evbuffer_add(b, n.b, strlen(n.b));
        } else {
            ADD(b, ",\"points\":");
            evbuffer_add(b, n.a, strlen(n.a));
            if (n.b[0]) {
                ADD(b, ",\"days\":");
                evbuffer_add(b, n.b, strlen(n.b));
            }
        }
        ADD(b, "}");
    }
    ADD(b, "]");
}

void results_json(struct evbuffer *b, const rules *r, const score_result *res)
{
    ADD(b, "{\"id\":");
    jsonw_str(b, res->id);
    ADD(b, ",\"points\":");
    add_int(b, res->points);
    if (res->duplicate)
        ADD(b, ",\"duplicate\":true,\"reasons\":");
    else
        ADD(b, ",\"duplicate\":false,\"reasons\":");
    name_list(b, res->reasons);
    ADD(b, ",\"explain\":");
    evbuffer_add(b, res->explain, res->explain_len); /* JSON made by scoring.c */
    ADD(b, ",\"standings\":[");
    for (size_t i = 0; i < res->n_std; i++) {
        const score_standing *s = &res->std[i];
        ADD(b, "{\"challenge\":");
        jsonw_str(b, s->challenge);
        ADD(b, ",\"period\":");
        jsonw_str(b, s->period);
        ADD(b, ",\"points\":");
        add_int(b, s->points);
        ADD(b, ",\"score\":");
        add_int(b, s->score);
        ADD(b, ",\"rank\":");
        if (s->rank > 0)
            add_int(b, s->rank);
        else
            ADD(b, "null");
        notes_json(b, r, s);
        if (i + 1 < res->n_std)
            ADD(b, "},");
        else
            ADD(b, "}");
    }
    ADD(b, "]}");
}

/* How a standing's period reads in a sentence ("this week"). */
static const char *period_words(const rules *r, const char *challenge, char *buf, size_t len)
{
    int c = r ? rules_challenge_index(r, challenge) : -1;
    if (c < 0)
        return "";
    switch (r->challenges[c].period.kind) {
    case PERIOD_WEEK:
        return "this week";
    case PERIOD_MONTH:
        return "this month";
    case PERIOD_ALL:
        return "overall";
    default:
        snprintf(buf, len, "in %s", r->challenges[c].name);
        return buf;
    }
}

/* What a standing's score counts: points, or events on a count challenge. */
static const char *unit_words(const rules *r, const score_standing *s)
{
    int c = r ? rules_challenge_index(r, s->challenge) : -1;
    if (c >= 0 && r->challenges[c].scoring == RULES_SCORE_COUNT)
        return s->score == 1 ? "event" : "events";
    return s->score == 1 || s->score == -1 ? "point" : "points";
}

/* The words that open a sentence about a limited event. */
static const char *limit_words(const char *reasons)
{
    if (strstr(reasons, "duplicate_url"))
        return "Link already scored: ";
    if (strstr(reasons, "cooldown"))
        return "Too soon after the last one: ";
    if (strstr(reasons, "daily_cap"))
        return "Daily cap reached: ";
    return "";
}

void results_text(struct evbuffer *b, const rules *r, const score_result *res, size_t n)
{
    if (n != 1) {
        int64_t total = 0;
        size_t dups = 0;
        for (size_t i = 0; i < n; i++) {
            total += res[i].duplicate ? 0 : res[i].points;
            dups += res[i].duplicate;
        }
        evbuffer_add_printf(b, "Logged %zu event%s: %+" PRId64 " points", n - dups,
                            n - dups == 1 ? "" : "s", total);
        if (dups)
            evbuffer_add_printf(b, " (%zu already logged)", dups);
        evbuffer_add(b, ".\n", 2);
        return;
    }
    const score_result *x = &res[0];
    if (x->duplicate)
        ADD(b, "Already logged: ");
    else
        evbuffer_add_printf(b, "%s", limit_words(x->reasons));
    /* The first board's points include its bonuses, which a leader wants to see. */
    const score_standing *s = x->n_std > 0 ? &x->std[0] : NULL;
    int64_t pts = s && s->points > x->points ? s->points : x->points;
    evbuffer_add_printf(b, "%+" PRId64 " point%s", pts, pts == 1 || pts == -1 ? "" : "s");
    if (s) {
        note nt;
        bool first = true;
        const char *p = s->notes;
        size_t left = s->notes_len;
        while (next_note(&p, &left, &nt)) {
            if (is_limit(&nt))
                continue;
            if (first)
                ADD(b, " (");
            else
                ADD(b, ", ");
            first = false;
            if (strcmp(nt.kind, "first_of_day") == 0) {
                ADD(b, "first today");
            } else if (strcmp(nt.kind, "streak") == 0) {
                evbuffer_add_printf(b, "%s-day streak", nt.b);
            } else {
                const char *badge = badge_of(r, s->challenge, nt.a);
                evbuffer_add_printf(b, "goal: %s", badge ? badge : nt.a);
            }
        }
        if (!first)
            ADD(b, ")");
        char buf[160];
        const char *words = period_words(r, s->challenge, buf, sizeof(buf));
        if (s->rank > 0)
            evbuffer_add_printf(b, ", #%" PRId64 "%s%s (%" PRId64 " %s)", s->rank,
                                words[0] ? " " : "", words, s->score, unit_words(r, s));
    }
    evbuffer_add(b, ".\n", 2);
}
