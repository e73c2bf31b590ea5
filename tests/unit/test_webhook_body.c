/*
 * test_webhook_body.c - unit tests for webhook_body.c: the Standard
 * Webhooks signature (against the specification's own vector), secrets,
 * and the json, slack and teams bodies of each event type.
 *
 * Bodies are parsed back with jansson and checked member by member, so a
 * test fails on a wrong shape, not on a harmless change of member order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "webhook_body.h"

static const char closed[] =
    "{\"challenge\":\"weekly\",\"challenge_name\":\"Weekly <social> & more\",\"period\":"
    "\"2026-W48\",\"starts\":\"2026-11-23T00:00:00Z\",\"ends\":\"2026-11-30T00:00:00Z\","
    "\"closed_at\":\"2026-11-30T00:15:00Z\",\"leaders\":3,"
    "\"winners\":[{\"rank\":1,\"leader\":\"amy\",\"name\":\"Amy <b>\",\"score\":120}],"
    "\"standings\":[{\"rank\":1,\"leader\":\"amy\",\"name\":\"Amy <b>\",\"score\":120,"
    "\"movement\":2},{\"rank\":2,\"leader\":\"bob\",\"name\":\"Bob & Co\",\"score\":90,"
    "\"movement\":null},{\"rank\":3,\"leader\":\"cat\",\"name\":\"\",\"score\":1,"
    "\"movement\":-1}]}";

static const char digest[] =
    "{\"challenge\":\"weekly\",\"challenge_name\":\"Weekly social\",\"period\":\"2026-W48\","
    "\"leader\":\"ceo\",\"name\":\"The CEO\",\"rank\":4,\"score\":40,\"next\":{\"rank\":3,"
    "\"score\":52,\"gap\":12},\"streak\":3,\"suggestion\":{\"activity\":"
    "\"stakeholder_interaction\",\"points\":30},\"text\":\"You are 4th, 12 points behind 3rd; "
    "a stakeholder interaction is worth 30 points.\"}";

/* Renders and parses a body; fails the test if either step fails. */
static json_t *render(webhook_format f, const char *type, const char *payload)
{
    size_t len = 0;
    char *s = webhook_body_render(f, type, 1795997700000, payload, strlen(payload), &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(s));
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    free(s);
    return j;
}

/* The string at a path of object members and array indexes ("blocks", 0, "type"). */
static const char *at(json_t *j, const char *path)
{
    char buf[200];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *p = strtok_r(buf, "/", &save); p && j; p = strtok_r(NULL, "/", &save))
        j = json_is_array(j) ? json_array_get(j, strtoul(p, NULL, 10)) : json_object_get(j, p);
    return json_string_value(j);
}

/* The Standard Webhooks specification's test vector, and a changed body. */
static void test_sign_vector(void **state)
{
    unsigned char key[WEBHOOK_KEY_MAX];
    int n = webhook_body_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key);
    assert_int_equal(n, 24);
    char sig[WEBHOOK_SIG_MAX];
    const char body[] = "{\"test\": 2432232314}";
    assert_int_equal(webhook_body_sign(key, (size_t)n, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                                       body, strlen(body), sig),
                     0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_int_equal(webhook_body_sign(key, (size_t)n, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331,
                                       body, strlen(body), sig),
                     0);
    assert_string_not_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

/* Secrets: encode then decode gives the key back; bad ones are refused. */
static void test_secret(void **state)
{
    unsigned char key[32], back[WEBHOOK_KEY_MAX];
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)(i * 37 + 1);
    char secret[WEBHOOK_SECRET_MAX];
    webhook_body_secret_encode(key, sizeof(key), secret);
    assert_int_equal(strncmp(secret, "whsec_", 6), 0);
    assert_int_equal(strlen(secret), 6 + 44);
    assert_int_equal(webhook_body_secret_decode(secret, back), 32);
    assert_memory_equal(key, back, 32);
    assert_int_equal(webhook_body_secret_decode(secret + 6, back), 32); /* bare base64 */
    assert_int_equal(webhook_body_secret_decode("whsec_", back), -1);
    assert_int_equal(webhook_body_secret_decode("whsec_abc", back), -1);
    assert_int_equal(webhook_body_secret_decode("whsec_!!!!", back), -1);
}

/* Format names and event types. */
static void test_names(void **state)
{
    webhook_format f;
    assert_true(webhook_body_format_parse("slack", &f) && f == WEBHOOK_FORMAT_SLACK);
    assert_true(webhook_body_format_parse("teams", &f) && f == WEBHOOK_FORMAT_TEAMS);
    assert_true(webhook_body_format_parse("json", &f) && f == WEBHOOK_FORMAT_JSON);
    assert_false(webhook_body_format_parse("JSON", &f));
    assert_false(webhook_body_format_parse("", &f));
    assert_string_equal(webhook_body_format_name(WEBHOOK_FORMAT_TEAMS), "teams");
    assert_true(webhook_body_type_known("period_closed"));
    assert_true(webhook_body_type_known("digest"));
    assert_true(webhook_body_type_known("test"));
    assert_false(webhook_body_type_known("standings"));
}

/* json: the Standard Webhooks envelope around the payload, unchanged. */
static void test_json(void **state)
{
    json_t *j = render(WEBHOOK_FORMAT_JSON, "period_closed", closed);
    assert_string_equal(at(j, "type"), "period_closed");
    assert_string_equal(at(j, "timestamp"), "2026-11-30T00:15:00.000Z");
    json_t *payload = json_loads(closed, 0, NULL);
    assert_true(json_equal(json_object_get(j, "data"), payload));
    assert_int_equal(json_object_size(j), 3);
    json_decref(payload);
    json_decref(j);
    size_t len;
    assert_null(webhook_body_render(WEBHOOK_FORMAT_JSON, "digest", 0, "[1]", 3, &len));
    assert_null(webhook_body_render(WEBHOOK_FORMAT_SLACK, "digest", 0, "{", 1, &len));
}

/* slack, period_closed: text, header, standings in mrkdwn with entities, context. */
static void test_slack_closed(void **state)
{
    json_t *j = render(WEBHOOK_FORMAT_SLACK, "period_closed", closed);
    assert_string_equal(at(j, "text"), "Weekly &lt;social&gt; &amp; more, 2026-W48 is over. "
                                       "Winner: Amy &lt;b&gt; with 120 points.");
    assert_int_equal(json_array_size(json_object_get(j, "blocks")), 3);
    assert_string_equal(at(j, "blocks/0/type"), "header");
    assert_string_equal(at(j, "blocks/0/text/type"), "plain_text");
    assert_string_equal(at(j, "blocks/0/text/text"), "Weekly <social> & more: results of 2026-W48");
    assert_string_equal(at(j, "blocks/1/type"), "section");
    assert_string_equal(at(j, "blocks/1/text/type"), "mrkdwn");
    assert_string_equal(at(j, "blocks/1/text/text"),
                        "*1.* Amy &lt;b&gt; \xE2\x80\x94 120 points (+2)\n"
                        "*2.* Bob &amp; Co \xE2\x80\x94 90 points (new)\n"
                        "*3.* cat \xE2\x80\x94 1 point (-1)");
    assert_string_equal(at(j, "blocks/2/type"), "context");
    assert_string_equal(at(j, "blocks/2/elements/0/type"), "mrkdwn");
    assert_string_equal(at(j, "blocks/2/elements/0/text"),
                        "3 leaders took part. Closed at 2026-11-30T00:15:00Z.");
    json_decref(j);
}

/* slack, digest: the payload's sentence is the section. */
static void test_slack_digest(void **state)
{
    json_t *j = render(WEBHOOK_FORMAT_SLACK, "digest", digest);
    assert_string_equal(at(j, "text"), "The CEO is 4th in Weekly social with 40 points.");
    assert_string_equal(at(j, "blocks/0/text/text"), "Weekly social, 2026-W48: The CEO");
    assert_string_equal(at(j, "blocks/1/text/text"),
                        "You are 4th, 12 points behind 3rd; a stakeholder interaction is worth "
                        "30 points.");
    assert_string_equal(at(j, "blocks/2/elements/0/text"), "Streak: 3 days. Score: 40.");
    json_decref(j);
}

/* slack: a long name keeps the header within 150 characters. */
static void test_slack_limits(void **state)
{
    char payload[1200];
    char name[700];
    for (size_t i = 0; i < 300; i++)
        memcpy(name + 2 * i, "\xC3\xA9", 2); /* 300 x "é" */
    name[600] = '\0';
    snprintf(payload, sizeof(payload),
             "{\"challenge\":\"c\",\"challenge_name\":\"%s\",\"period\":\"all\",\"winners\":[],"
             "\"standings\":[],\"leaders\":0}",
             name);
    json_t *j = render(WEBHOOK_FORMAT_SLACK, "period_closed", payload);
    const char *h = at(j, "blocks/0/text/text");
    size_t chars = 0;
    for (const char *c = h; *c; c++)
        chars += ((unsigned char)*c & 0xC0) != 0x80;
    assert_int_equal(chars, 150);
    assert_string_equal(h + strlen(h) - 3, "\xE2\x80\xA6");
    assert_string_equal(at(j, "blocks/1/text/text"), "_Nobody scored in this period._");
    json_decref(j);
}

/* teams: a Workflows message holding one Adaptive Card 1.4. */
static void test_teams(void **state)
{
    json_t *j = render(WEBHOOK_FORMAT_TEAMS, "period_closed", closed);
    assert_string_equal(at(j, "type"), "message");
    assert_int_equal(json_array_size(json_object_get(j, "attachments")), 1);
    assert_string_equal(at(j, "attachments/0/contentType"),
                        "application/vnd.microsoft.card.adaptive");
    assert_string_equal(at(j, "attachments/0/content/type"), "AdaptiveCard");
    assert_string_equal(at(j, "attachments/0/content/version"), "1.4");
    assert_string_equal(at(j, "attachments/0/content/$schema"),
                        "http://adaptivecards.io/schemas/adaptive-card.json");
    assert_string_equal(at(j, "attachments/0/content/body/0/type"), "TextBlock");
    assert_string_equal(at(j, "attachments/0/content/body/0/text"),
                        "Weekly <social> & more: results of 2026-W48");
    assert_string_equal(at(j, "attachments/0/content/body/2/type"), "FactSet");
    assert_string_equal(at(j, "attachments/0/content/body/2/facts/1/title"), "2.");
    assert_string_equal(at(j, "attachments/0/content/body/2/facts/1/value"),
                        "Bob & Co \xE2\x80\x94 90 points (new)");
    json_decref(j);
    j = render(WEBHOOK_FORMAT_TEAMS, "test", "{\"webhook\":\"0123456789ab\"}");
    assert_string_equal(at(j, "attachments/0/content/body/0/text"), "Podium test event");
    assert_string_equal(at(j, "attachments/0/content/body/2/text"), "Webhook 0123456789ab");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_vector),  cmocka_unit_test(test_secret),
        cmocka_unit_test(test_names),        cmocka_unit_test(test_json),
        cmocka_unit_test(test_slack_closed), cmocka_unit_test(test_slack_digest),
        cmocka_unit_test(test_slack_limits), cmocka_unit_test(test_teams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
