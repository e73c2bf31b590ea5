/*
 * test_closer.c - unit tests for the digest sentence of closer.c.
 *
 * Table-driven: each row gives the parts of a digest and the exact sentence
 * a leader reads, final (the period closed) or midway (digest_at).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "closer.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
