/*
 * test_closer.c - unit tests for the digest sentence of closer.c, and for
 * when an org's next close or midway digest falls due (closer_next_due),
 * which the due index is set to.
 *
 * Table-driven: each row gives the parts of a digest and the exact sentence
 * a leader reads, final (the period closed) or midway (digest_at); or a rule
 * set, an instant and the due time expected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "closer.h"
#include "errlist.h"
#include "rules.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_digest_text(void **state)
{
    (void)state;
    static const struct {
        bool final, tied, count;
        int64_t rank, score, above_rank, above_score;
        const char *activity;
        int64_t points;
        const char *want;
    } cases[] = {
        {true, false, false, 1, 60, 0, 0, "stakeholder_interaction", 30,
         "You finished 1st in W with 60 points. Next time, a stakeholder interaction is worth "
         "30 points."},
        {false, false, false, 4, 40, 3, 52, "stakeholder_interaction", 30,
         "You are 4th in W, 12 points behind 3rd; a stakeholder interaction is worth 30 points."},
        {false, true, false, 2, 10, 1, 11, "post", 1,
         "You share 2nd place in W, 1 point behind 1st; a post is worth 1 point."},
        {true, true, false, 1, 1, 0, 0, NULL, 0, "You shared 1st place in W with 1 point."},
        {true, false, true, 3, 1, 2, 3, NULL, 0, "You finished 3rd in W, 2 events behind 2nd."},
        {false, false, true, 1, 1, 0, 0, "", 0, "You are 1st in W with 1 event."},
        {false, false, false, 11, 5, 10, 6, "article", 25,
         "You are 11th in W, 1 point behind 10th; an article is worth 25 points."},
        {false, false, false, 12, 5, 11, 7, NULL, 0, "You are 12th in W, 2 points behind 11th."},
        {false, false, false, 13, 5, 12, 7, NULL, 0, "You are 13th in W, 2 points behind 12th."},
        {false, false, false, 21, 5, 20, 7, NULL, 0, "You are 21st in W, 2 points behind 20th."},
        {false, false, false, 22, 5, 21, 7, NULL, 0, "You are 22nd in W, 2 points behind 21st."},
        {false, false, false, 103, 5, 102, 7, NULL, 0,
         "You are 103rd in W, 2 points behind 102nd."},
        {false, false, false, 111, 5, 101, 7, NULL, 0,
         "You are 111th in W, 2 points behind 101st."},
        {false, false, false, 2, -3, 1, 0, "one-on-one", 15,
         "You are 2nd in W, 3 points behind 1st; a one on one is worth 15 points."},
        {false, false, false, 2, 1, 1, 2, "hour_of_code", 5,
         "You are 2nd in W, 1 point behind 1st; an hour of code is worth 5 points."},
        {false, false, false, 2, 1, 1, 2, "user_group_talk", 5,
         "You are 2nd in W, 1 point behind 1st; a user group talk is worth 5 points."},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char out[512];
        closer_digest_text(out, sizeof(out), cases[i].final, "W", cases[i].rank, cases[i].tied,
                           cases[i].score, cases[i].above_rank, cases[i].above_score,
                           cases[i].count, cases[i].activity, cases[i].points);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("row %zu:\n  got  %s\n  want %s", i, out, cases[i].want);
    }
    /* A short buffer is cut, never overrun. */
    char small[16];
    closer_digest_text(small, sizeof(small), true, "Weekly social", 4, false, 40, 3, 52, false,
                       "post", 10);
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

/* One rule set of one challenge (its JSON members after "id"). */
static rules *one_challenge(const char *members)
{
    char doc[1024];
    snprintf(doc, sizeof(doc),
             "{\"activities\": {\"post\": {\"points\": 1}}, \"challenges\": [{\"id\": \"c\", "
             "\"name\": \"C\", \"activities\": [\"post\"], %s}]}",
             members);
    errlist errs = {0};
    rules *r = rules_parse(doc, strlen(doc), &errs);
    if (r == NULL)
        fail_msg("%s: %s %s", doc, errs.n ? errs.items[0].pointer : "",
                 errs.n ? errs.items[0].message : "");
    return r;
}

static void test_next_due(void **state)
{
    (void)state;
    enum {
        WED = 1796212800,      /* 2026-12-02T12:00:00Z, a Wednesday */
        MON_LDN = 1796601600,  /* 2026-12-07T00:00 Europe/London: the next Monday-start week */
        THU_10 = 1796292000,   /* 2026-12-03T10:00 Europe/London */
        SUN_LA = 1796544000,   /* 2026-12-06T00:00 America/Los_Angeles: the next Sunday week */
        NEW_YEAR = 1798761600, /* 2027-01-01T00:00:00Z */
    };
    static const struct {
        const char *members;
        int64_t now, want;
    } cases[] = {
        /* a week closes at its end plus grace plus one second of settling */
        {"\"period\": \"week\", \"timezone\": \"Europe/London\", \"grace\": \"15m\"", WED,
         MON_LDN + 900 + 1},
        /* during the grace time the week that ended is still the one due */
        {"\"period\": \"week\", \"timezone\": \"Europe/London\", \"grace\": \"15m\"", MON_LDN + 300,
         MON_LDN + 900 + 1},
        /* once it is due, the next week's end */
        {"\"period\": \"week\", \"timezone\": \"Europe/London\", \"grace\": \"15m\"", MON_LDN + 902,
         MON_LDN + 7 * 86400 + 901},
        {"\"period\": \"week\", \"timezone\": \"America/Los_Angeles\", \"week_starts\": "
         "\"sunday\"",
         WED, SUN_LA + 900 + 1}, /* grace is 15m unless the challenge says */
        /* a midway digest before the end is due first */
        {"\"period\": \"week\", \"timezone\": \"Europe/London\", \"digest_at\": \"thursday "
         "10:00\"",
         WED, THU_10},
        /* its time passed: the period's end (the next one's digests come after it) */
        {"\"period\": \"week\", \"timezone\": \"Europe/London\", \"digest_at\": \"thursday "
         "10:00\"",
         THU_10 + 1, MON_LDN},
        {"\"period\": \"interval\", \"length\": \"4s\", \"starts\": \"2026-01-01T00:00:00Z\", "
         "\"grace\": \"0s\"",
         WED, WED + 1},
        {"\"period\": \"interval\", \"length\": \"4s\", \"starts\": \"2026-01-01T00:00:00Z\", "
         "\"grace\": \"0s\"",
         WED + 2, WED + 4 + 1},
        {"\"period\": \"fixed\", \"starts\": \"2026-10-01T00:00:00Z\", \"ends\": "
         "\"2027-01-01T00:00:00Z\"",
         WED, NEW_YEAR + 900 + 1},
        /* a fixed span that closed has nothing more due; all time never closes */
        {"\"period\": \"fixed\", \"starts\": \"2026-10-01T00:00:00Z\", \"ends\": "
         "\"2027-01-01T00:00:00Z\"",
         NEW_YEAR + 902, 0},
        {"\"period\": \"all\"", WED, 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        rules *r = one_challenge(cases[i].members);
        int64_t got = closer_next_due(r, cases[i].now);
        if (got != cases[i].want)
            fail_msg("case %zu (%s at %lld): due %lld, want %lld", i, cases[i].members,
                     (long long)cases[i].now, (long long)got, (long long)cases[i].want);
        rules_free(r);
    }
    assert_int_equal(closer_next_due(NULL, WED), 0);
    /* several challenges: the soonest */
    const char *two = "{\"activities\": {\"post\": {\"points\": 1}}, \"challenges\": ["
                      "{\"id\": \"w\", \"name\": \"W\", \"activities\": [\"post\"], \"period\": "
                      "\"week\", \"timezone\": \"Europe/London\"},"
                      "{\"id\": \"q\", \"name\": \"Q\", \"activities\": [\"post\"], \"period\": "
                      "\"interval\", \"length\": \"1h\", \"starts\": \"2026-01-01T00:00:00Z\"}]}";
    errlist errs = {0};
    rules *r = rules_parse(two, strlen(two), &errs);
    assert_non_null(r);
    /* the hour that ended at WED closes after its 15m of grace, before the week */
    assert_int_equal(closer_next_due(r, WED), WED + 900 + 1);
    rules_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_text),
        cmocka_unit_test(test_next_due),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
