/*
 * test_results.c - unit tests of results.c: the JSON of a scored event and
 * the one sentence a phone shows.
 *
 * Results are built by hand from table rows (a standing's notes are the
 * comma-separated list score.lua writes, see scoring.h), rendered into an
 * evbuffer and compared byte for byte. Expected JSON is written with ' for "
 * and turned into JSON by q(). One test renders a result string parsed by
 * score_result_parse, as POST /v1/events and the leader page do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "results.h"
#include "rules.h"
#include "scoring.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Challenges of every period kind; two goals, one with a badge. */
static const char doc[] =
    "{'activities':{'post':{'points':10},'meet':{'points':15}},"
    "'challenges':["
    "{'id':'weekly','name':'Weekly','period':'week','activities':['post','meet'],"
    "'goals':[{'id':'connector','activity':'meet','count':5,'bonus':25,'badge':'Connector'},"
    "{'id':'quiet','activity':'post','count':3,'bonus':5}]},"
    "{'id':'monthly','name':'Monthly','period':'month','activities':['post']},"
    "{'id':'alltime','name':'All time','period':'all','activities':['post']},"
    "{'id':'q4','name':'Q4 sprint','period':'fixed','starts':'2026-10-01T00:00:00Z',"
    "'ends':'2027-01-01T00:00:00Z','scoring':'count','activities':['meet']}]}";

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

/* Group setup: compiles the rule set; *state is the rules. */
static int setup(void **state)
{
    errlist errs = {0};
    char *json = q(doc);
    *state = rules_parse(json, strlen(json), &errs);
    free(json);
    for (size_t k = 0; k < errs.n; k++)
        fprintf(stderr, "%s: %s\n", errs.items[k].pointer, errs.items[k].message);
    errlist_clear(&errs);
    return *state ? 0 : -1;
}

/* Group teardown: frees the rule set. */
static int teardown(void **state)
{
    rules_free(*state);
    return 0;
}

/* One standing of a hand-built result. */
typedef struct std_row {
    const char *challenge, *period;
    int64_t points, score, rank;
    const char *notes;
} std_row;

/* One hand-built result. */
typedef struct res_row {
    const char *id;
    bool duplicate;
    int64_t points;
    const char *reasons, *explain;
    std_row std[3];
    size_t n_std;
} res_row;

/* Fills res (with room for 3 standings in std) from a row. */
static void build(const res_row *w, score_result *res, score_standing *std)
{
    memset(res, 0, sizeof(*res));
    res->id = w->id;
    res->duplicate = w->duplicate;
    res->points = w->points;
    snprintf(res->reasons, sizeof(res->reasons), "%s", w->reasons);
    res->explain = w->explain;
    res->explain_len = strlen(w->explain);
    res->n_std = w->n_std;
    res->std = std;
    for (size_t i = 0; i < w->n_std; i++) {
        const std_row *s = &w->std[i];
        memset(&std[i], 0, sizeof(std[i]));
        snprintf(std[i].challenge, sizeof(std[i].challenge), "%s", s->challenge);
        snprintf(std[i].period, sizeof(std[i].period), "%s", s->period);
        std[i].points = s->points;
        std[i].score = s->score;
        std[i].rank = s->rank;
        std[i].notes = s->notes;
        std[i].notes_len = strlen(s->notes);
    }
}

/* Takes the text out of an evbuffer as a malloc'd string and frees it. */
static char *take(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    assert_int_equal(evbuffer_remove(b, s, n), (int)n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

#define EXPL                                                                                       \
    "{\"base\":10,\"multipliers\":[{\"kind\":\"channel\",\"name\":\"linkedin\",\"factor\":1.5}]}"
#define EXPLQ "{'base':10,'multipliers':[{'kind':'channel','name':'linkedin','factor':1.5}]}"
#define BONUS "first_of_day:2,streak:20:5,goal:connector:25"

/* results_json: exact text for plain, limited, bonus and duplicate results,
 * with and without rules to name badges. */
static void test_json(void **state)
{
    static const struct {
        res_row res;
        bool with_rules;
        const char *want; /* ' for " */
    } rows[] = {
        {{"e1",
          false,
          15,
          "",
          EXPL,
          {{"weekly", "2026-W48", 15, 15, 1, ""}, {"weekly", "all", 15, 40, 0, ""}},
          2},
         true,
         "{'id':'e1','points':15,'duplicate':false,'reasons':[],'explain':" EXPLQ ",'standings':["
         "{'challenge':'weekly','period':'2026-W48','points':15,'score':15,'rank':1,'limits':[],"
         "'bonuses':[]},"
         "{'challenge':'weekly','period':'all','points':15,'score':40,'rank':null,'limits':[],"
         "'bonuses':[]}]}"},
        /* Stopped by the daily cap. */
        {{"e2", false, 0, "daily_cap", "{}", {{"weekly", "2026-W48", 0, 35, 1, "daily_cap"}}, 1},
         true,
         "{'id':'e2','points':0,'duplicate':false,'reasons':['daily_cap'],'explain':{},"
         "'standings':[{'challenge':'weekly','period':'2026-W48','points':0,'score':35,'rank':1,"
         "'limits':['daily_cap'],'bonuses':[]}]}"},
        {{"e3",
          false,
          0,
          "cooldown,daily_cap",
          "{}",
          {{"weekly", "2026-W48", 0, 35, 1, "cooldown,daily_cap"}},
          1},
         true,
         "{'id':'e3','points':0,'duplicate':false,'reasons':['cooldown','daily_cap'],'explain':{},"
         "'standings':[{'challenge':'weekly','period':'2026-W48','points':0,'score':35,'rank':1,"
         "'limits':['cooldown','daily_cap'],'bonuses':[]}]}"},
        /* Every kind of bonus; the badge comes from the rules. */
        {{"e4",
          false,
          15,
          "",
          EXPL,
          {{"weekly", "2026-W48", 62, 120, 2, BONUS}, {"monthly", "2026-11", 15, 15, 3, ""}},
          2},
         true,
         "{'id':'e4','points':15,'duplicate':false,'reasons':[],'explain':" EXPLQ ",'standings':["
         "{'challenge':'weekly','period':'2026-W48','points':62,'score':120,'rank':2,'limits':[],"
         "'bonuses':[{'kind':'first_of_day','points':2},{'kind':'streak','points':20,'days':5},"
         "{'kind':'goal','goal':'connector','badge':'Connector','points':25}]},"
         "{'challenge':'monthly','period':'2026-11','points':15,'score':15,'rank':3,'limits':[],"
         "'bonuses':[]}]}"},
        /* Without rules, or for a goal without a badge or gone since: null. */
        {{"e5", false, 15, "", EXPL, {{"weekly", "2026-W48", 62, 120, 2, BONUS}}, 1},
         false,
         "{'id':'e5','points':15,'duplicate':false,'reasons':[],'explain':" EXPLQ ",'standings':["
         "{'challenge':'weekly','period':'2026-W48','points':62,'score':120,'rank':2,'limits':[],"
         "'bonuses':[{'kind':'first_of_day','points':2},{'kind':'streak','points':20,'days':5},"
         "{'kind':'goal','goal':'connector','badge':null,'points':25}]}]}"},
        {{"e6",
          false,
          10,
          "",
          "{}",
          {{"weekly", "2026-W48", 20, 50, 1, "goal:quiet:5,goal:old:5"},
           {"gone", "2026-W48", 10, 10, 1, "goal:connector:25"}},
          2},
         true,
         "{'id':'e6','points':10,'duplicate':false,'reasons':[],'explain':{},'standings':["
         "{'challenge':'weekly','period':'2026-W48','points':20,'score':50,'rank':1,'limits':[],"
         "'bonuses':[{'kind':'goal','goal':'quiet','badge':null,'points':5},"
         "{'kind':'goal','goal':'old','badge':null,'points':5}]},"
         "{'challenge':'gone','period':'2026-W48','points':10,'score':10,'rank':1,'limits':[],"
         "'bonuses':[{'kind':'goal','goal':'connector','badge':null,'points':25}]}]}"},
        /* A duplicate, with its first result; an id that needs escaping. */
        {{"a\"b\\c", true, 15, "", "{}", {{"weekly", "2026-W48", 15, 15, 1, ""}}, 1},
         true,
         "{'id':'a\\'b\\\\c','points':15,'duplicate':true,'reasons':[],'explain':{},'standings':["
         "{'challenge':'weekly','period':'2026-W48','points':15,'score':15,'rank':1,'limits':[],"
         "'bonuses':[]}]}"},
        /* Negative points, and no standing at all. */
        {{"e8", false, -3, "", "{'base':-3,'multipliers':[]}", {{"", "", 0, 0, 0, ""}}, 0},
         true,
         "{'id':'e8','points':-3,'duplicate':false,'reasons':[],"
         "'explain':{'base':-3,'multipliers':[]},'standings':[]}"},
    };
    const rules *r = *state;
    for (size_t i = 0; i < N(rows); i++) {
        score_result res;
        score_standing std[3];
        build(&rows[i].res, &res, std);
        char *explain = q(rows[i].res.explain); /* rows may write it with ' too */
        res.explain = explain;
        struct evbuffer *b = evbuffer_new();
        assert_non_null(b);
        results_json(b, rows[i].with_rules ? r : NULL, &res);
        char *got = take(b), *want = q(rows[i].want);
        if (strcmp(got, want) != 0)
            fail_msg("row %zu:\n got %s\nwant %s", i, got, want);
        free(got);
        free(want);
        free(explain);
    }
}

/* The explanation and notes are slices of a result string: only their
 * bytes are used. A parsed result string renders as its fields say. */
static void test_json_parsed(void **state)
{
    static const char s[] = "0|15||{\"base\":10,\"multipliers\":[]}|weekly:2026-W48|62|120|2|" BONUS
                            "|weekly:all|62|300||first_of_day:2";
    score_standing std[2];
    score_result res = {.id = "e-9", .std = std};
    assert_int_equal(score_result_count(s, strlen(s)), 2);
    score_result_parse(s, strlen(s), &res, 2);
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    results_json(b, *state, &res);
    char *got = take(b);
    char *want = q("{'id':'e-9','points':15,'duplicate':false,'reasons':[],"
                   "'explain':{'base':10,'multipliers':[]},'standings':["
                   "{'challenge':'weekly','period':'2026-W48','points':62,'score':120,'rank':2,"
                   "'limits':[],'bonuses':[{'kind':'first_of_day','points':2},"
                   "{'kind':'streak','points':20,'days':5},"
                   "{'kind':'goal','goal':'connector','badge':'Connector','points':25}]},"
                   "{'challenge':'weekly','period':'all','points':62,'score':300,'rank':null,"
                   "'limits':[],'bonuses':[{'kind':'first_of_day','points':2}]}]}");
    if (strcmp(got, want) != 0)
        fail_msg("\n got %s\nwant %s", got, want);
    free(got);
    free(want);
}

/* One request's results and its sentence. */
typedef struct text_row {
    res_row res[4];
    size_t n;
    const char *want;
} text_row;

/* The res and n of a row with one result of one standing. */
#define ONE(id, dup, pts, reasons, ch, per, spts, score, rank, notes)                              \
    {{id, dup, pts, reasons, "{}", {{ch, per, spts, score, rank, notes}}, 1}}, 1
/* One result of a batch, with one standing. */
#define EV(pts, dup)                                                                               \
    {                                                                                              \
        "e", dup, pts, "", "{}", {{"weekly", "2026-W48", pts, pts, 1, ""}}, 1                      \
    }

/* results_text: one event (bonuses, limits, duplicates, each period kind)
 * and batches. */
static void test_text(void **state)
{
    static const text_row rows[] = {
        {ONE("e", false, 15, "", "weekly", "2026-W48", 15, 15, 1, ""),
         "+15 points, #1 this week (15 points).\n"},
        /* Bonuses add to the first board's points; badges by name. */
        {ONE("e", false, 15, "", "weekly", "2026-W48", 62, 120, 2, BONUS),
         "+62 points (first today, 5-day streak, goal: Connector), #2 this week (120 points).\n"},
        {ONE("e", false, 10, "", "weekly", "2026-W48", 15, 40, 1, "goal:quiet:5"),
         "+15 points (goal: quiet), #1 this week (40 points).\n"},
        {ONE("e", false, 10, "", "weekly", "2026-W48", 12, 40, 1, "first_of_day:2"),
         "+12 points (first today), #1 this week (40 points).\n"},
        /* Limits, the most specific first. */
        {ONE("e", false, 0, "duplicate_url", "weekly", "2026-W48", 0, 15, 1, "duplicate_url"),
         "Link already scored: +0 points, #1 this week (15 points).\n"},
        {ONE("e", false, 0, "cooldown", "weekly", "2026-W48", 0, 15, 1, "cooldown"),
         "Too soon after the last one: +0 points, #1 this week (15 points).\n"},
        {ONE("e", false, 0, "daily_cap", "weekly", "2026-W48", 0, 35, 1, "daily_cap"),
         "Daily cap reached: +0 points, #1 this week (35 points).\n"},
        {ONE("e", false, 0, "cooldown,daily_cap", "weekly", "2026-W48", 0, 35, 1,
             "cooldown,daily_cap"),
         "Too soon after the last one: +0 points, #1 this week (35 points).\n"},
        {ONE("e", false, 0, "daily_cap,duplicate_url", "weekly", "2026-W48", 0, 35, 1,
             "daily_cap,duplicate_url"),
         "Link already scored: +0 points, #1 this week (35 points).\n"},
        /* Duplicates say so, whatever their first result's limits. */
        {ONE("e", true, 15, "", "weekly", "2026-W48", 15, 15, 1, ""),
         "Already logged: +15 points, #1 this week (15 points).\n"},
        {ONE("e", true, 0, "daily_cap", "weekly", "2026-W48", 0, 35, 1, "daily_cap"),
         "Already logged: +0 points, #1 this week (35 points).\n"},
        /* Each period kind; unranked; negative. */
        {ONE("e", false, 10, "", "monthly", "2026-11", 10, 30, 2, ""),
         "+10 points, #2 this month (30 points).\n"},
        {ONE("e", false, 10, "", "alltime", "all", 10, 300, 7, ""),
         "+10 points, #7 overall (300 points).\n"},
        {ONE("e", false, 15, "", "q4", "fixed", 1, 4, 3, ""),
         "+15 points, #3 in Q4 sprint (4 events).\n"},
        {ONE("e", false, 15, "", "weekly", "2026-W48", 15, 15, 0, ""), "+15 points.\n"},
        {ONE("e", false, -3, "", "weekly", "2026-W48", -3, -3, 4, ""),
         "-3 points, #4 this week (-3 points).\n"},
        {{{"e", false, 15, "", "{}", {{"", "", 0, 0, 0, ""}}, 0}}, 1, "+15 points.\n"},
        /* Batches: new events and their points; duplicates counted apart. */
        {{EV(10, false), EV(15, true), EV(5, false), EV(10, false)},
         4,
         "Logged 3 events: +25 points (1 already logged).\n"},
        {{EV(3, false), EV(5, false)}, 2, "Logged 2 events: +8 points.\n"},
        {{EV(10, false), EV(10, true)}, 2, "Logged 1 event: +10 points (1 already logged).\n"},
        {{EV(10, true), EV(5, true)}, 2, "Logged 0 events: +0 points (2 already logged).\n"},
        {{EV(-3, false), EV(-1, false), EV(0, false)}, 3, "Logged 3 events: -4 points.\n"},
    };
    const rules *r = *state;
    for (size_t i = 0; i < N(rows); i++) {
        score_result res[4];
        score_standing std[4][3];
        for (size_t k = 0; k < rows[i].n; k++)
            build(&rows[i].res[k], &res[k], std[k]);
        struct evbuffer *b = evbuffer_new();
        assert_non_null(b);
        results_text(b, r, res, rows[i].n);
        char *got = take(b);
        if (strcmp(got, rows[i].want) != 0)
            fail_msg("row %zu: got \"%s\", want \"%s\"", i, got, rows[i].want);
        free(got);
    }
}

/* When the first standing's challenge is not in the rules
 * given (removed by a rule change while the call was in flight, or r is
 * NULL), period_words() returns "" and results_text writes "#2  (120
 * points)" with two spaces; the badge falls back to the goal's id, which
 * is fine. Fixed: the sentence then leaves the period out. */
static void test_text_unknown_challenge(void **state)
{
    static const res_row row = {"e", false, 15, "", "{}", {{"gone", "2026-W48", 62, 120, 2, BONUS}},
                                1};
    const rules *rs[] = {*state, NULL};
    for (size_t i = 0; i < N(rs); i++) {
        score_result res;
        score_standing std[3];
        build(&row, &res, std);
        struct evbuffer *b = evbuffer_new();
        assert_non_null(b);
        results_text(b, rs[i], &res, 1);
        char *got = take(b);
        assert_string_equal(
            got, "+62 points (first today, 5-day streak, goal: connector), #2 (120 points).\n");
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_parsed),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_text_unknown_challenge),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
