/*
 * test_util.c - unit tests for util.c: checked numbers, durations, RFC 3339
 * times and ids.
 *
 * Table-driven: each table row is an input and the exact expected result, or
 * a refusal. Refusals also check that the output variable is left untouched,
 * so a caller's default survives a bad value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "util.h"

#define N(a)     (sizeof(a) / sizeof((a)[0]))
#define SENTINEL 0x5a5a5a5a

/* util_parse_i64: good values, bounds and everything it must refuse. */
static void test_parse_i64(void **state)
{
    static const struct {
        const char *in;
        int64_t min, max;
        bool ok;
        int64_t want;
    } cases[] = {
        {"0", 0, 10, true, 0},
        {"10", 0, 10, true, 10},
        {"-5", -10, 10, true, -5},
        {"+7", 0, 10, true, 7},
        {"007", 0, 10, true, 7},
        {"9223372036854775807", INT64_MIN, INT64_MAX, true, INT64_MAX},
        {"-9223372036854775808", INT64_MIN, INT64_MAX, true, INT64_MIN},
        {"9223372036854775808", INT64_MIN, INT64_MAX, false, 0},
        {"-9223372036854775809", INT64_MIN, INT64_MAX, false, 0},
        {"11", 0, 10, false, 0},
        {"-1", 0, 10, false, 0},
        {"", 0, 10, false, 0},
        {" 1", 0, 10, false, 0},
        {"\t1", 0, 10, false, 0},
        {"1 ", 0, 10, false, 0},
        {"1x", 0, 10, false, 0},
        {"0x10", 0, 100, false, 0},
        {"1.0", 0, 10, false, 0},
        {"1e3", 0, 10000, false, 0},
        {"-", 0, 10, false, 0},
        {"+", 0, 10, false, 0},
        {"abc", 0, 10, false, 0},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        int64_t v = SENTINEL;
        bool ok = util_parse_i64(cases[i].in, cases[i].min, cases[i].max, &v);
        if (ok != cases[i].ok)
            fail_msg("util_parse_i64(\"%s\") returned %d", cases[i].in, ok);
        assert_int_equal(v, ok ? cases[i].want : SENTINEL);
    }
    int64_t v = SENTINEL;
    assert_false(util_parse_i64(NULL, 0, 10, &v));
    assert_int_equal(v, SENTINEL);
}

/* util_parse_double: decimal numbers only, finite, in range. */
static void test_parse_double(void **state)
{
    static const struct {
        const char *in;
        double min, max;
        bool ok;
        double want;
    } cases[] = {
        {"1.5", 0, 10, true, 1.5},
        {"-2", -10, 10, true, -2},
        {"0", 0, 0, true, 0},
        {"1e3", 0, 1e4, true, 1000},
        {"2.5E-1", 0, 1, true, 0.25},
        {".5", 0, 1, true, 0.5},
        {"10", 0, 10, true, 10},
        {"10.0001", 0, 10, false, 0},
        {"-0.1", 0, 10, false, 0},
        {"", 0, 10, false, 0},
        {" 1", 0, 10, false, 0},
        {"1 ", 0, 10, false, 0},
        {"1.5x", 0, 10, false, 0},
        {"1,5", 0, 10, false, 0},
        {"nan", -1e308, 1e308, false, 0},
        {"NAN", -1e308, 1e308, false, 0},
        {"inf", -1e308, 1e308, false, 0},
        {"-infinity", -1e308, 1e308, false, 0},
        {"1e400", -1e308, 1e308, false, 0},
        {"0x10", 0, 100, false, 0}, /* hex floats are not decimal */
        {"0X1p3", 0, 100, false, 0},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        double v = -12345.0;
        bool ok = util_parse_double(cases[i].in, cases[i].min, cases[i].max, &v);
        if (ok != cases[i].ok)
            fail_msg("util_parse_double(\"%s\") returned %d", cases[i].in, ok);
        if (ok)
            assert_true(v == cases[i].want);
        else
            assert_true(v == -12345.0);
    }
    double v = 3;
    assert_false(util_parse_double(NULL, 0, 10, &v));
}

/* util_parse_duration: units, plain seconds, the max bound and junk. */
static void test_parse_duration(void **state)
{
    static const struct {
        const char *in;
        int64_t max;
        bool ok;
        int64_t want;
    } cases[] = {
        {"90s", 86400, true, 90},
        {"2m", 86400, true, 120},
        {"15m", 86400, true, 900},
        {"1h", 86400, true, 3600},
        {"1d", 86400, true, 86400},
        {"45", 86400, true, 45},
        {"0", 86400, true, 0},
        {"0m", 86400, true, 0},
        {"86400", 86400, true, 86400},
        {"86401", 86400, false, 0},
        {"2d", 86400, false, 0},
        {"1441m", 86400, false, 0},
        {"1440m", 86400, true, 86400},
        {"106751991167300d", INT64_MAX, true, 106751991167300LL * 86400},
        {"106751991167301d", INT64_MAX, false, 0},
        {"99999999999999999999", INT64_MAX, false, 0},
        {"", 86400, false, 0},
        {"s", 86400, false, 0},
        {"1x", 86400, false, 0},
        {"1mm", 86400, false, 0},
        {"1 m", 86400, false, 0},
        {"1.5h", 86400, false, 0},
        {"-1", 86400, false, 0},
        {"+1", 86400, false, 0},
        {" 1", 86400, false, 0},
        {"1M", 86400, false, 0},
        {"1w", 86400 * 30, false, 0},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        int64_t v = SENTINEL;
        bool ok = util_parse_duration(cases[i].in, cases[i].max, &v);
        if (ok != cases[i].ok)
            fail_msg("util_parse_duration(\"%s\") returned %d", cases[i].in, ok);
        assert_int_equal(v, ok ? cases[i].want : SENTINEL);
    }
    int64_t v = SENTINEL;
    assert_false(util_parse_duration(NULL, 100, &v));
    assert_int_equal(v, SENTINEL);
}

/* util_parse_rfc3339: accepted forms with their exact Unix ms. */
static void test_rfc3339_good(void **state)
{
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:00.001Z", 1},
        {"1969-12-31T23:59:59.999Z", -1},
        {"1969-12-31T23:59:59Z", -1000},
        {"2026-11-27T10:00:00Z", 1795773600000},
        {"2026-11-27t10:00:00z", 1795773600000},
        {"2026-11-27 10:00:00Z", 1795773600000},
        {"2026-11-27T10:00:00+00:00", 1795773600000},
        {"2026-11-27T10:00:00-00:00", 1795773600000},
        {"2026-11-27T10:00:00.250+01:00", 1795770000250},
        {"2026-11-27T10:00:00.5Z", 1795773600500},
        {"2026-11-27T10:00:00.05Z", 1795773600050},
        {"2026-11-27T10:00:00.123456789Z", 1795773600123}, /* truncated to ms */
        {"2026-11-27T10:00:00.999999Z", 1795773600999},
        {"2026-11-27T10:00:00-00:30", 1795775400000},
        {"2026-11-27T10:00:00+14:00", 1795723200000},
        {"2026-11-27T10:00:00-12:00", 1795816800000},
        {"2026-01-01T00:30:00+01:00", 1767223800000}, /* offset crosses the year */
        {"2024-02-29T12:00:00Z", 1709208000000},      /* leap year */
        {"2000-02-29T00:00:00Z", 951782400000},       /* divisible by 400: leap */
        {"2026-03-29T01:00:00Z", 1774746000000},
        {"0001-01-01T00:00:00Z", -62135596800000},
        {"9999-12-31T23:59:59.999Z", 253402300799999},
        /* leap seconds: the last millisecond of the UTC minute 23:59 */
        {"2016-12-31T23:59:60Z", 1483228799999},
        {"2016-12-31T23:59:60.5Z", 1483228799999},
        {"2017-01-01T00:59:60+01:00", 1483228799999},
        {"2016-12-31T18:59:60-05:00", 1483228799999},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        int64_t v = SENTINEL;
        if (!util_parse_rfc3339(cases[i].in, &v))
            fail_msg("util_parse_rfc3339(\"%s\") refused", cases[i].in);
        if (v != cases[i].want)
            fail_msg("util_parse_rfc3339(\"%s\") = %lld, want %lld", cases[i].in, (long long)v,
                     (long long)cases[i].want);
    }
}

/* util_parse_rfc3339: everything that is not an RFC 3339 date-time, or not a real instant. */
static void test_rfc3339_bad(void **state)
{
    static const char *const cases[] = {
        "",
        "2026",
        "2026-11-27",
        "2026-11-27T",
        "2026-11-27T10:00Z",
        "2026-11-27T10:00:00",
        "2026-11-27T10:00:00+0100",
        "2026-11-27T10:00:00+01",
        "2026-11-27T10:00:00+1:00",
        "2026-11-27T10:00:00+24:00",
        "2026-11-27T10:00:00+01:60",
        "2026-11-27T10:00:00.Z",
        "2026-11-27T10:00:00.+01:00",
        "2026-11-27T10:00:00,5Z",
        "2026-11-27T10:00:00ZZ",
        "2026-11-27T10:00:00Z ",
        " 2026-11-27T10:00:00Z",
        "2026-11-27T10:00:00UTC",
        "26-11-27T10:00:00Z",
        "2026/11/27T10:00:00Z",
        "2026-11-27X10:00:00Z",
        "2026-11-27_10:00:00Z",
        "2026-1-27T10:00:00Z",
        "2026-11-7T10:00:00Z",
        "2026-11-27T1:00:00Z",
        "2026-11-27T10:0:00Z",
        "2026-11-27T10:00:0Z",
        "+2026-11-27T10:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-32T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* divisible by 100, not by 400 */
        "2100-02-29T00:00:00Z",
        "2026-11-27T24:00:00Z",
        "2026-11-27T10:60:00Z",
        "2026-11-27T10:00:61Z",
        "2026-11-27T10:00:60Z",      /* leap seconds only at 23:59 UTC */
        "2016-12-31T23:59:60+01:00", /* that is 22:59:60 UTC */
        "2026-11-27T1a:00:00Z",
        "２026-11-27T10:00:00Z",
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        int64_t v = SENTINEL;
        if (util_parse_rfc3339(cases[i], &v))
            fail_msg("util_parse_rfc3339(\"%s\") accepted as %lld", cases[i], (long long)v);
        assert_int_equal(v, SENTINEL);
    }
    int64_t v = SENTINEL;
    assert_false(util_parse_rfc3339(NULL, &v));
    /* NUL inside the string ends it: the rest must not be read as part of it */
    char buf[] = "2026-11-27T10:00:00\0Z";
    assert_false(util_parse_rfc3339(buf, &v));
}

/* util_format_rfc3339: exact output, including before 1970. */
static void test_rfc3339_format(void **state)
{
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1, "1970-01-01T00:00:00.001Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {-1000, "1969-12-31T23:59:59.000Z"},
        {-1001, "1969-12-31T23:59:58.999Z"},
        {-86400000, "1969-12-31T00:00:00.000Z"},
        {-86400001, "1969-12-30T23:59:59.999Z"},
        {1795773600250, "2026-11-27T10:00:00.250Z"},
        {1709208000000, "2024-02-29T12:00:00.000Z"},
        {951782400000, "2000-02-29T00:00:00.000Z"},
        {253402300799999, "9999-12-31T23:59:59.999Z"},
        {-62135596800000, "0001-01-01T00:00:00.000Z"},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        char out[32];
        util_format_rfc3339(cases[i].ms, out);
        assert_string_equal(out, cases[i].want);
        int64_t back = SENTINEL;
        assert_true(util_parse_rfc3339(out, &back));
        assert_int_equal(back, cases[i].ms);
    }
    /* extremes must not overflow (UBSan checks) and must stay inside the buffer */
    static const int64_t extremes[] = {INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 999};
    for (size_t i = 0; i < N(extremes); i++) {
        char out[32];
        memset(out, 'x', sizeof(out));
        util_format_rfc3339(extremes[i], out);
        size_t len = strnlen(out, sizeof(out));
        assert_true(len < sizeof(out));
        assert_int_equal(out[len - 1], 'Z');
    }
}

/* Format then parse gives back the same instant over a wide range of times. */
static void test_rfc3339_roundtrip(void **state)
{
    (void)state;
    int64_t lo = -62135596800000, hi = 253402300799999;
    uint64_t step = 7919LL * 86400000 + 12345; /* walks over many days, hours and ms */
    for (int64_t ms = lo; ms <= hi; ms += (int64_t)step) {
        char out[32];
        int64_t back = SENTINEL;
        util_format_rfc3339(ms, out);
        if (!util_parse_rfc3339(out, &back) || back != ms)
            fail_msg("round trip of %lld gave \"%s\" -> %lld", (long long)ms, out, (long long)back);
    }
}

/* util_days_from_civil and util_civil_from_days: known dates and inverse over centuries. */
static void test_civil(void **state)
{
    static const struct {
        int64_t y;
        int m, d;
        int64_t days;
    } cases[] = {
        {1970, 1, 1, 0},      {1969, 12, 31, -1},    {2000, 3, 1, 11017},
        {2024, 2, 29, 19782}, {1, 1, 1, -719162},    {9999, 12, 31, 2932896},
        {2000, 2, 29, 11016}, {1600, 1, 1, -135140}, {-1, 12, 31, -719529},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        assert_int_equal(util_days_from_civil(cases[i].y, cases[i].m, cases[i].d), cases[i].days);
        int64_t y;
        int m, d;
        util_civil_from_days(cases[i].days, &y, &m, &d);
        assert_int_equal(y, cases[i].y);
        assert_int_equal(m, cases[i].m);
        assert_int_equal(d, cases[i].d);
    }
    /* every day of 800 years each way: inverse, and consecutive dates */
    int64_t py;
    int pm, pd;
    util_civil_from_days(-292200, &py, &pm, &pd);
    for (int64_t z = -292199; z <= 292200; z++) {
        int64_t y;
        int m, d;
        util_civil_from_days(z, &y, &m, &d);
        assert_int_equal(util_days_from_civil(y, m, d), z);
        bool next_day = y == py && m == pm && d == pd + 1;
        bool next_month = y == py && m == pm + 1 && d == 1;
        bool next_year = y == py + 1 && m == 1 && d == 1 && pm == 12 && pd == 31;
        assert_true(next_day || next_month || next_year);
        py = y, pm = m, pd = d;
    }
}

/* util_valid_id: the pattern ^[a-z0-9][a-z0-9._-]{0,63}$ exactly. */
static void test_valid_id(void **state)
{
    static const struct {
        const char *in;
        bool ok;
    } cases[] = {
        {"a", true},
        {"0", true},
        {"ada.lovelace", true},
        {"post", true},
        {"stakeholder_interaction", true},
        {"q4-stakeholders", true},
        {"a-", true},
        {"9._-", true},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true},   /* 64 */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false}, /* 65 */
        {"", false},
        {"A", false},
        {"Ada", false},
        {"adA", false},
        {"-a", false},
        {".a", false},
        {"_a", false},
        {"a b", false},
        {"a/b", false},
        {"a!", false},
        {"a\n", false},
        {"caf\xc3\xa9", false},
        {"caf\xe9", false}, /* Latin-1 'é': not an id in any locale */
        {"\xdf", false},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++)
        if (util_valid_id(cases[i].in) != cases[i].ok)
            fail_msg("util_valid_id(\"%s\") != %d", cases[i].in, cases[i].ok);
    assert_false(util_valid_id(NULL));
}

/* util_now_ms: agrees with time(2). */
static void test_now(void **state)
{
    (void)state;
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t now = util_now_ms();
    int64_t after = (int64_t)time(NULL) * 1000 + 1000;
    assert_in_range(now, before, after);
}

/* Edit distance for "did you mean" hints, and the fast integer writer. */
static void test_edit_distance_and_i64toa(void **state)
{
    (void)state;
    assert_int_equal(util_edit_distance("points", "points"), 0);
    assert_int_equal(util_edit_distance("point", "points"), 1);
    assert_int_equal(util_edit_distance("Points", "points"), 0); /* case is ignored */
    assert_int_equal(util_edit_distance("max_bdy", "max_body"), 1);
    assert_int_equal(util_edit_distance("", "abc"), 3);
    assert_int_equal(util_edit_distance("kitten", "sitting"), 3);
    char long_name[70];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    assert_true(util_edit_distance(long_name, "a") == SIZE_MAX);

    static const struct {
        int64_t v;
        const char *s;
    } nums[] = {{0, "0"},
                {7, "7"},
                {-7, "-7"},
                {1234567890123, "1234567890123"},
                {INT64_MAX, "9223372036854775807"},
                {INT64_MIN, "-9223372036854775808"}};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        char out[24];
        assert_int_equal(util_i64toa(nums[i].v, out), strlen(nums[i].s));
        assert_string_equal(out, nums[i].s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edit_distance_and_i64toa),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_parse_double),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_rfc3339_good),
        cmocka_unit_test(test_rfc3339_bad),
        cmocka_unit_test(test_rfc3339_format),
        cmocka_unit_test(test_rfc3339_roundtrip),
        cmocka_unit_test(test_civil),
        cmocka_unit_test(test_valid_id),
        cmocka_unit_test(test_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
