/*
 * test_url.c - unit tests for url.c: URL normalisation and URL keys.
 *
 * Table-driven: each row is an input and its exact normal form, or NULL for a
 * refusal. Every accepted row is also normalised a second time, which must
 * give the same text (idempotence), and every refusal must leave the output
 * as "". Lengths at and around the limits are built in code; keys are checked
 * against SHA-256 values computed outside the code under test (sha256sum).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "url.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A URL and its normal form; want NULL means url_normalize must refuse it. */
typedef struct {
    const char *in, *want;
} url_case;

/* Runs a table: exact output and length, "" on refusal, and idempotence. */
static void run_cases(const url_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char out[URL_OUT_MAX];
        memset(out, 'x', sizeof(out));
        int len = url_normalize(cases[i].in, out, sizeof(out));
        if (cases[i].want == NULL) {
            if (len != -1)
                fail_msg("url_normalize(\"%s\") accepted as \"%s\"", cases[i].in, out);
            assert_string_equal(out, "");
            continue;
        }
        if (len < 0)
            fail_msg("url_normalize(\"%s\") refused, want \"%s\"", cases[i].in, cases[i].want);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("url_normalize(\"%s\") = \"%s\", want \"%s\"", cases[i].in, out,
                     cases[i].want);
        assert_int_equal(len, strlen(cases[i].want));
        char again[URL_OUT_MAX];
        int len2 = url_normalize(out, again, sizeof(again));
        if (len2 != len || strcmp(again, out) != 0)
            fail_msg("url_normalize not idempotent on \"%s\": \"%s\"", out, again);
    }
}

/* Whitespace trimming, the scheme, userinfo and the host. */
static void test_scheme_and_host(void **state)
{
    static const url_case cases[] = {
        {"https://example.com/a", "https://example.com/a"},
        {"  https://example.com/a\t\r\n", "https://example.com/a"},
        {"\v\fhttps://example.com/a ", "https://example.com/a"},
        {"http://example.com/a", "https://example.com/a"},
        {"HTTP://example.com/a", "https://example.com/a"},
        {"HtTpS://example.com/a", "https://example.com/a"},
        {"https://user:pass@example.com/a", "https://example.com/a"},
        {"https://user@host@example.com/a", "https://example.com/a"}, /* the last '@' counts */
        {"https://@example.com/", "https://example.com/"},
        {"https://example.com/a@b:c", "https://example.com/a@b:c"}, /* '@' in the path */
        {"https://EXAMPLE.Com/Path", "https://example.com/Path"},
        {"https://example.com./a", "https://example.com/a"},
        {"https://www.example.com/a", "https://example.com/a"},
        {"https://WWW.Example.COM./a", "https://example.com/a"},
        {"https://www.www.example.com/", "https://example.com/"},
        {"https://www/", "https://www/"},
        {"https://www./", "https://www/"},
        {"https://www.www/", "https://www/"},
        {"https://wwwexample.com/", "https://wwwexample.com/"},
        {"https://sub.www.example.com/", "https://sub.www.example.com/"},
        {"https://my_host-1~x.example/", "https://my_host-1~x.example/"},
        {"https://B\xc3\xbc"
         "cher.DE/",
         "https://b\xc3\xbc"
         "cher.de/"}, /* UTF-8 kept */
        {"https://192.0.2.1/a", "https://192.0.2.1/a"},
        {"https://[2001:DB8::1]/a", "https://[2001:db8::1]/a"},
        {"https://[::ffff:192.0.2.1]/", "https://[::ffff:192.0.2.1]/"},
        {"https://user@[::1]/", "https://[::1]/"},
    };
    (void)state;
    run_cases(cases, N(cases));
}

/* Ports: defaults removed whatever the scheme, others kept without leading zeros. */
static void test_port(void **state)
{
    static const url_case cases[] = {
        {"https://example.com:443/a", "https://example.com/a"},
        {"http://example.com:80/a", "https://example.com/a"},
        {"http://example.com:443/a", "https://example.com/a"},
        {"https://example.com:80/a", "https://example.com/a"},
        {"https://example.com:8080/a", "https://example.com:8080/a"},
        {"https://example.com:08080/a", "https://example.com:8080/a"},
        {"https://example.com:0443", "https://example.com/"},
        {"https://example.com:/a", "https://example.com/a"},
        {"https://example.com:0/", "https://example.com:0/"},
        {"https://example.com:65535?x=1", "https://example.com:65535/?x=1"},
        {"http://[::1]:8080/", "https://[::1]:8080/"},
        {"https://[::1]:443/", "https://[::1]/"},
        {"https://u:1@example.com:81", "https://example.com:81/"},
    };
    (void)state;
    run_cases(cases, N(cases));
}

/* The fragment and the path: "/", trailing slashes, percent-encodings, no dot segments. */
static void test_path(void **state)
{
    static const url_case cases[] = {
        {"https://example.com/a#section", "https://example.com/a"},
        {"https://example.com/a#", "https://example.com/a"},
        {"https://example.com#top", "https://example.com/"},
        {"https://example.com/a?x=1#frag?y=2", "https://example.com/a?x=1"},
        {"https://example.com/a#frag/?y=2", "https://example.com/a"},
        {"https://example.com", "https://example.com/"},
        {"https://example.com/", "https://example.com/"},
        {"https://example.com//", "https://example.com/"},
        {"https://example.com/a/", "https://example.com/a"},
        {"https://example.com/a//", "https://example.com/a"},
        {"https://example.com/a/b/", "https://example.com/a/b"},
        {"https://example.com/a/?x=1", "https://example.com/a?x=1"},
        {"https://example.com//a", "https://example.com//a"},
        {"https://example.com/%7Euser/%41%62%2d%2E%5f%30", "https://example.com/~user/Ab-._0"},
        {"https://example.com/a%2fb%3a%e2%82%ac", "https://example.com/a%2Fb%3A%E2%82%AC"},
        {"https://example.com/a%2F", "https://example.com/a%2F"}, /* not a trailing slash */
        {"https://example.com/%25", "https://example.com/%25"},
        {"https://example.com/%2541", "https://example.com/%2541"}, /* decoded once only */
        {"https://example.com/a/../b/./c", "https://example.com/a/../b/./c"},
        {"https://example.com/%2e%2e/a", "https://example.com/../a"},
        {"https://example.com/Post/ABC", "https://example.com/Post/ABC"},
        {"https://example.com/caf\xc3\xa9", "https://example.com/caf\xc3\xa9"},
        {"https://example.com/a|b\"c", "https://example.com/a|b\"c"},
    };
    (void)state;
    run_cases(cases, N(cases));
}

/* The query: tracking and empty parameters removed, the rest untouched. */
static void test_query(void **state)
{
    static const url_case cases[] = {
        {"https://example.com/a?utm_source=x&id=5&UTM_Medium=y", "https://example.com/a?id=5"},
        {"https://example.com/a?utm_source=x&utm_medium=y", "https://example.com/a"},
        {"https://example.com/a?fbclid=1&gclid=2&dclid=3&msclkid=4&mc_cid=5&mc_eid=6&igshid=7",
         "https://example.com/a"},
        {"https://example.com/a?si=8&trk=9&trackingId=10&ref_src=a&ref_url=b&_hsenc=c",
         "https://example.com/a"},
        {"https://example.com/a?_hsmi=d&mkt_tok=e&yclid=f&twclid=g&li_fat_id=h&rcm=i",
         "https://example.com/a"},
        {"https://example.com/a?FBCLID=1&TRACKINGID=2&Si=3&b=2", "https://example.com/a?b=2"},
        {"https://example.com/a?a=1&&b=2", "https://example.com/a?a=1&b=2"},
        {"https://example.com/a?&a=1&", "https://example.com/a?a=1"},
        {"https://example.com/a?", "https://example.com/a"},
        {"https://example.com/a?&&", "https://example.com/a"},
        {"https://example.com/a?b=2&a=1&B=3&a=1", "https://example.com/a?b=2&a=1&B=3&a=1"},
        {"https://example.com/a?q=%2f%7e+x&flag", "https://example.com/a?q=%2f%7e+x&flag"},
        {"https://example.com/a?utm_source", "https://example.com/a"},
        {"https://example.com/a?utm_=1&Utm_x", "https://example.com/a"},
        {"https://example.com/a?utm=1&utmsource=2&sid=3&fbclid_x=4&xfbclid=5&s=6",
         "https://example.com/a?utm=1&utmsource=2&sid=3&fbclid_x=4&xfbclid=5&s=6"},
        {"https://example.com/a?q=utm_source&x=fbclid",
         "https://example.com/a?q=utm_source&x=fbclid"},
        {"https://example.com/a?=1&si", "https://example.com/a?=1"},
        {"https://example.com/a?x=a?b=c/d", "https://example.com/a?x=a?b=c/d"},
        {"https://example.com?utm_source=x", "https://example.com/"},
        {"https://example.com/a/?utm_source=x#x", "https://example.com/a"},
        {"https://www.linkedin.com/posts/ada_activity-123/?utm_source=share&utm_medium=member_ios"
         "&rcm=ACoAA",
         "https://linkedin.com/posts/ada_activity-123"},
        {"https://youtu.be/abc123?si=XyZ", "https://youtu.be/abc123"},
        {"https://x.com/ada/status/123?s=20&t=abc", "https://x.com/ada/status/123?s=20&t=abc"},
    };
    (void)state;
    run_cases(cases, N(cases));
}

/* Everything that is not an absolute http(s) URL by these rules. */
static void test_refused(void **state)
{
    static const url_case cases[] = {
        {"", NULL},
        {"   ", NULL},
        {"example.com/a", NULL},
        {"//example.com/a", NULL},
        {"ftp://example.com/", NULL},
        {"httpx://example.com/", NULL},
        {"mailto:ada@example.com", NULL},
        {"https:/example.com", NULL},
        {"https:example.com", NULL},
        {"https//example.com", NULL},
        {"https://", NULL},
        {"https:///a", NULL},
        {"https://?a=1", NULL},
        {"https://#a", NULL},
        {"https://user@/a", NULL},
        {"https://:443/a", NULL},
        {"https://./", NULL},
        {"https://a..b/", NULL},
        {"https://.example.com/", NULL},
        {"https://example.com../", NULL},
        {"https://exa mple.com/", NULL},
        {"https://example.com/a b", NULL},
        {"https://example.com/a\tb", NULL},
        {"https://example.com/a\nb", NULL},
        {"https://example.com/\x01", NULL},
        {"https://example.com/\x7f", NULL},
        {"https://example.com/?q=a b", NULL},
        {"https://example.com/#a b", NULL},
        {"https://example.com/%", NULL},
        {"https://example.com/%4", NULL},
        {"https://example.com/a%4", NULL},
        {"https://example.com/%zz", NULL},
        {"https://example.com/%4g", NULL},
        {"https://example.com/?q=%g1", NULL},
        {"https://example.com/#%x", NULL}, /* refused though the fragment is dropped */
        {"https://us%er@example.com/", NULL},
        {"https://exa%41mple.com/", NULL},
        {"https://ex<am>ple.com/", NULL},
        {"https://ex!ample.com/", NULL},
        {"https://example.com:65536/", NULL},
        {"https://example.com:99999999999999999999/", NULL},
        {"https://example.com:8o/", NULL},
        {"https://example.com:-1/", NULL},
        {"https://example.com:+80/", NULL},
        {"https://example.com:80:80/", NULL},
        {"https://[::1/", NULL},
        {"https://[]/", NULL},
        {"https://[1]/", NULL},
        {"https://[::1]x/", NULL},
        {"https://[::1]:x/", NULL},
        {"https://[v1.fe]/", NULL},
        {"https://[fe80::1%25eth0]/", NULL},
        {"https://[::g]/", NULL},
        {"https://::1/", NULL},
    };
    (void)state;
    run_cases(cases, N(cases));
}

/* Output buffer sizes, NULL arguments: never a byte past outlen, "" on refusal. */
static void test_out_sizes(void **state)
{
    (void)state;
    const char *in = "http://www.example.com/a/?utm_source=x";
    const char *want = "https://example.com/a";
    size_t wlen = strlen(want);
    char out[64];

    for (size_t outlen = 1; outlen <= wlen + 1; outlen++) {
        memset(out, 'x', sizeof(out));
        int n = url_normalize(in, out, outlen);
        if (outlen == wlen + 1) {
            assert_int_equal(n, wlen);
            assert_string_equal(out, want);
        } else {
            assert_int_equal(n, -1);
            assert_string_equal(out, "");
        }
        for (size_t i = outlen; i < sizeof(out); i++)
            assert_int_equal(out[i], 'x');
    }
    /* refused in the authority after "https://" was already written */
    memset(out, 'x', sizeof(out));
    assert_int_equal(url_normalize("https://exa mple.com", out, sizeof(out)), -1);
    assert_string_equal(out, "");
    memset(out, 'x', sizeof(out));
    assert_int_equal(url_normalize("https://a.com:99999", out, sizeof(out)), -1);
    assert_string_equal(out, "");

    memset(out, 'x', sizeof(out));
    assert_int_equal(url_normalize(in, out, 0), -1);
    assert_int_equal(out[0], 'x');
    assert_int_equal(url_normalize(NULL, out, sizeof(out)), -1);
    assert_string_equal(out, "");
    assert_int_equal(url_normalize(in, NULL, 10), -1);
}

/* The input limit (URL_MAX, whitespace included) and the host limit (253). */
static void test_limits(void **state)
{
    (void)state;
    static char in[URL_MAX + 64], out[URL_OUT_MAX], again[URL_OUT_MAX];

    /* an input of exactly URL_MAX bytes is taken, one more is not */
    strcpy(in, "https://example.com/");
    size_t n = strlen(in);
    memset(in + n, 'a', URL_MAX - n);
    in[URL_MAX] = '\0';
    assert_int_equal(url_normalize(in, out, sizeof(out)), URL_MAX);
    assert_string_equal(out, in);
    in[URL_MAX] = 'a';
    in[URL_MAX + 1] = '\0';
    assert_int_equal(url_normalize(in, out, sizeof(out)), -1);
    /* whitespace counts towards the limit */
    in[URL_MAX] = ' ';
    assert_int_equal(url_normalize(in, out, sizeof(out)), -1);

    /* "http://" and no path: the result grows by 2 and is too long to be an input again */
    strcpy(in, "http://example.com?q=");
    n = strlen(in);
    memset(in + n, 'a', URL_MAX - n);
    in[URL_MAX] = '\0';
    assert_int_equal(url_normalize(in, out, sizeof(out)), URL_MAX + 2);
    assert_int_equal(url_normalize(out, again, sizeof(again)), -1);
    assert_int_equal(url_normalize(in, out, URL_MAX + 2), -1);

    /* host of 253 bytes: taken, also with a trailing dot; 254: refused */
    char host[300];
    memset(host, 'a', 253);
    for (size_t i = 63; i < 253; i += 64)
        host[i] = '.';
    host[253] = '\0';
    snprintf(in, sizeof(in), "https://%s/", host);
    assert_int_equal(url_normalize(in, out, sizeof(out)), (int)strlen(in));
    snprintf(in, sizeof(in), "https://%s./", host);
    assert_int_equal(url_normalize(in, out, sizeof(out)), (int)strlen(in) - 1);
    snprintf(in, sizeof(in), "https://%sb/", host);
    assert_int_equal(url_normalize(in, out, sizeof(out)), -1);
    /* the limit is on the host as written: a "www." prefix still counts */
    snprintf(in, sizeof(in), "https://www.%s/", host);
    assert_int_equal(url_normalize(in, out, sizeof(out)), -1);
}

/* url_key: the same key for equivalent URLs, different keys otherwise. */
static void test_key(void **state)
{
    (void)state;
    static const char *const same[][4] = {
        {"https://example.com/", "http://www.example.com", " HTTPS://EXAMPLE.COM:443/#x",
         "https://example.com/?utm_source=a&&fbclid=b"},
        {"https://example.com/a?id=5", "http://Example.com./a/?utm_medium=x&id=5",
         "https://user@www.example.com:80/%61?id=5#top", "https://example.com/a/?id=5&si=1"},
        {"https://example.com/a%2Fb", "https://example.com/a%2fb", "https://example.com/a%2fb/",
         "http://example.com/%61%2fb"},
    };
    static const char *const different[] = {
        "https://example.com/",           "https://example.com/a",
        "https://example.com/A",          "https://example.com/a/b",
        "https://example.com/a%2Fb",      "https://example.com/a?id=5",
        "https://example.com/a?id=6",     "https://example.com/a?id=5&x=1",
        "https://example.com/a?x=1&id=5", "https://example.com:8080/a",
        "https://example.org/a",          "https://sub.example.com/a",
        "https://example.com/a/../b",     "https://example.com/b",
    };
    char k1[65], k2[65];

    /* known SHA-256 values (from sha256sum), so the key is not only self-consistent */
    assert_true(url_key("http://www.example.com", k1));
    assert_string_equal(k1, "0f115db062b7c0dd030b16878c99dea5c354b49dc37b38eb8846179c7783e9d7");
    assert_true(url_key("https://example.com/a/?utm_source=x&id=5#y", k1));
    assert_string_equal(k1, "903f850ff6ec69a9c0a4e2874aa386b828722943e4dd37063ebb02ff7eccad84");

    for (size_t g = 0; g < N(same); g++) {
        assert_true(url_key(same[g][0], k1));
        assert_int_equal(strlen(k1), 64);
        for (size_t i = 1; i < N(same[g]); i++) {
            assert_true(url_key(same[g][i], k2));
            if (strcmp(k1, k2) != 0)
                fail_msg("url_key(\"%s\") != url_key(\"%s\")", same[g][0], same[g][i]);
        }
    }
    for (size_t i = 0; i < N(different); i++) {
        assert_true(url_key(different[i], k1));
        for (size_t j = i + 1; j < N(different); j++) {
            assert_true(url_key(different[j], k2));
            if (strcmp(k1, k2) == 0)
                fail_msg("url_key(\"%s\") == url_key(\"%s\")", different[i], different[j]);
        }
    }

    memset(k1, 'x', sizeof(k1));
    assert_false(url_key("ftp://example.com/", k1));
    assert_string_equal(k1, "");
    assert_false(url_key("https://example.com/%zz", k1));
    assert_false(url_key(NULL, k1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scheme_and_host),
        cmocka_unit_test(test_port),
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_out_sizes),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
