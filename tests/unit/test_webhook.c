/*
 * test_webhook.c - unit tests for webhook.c's pure parts: the retry delay
 * (full jitter under a doubling, capped bound) and Retry-After values.
 *
 * The engine itself (claims, leases, libcurl) is exercised against real
 * processes by tests/integration/test_webhooks.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "webhook.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The bound doubles from base per failed attempt, up to the cap; the delay
 * is u times the bound. */
static void test_backoff(void **state)
{
    static const struct {
        int64_t attempts, base, cap;
        double u;
        int64_t want;
    } rows[] = {
        {1, 5000, 3600000, 0.999999, 4999},
        {1, 5000, 3600000, 0.5, 2500},
        {2, 5000, 3600000, 0.5, 5000},
        {3, 5000, 3600000, 0.5, 10000},
        {10, 5000, 3600000, 0.5, 1280000},
        {11, 5000, 3600000, 0.5, 1800000}, /* 5120000 capped at 1 h */
        {1000, 5000, 3600000, 0.5, 1800000},
        {4, 100, 3600000, 0.0, 0},
        {4, 100, 3600000, -1.0, 0},
    };
    for (size_t i = 0; i < N(rows); i++)
        assert_int_equal(webhook_backoff_ms(rows[i].attempts, rows[i].base, rows[i].cap, rows[i].u),
                         rows[i].want);
}

/* Retry-After: delay-seconds or an HTTP date; anything else is -1. */
static void test_retry_after(void **state)
{
    const int64_t now = 1764460800000; /* 2025-11-30T00:00:00Z */
    static const struct {
        const char *in;
        int64_t want;
    } rows[] = {
        {"0", 1764460800000},
        {" 120", 1764460920000},
        {"Sun, 30 Nov 2025 00:01:00 GMT", 1764460860000},
        {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777000},
        {"soon", -1},
        {"S0000000000000000000000000000000000000000000000000001155698495NOv2", -1}, /* fuzz */
        {"-5", -1},
        {"12abc", -1},
        {"", -1},
    };
    for (size_t i = 0; i < N(rows); i++)
        assert_int_equal(webhook_retry_after_ms(rows[i].in, now), rows[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
