/*
 * test_sse.c - the pure parts of the push side: Last-Event-ID marks
 * (sse.c) and push channel lines (push.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "push.h"
#include "sse.h"

/* Table of event ids and the mark a resume starts from. */
static void test_id_mark(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        bool ok;
        const char *mark;
    } cases[] = {
        {"2026-W48.17.2026-W47", true, "2026-W47"},
        {"2026-W48.17.-", true, ""}, /* nothing had closed: every close is news */
        {"2026-W48.0.-", true, ""},
        {"2026-W47.closed", true, "2026-W47"},
        {"2026-11.3.2026-10", true, "2026-10"},
        {"all.5.fixed", true, "fixed"},
        {"", false, NULL},
        {"2026-W48", false, NULL},
        {"2026-W48.", false, NULL},
        {"2026-W48.x.-", false, NULL},  /* the version is a number */
        {"2026-W48.-1.-", false, NULL}, /* not a negative one */
        {"2026-W48.17.", false, NULL},
        {"2026-W48.17.a b", false, NULL},
        {"2026-W48.17.2026-W47.x", false, NULL},
        {".17.-", false, NULL},
        {"2026-W48.17.0123456789abcdef0123456789", false, NULL}, /* longer than a period id */
        {"../etc.1.-", false, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char mark[PERIOD_ID_MAX] = "unset";
        bool ok = sse_id_mark(cases[i].id, mark, sizeof(mark));
        assert_int_equal(ok, cases[i].ok);
        if (ok)
            assert_string_equal(mark, cases[i].mark);
    }
}

/* Table of channel lines: kind and words, or refused. */
static void test_push_line(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *kind, *a, *b; /* kind NULL: refused */
    } cases[] = {
        {"board weekly:2026-W48 17", "board", "weekly:2026-W48", "17"},
        {"closed weekly 2026-W47", "closed", "weekly", "2026-W47"},
        {"closed weekly 2026-W47\r", "closed", "weekly", "2026-W47"},
        {"  board  a:b   3 ", "board", "a:b", "3"},
        {"board weekly:2026-W48", NULL, NULL, NULL},
        {"board a b c", NULL, NULL, NULL},
        {"opened weekly 2026-W47", NULL, NULL, NULL},
        {"", NULL, NULL, NULL},
        {"boardx a b", NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char kind[8], a[64], b[64];
        bool ok = push_parse_line(cases[i].line, strlen(cases[i].line), kind, sizeof(kind), a,
                                  sizeof(a), b, sizeof(b));
        assert_int_equal(ok, cases[i].kind != NULL);
        if (!ok)
            continue;
        assert_string_equal(kind, cases[i].kind);
        assert_string_equal(a, cases[i].a);
        assert_string_equal(b, cases[i].b);
    }
    char kind[8], a[4], b[4]; /* words longer than the buffers are refused */
    assert_false(
        push_parse_line("board weekly:x 1", 16, kind, sizeof(kind), a, sizeof(a), b, sizeof(b)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_mark),
        cmocka_unit_test(test_push_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
