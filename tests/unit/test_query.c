/*
 * test_query.c - query string parameters: lookup, decoding, bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "query.h"

/* Table of lookups and their results. */
static void test_lookup(void **state)
{
    (void)state;
    static const struct {
        const char *query, *name;
        int want;
        const char *value;
    } cases[] = {
        {"limit=10&period=2026-W48", "limit", 2, "10"},
        {"limit=10&period=2026-W4", "period", 7, "2026-W4"},
        {"limit=10&period=2026-W48", "cursor", -1, NULL},
        {"", "limit", -1, NULL},
        {"limitx=3&limit=4", "limit", 1, "4"},    /* names match whole */
        {"a=1&limit=5&limit=6", "limit", 1, "5"}, /* the first wins */
        {"flag&x=1", "flag", 0, ""},              /* no '=' is the empty value */
        {"p=20%2DW4", "p", 5, "20-W4"},
        {"note=a+b", "note", 3, "a b"},
        {"p=%zz", "p", -2, NULL},        /* malformed escape */
        {"p=a%00b", "p", -2, NULL},      /* NUL byte */
        {"p=0123456789", "p", -2, NULL}, /* longer than the buffer below */
        {"&&p=1&&", "p", 1, "1"},
        {"=1&p=2", "p", 1, "2"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[8];
        int n = query_get(cases[i].query, cases[i].name, out, sizeof(out));
        assert_int_equal(n, cases[i].want);
        if (cases[i].value)
            assert_string_equal(out, cases[i].value);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
