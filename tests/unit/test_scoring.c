/*
 * test_scoring.c - unit tests of scoring.c's pure parts: planning events
 * (points, explanation, challenges and periods, closed periods), planning
 * replays, reading result strings, and the KEYS of a score.lua call.
 *
 * Rule sets and expected explanations are written with ' for " so that they
 * stay readable; q() turns them into JSON. Times are RFC 3339 strings, turned
 * into Unix milliseconds by util_parse_rfc3339 (tested in test_util.c).
 * Expected week ids and bounds were worked out by hand and checked with
 * `date -u -d ... +%G-W%V` and `TZ=Europe/London date`. The rule sets need
 * Europe/London and America/New_York from the system's zoneinfo.
 *
 * Result strings are copied into buffers of exactly their length (no NUL),
 * so that ASan sees any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "errlist.h"
#include "event.h"
#include "rules.h"
#include "scoring.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Points: every rounding case, both multiplier tables and two campaigns
 * that overlap on 3 and 4 December; one all-time challenge. */
static const char doc_points[] =
    "{'activities':{'post':{'points':10},'reply':{'points':3},'half':{'points':2.5},"
    "'neg':{'points':-2.5},'neg3':{'points':-3},'meet':{'points':15},'tiny':{'points':0.4},"
    "'ntiny':{'points':-0.4}},"
    "'multipliers':{'channel':{'linkedin':1.5,'intranet':0.5,'tv':4.1,'radio':1.15},"
    "'stakeholder':{'customer':2,'investor':3}},"
    "'campaigns':[{'name':'Results week','starts':'2026-11-30T00:00:00Z',"
    "'ends':'2026-12-07T00:00:00Z','multiplier':2},"
    "{'name':'Launch|\\'x\\'','starts':'2026-12-03T00:00:00Z','ends':'2026-12-05T00:00:00Z',"
    "'multiplier':1.5}],"
    "'challenges':[{'id':'alltime','name':'All time','period':'all',"
    "'activities':['post','reply','half','neg','neg3','meet','tiny','ntiny']}]}";

/* Challenges: a London week, a New York Sunday week, a fixed count
 * challenge, an all-time challenge for two leaders and a month for one. */
static const char doc_challenges[] =
    "{'activities':{'post':{'points':10},'meet':{'points':15}},"
    "'challenges':["
    "{'id':'weekly','name':'Weekly','period':'week','timezone':'Europe/London',"
    "'activities':['post','meet']},"
    "{'id':'sunday','name':'Sunday weeks','period':'week','timezone':'America/New_York',"
    "'week_starts':'sunday','activities':['post']},"
    "{'id':'q4','name':'Q4 sprint','period':'fixed','starts':'2026-10-01T00:00:00Z',"
    "'ends':'2027-01-01T00:00:00Z','scoring':'count','activities':['meet']},"
    "{'id':'vip','name':'VIP','period':'all','leaders':['amy','bob'],'activities':['post']},"
    "{'id':'monthly','name':'Monthly','period':'month','leaders':['cat'],"
    "'activities':['meet']}]}";

/* London weeks starting on Monday (ISO ids) and on Sunday (date ids). */
static const char doc_london[] =
    "{'activities':{'post':{'points':10}},"
    "'challenges':["
    "{'id':'weekly','name':'Weekly','period':'week','timezone':'Europe/London',"
    "'activities':['post']},"
    "{'id':'sunweek','name':'Sunday weeks','period':'week','timezone':'Europe/London',"
    "'week_starts':'sunday','activities':['post']}]}";

/* A call: a capped, cooled-down activity with a goal and daily bonuses. */
static const char doc_call[] =
    "{'activities':{'post':{'points':10,'daily_cap':3,'cooldown':'1m'}},"
    "'bonuses':{'first_of_day':2},"
    "'challenges':[{'id':'weekly','name':'Weekly','period':'week','timezone':'Europe/London',"
    "'activities':['post'],'goals':[{'id':'g','activity':'post','count':5}]}]}";

enum { D_POINTS, D_CHALLENGES, D_LONDON, D_CALL, N_DOCS };

static const char *const docs[N_DOCS] = {doc_points, doc_challenges, doc_london, doc_call};

/* Returns a malloc'd copy of s with every ' turned into ". */
static char *q(const char *s)
{
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '\'')
            *p = '"';
    return out;
}

/* Group setup: compiles every rule set once; *state is the rules array. */
static int setup(void **state)
{
    rules **r = calloc(N_DOCS, sizeof(*r));
    if (r == NULL)
        return -1;
    *state = r;
    for (size_t i = 0; i < N_DOCS; i++) {
        errlist errs = {0};
        char *json = q(docs[i]);
        r[i] = rules_parse(json, strlen(json), &errs);
        free(json);
        for (size_t k = 0; k < errs.n; k++)
            fprintf(stderr, "doc %zu: %s: %s\n", i, errs.items[k].pointer, errs.items[k].message);
        errlist_clear(&errs);
        if (r[i] == NULL)
            return -1;
    }
    return 0;
}

/* Group teardown: frees the rule sets. */
static int teardown(void **state)
{
    rules **r = *state;
    for (size_t i = 0; r && i < N_DOCS; i++)
        rules_free(r[i]);
    free(r);
    return 0;
}

/* Unix milliseconds of an RFC 3339 time. */
static int64_t ms(const char *rfc3339)
{
    int64_t v = 0;
    if (!util_parse_rfc3339(rfc3339, &v))
        fail_msg("bad time in the test: %s", rfc3339);
    return v;
}

/* An event with the given fields; NULL channel or stakeholder = absent. */
static event make_event(const char *leader, const char *type, const char *channel,
                        const char *stakeholder, int64_t at)
{
    event ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.leader, sizeof(ev.leader), "%s", leader);
    snprintf(ev.type, sizeof(ev.type), "%s", type);
    snprintf(ev.channel, sizeof(ev.channel), "%s", channel ? channel : "");
    snprintf(ev.stakeholder, sizeof(ev.stakeholder), "%s", stakeholder ? stakeholder : "");
    ev.at = at;
    return ev;
}

/* Writes "challenge:period ..." for planned standings. */
static void stds_text(const rules *r, const score_std *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s:%s", i ? " " : "",
                              r->challenges[s[i].challenge].id, s[i].per.id);
}

/* One event planned under one rule set. */
typedef struct plan_row {
    int doc;
    const char *leader, *type, *channel, *stakeholder;
    const char *at;
    const char *now; /* NULL = a minute after `at` */
    const char *ptr; /* the event's JSON Pointer in a batch */
    int64_t points;
    const char *explain; /* ' for "; NULL = not checked (unknown type) */
    const char *stds;    /* "challenge:period ..." planned, in challenge order */
    const char *err_ptr; /* NULL = no error */
    const char *err_part;
    size_t n_errs;
} plan_row;

#define AT "2026-11-27T12:00:00Z" /* a Friday in 2026-W48, no campaign */
#define NO "{'base':10,'multipliers':[]}"
#define LI "{'kind':'channel','name':'linkedin','factor':1.5}"
#define RW "{'kind':'campaign','name':'Results week','factor':2}"
#define LA "{'kind':'campaign','name':'Launch\\u007c\\'x\\'','factor':1.5}"

/* score_plan_event: points (rounded half away from zero), the explanation
 * byte for byte, the standings and their period ids, and the errors. */
static void test_plan_event(void **state)
{
    static const plan_row rows[] = {
        /* Rounding, half away from zero, negative points too. */
        {D_POINTS, "amy", "post", NULL, NULL, AT, NULL, "", 10, NO, "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "half", NULL, NULL, AT, NULL, "", 3, "{'base':2.5,'multipliers':[]}",
         "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "neg", NULL, NULL, AT, NULL, "", -3, "{'base':-2.5,'multipliers':[]}",
         "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "neg3", "linkedin", NULL, AT, NULL, "", -5,
         "{'base':-3,'multipliers':[" LI "]}", "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "neg", "intranet", NULL, AT, NULL, "", -1,
         "{'base':-2.5,'multipliers':[{'kind':'channel','name':'intranet','factor':0.5}]}",
         "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "reply", "intranet", NULL, AT, NULL, "", 2,
         "{'base':3,'multipliers':[{'kind':'channel','name':'intranet','factor':0.5}]}",
         "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "tiny", NULL, NULL, AT, NULL, "", 0, "{'base':0.4,'multipliers':[]}",
         "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "ntiny", NULL, NULL, AT, NULL, "", 0, "{'base':-0.4,'multipliers':[]}",
         "alltime:all", NULL, NULL, 0},
        /* Decimal factors behave as written: 15 x 4.1 = 61.5, 10 x 1.15 = 11.5. */
        {D_POINTS, "amy", "meet", "tv", NULL, AT, NULL, "", 62,
         "{'base':15,'multipliers':[{'kind':'channel','name':'tv','factor':4.1}]}", "alltime:all",
         NULL, NULL, 0},
        {D_POINTS, "amy", "post", "radio", NULL, AT, NULL, "", 12,
         "{'base':10,'multipliers':[{'kind':'channel','name':'radio','factor':1.15}]}",
         "alltime:all", NULL, NULL, 0},
        /* Channel then stakeholder; names not in the tables count as 1 and
         * are not explained. */
        {D_POINTS, "amy", "reply", "linkedin", "customer", AT, NULL, "", 9,
         "{'base':3,'multipliers':[" LI ",{'kind':'stakeholder','name':'customer','factor':2}]}",
         "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "meet", NULL, "investor", AT, NULL, "", 45,
         "{'base':15,'multipliers':[{'kind':'stakeholder','name':'investor','factor':3}]}",
         "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "post", "tiktok", "press", AT, NULL, "", 10, NO, "alltime:all", NULL,
         NULL, 0},
        /* Campaigns: [starts, ends), overlapping ones multiply, names escaped. */
        {D_POINTS, "amy", "post", NULL, NULL, "2026-11-29T23:59:59.999Z", NULL, "", 10, NO,
         "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "post", NULL, NULL, "2026-11-30T00:00:00Z", NULL, "", 20,
         "{'base':10,'multipliers':[" RW "]}", "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "post", NULL, NULL, "2026-12-06T23:59:59.999Z", NULL, "", 20,
         "{'base':10,'multipliers':[" RW "]}", "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "post", NULL, NULL, "2026-12-07T00:00:00Z", NULL, "", 10, NO,
         "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "post", NULL, NULL, "2026-12-03T00:00:00Z", NULL, "", 30,
         "{'base':10,'multipliers':[" RW "," LA "]}", "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "post", "linkedin", NULL, "2026-12-04T12:00:00Z", NULL, "", 45,
         "{'base':10,'multipliers':[" LI "," RW "," LA "]}", "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "neg", NULL, NULL, "2026-12-04T23:59:59Z", NULL, "", -8,
         "{'base':-2.5,'multipliers':[" RW "," LA "]}", "alltime:all", NULL, NULL, 0},
        {D_POINTS, "amy", "post", NULL, NULL, "2026-12-05T00:00:00Z", NULL, "", 20,
         "{'base':10,'multipliers':[" RW "]}", "alltime:all", NULL, NULL, 0},
        /* Leader lists; a count challenge is planned like any other. */
        {D_CHALLENGES, "amy", "post", NULL, NULL, AT, NULL, "", 10, NO,
         "weekly:2026-W48 sunday:2026-11-22 vip:all", NULL, NULL, 0},
        {D_CHALLENGES, "cat", "post", NULL, NULL, AT, NULL, "", 10, NO,
         "weekly:2026-W48 sunday:2026-11-22", NULL, NULL, 0},
        {D_CHALLENGES, "dan", "meet", NULL, NULL, AT, NULL, "", 15, "{'base':15,'multipliers':[]}",
         "weekly:2026-W48 q4:fixed", NULL, NULL, 0},
        {D_CHALLENGES, "cat", "meet", NULL, NULL, AT, NULL, "", 15, "{'base':15,'multipliers':[]}",
         "weekly:2026-W48 q4:fixed monthly:2026-11", NULL, NULL, 0},
        /* Fixed period: before its start, at its start, last second, end. */
        {D_CHALLENGES, "cat", "meet", NULL, NULL, "2026-09-30T23:59:59Z", NULL, "", 15,
         "{'base':15,'multipliers':[]}", "weekly:2026-W40 monthly:2026-09", NULL, NULL, 0},
        {D_CHALLENGES, "amy", "meet", NULL, NULL, "2026-10-01T00:00:00Z", NULL, "", 15,
         "{'base':15,'multipliers':[]}", "weekly:2026-W40 q4:fixed", NULL, NULL, 0},
        {D_CHALLENGES, "amy", "meet", NULL, NULL, "2026-12-31T23:59:59Z", NULL, "", 15,
         "{'base':15,'multipliers':[]}", "weekly:2026-W53 q4:fixed", NULL, NULL, 0},
        {D_CHALLENGES, "amy", "meet", NULL, NULL, "2027-01-01T00:00:00Z", NULL, "", 15,
         "{'base':15,'multipliers':[]}", "weekly:2026-W53", NULL, NULL, 0},
        /* Closed periods: the week closes at its end plus the 15-minute grace. */
        {D_CHALLENGES, "amy", "post", NULL, NULL, "2026-11-22T12:00:00Z",
         "2026-11-23T00:14:59.999Z", "", 10, NO, "weekly:2026-W47 sunday:2026-11-22 vip:all", NULL,
         NULL, 0},
        {D_CHALLENGES, "amy", "post", NULL, NULL, "2026-11-22T12:00:00Z", "2026-11-23T00:15:00Z",
         "", 10, NO, "sunday:2026-11-22 vip:all", "/at",
         "falls in period 2026-W47 of challenge 'weekly', closed since 2026-11-23T00:15:00.000Z",
         1},
        {D_CHALLENGES, "amy", "post", NULL, NULL, "2026-11-20T12:00:00Z", "2026-11-23T00:15:00Z",
         "/events/3", 10, NO, "vip:all", "/events/3/at",
         "falls in period 2026-W47 of challenge 'weekly', closed since 2026-11-23T00:15:00.000Z",
         2},
        {D_CHALLENGES, "amy", "meet", NULL, NULL, "2026-12-31T23:59:59Z", "2027-01-01T00:15:00Z",
         "/events/0", 15, "{'base':15,'multipliers':[]}", "weekly:2026-W53", "/events/0/at",
         "falls in period fixed of challenge 'q4', closed since 2027-01-01T00:15:00.000Z", 1},
        /* An all-time challenge never closes. */
        {D_CHALLENGES, "amy", "post", NULL, NULL, "2020-03-04T12:00:00Z", "2026-11-27T12:00:00Z",
         "", 10, NO, "vip:all", "/at", "falls in period 2020-W10 of challenge 'weekly'", 2},
        /* Unknown activity type. */
        {D_CHALLENGES, "amy", "like", NULL, NULL, AT, NULL, "", 0, NULL, "", "/type",
         "unknown activity type 'like': the rules define 2 types", 1},
        {D_CHALLENGES, "amy", "Post", NULL, NULL, AT, NULL, "/events/12", 0, NULL, "",
         "/events/12/type", "unknown activity type 'Post'", 1},
        /* Europe/London across the DST changes: Monday weeks are ISO weeks
         * of the local date, Sunday weeks are named by their local start. */
        {D_LONDON, "amy", "post", NULL, NULL, "2026-03-28T23:59:59Z", NULL, "", 10, NO,
         "weekly:2026-W13 sunweek:2026-03-22", NULL, NULL, 0},
        {D_LONDON, "amy", "post", NULL, NULL, "2026-03-29T00:59:59Z", NULL, "", 10, NO,
         "weekly:2026-W13 sunweek:2026-03-29", NULL, NULL, 0},
        {D_LONDON, "amy", "post", NULL, NULL, "2026-03-29T01:00:00Z", NULL, "", 10, NO,
         "weekly:2026-W13 sunweek:2026-03-29", NULL, NULL, 0},
        {D_LONDON, "amy", "post", NULL, NULL, "2026-03-29T22:59:59Z", NULL, "", 10, NO,
         "weekly:2026-W13 sunweek:2026-03-29", NULL, NULL, 0},
        {D_LONDON, "amy", "post", NULL, NULL, "2026-03-29T23:00:00Z", NULL, "", 10, NO,
         "weekly:2026-W14 sunweek:2026-03-29", NULL, NULL, 0},
        {D_LONDON, "amy", "post", NULL, NULL, "2026-10-24T22:59:59Z", NULL, "", 10, NO,
         "weekly:2026-W43 sunweek:2026-10-18", NULL, NULL, 0},
        {D_LONDON, "amy", "post", NULL, NULL, "2026-10-24T23:00:00Z", NULL, "", 10, NO,
         "weekly:2026-W43 sunweek:2026-10-25", NULL, NULL, 0},
        {D_LONDON, "amy", "post", NULL, NULL, "2026-10-25T00:59:59Z", NULL, "", 10, NO,
         "weekly:2026-W43 sunweek:2026-10-25", NULL, NULL, 0},
        {D_LONDON, "amy", "post", NULL, NULL, "2026-10-25T01:00:00Z", NULL, "", 10, NO,
         "weekly:2026-W43 sunweek:2026-10-25", NULL, NULL, 0},
        {D_LONDON, "amy", "post", NULL, NULL, "2026-10-25T23:30:00Z", NULL, "", 10, NO,
         "weekly:2026-W43 sunweek:2026-10-25", NULL, NULL, 0},
        {D_LONDON, "amy", "post", NULL, NULL, "2026-10-26T00:00:00Z", NULL, "", 10, NO,
         "weekly:2026-W44 sunweek:2026-10-25", NULL, NULL, 0},
        {D_LONDON, "amy", "post", NULL, NULL, "2027-01-03T23:59:59Z", NULL, "", 10, NO,
         "weekly:2026-W53 sunweek:2027-01-03", NULL, NULL, 0},
    };
    rules **docs_r = *state;
    for (size_t i = 0; i < N(rows); i++) {
        const plan_row *w = &rows[i];
        const rules *r = docs_r[w->doc];
        event ev = make_event(w->leader, w->type, w->channel, w->stakeholder, ms(w->at));
        int64_t now = w->now ? ms(w->now) : ev.at + 60000;
        score_plan p;
        score_std stds[RULES_MAX_CHALLENGES + 1];
        size_t n_stds = 1; /* a standing of an earlier event of the batch */
        memset(&p, 0, sizeof(p));
        memset(stds, 0, sizeof(stds));
        errlist errs = {0};
        char got[512];

        bool ok = score_plan_event(r, &ev, w->ptr, now, &p, stds, &n_stds, &errs);
        if (ok != (w->err_ptr == NULL) || errs.n != w->n_errs) {
            for (size_t k = 0; k < errs.n; k++)
                print_error("  %s: %s\n", errs.items[k].pointer, errs.items[k].message);
            fail_msg("row %zu (%s at %s): ok %d with %zu errors", i, w->type, w->at, ok, errs.n);
        }
        if (w->err_ptr) {
            assert_string_equal(errs.items[0].pointer, w->err_ptr);
            if (strstr(errs.items[0].message, w->err_part) == NULL)
                fail_msg("row %zu: message \"%s\" lacks \"%s\"", i, errs.items[0].message,
                         w->err_part);
        }
        if (w->explain == NULL) { /* refused before planning: nothing written */
            assert_int_equal(n_stds, 1);
            errlist_clear(&errs);
            continue;
        }
        char *want = q(w->explain);
        if (p.points != w->points || strcmp(p.explain, want) != 0)
            fail_msg("row %zu (%s at %s): %lld %s, want %lld %s", i, w->type, w->at,
                     (long long)p.points, p.explain, (long long)w->points, want);
        free(want);
        assert_int_equal(p.activity, rules_activity_index(r, w->type));
        assert_int_equal(p.first, 1);
        assert_int_equal(n_stds, 1 + p.n_std);
        assert_string_equal(p.url, "");
        stds_text(r, stds + p.first, p.n_std, got, sizeof(got));
        if (strcmp(got, w->stds) != 0)
            fail_msg("row %zu (%s by %s at %s): planned \"%s\", want \"%s\"", i, w->type, w->leader,
                     w->at, got, w->stds);
        errlist_clear(&errs);
    }
}

/* The planned periods carry their bounds: the London week of the spring
 * change is 167 hours long, the autumn one 169. */
static void test_plan_event_bounds(void **state)
{
    const rules *r = ((rules **)*state)[D_LONDON];
    static const struct {
        const char *at, *start, *end;
    } rows[] = {
        {"2026-03-29T01:00:00Z", "2026-03-23T00:00:00Z", "2026-03-29T23:00:00Z"},
        {"2026-10-25T01:00:00Z", "2026-10-18T23:00:00Z", "2026-10-26T00:00:00Z"},
    };
    for (size_t i = 0; i < N(rows); i++) {
        event ev = make_event("amy", "post", NULL, NULL, ms(rows[i].at));
        score_plan p;
        score_std stds[RULES_MAX_CHALLENGES];
        size_t n = 0;
        errlist errs = {0};
        assert_true(score_plan_event(r, &ev, "", ev.at, &p, stds, &n, &errs));
        assert_int_equal(n, 2);
        assert_int_equal(stds[0].per.start * 1000, ms(rows[i].start));
        assert_int_equal(stds[0].per.end * 1000, ms(rows[i].end));
        assert_int_equal(stds[0].per.end - stds[0].per.start, (i == 0 ? 167 : 169) * 3600);
    }
}

/* An event with a URL gets the first 32 hex digits of its key; two
 * spellings of one URL get the same key, another URL another key. */
static void test_plan_event_url(void **state)
{
    const rules *r = ((rules **)*state)[D_POINTS];
    char a[] = "https://www.Example.com/post/1/?utm_source=x#top";
    char b[] = "http://example.com/post/1";
    char c[] = "https://example.com/post/2";
    char *urls[] = {a, b, c};
    char keys[3][33];
    for (size_t i = 0; i < N(urls); i++) {
        event ev = make_event("amy", "post", NULL, NULL, ms(AT));
        ev.url = urls[i];
        score_plan p;
        score_std stds[RULES_MAX_CHALLENGES];
        size_t n = 0;
        errlist errs = {0};
        assert_true(score_plan_event(r, &ev, "", ev.at, &p, stds, &n, &errs));
        assert_int_equal(strlen(p.url), 32);
        assert_int_equal(strspn(p.url, "0123456789abcdef"), 32);
        memcpy(keys[i], p.url, 33);
    }
    assert_string_equal(keys[0], keys[1]);
    assert_string_not_equal(keys[0], keys[2]);
}

/* Plans a post during a campaign called `name` (raw JSON string contents)
 * and checks that the explanation is JSON (so valid UTF-8) in which the
 * campaign is either whole, with the name `want`, or left out. */
static void check_campaign_name(const char *name, const char *want)
{
    char doc[2048];
    snprintf(doc, sizeof(doc),
             "{\"activities\":{\"post\":{\"points\":10}},\"campaigns\":[{\"name\":\"%s\","
             "\"starts\":\"2026-11-30T00:00:00Z\",\"ends\":\"2026-12-07T00:00:00Z\","
             "\"multiplier\":2}],\"challenges\":[{\"id\":\"a\",\"name\":\"A\",\"period\":\"all\","
             "\"activities\":[\"post\"]}]}",
             name);
    errlist errs = {0};
    rules *r = rules_parse(doc, strlen(doc), &errs);
    assert_non_null(r);
    event ev = make_event("amy", "post", NULL, NULL, ms("2026-12-01T00:00:00Z"));
    score_plan p;
    score_std stds[RULES_MAX_CHALLENGES];
    size_t n = 0;
    assert_true(score_plan_event(r, &ev, "", ev.at, &p, stds, &n, &errs));
    assert_int_equal(p.points, 20);
    json_error_t jerr;
    json_t *j = json_loads(p.explain, 0, &jerr);
    if (j == NULL)
        fail_msg("explanation is not JSON (%s): %s", jerr.text, p.explain);
    json_t *m = json_object_get(j, "multipliers");
    assert_true(json_is_array(m));
    if (json_array_size(m) == 1) {
        const char *got = json_string_value(json_object_get(json_array_get(m, 0), "name"));
        assert_non_null(got);
        if (strcmp(got, want) != 0)
            fail_msg("campaign name cut: %zu bytes, want %zu", strlen(got), strlen(want));
    } else {
        assert_int_equal(json_array_size(m), 0);
    }
    assert_null(strchr(p.explain, '|'));
    json_decref(j);
    rules_free(r);
}

/* Repeats `unit` n times into buf. */
static const char *repeat(char *buf, size_t cap, const char *unit, size_t n)
{
    size_t k = strlen(unit), o = 0;
    for (size_t i = 0; i < n && o + k < cap; i++, o += k)
        memcpy(buf + o, unit, k);
    buf[o] = '\0';
    return buf;
}

/* Campaign names of up to 100 characters that fit the explanation appear
 * whole, escaped: 100 quotes (200 bytes) and 100 two-byte letters. */
static void test_plan_event_campaign_names(void **state)
{
    (void)state;
    char name[512], want[512];
    check_campaign_name(repeat(name, sizeof(name), "\\\"", 100),
                        repeat(want, sizeof(want), "\"", 100));
    check_campaign_name(repeat(name, sizeof(name), "\xc3\xa9", 100),
                        repeat(want, sizeof(want), "\xc3\xa9", 100));
    check_campaign_name("a|b", "a|b");
}

/* A campaign name that did not fit the explanation used to be cut
 * short instead of shown whole or left out. explain_factor() promises
 * "whole or not at all", but json_escape() stops silently when its buffer
 * (sizeof(tmp) - 40 = 328 bytes) is full and does not set `full`, so
 * - 50 '|' (each escaped as \u007c, 300 bytes) show as 49 '|': a wrong name;
 * - 100 four-byte characters (400 bytes, a valid 100-character name) are cut
 *   after 293 bytes, inside a UTF-8 sequence: the explanation, which
 *   score.lua stores in the log and results_json copies verbatim into API
 *   answers, is then not valid UTF-8 (jansson refuses it).
 * The points (20) are right either way. Fixed: names are shown whole. */
static void test_plan_event_campaign_names_cut(void **state)
{
    (void)state;
    char name[512];
    check_campaign_name(repeat(name, sizeof(name), "|", 50), name);
    check_campaign_name(repeat(name, sizeof(name), "\xf0\x9f\x98\x80", 100), name);
}

/* One replay of a challenge's period. */
typedef struct replay_row {
    const char *challenge, *period;
    const char *leader, *type, *at;
    bool counts;
    int64_t points;
} replay_row;

/* score_plan_replay: only the asked challenge and period, and no
 * closed-period check; the plan is marked generated (no idempotency). */
static void test_plan_replay(void **state)
{
    static const replay_row rows[] = {
        {"weekly", "2026-W48", "amy", "post", AT, true, 10},
        {"weekly", "2026-W47", "amy", "post", AT, false, 0},
        {"weekly", "2026-W48", "amy", "meet", AT, true, 15},
        {"sunday", "2026-11-22", "amy", "post", AT, true, 10},
        {"sunday", "2026-11-22", "amy", "meet", AT, false, 0}, /* not counted there */
        {"q4", "fixed", "amy", "post", AT, false, 0},          /* not counted there */
        {"q4", "fixed", "amy", "meet", AT, true, 15},
        {"q4", "fixed", "amy", "meet", "2027-01-01T00:00:00Z", false, 0},
        {"vip", "all", "amy", "post", AT, true, 10},
        {"vip", "all", "cat", "post", AT, false, 0}, /* not on the leader list */
        {"monthly", "2026-09", "cat", "meet", "2026-09-30T23:59:59Z", true, 15},
        {"monthly", "2026-10", "cat", "meet", "2026-09-30T23:59:59Z", false, 0},
        {"weekly", "2026-W48", "amy", "like", AT, false, 0}, /* unknown type */
        /* Closed for years: score_plan_event refuses it, a replay takes it. */
        {"weekly", "2020-W10", "amy", "post", "2020-03-04T12:00:00Z", true, 10},
    };
    const rules *r = ((rules **)*state)[D_CHALLENGES];
    for (size_t i = 0; i < N(rows); i++) {
        const replay_row *w = &rows[i];
        int c = rules_challenge_index(r, w->challenge);
        assert_true(c >= 0);
        event ev = make_event(w->leader, w->type, NULL, NULL, ms(w->at));
        score_plan p;
        score_std std;
        memset(&p, 0, sizeof(p));
        memset(&std, 0, sizeof(std));
        bool got = score_plan_replay(r, &ev, c, w->period, &p, &std);
        if (got != w->counts)
            fail_msg("row %zu: %s by %s at %s in %s:%s: %d, want %d", i, w->type, w->leader, w->at,
                     w->challenge, w->period, got, w->counts);
        if (!got)
            continue;
        assert_int_equal(p.points, w->points);
        assert_true(p.generated);
        assert_int_equal(p.first, 0);
        assert_int_equal(p.n_std, 1);
        assert_int_equal(std.challenge, c);
        assert_string_equal(std.per.id, w->period);
    }
    /* The same old event, planned live, is refused as closed. */
    event ev = make_event("amy", "post", NULL, NULL, ms("2020-03-04T12:00:00Z"));
    score_plan p;
    score_std stds[RULES_MAX_CHALLENGES];
    size_t n = 0;
    errlist errs = {0};
    assert_false(score_plan_event(r, &ev, "", ms(AT), &p, stds, &n, &errs));
    assert_int_equal(errs.n, 2);
    assert_string_equal(errs.items[0].pointer, "/at");
    errlist_clear(&errs);
}

/* One result string and what it reads as. */
typedef struct result_row {
    const char *s;
    size_t max_std; /* SIZE_MAX = score_result_count's answer */
    size_t count;   /* score_result_count */
    bool duplicate;
    int64_t points;
    const char *reasons;
    const char *explain; /* the slice, or "{}" when missing */
    long explain_at;     /* offset of the slice in s, -1 = not in s */
    const char *stds;    /* "challenge/period/points/score/rank/notes;..." */
} result_row;

/* Writes the parsed standings as "challenge/period/points/score/rank/notes;...",
 * checking that each non-empty notes slice lies inside s[0..len). */
static void standings_text(const score_result *res, const char *s, size_t len, char *out,
                           size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < res->n_std && o < cap; i++) {
        const score_standing *st = &res->std[i];
        if (st->notes_len > 0 && (st->notes < s || st->notes + st->notes_len > s + len))
            fail_msg("standing %zu: notes outside the string", i);
        o += (size_t)snprintf(out + o, cap - o, "%s%s/%s/%lld/%lld/%lld/%.*s", i ? ";" : "",
                              st->challenge, st->period, (long long)st->points,
                              (long long)st->score, (long long)st->rank,
                              (int)(st->notes_len < 200 ? st->notes_len : 200), st->notes);
    }
}

/* Parses one row's string from an exact-size copy and checks every field. */
static void check_result_row(size_t i, const result_row *w)
{
    size_t len = strlen(w->s);
    char *s = malloc(len ? len : 1);
    assert_non_null(s);
    memcpy(s, w->s, len);
    size_t count = score_result_count(s, len);
    if (count != w->count)
        fail_msg("row %zu \"%s\": count %zu, want %zu", i, w->s, count, w->count);
    size_t max_std = w->max_std == SIZE_MAX ? count : w->max_std;
    score_standing std[8];
    memset(std, 0x55, sizeof(std));
    score_result res = {.id = "x", .std = std};
    assert_true(max_std <= N(std));
    score_result_parse(s, len, &res, max_std);

    char got[1024];
    standings_text(&res, s, len, got, sizeof(got));
    if (res.duplicate != w->duplicate || res.points != w->points ||
        strcmp(res.reasons, w->reasons) != 0 || strcmp(got, w->stds) != 0)
        fail_msg("row %zu \"%s\": dup %d points %lld reasons \"%s\" standings \"%s\"; want dup "
                 "%d points %lld reasons \"%s\" standings \"%s\"",
                 i, w->s, res.duplicate, (long long)res.points, res.reasons, got, w->duplicate,
                 (long long)w->points, w->reasons, w->stds);
    if (res.explain_len != strlen(w->explain) ||
        memcmp(res.explain, w->explain, res.explain_len) != 0)
        fail_msg("row %zu: explain \"%.*s\", want \"%s\"", i, (int)res.explain_len, res.explain,
                 w->explain);
    if (w->explain_at >= 0 ? res.explain != s + w->explain_at
                           : res.explain >= s && res.explain < s + len)
        fail_msg("row %zu: explain at offset %td, want %ld", i, res.explain - s, w->explain_at);
    assert_string_equal(res.id, "x"); /* the id is the caller's */
    free(s);
}

#define R1 "0|15||{\"base\":10}|weekly:2026-W48|15|15|1||weekly:all|15|40|3|"

/* score_result_count and score_result_parse over well-formed strings,
 * empty fields, a cut-off standing and a short `std` array. */
static void test_result_parse(void **state)
{
    (void)state;
    static const result_row rows[] = {
        {R1, SIZE_MAX, 2, false, 15, "", "{\"base\":10}", 6,
         "weekly/2026-W48/15/15/1/;weekly/all/15/40/3/"},
        {"1|15||{}|weekly:2026-W48|15|15|1|", SIZE_MAX, 1, true, 15, "", "{}", 6,
         "weekly/2026-W48/15/15/1/"},
        {"0|0|daily_cap,cooldown|{\"base\":10,\"multipliers\":[]}|weekly:2026-W48|0|30|2|"
         "daily_cap,cooldown",
         SIZE_MAX, 1, false, 0, "daily_cap,cooldown", "{\"base\":10,\"multipliers\":[]}", 23,
         "weekly/2026-W48/0/30/2/daily_cap,cooldown"},
        {"0|15||{}|weekly:2026-W48|62|120|2|first_of_day:2,streak:20:5,goal:connector:25|"
         "weekly:all|62|300||first_of_day:2",
         SIZE_MAX, 2, false, 15, "", "{}", 6,
         "weekly/2026-W48/62/120/2/first_of_day:2,streak:20:5,goal:connector:25;"
         "weekly/all/62/300/0/first_of_day:2"},
        /* Empty score and rank: not on the board. */
        {"0|15||{}|weekly:2026-W48|15|||", SIZE_MAX, 1, false, 15, "", "{}", 6,
         "weekly/2026-W48/15/0/0/"},
        /* No explanation. */
        {"0|10|||weekly:2026-W48|10|10|1|", SIZE_MAX, 1, false, 10, "", "{}", -1,
         "weekly/2026-W48/10/10/1/"},
        {"0|10||", SIZE_MAX, 0, false, 10, "", "{}", -1, ""},
        {"0|10||{}", SIZE_MAX, 0, false, 10, "", "{}", 6, ""},
        /* Fewer slots than standings. */
        {R1, 1, 2, false, 15, "", "{\"base\":10}", 6, "weekly/2026-W48/15/15/1/"},
        {R1, 0, 2, false, 15, "", "{\"base\":10}", 6, ""},
        /* A cut-off second standing is not counted, so not read. */
        {"0|10||{}|weekly:2026-W48|10|10|1||weekly:all|10", SIZE_MAX, 1, false, 10, "", "{}", 6,
         "weekly/2026-W48/10/10/1/"},
        /* Negative points; a negative rank reads as not ranked. */
        {"0|-5||{}|weekly:2026-W48|-5|-5|4|", SIZE_MAX, 1, false, -5, "", "{}", 6,
         "weekly/2026-W48/-5/-5/4/"},
        {"0|5||{}|weekly:2026-W48|5|5|-1|", SIZE_MAX, 1, false, 5, "", "{}", 5,
         "weekly/2026-W48/5/5/0/"},
        /* A board name without a period; numbers that are not numbers. */
        {"0|x||{}|weekly|1e3|12a|1|", SIZE_MAX, 1, false, 0, "", "{}", 5, "weekly//0/0/1/"},
        /* A too-long reasons field is cut to fit. */
        {"0|0|daily_cap,cooldown,duplicate_url,daily_cap,cooldown,duplicate_url,daily_cap|{}",
         SIZE_MAX, 0, false, 0, "daily_cap,cooldown,duplicate_url,daily_cap,cooldown,duplicate_u",
         "{}", 80, ""},
    };
    for (size_t i = 0; i < N(rows); i++)
        check_result_row(i, &rows[i]);
}

/* score_result_parse used to read past the end of its string.
 * field() computes a field's length as `len - *at` even once *at has gone
 * past len (after the last field), so a string with fewer than four fields
 * ("" or "0|5"), or one that ends inside a standing when max_std exceeds
 * score_result_count (max_std is documented as a capacity), gets fields of
 * length SIZE_MAX starting beyond s + len: int_field and copy_field then
 * read up to 63 bytes past the buffer (ASan: heap-buffer-overflow) and
 * explain_len or notes_len is left near SIZE_MAX, which results_json would
 * copy. Fixed: missing fields read as empty. */
static void test_result_parse_truncated(void **state)
{
    (void)state;
    static const result_row rows[] = {
        {"", 0, 0, false, 0, "", "{}", -1, ""},
        {"0|5", 0, 0, false, 5, "", "{}", -1, ""},
        {"0|10||{}|weekly:2026-W48|10", 1, 0, false, 10, "", "{}", 6, "weekly/2026-W48/10/0/0/"},
    };
    for (size_t i = 0; i < N(rows); i++)
        check_result_row(i, &rows[i]);
}

/* Builds and finishes a call of two groups under doc_call at AT: amy and
 * bob, then amy again; returns argc. */
static const char **last_argv; /* of the last build_call, valid until the next */
static const size_t *last_lens;

static int build_call(scorecall *c, const rules *r, const scorecall_opts *o, int *nkeys)
{
    event g1[2] = {make_event("amy", "post", NULL, NULL, ms(AT)),
                   make_event("bob", "post", NULL, NULL, ms(AT) + 1000)};
    event g2[1] = {make_event("amy", "post", "linkedin", NULL, ms(AT) + 2000)};
    snprintf(g1[0].id, sizeof(g1[0].id), "e-1");
    snprintf(g1[1].id, sizeof(g1[1].id), "e-2");
    snprintf(g2[0].id, sizeof(g2[0].id), "e-1"); /* the same id again */
    score_plan p1[2], p2[1];
    score_std s1[2 * RULES_MAX_CHALLENGES], s2[RULES_MAX_CHALLENGES];
    size_t n1 = 0, n2 = 0;
    errlist errs = {0};
    memset(p1, 0, sizeof(p1)); /* as ingest does: ids given, so not generated */
    memset(p2, 0, sizeof(p2));
    for (size_t i = 0; i < 2; i++)
        assert_true(score_plan_event(r, &g1[i], "", ms(AT) + 60000, &p1[i], s1, &n1, &errs));
    assert_true(score_plan_event(r, &g2[0], "", ms(AT) + 60000, &p2[0], s2, &n2, &errs));
    assert_int_equal(n1, 2);
    assert_int_equal(n2, 1);
    scorecall_begin(c, "o", ms(AT) + 60000, o);
    scorecall_add(c, r, g1, p1, s1, 2, true);
    scorecall_add(c, r, g2, p2, s2, 1, false);
    return scorecall_finish(c, nkeys, &last_argv, &last_lens);
}

/* Fails unless the call's KEYS are exactly `want` (in any order), each once. */
static void expect_keys(const scorecall *c, int nkeys, const char *const *want, size_t n_want)
{
    const char **keys;
    const size_t *lens;
    size_t n = scorecall_keys(c, &keys, &lens);
    assert_int_equal(n, (size_t)nkeys);
    for (size_t i = 0; i < n; i++) {
        size_t hits = 0;
        for (size_t j = 0; j < n; j++)
            hits += lens[j] == lens[i] && memcmp(keys[j], keys[i], lens[i]) == 0;
        if (hits != 1)
            fail_msg("key %.*s appears %zu times", (int)lens[i], keys[i], hits);
        bool wanted = false;
        for (size_t k = 0; k < n_want && !wanted; k++)
            wanted = strlen(want[k]) == lens[i] && memcmp(want[k], keys[i], lens[i]) == 0;
        if (!wanted)
            fail_msg("unexpected key %.*s", (int)lens[i], keys[i]);
    }
    assert_int_equal(n, n_want);
}

/* The KEYS of a live call: fixed keys, two idempotency buckets, each board
 * with its team board, team counts and hidden twin, and each counter hash, all once although
 * amy scores twice in two groups. */
static void test_scorecall_live(void **state)
{
    static const char *const want[] = {
        "podium:{o}:leaders",
        "podium:{o}:events",
        "podium:{o}:bver",
        "podium:{o}:urls",
        "podium:{o}:lastev",
        "podium:{o}:idem:20784", /* 2026-11-27T12:01Z / 1 day */
        "podium:{o}:idem:20783",
        "podium:{o}:usage",
        "podium:{o}:board:weekly:2026-W48",
        "podium:{o}:tboard:weekly:2026-W48",
        "podium:{o}:tcount:weekly:2026-W48",
        "podium:{o}:hboard:weekly:2026-W48",
        "podium:{o}:board:weekly:all",
        "podium:{o}:tboard:weekly:all",
        "podium:{o}:tcount:weekly:all",
        "podium:{o}:hboard:weekly:all",
        "podium:{o}:last:post",
        "podium:{o}:cap:weekly:2026-11-27",
        "podium:{o}:days:weekly",
        "podium:{o}:goal:weekly:2026-W48",
        "podium:{o}:badges:amy",
        "podium:{o}:badges:bob",
    };
    const rules *r = ((rules **)*state)[D_CALL];
    scorecall *c = scorecall_new();
    scorecall_opts o = {86400, NULL, false};
    int nkeys = -1;
    int argc = build_call(c, r, &o, &nkeys);
    assert_int_equal(nkeys, N(want));
    assert_int_equal(argc, nkeys + 5); /* expiry, buckets, replay flag, A, usage week */
    expect_keys(c, nkeys, want, N(want));
    /* usage: the UTC ISO week of the call's time */
    assert_int_equal(last_lens[argc - 1], strlen("w:2026-W48"));
    assert_memory_equal(last_argv[argc - 1], "w:2026-W48", last_lens[argc - 1]);

    /* The buffers are reused: a second call gives the same keys. */
    argc = build_call(c, r, &o, &nkeys);
    assert_int_equal(argc, (int)N(want) + 5);
    expect_keys(c, nkeys, want, N(want));

    /* period_only: no all-time boards. */
    o.period_only = true;
    argc = build_call(c, r, &o, &nkeys);
    assert_int_equal(nkeys, N(want) - 4);
    assert_int_equal(argc, nkeys + 5);
    scorecall_free(c);
    scorecall_free(NULL);
}

/* A replay's KEYS: every key but the leaders hash moves aside. */
static void test_scorecall_aside(void **state)
{
    static const char prefix[] = "podium:{o}:rs:x:";
    const rules *r = ((rules **)*state)[D_CALL];
    scorecall *c = scorecall_new();
    scorecall_opts o = {86400, "rs:x", false};
    int nkeys = -1;
    int argc = build_call(c, r, &o, &nkeys);
    assert_int_equal(nkeys, 22);
    assert_int_equal(argc, nkeys + 5);
    const char **keys;
    const size_t *lens;
    size_t n = scorecall_keys(c, &keys, &lens);
    assert_int_equal(n, 22);
    size_t leaders = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == strlen("podium:{o}:leaders") &&
            memcmp(keys[i], "podium:{o}:leaders", lens[i]) == 0) {
            leaders++;
            continue;
        }
        if (lens[i] <= strlen(prefix) || memcmp(keys[i], prefix, strlen(prefix)) != 0)
            fail_msg("key %.*s is not aside", (int)lens[i], keys[i]);
    }
    assert_int_equal(leaders, 1);

    /* Live again with the same object: nothing is left aside. */
    o.aside = "";
    argc = build_call(c, r, &o, &nkeys);
    n = scorecall_keys(c, &keys, &lens);
    assert_int_equal(argc, (int)n + 5);
    for (size_t i = 0; i < n; i++)
        if (lens[i] >= 13 && memcmp(keys[i], "podium:{o}:rs:", 14) == 0)
            fail_msg("key %.*s is still aside", (int)lens[i], keys[i]);
    scorecall_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_event),
        cmocka_unit_test(test_plan_event_bounds),
        cmocka_unit_test(test_plan_event_url),
        cmocka_unit_test(test_plan_event_campaign_names),
        cmocka_unit_test(test_plan_event_campaign_names_cut),
        cmocka_unit_test(test_plan_replay),
        cmocka_unit_test(test_result_parse),
        cmocka_unit_test(test_result_parse_truncated),
        cmocka_unit_test(test_scorecall_live),
        cmocka_unit_test(test_scorecall_aside),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
