/*
 * test_auth.c - unit tests for the token forms of auth.c: which org a token
 * names (auth_token_org) and the tokens auth_mint makes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define SECRET "Abcdefghijklmnopqrstuvwxyz0123456789-_ABCDE" /* 43 base64url characters */

static void test_token_org(void **state)
{
    (void)state;
    static const struct {
        const char *token, *org; /* org NULL: not a token of either form */
    } cases[] = {
        {"pdm_" SECRET, "default"},
        {"pdm_acme_" SECRET, "acme"},
        {"pdm_a_" SECRET, "a"},
        {"pdm_acme.eu-2_x_" SECRET, "acme.eu-2_x"}, /* '_' and '.' inside an org id */
        {"pdm_"
         "0123456789012345678901234567890123456789012345678901234567890123"
         "_" SECRET,
         "0123456789012345678901234567890123456789012345678901234567890123"},
        {"pdm_"
         "01234567890123456789012345678901234567890123456789012345678901234"
         "_" SECRET,
         NULL},                         /* a 65-character org */
        {"pdm_default_" SECRET, NULL},  /* default has the short form only */
        {"pdm_Acme_" SECRET, NULL},     /* upper case is no org id */
        {"pdm__" SECRET, NULL},         /* an empty org */
        {"pdm_acme-" SECRET, NULL},     /* no '_' before the secret */
        {"pdm_acme_" SECRET "x", NULL}, /* then the org would be "acme_A"... and '_' is wrong */
        {"pdm_" SECRET "!", NULL},      /* not base64url */
        {"pdm_acme_"
         "Abcdefghijklmnopqrstuvwxyz0123456789-_ABC=E",
         NULL},
        {"pdx_" SECRET, NULL},
        {"pdm_", NULL},
        {"", NULL},
        {"pdm_.acme_" SECRET, NULL}, /* an org id starts with a letter or digit */
    };
    for (size_t i = 0; i < N(cases); i++) {
        char org[80] = "unchanged";
        bool ok = auth_token_org(cases[i].token, org, sizeof(org));
        if (cases[i].org == NULL) {
            if (ok)
                fail_msg("%s should not be a token, read org %s", cases[i].token, org);
        } else {
            if (!ok)
                fail_msg("%s should be a token of %s", cases[i].token, cases[i].org);
            assert_string_equal(org, cases[i].org);
        }
    }
    assert_false(auth_token_org(NULL, (char[8]){0}, 8));
    char small[4];
    assert_false(auth_token_org("pdm_acme_" SECRET, small, sizeof(small))); /* no room */
}

static void test_mint(void **state)
{
    (void)state;
    char token[AUTH_TOKEN_MAX + 1], id[16], org[80];
    assert_int_equal(auth_mint(NULL, token, id), 0);
    assert_int_equal(strlen(token), AUTH_TOKEN_LEN);
    assert_true(auth_token_org(token, org, sizeof(org)));
    assert_string_equal(org, "default");
    assert_int_equal(strlen(id), 12);
    assert_int_equal(auth_mint("default", token, id), 0);
    assert_int_equal(strlen(token), AUTH_TOKEN_LEN);
    static const char *const orgs[] = {
        "acme", "a", "x.y_z-1", "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < N(orgs); i++) {
        char other[AUTH_TOKEN_MAX + 1];
        assert_int_equal(auth_mint(orgs[i], token, id), 0);
        assert_int_equal(auth_mint(orgs[i], other, id), 0);
        assert_string_not_equal(token, other);
        assert_int_equal(strlen(token), AUTH_TOKEN_LEN + strlen(orgs[i]) + 1);
        assert_true(auth_token_org(token, org, sizeof(org)));
        assert_string_equal(org, orgs[i]);
    }
}

static void test_roles(void **state)
{
    (void)state;
    static const char *const names[] = {"leader", "reader", "ingest", "admin"};
    for (size_t i = 0; i < N(names); i++)
        assert_string_equal(auth_role_name(auth_role_parse(names[i])), names[i]);
    /* The operator role belongs to no token of an org: it cannot be minted. */
    assert_int_equal(auth_role_parse("operator"), ROLE_NONE);
    assert_int_equal(auth_role_parse("root"), ROLE_NONE);
    assert_string_equal(auth_role_name(ROLE_OPERATOR), "operator");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_org),
        cmocka_unit_test(test_mint),
        cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
