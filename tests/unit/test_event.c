/*
 * test_event.c - unit tests for event.c: JSON and form bodies of
 * POST /v1/events, their validation, and percent-decoding.
 *
 * Every parse runs at the fixed instant NOW, so `at` defaults and the future
 * bound are exact. Bad inputs are table rows of (body, pointer, part of the
 * message); each must give exactly that one error and leave the batch empty,
 * which ASan then checks for leaks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NOW  1795773600000LL /* 2026-11-27T10:00:00Z */

enum syntax { JSON, FORM };

/* Parses body with the given syntax at NOW. */
static int parse(enum syntax syn, const char *body, size_t len, event_batch *b, errlist *e)
{
    if (syn == JSON)
        return event_parse_json(body, len, NOW, b, e);
    return event_parse_form(body, len, NOW, b, e);
}

/* Prints the errors of e, to explain a failing assertion. */
static void dump_errors(const char *body, const errlist *e)
{
    fprintf(stderr, "body: %.200s\n", body);
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "  \"%s\": %s\n", e->items[i].pointer, e->items[i].message);
}

/* Parses body, which must succeed; the caller frees b. */
static void parse_ok(enum syntax syn, const char *body, event_batch *b)
{
    errlist e = {0};
    if (parse(syn, body, strlen(body), b, &e) != 0) {
        dump_errors(body, &e);
        fail_msg("parse refused a good body");
    }
    assert_int_equal(e.n, 0);
    errlist_clear(&e);
}

/* Asserts that b was left empty by a failed parse. */
static void assert_empty(const event_batch *b)
{
    assert_null(b->v);
    assert_int_equal(b->n, 0);
    assert_false(b->is_batch);
}

/* A well-formed single JSON event with every member. */
static void test_json_single_full(void **state)
{
    (void)state;
    event_batch b;
    parse_ok(JSON,
             "{\"id\": \"evt-1~x\", \"leader\": \"ada.lovelace\", \"type\": \"post\","
             " \"at\": \"2026-11-27T09:30:00.250+01:00\", \"channel\": \"linkedin\","
             " \"stakeholder\": \"customer\", \"url\": \"https://www.linkedin.com/posts/1?a=b\","
             " \"note\": \"Spoke at the \\u00e9quipe meeting \\ud83d\\ude00\"}",
             &b);
    assert_false(b.is_batch);
    assert_int_equal(b.n, 1);
    const event *ev = &b.v[0];
    assert_string_equal(ev->id, "evt-1~x");
    assert_string_equal(ev->leader, "ada.lovelace");
    assert_string_equal(ev->type, "post");
    assert_int_equal(ev->at, 1795768200250LL); /* 08:30:00.250Z */
    assert_string_equal(ev->channel, "linkedin");
    assert_string_equal(ev->stakeholder, "customer");
    assert_string_equal(ev->url, "https://www.linkedin.com/posts/1?a=b");
    assert_string_equal(ev->note, "Spoke at the \xc3\xa9quipe meeting \xf0\x9f\x98\x80");
    event_batch_free(&b);
    assert_empty(&b);
}

/* Only the required members: the rest is absent and `at` is now. */
static void test_json_single_minimal(void **state)
{
    (void)state;
    event_batch b;
    parse_ok(JSON, "{\"leader\":\"ada\",\"type\":\"reply\"}", &b);
    assert_int_equal(b.n, 1);
    assert_false(b.is_batch);
    assert_string_equal(b.v[0].id, "");
    assert_string_equal(b.v[0].leader, "ada");
    assert_string_equal(b.v[0].type, "reply");
    assert_string_equal(b.v[0].channel, "");
    assert_string_equal(b.v[0].stakeholder, "");
    assert_int_equal(b.v[0].at, NOW);
    assert_null(b.v[0].url);
    assert_null(b.v[0].note);
    event_batch_free(&b);
}

/* Optional members given as null or "" count as absent (phone shortcuts send both). */
static void test_json_null_and_empty_optional(void **state)
{
    (void)state;
    event_batch b;
    parse_ok(JSON,
             "{\"leader\":\"ada\",\"type\":\"post\",\"id\":\"\",\"at\":null,\"channel\":null,"
             "\"stakeholder\":\"\",\"url\":null,\"note\":\"\"}",
             &b);
    assert_string_equal(b.v[0].id, "");
    assert_int_equal(b.v[0].at, NOW);
    assert_string_equal(b.v[0].channel, "");
    assert_string_equal(b.v[0].stakeholder, "");
    assert_null(b.v[0].url);
    assert_null(b.v[0].note);
    event_batch_free(&b);

    parse_ok(JSON, "{\"leader\":\"ada\",\"type\":\"post\",\"at\":\"\"}", &b);
    assert_int_equal(b.v[0].at, NOW);
    event_batch_free(&b);
}

/* A batch keeps order and each event's own members. */
static void test_json_batch(void **state)
{
    (void)state;
    event_batch b;
    parse_ok(JSON,
             "{\"events\": ["
             "{\"id\":\"a1\",\"leader\":\"ada\",\"type\":\"post\",\"at\":\"2026-11-27T08:00:00Z\"},"
             "{\"leader\":\"bob\",\"type\":\"reply\",\"note\":\"hi\"},"
             "{\"leader\":\"cy\",\"type\":\"stakeholder_interaction\",\"stakeholder\":\"investor\","
             "\"url\":\"http://intranet/x\"}]}",
             &b);
    assert_true(b.is_batch);
    assert_int_equal(b.n, 3);
    assert_string_equal(b.v[0].id, "a1");
    assert_string_equal(b.v[0].leader, "ada");
    assert_int_equal(b.v[0].at, NOW - 2 * 3600 * 1000);
    assert_null(b.v[0].note);
    assert_string_equal(b.v[1].leader, "bob");
    assert_string_equal(b.v[1].type, "reply");
    assert_string_equal(b.v[1].note, "hi");
    assert_int_equal(b.v[1].at, NOW);
    assert_string_equal(b.v[2].type, "stakeholder_interaction");
    assert_string_equal(b.v[2].stakeholder, "investor");
    assert_string_equal(b.v[2].url, "http://intranet/x");
    assert_string_equal(b.v[2].id, "");
    event_batch_free(&b);
}

/* Builds {"events": [n copies of one event]}; the caller frees the result. */
static char *make_batch(size_t n)
{
    const char *one = "{\"leader\":\"ada\",\"type\":\"post\",\"note\":\"n\"}";
    size_t cap = 16 + n * (strlen(one) + 1);
    char *s = malloc(cap), *p = s;
    assert_non_null(s);
    p += sprintf(p, "{\"events\":[");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", one);
    sprintf(p, "]}");
    return s;
}

/* EVENT_BATCH_MAX events are fine; one more is refused with the count. */
static void test_json_batch_limits(void **state)
{
    (void)state;
    event_batch b;
    char *body = make_batch(EVENT_BATCH_MAX);
    parse_ok(JSON, body, &b);
    assert_int_equal(b.n, EVENT_BATCH_MAX);
    assert_string_equal(b.v[EVENT_BATCH_MAX - 1].note, "n");
    event_batch_free(&b);
    free(body);

    errlist e = {0};
    body = make_batch(EVENT_BATCH_MAX + 1);
    assert_int_equal(event_parse_json(body, strlen(body), NOW, &b, &e), -1);
    assert_empty(&b);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.items[0].pointer, "/events");
    assert_string_equal(e.items[0].message, "must hold 1 to 1000 events (got 1001)");
    errlist_clear(&e);
    free(body);
}

struct bad_case {
    const char *body;
    const char *pointer;
    const char *message; /* a part of the message */
};

/* Runs table rows that must each fail with exactly one error. */
static void run_bad(enum syntax syn, const struct bad_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        event_batch b = {(event *)1, 99, true}; /* garbage: the parser must reset it */
        errlist e = {0};
        int rc = parse(syn, cases[i].body, strlen(cases[i].body), &b, &e);
        bool good = rc == -1 && e.n == 1 && strcmp(e.items[0].pointer, cases[i].pointer) == 0 &&
                    strstr(e.items[0].message, cases[i].message) != NULL;
        if (!good) {
            dump_errors(cases[i].body, &e);
            fail_msg("row %zu: want \"%s\": ...%s...", i, cases[i].pointer, cases[i].message);
        }
        assert_empty(&b);
        errlist_clear(&e);
    }
}

#define EV                                                                                         \
    "\"leader\":\"ada\",\"type\":\"post\"" /* the required members, to add one bad one to          \
                                            */
#define A10  "aaaaaaaaaa"
#define A64  A10 A10 A10 A10 A10 A10 "aaaa"
#define A128 A64 A64

/* Bad JSON single events: the right pointer and message for each mistake. */
static void test_json_bad(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        /* syntax: pointer "" with line and column */
        {"", "", "invalid JSON at line 1, column 0"},
        {"{\"leader\":\"ada\",", "", "invalid JSON at line 1, column 16"},
        {"{\n  \"leader\": \"ada\",\n  \"type\": post\n}", "", "line 3, column 14"},
        {"{" EV "} trailing", "", "invalid JSON at line 1"},
        {"{" EV ",\"leader\":\"bob\"}", "", "duplicate object key"},
        {"{\"leader\":\"ada\",\"type\":\"post\xff\"}", "", "invalid JSON"},
        {"[]", "", "must be one event object, or {\"events\": [...]}"},
        {"[{" EV "}]", "", "must be one event object"},
        {"\"post\"", "", "invalid JSON"},
        /* required members */
        {"{\"type\":\"post\"}", "/leader", "is required"},
        {"{\"leader\":\"ada\"}", "/type", "is required"},
        {"{\"leader\":\"\",\"type\":\"post\"}", "/leader", "must not be empty"},
        {"{\"leader\":null,\"type\":\"post\"}", "/leader", "must be a string"},
        {"{\"leader\":\"ada\",\"type\":null}", "/type", "must be a string"},
        /* ids */
        {"{\"leader\":\"Ada\",\"type\":\"post\"}", "/leader", "must be an id: 1 to 64 characters"},
        {"{\"leader\":\"" A64 "a\",\"type\":\"post\"}", "/leader", "must be an id"},
        {"{\"leader\":\"-ada\",\"type\":\"post\"}", "/leader", "starting with a letter or digit"},
        {"{\"leader\":7,\"type\":\"post\"}", "/leader", "must be a string"},
        {"{\"leader\":\"ada\",\"type\":\"po st\"}", "/type", "must be an id"},
        {"{\"leader\":\"ada\",\"type\":[\"post\"]}", "/type", "must be a string"},
        {"{" EV ",\"channel\":\"LinkedIn\"}", "/channel", "must be an id"},
        {"{" EV ",\"channel\":true}", "/channel", "must be a string"},
        {"{" EV ",\"stakeholder\":{}}", "/stakeholder", "must be a string"},
        {"{" EV ",\"stakeholder\":\"c\\u00e9o\"}", "/stakeholder", "must be an id"},
        {"{\"leader\":\"ada\\u0000\",\"type\":\"post\"}", "/leader", "must not contain NUL"},
        /* idempotency id */
        {"{" EV ",\"id\":\"" A128 "a\"}", "/id", "must be at most 128 characters"},
        {"{" EV ",\"id\":\"a b\"}", "/id", "printable ASCII without spaces"},
        {"{" EV ",\"id\":\"caf\\u00e9\"}", "/id", "printable ASCII"},
        {"{" EV ",\"id\":\"a\\tb\"}", "/id", "printable ASCII"},
        {"{" EV ",\"id\":\"a\\u0000b\"}", "/id", "must not contain NUL"},
        {"{" EV ",\"id\":42}", "/id", "must be a string"},
        /* at */
        {"{" EV ",\"at\":\"yesterday\"}", "/at", "must be an RFC 3339 date-time"},
        {"{" EV ",\"at\":\"2026-11-27\"}", "/at", "RFC 3339"},
        {"{" EV ",\"at\":\"2026-02-29T10:00:00Z\"}", "/at", "RFC 3339"},
        {"{" EV ",\"at\":1795773600000}", "/at", "must be a string: an RFC 3339 date-time"},
        {"{" EV ",\"at\":\"2026-11-27T10:05:00.001Z\"}", "/at",
         "is more than 5 minutes in the future (server time is 2026-11-27T10:00:00.000Z)"},
        {"{" EV ",\"at\":\"2027-01-01T00:00:00Z\"}", "/at", "in the future"},
        {"{" EV ",\"at\":\"2026-11-27T11:05:01+01:00\"}", "/at", "in the future"},
        /* url */
        {"{" EV ",\"url\":\"ftp://example.com/x\"}", "/url", "must be an http:// or https:// URL"},
        {"{" EV ",\"url\":\"example.com\"}", "/url", "http:// or https://"},
        {"{" EV ",\"url\":\"https://\"}", "/url", "http:// or https://"},
        {"{" EV ",\"url\":\"https:///path\"}", "/url", "http:// or https://"},
        {"{" EV ",\"url\":\"javascript:alert(1)\"}", "/url", "http:// or https://"},
        {"{" EV ",\"url\":\"https://a.example/x y\"}", "/url", "must not contain spaces"},
        {"{" EV ",\"url\":\"https://a.example/\\n\"}", "/url", "control characters"},
        {"{" EV ",\"url\":\"https://a.example/\\u0000\"}", "/url", "must not contain NUL"},
        {"{" EV ",\"url\":5}", "/url", "must be a string"},
        /* note */
        {"{" EV ",\"note\":\"a\\u0000\"}", "/note", "must not contain NUL bytes"},
        {"{" EV ",\"note\":[]}", "/note", "must be a string"},
        /* unknown members, with RFC 6901 escaping */
        {"{" EV ",\"leadr\":\"ada\"}", "/leadr",
         "unknown member; expected id, leader, type, at, channel, stakeholder, url or note"},
        {"{" EV ",\"Leader\":\"ada\"}", "/Leader", "unknown member"},
        {"{" EV ",\"a/b~c\":1}", "/a~1b~0c", "unknown member"},
        {"{" EV ",\"\":1}", "/", "unknown member"},
        {"{" EV ",\"" A128 A128 "/\":1}", "/" A128 A128 "~1", "unknown member"}, /* long pointer */
        /* batch shape */
        {"{\"events\":[{" EV "}],\"leader\":\"ada\"}", "/leader",
         "is not allowed beside \"events\""},
        {"{\"events\":{}}", "/events", "must be an array of event objects"},
        {"{\"events\":null}", "/events", "must be an array"},
        {"{\"events\":[]}", "/events", "must hold 1 to 1000 events (got 0)"},
        {"{\"events\":[1]}", "/events/0", "must be an event object"},
        {"{\"events\":[{" EV "},[]]}", "/events/1", "must be an event object"},
        {"{\"events\":[{" EV "},{" EV ",\"x\":1}]}", "/events/1/x", "unknown member"},
        {"{\"events\":[{\"leader\":\"ada\"}]}", "/events/0/type", "is required"},
    };
    run_bad(JSON, cases, N(cases));
}

/* Builds a JSON event whose note is `count` copies of `unit`; the caller frees it. */
static char *note_body(const char *unit, size_t count)
{
    size_t ul = strlen(unit);
    char *s = malloc(64 + ul * count), *p = s;
    assert_non_null(s);
    p += sprintf(p, "{" EV ",\"note\":\"");
    for (size_t i = 0; i < count; i++, p += ul)
        memcpy(p, unit, ul);
    sprintf(p, "\"}");
    return s;
}

/* Note length counts characters, not bytes; URL length counts bytes. */
static void test_json_lengths(void **state)
{
    (void)state;
    event_batch b;
    errlist e = {0};
    char *body = note_body("\xc3\xa9", EVENT_NOTE_MAX); /* 1000 'é', 2000 bytes */
    parse_ok(JSON, body, &b);
    assert_int_equal(strlen(b.v[0].note), 2 * EVENT_NOTE_MAX);
    event_batch_free(&b);
    free(body);

    body = note_body("\xf0\x9f\x98\x80", EVENT_NOTE_MAX + 1); /* 1001 emoji */
    assert_int_equal(event_parse_json(body, strlen(body), NOW, &b, &e), -1);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.items[0].pointer, "/note");
    assert_string_equal(e.items[0].message, "must be at most 1000 characters (got 1001)");
    errlist_clear(&e);
    assert_empty(&b);
    free(body);

    /* a URL of exactly EVENT_URL_MAX bytes, then one more */
    char url[EVENT_URL_MAX + 2];
    memset(url, 'x', sizeof(url));
    memcpy(url, "https://e.x/", 12);
    url[EVENT_URL_MAX] = '\0';
    char *json = malloc(EVENT_URL_MAX + 128);
    assert_non_null(json);
    sprintf(json, "{" EV ",\"url\":\"%s\"}", url);
    parse_ok(JSON, json, &b);
    assert_int_equal(strlen(b.v[0].url), EVENT_URL_MAX);
    event_batch_free(&b);
    url[EVENT_URL_MAX] = 'x';
    url[EVENT_URL_MAX + 1] = '\0';
    sprintf(json, "{" EV ",\"url\":\"%s\"}", url);
    assert_int_equal(event_parse_json(json, strlen(json), NOW, &b, &e), -1);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.items[0].pointer, "/url");
    assert_string_equal(e.items[0].message, "must be at most 2048 bytes");
    errlist_clear(&e);
    free(json);

    /* the longest id and the longest names pass */
    parse_ok(JSON, "{\"id\":\"" A128 "\",\"leader\":\"" A64 "\",\"type\":\"" A64 "\"}", &b);
    assert_int_equal(strlen(b.v[0].id), EVENT_ID_MAX);
    assert_int_equal(strlen(b.v[0].leader), EVENT_NAME_MAX);
    event_batch_free(&b);
}

/* A batch with many mistakes reports every one, in order, with its pointer. */
static void test_json_batch_all_errors(void **state)
{
    (void)state;
    static const char body[] =
        "{\"events\": ["
        "{\"leader\":\"ada\",\"type\":\"post\"},"
        "{\"leader\":\"Bad\",\"type\":\"post\"},"
        "\"not an object\","
        "{\"type\":\"post\",\"at\":\"soon\"},"
        "{\"leader\":\"ada\",\"type\":\"post\",\"url\":\"https://ok.example/\"},"
        "{\"leader\":\"ada\",\"type\":\"post\",\"zz\":1,\"url\":\"nope\",\"note\":\"a\\u0000\"},"
        "{\"leader\":\"ada\",\"type\":\"post\",\"at\":\"2030-01-01T00:00:00Z\"}"
        "]}";
    static const struct {
        const char *pointer, *message;
    } want[] = {
        {"/events/1/leader", "must be an id"},
        {"/events/2", "must be an event object"},
        {"/events/3/at", "must be an RFC 3339 date-time"},
        {"/events/3/leader", "is required"},
        {"/events/5/zz", "unknown member"},
        {"/events/5/url", "http:// or https://"},
        {"/events/5/note", "NUL"},
        {"/events/6/at", "in the future"},
    };
    event_batch b;
    errlist e = {0};
    assert_int_equal(event_parse_json(body, sizeof(body) - 1, NOW, &b, &e), -1);
    assert_empty(&b);
    if (e.n != N(want))
        dump_errors(body, &e);
    assert_int_equal(e.n, N(want));
    for (size_t i = 0; i < N(want); i++) {
        assert_string_equal(e.items[i].pointer, want[i].pointer);
        assert_non_null(strstr(e.items[i].message, want[i].message));
    }
    errlist_clear(&e);
}

/* A batch of only bad events fills the errlist to its cap and still fails. */
static void test_json_error_cap(void **state)
{
    (void)state;
    size_t n = EVENT_BATCH_MAX;
    char *body = malloc(16 + n * 4), *p = body;
    assert_non_null(body);
    p += sprintf(p, "{\"events\":[");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s{}", i ? "," : "");
    sprintf(p, "]}");
    event_batch b;
    errlist e = {0};
    assert_int_equal(event_parse_json(body, strlen(body), NOW, &b, &e), -1);
    assert_empty(&b);
    assert_int_equal(e.n, ERRLIST_MAX);
    assert_string_equal(e.items[0].pointer, "/events/0/leader");
    assert_string_equal(e.items[1].pointer, "/events/0/type");
    assert_string_equal(e.items[ERRLIST_MAX - 1].pointer, "/events/49/type");
    errlist_clear(&e);
    free(body);

    /* errs may be NULL: the result alone says whether the body was good */
    assert_int_equal(event_parse_json("{}", 2, NOW, &b, NULL), -1);
    assert_empty(&b);
}

/* `at` bounds: exactly now + EVENT_FUTURE_SKEW passes, one ms more is refused, the past passes. */
static void test_at_future_bound(void **state)
{
    (void)state;
    static const struct {
        int64_t at;
        bool ok;
    } cases[] = {
        {NOW + EVENT_FUTURE_SKEW, true},
        {NOW + EVENT_FUTURE_SKEW + 1, false},
        {NOW, true},
        {NOW - 1, true},
        {NOW - 400LL * 86400 * 1000, true},
        {NOW + 86400000, false},
    };
    for (size_t i = 0; i < N(cases); i++) {
        for (int syn = JSON; syn <= FORM; syn++) {
            char ts[32], body[160];
            util_format_rfc3339(cases[i].at, ts);
            if (syn == JSON)
                snprintf(body, sizeof(body), "{" EV ",\"at\":\"%s\"}", ts);
            else
                snprintf(body, sizeof(body), "leader=ada&type=post&at=%s", ts);
            event_batch b;
            errlist e = {0};
            int rc = parse(syn, body, strlen(body), &b, &e);
            if (cases[i].ok) {
                assert_int_equal(rc, 0);
                assert_int_equal(b.v[0].at, cases[i].at);
            } else {
                assert_int_equal(rc, -1);
                assert_int_equal(e.n, 1);
                assert_string_equal(e.items[0].pointer, "/at");
                assert_non_null(strstr(e.items[0].message, "more than 5 minutes in the future"));
            }
            event_batch_free(&b);
            errlist_clear(&e);
        }
    }
}

/* `now` is what fills a missing `at`, whatever it is. */
static void test_at_default_now(void **state)
{
    (void)state;
    static const int64_t nows[] = {0, 1, NOW, 253402300799999};
    for (size_t i = 0; i < N(nows); i++) {
        event_batch b;
        errlist e = {0};
        assert_int_equal(event_parse_json("{" EV "}", strlen("{" EV "}"), nows[i], &b, &e), 0);
        assert_int_equal(b.v[0].at, nows[i]);
        event_batch_free(&b);
        const char *form = "leader=ada&type=post";
        assert_int_equal(event_parse_form(form, strlen(form), nows[i], &b, &e), 0);
        assert_int_equal(b.v[0].at, nows[i]);
        event_batch_free(&b);
        assert_int_equal(e.n, 0);
    }
}

/* A form body with every field, percent-encoded, decodes to the same event as JSON. */
static void test_form_full(void **state)
{
    (void)state;
    event_batch b;
    parse_ok(FORM,
             "id=evt%2F1&leader=ada.lovelace&type=post&at=2026-11-27T09%3A30%3A00.250%2B01%3A00"
             "&channel=linkedin&stakeholder=customer"
             "&url=https%3A%2F%2Fexample.com%2Fp%3Fa%3D1%26b%3D2"
             "&note=Great+talk%2C+%C3%A9quipe+%F0%9F%98%80%0Aline+2",
             &b);
    assert_false(b.is_batch);
    assert_int_equal(b.n, 1);
    const event *ev = &b.v[0];
    assert_string_equal(ev->id, "evt/1");
    assert_string_equal(ev->leader, "ada.lovelace");
    assert_string_equal(ev->type, "post");
    assert_int_equal(ev->at, 1795768200250LL);
    assert_string_equal(ev->channel, "linkedin");
    assert_string_equal(ev->stakeholder, "customer");
    assert_string_equal(ev->url, "https://example.com/p?a=1&b=2");
    assert_string_equal(ev->note, "Great talk, \xc3\xa9quipe \xf0\x9f\x98\x80\nline 2");
    event_batch_free(&b);
}

/* Form quirks that are accepted: empty pairs, a bare name, empty optional values, encoded names. */
static void test_form_lenient(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "leader=ada&type=post",
        "leader=ada&type=post&",
        "&&leader=ada&&type=post&&",
        "type=post&leader=ada",
        "leader=ada&type=post&note",
        "leader=ada&type=post&channel=&stakeholder=&url=&note=&id=&at=",
        "le%61der=ada&%74ype=post",
    };
    for (size_t i = 0; i < N(bodies); i++) {
        event_batch b;
        parse_ok(FORM, bodies[i], &b);
        assert_int_equal(b.n, 1);
        assert_string_equal(b.v[0].leader, "ada");
        assert_string_equal(b.v[0].type, "post");
        assert_string_equal(b.v[0].channel, "");
        assert_string_equal(b.v[0].id, "");
        assert_null(b.v[0].note);
        assert_null(b.v[0].url);
        assert_int_equal(b.v[0].at, NOW);
        event_batch_free(&b);
    }
}

/* Bad form bodies: pointers as for a single JSON object. */
static void test_form_bad(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"leader=ada&type=post&leader=bob", "/leader", "is given more than once"},
        {"leader=ada&type=post&note=a&note=a", "/note", "more than once"},
        {"leader=ada&type=post&color=red", "/color", "unknown field; expected id, leader"},
        {"leader=ada&type=post&Leader=ada", "/Leader", "unknown field"},
        {"leader=ada&type=post&a%2Fb=1", "/a~1b", "unknown field"},
        {"leader=ada&type=post&%FF=1", "", "unknown field with an overlong or unprintable name"},
        {"leader=ada&type=post&%01=1", "", "unprintable name"},
        {"leader=ada&type=post&x%ZZ=1", "", "a field name has malformed percent-encoding"},
        {"leader=ada&type=post&note=%ZZ", "/note", "has malformed percent-encoding"},
        {"leader=ada&type=post&note=abc%4", "/note", "malformed"},
        {"leader=ada&type=post&note=%", "/note", "malformed"},
        {"leader=ada&type=post&note=%FF", "/note", "must be valid UTF-8"},
        {"leader=ada&type=post&note=%C3%28", "/note", "UTF-8"},
        {"leader=ada&type=post&note=%ED%A0%80", "/note", "UTF-8"},    /* surrogate */
        {"leader=ada&type=post&note=%C0%AF", "/note", "UTF-8"},       /* overlong '/' */
        {"leader=ada&type=post&note=%F4%90%80%80", "/note", "UTF-8"}, /* above U+10FFFF */
        {"leader=ada&type=post&note=%E2%82", "/note", "UTF-8"},       /* truncated */
        {"leader=ada&type=post&note=a%00b", "/note", "must not contain NUL bytes"},
        {"leader=ada&type=post&url=https%3A%2F%2Fe.x%2F%FF", "/url", "must be valid UTF-8"},
        {"leader=ada&type=post&url=https://e.x/a+b", "/url", "must not contain spaces"},
        {"leader=ada&type=post&url=javascript:alert(1)", "/url", "http:// or https://"},
        {"type=post", "/leader", "is required"},
        {"leader=&type=post", "/leader", "must not be empty"},
        {"leader&type=post", "/leader", "must not be empty"},
        {"leader=Ada&type=post", "/leader", "must be an id"},
        {"leader=ada&type=post&at=2026-11-27T10:00:00+01:00", "/at",
         "must be an RFC 3339 date-time such as 2026-11-27T10:00:00Z (in a form body, write "
         "'+' as %2B)"},
        {"leader=ada&type=post&at=now", "/at", "RFC 3339"},
        {"leader=ada&type=post&id=a+b", "/id", "printable ASCII without spaces"},
    };
    run_bad(FORM, cases, N(cases));
}

/* Form values longer than any legal value are refused with the field's own limit. */
static void test_form_too_long(void **state)
{
    (void)state;
    static const struct {
        const char *field;
        size_t len;
        const char *message;
    } cases[] = {
        {"id", 129, "must be at most 128 characters"},
        {"id", 5000, "must be at most 128 characters"},
        {"leader", 65, "must be an id"},
        {"leader", 5000, "must be an id"},
        {"note", 1001, "must be at most 1000 characters (got 1001)"},
        {"note", 4001, "must be at most 1000 characters"},
        {"url", 2049, "must be at most 2048 bytes"},
        {"url", 9000, "must be at most 2048 bytes"},
        {"at", 5000, "RFC 3339"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char *body = malloc(cases[i].len + 64);
        assert_non_null(body);
        int n = sprintf(body, "%s%s=", strcmp(cases[i].field, "leader") ? "leader=ada&" : "",
                        cases[i].field);
        char *v = body + n;
        memset(v, 'a', cases[i].len);
        if (strcmp(cases[i].field, "url") == 0)
            memcpy(v, "https://", 8);
        sprintf(v + cases[i].len, "&type=post");
        event_batch b;
        errlist e = {0};
        assert_int_equal(event_parse_form(body, strlen(body), NOW, &b, &e), -1);
        assert_empty(&b);
        if (e.n != 1)
            dump_errors(body, &e);
        assert_int_equal(e.n, 1);
        assert_string_equal(e.items[0].pointer + 1, cases[i].field);
        assert_non_null(strstr(e.items[0].message, cases[i].message));
        errlist_clear(&e);
        free(body);
    }
}

/* An empty or mostly wrong form lists every problem. */
static void test_form_all_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        size_t n;
        const char *pointers[4];
    } cases[] = {
        {"", 2, {"/leader", "/type"}},
        {"x=1", 3, {"/x", "/leader", "/type"}},
        {"leader=A&type=B&note=%", 3, {"/leader", "/type", "/note"}},
        {"leader=a&leader=b&y=2&at=x", 4, {"/leader", "/y", "/at", "/type"}},
    };
    for (size_t i = 0; i < N(cases); i++) {
        event_batch b;
        errlist e = {0};
        assert_int_equal(event_parse_form(cases[i].body, strlen(cases[i].body), NOW, &b, &e), -1);
        assert_empty(&b);
        if (e.n != cases[i].n)
            dump_errors(cases[i].body, &e);
        assert_int_equal(e.n, cases[i].n);
        for (size_t j = 0; j < cases[i].n; j++)
            assert_string_equal(e.items[j].pointer, cases[i].pointers[j]);
        errlist_clear(&e);
    }
    /* a NULL body with length 0 is an empty form */
    event_batch b;
    errlist e = {0};
    assert_int_equal(event_parse_form(NULL, 0, NOW, &b, &e), -1);
    assert_int_equal(e.n, 2);
    errlist_clear(&e);
}

/* Errors already in the list belong to the caller: they do not fail a good body. */
static void test_existing_errors_kept(void **state)
{
    (void)state;
    errlist e = {0};
    errlist_add(&e, "/x", "earlier");
    event_batch b;
    assert_int_equal(event_parse_json("{" EV "}", strlen("{" EV "}"), NOW, &b, &e), 0);
    assert_int_equal(e.n, 1);
    assert_int_equal(b.n, 1);
    event_batch_free(&b);
    event_batch_free(&b); /* freeing twice is harmless: the batch was emptied */
    event_batch_free(NULL);
    errlist_clear(&e);
}

/* event_form_decode: '+', %XY in both cases, bounds and malformed input. */
static void test_form_decode(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t outlen;
        int want;
        const char *out;
    } cases[] = {
        {"", 1, 0, ""},
        {"abc", 4, 3, "abc"},
        {"a+b", 8, 3, "a b"},
        {"a%20b", 8, 3, "a b"},
        {"%41%62%7e%7E", 8, 4, "Ab~~"},
        {"%2B", 8, 1, "+"},
        {"%25", 8, 1, "%"},
        {"%e2%82%AC", 8, 3, "\xe2\x82\xac"},
        {"abc", 3, -1, NULL}, /* no room for the NUL */
        {"%41%41", 2, -1, NULL},
        {"", 0, -1, NULL},
        {"%", 8, -1, NULL},
        {"%4", 8, -1, NULL},
        {"a%4", 8, -1, NULL},
        {"%G1", 8, -1, NULL},
        {"%1G", 8, -1, NULL},
        {"% 1", 8, -1, NULL},
        {"%-1", 8, -1, NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char out[16];
        memset(out, 'x', sizeof(out));
        int n = event_form_decode(cases[i].in, strlen(cases[i].in), out, cases[i].outlen);
        if (n != cases[i].want)
            fail_msg("event_form_decode(\"%s\", %zu) = %d, want %d", cases[i].in, cases[i].outlen,
                     n, cases[i].want);
        if (n >= 0) {
            assert_memory_equal(out, cases[i].out, (size_t)n + 1);
        }
    }
    /* %00 decodes to a NUL byte inside the length; callers refuse it where it matters */
    char out[8];
    assert_int_equal(event_form_decode("a%00b", 5, out, sizeof(out)), 3);
    assert_memory_equal(out, "a\0b", 4);
    /* only inlen bytes are read */
    assert_int_equal(event_form_decode("ab%41", 2, out, sizeof(out)), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(event_form_decode("%41", 2, out, sizeof(out)), -1); /* '1' is past inlen */
    assert_int_equal(event_form_decode("a%", 1, out, sizeof(out)), 1);
}

/* A leader token's leader fills an absent leader, but never overrides a given one. */
static void test_default_leader(void **state)
{
    (void)state;
    event_batch b;
    errlist errs = {0};
    const char *json = "{\"events\":[{\"type\":\"post\"},{\"leader\":\"cfo\",\"type\":\"post\"}]}";
    assert_int_equal(event_parse_json_as(json, strlen(json), 1000, "ceo", &b, &errs), 0);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.v[0].leader, "ceo");
    assert_string_equal(b.v[1].leader, "cfo");
    event_batch_free(&b);
    assert_int_equal(event_parse_form_as("type=post", 9, 1000, "ceo", &b, &errs), 0);
    assert_string_equal(b.v[0].leader, "ceo");
    event_batch_free(&b);
    assert_int_equal(event_parse_form_as("type=post", 9, 1000, NULL, &b, &errs), -1);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.items[0].pointer, "/leader");
    errlist_clear(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_single_full),
        cmocka_unit_test(test_json_single_minimal),
        cmocka_unit_test(test_json_null_and_empty_optional),
        cmocka_unit_test(test_json_batch),
        cmocka_unit_test(test_json_batch_limits),
        cmocka_unit_test(test_json_bad),
        cmocka_unit_test(test_json_lengths),
        cmocka_unit_test(test_json_batch_all_errors),
        cmocka_unit_test(test_json_error_cap),
        cmocka_unit_test(test_at_future_bound),
        cmocka_unit_test(test_at_default_now),
        cmocka_unit_test(test_form_full),
        cmocka_unit_test(test_form_lenient),
        cmocka_unit_test(test_form_bad),
        cmocka_unit_test(test_form_too_long),
        cmocka_unit_test(test_form_all_errors),
        cmocka_unit_test(test_existing_errors_kept),
        cmocka_unit_test(test_form_decode),
        cmocka_unit_test(test_default_leader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
