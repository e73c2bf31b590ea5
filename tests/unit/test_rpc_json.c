/*
 * test_rpc_json.c - unit tests for daemon/rpc_json.c: the one-pass JSON to
 * msgpack transcoder and msgpack to jansson values.
 *
 * Each JSON text is packed by the transcoder, unpacked by msgpack-c, turned
 * back into a jansson value and compared with what jansson itself reads
 * from the text: same members, same integer/real kinds, same strings after
 * unescaping. Bad texts must fail and leave the buffer as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rpc_json.h"

/* Packs text, reads it back as a jansson value (NULL if packing failed). */
static json_t *roundtrip(const char *text, size_t *packed)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_write(&sb, "x", 1); /* something before: offsets must hold */
    json_t *v = NULL;
    if (rpc_json_pack_text(&sb, text, strlen(text)) == 0) {
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 1;
        assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, sb.size);
        errlist errs = {0};
        v = rpc_json_from(&up.data, "", &errs);
        assert_non_null(v);
        msgpack_unpacked_destroy(&up);
    } else {
        assert_int_equal(sb.size, 1);
    }
    *packed = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return v;
}

/* Good texts read the same as jansson reads them. */
static void test_same_as_jansson(void **state)
{
    static const char *const texts[] = {
        "{}",
        "[]",
        " { \"a\" : [ 1 , -2 , 3.5 , -0.25e2 , 1E3 ] , \"b\" : { } } ",
        "{\"id\":\"x\",\"points\":15,\"duplicate\":false,\"reasons\":[],\"n\":null,\"t\":true}",
        "\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\u20ac \\ud83d\\ude00 end\"",
        "\"plain \xc3\xa9 utf-8\"",
        "9223372036854775807",
        "-9223372036854775808",
        "0",
        "[[[[[[[[[[1]]]]]]]]]]",
        "{\"entries\":[{\"rank\":1,\"leader\":\"ceo\",\"score\":12,\"movement\":null}],"
        "\"next_cursor\":\"10\"}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        size_t n;
        json_t *got = roundtrip(texts[i], &n);
        json_t *want = json_loads(texts[i], JSON_DECODE_ANY, NULL);
        assert_non_null(want);
        if (got == NULL || !json_equal(got, want))
            fail_msg("text %zu differs: %s", i, texts[i]);
        json_decref(got);
        json_decref(want);
    }
}

/* Bad texts fail and write nothing. */
static void test_bad(void **state)
{
    static const char *const texts[] = {
        "",          "{",   "[1,", "{\"a\" 1}", "{1:2}", "[1 2]", "\"open", "\"\\x\"",
        "\"\\u12\"", "tru", "nul", "1.2.3x",    "[]]",   "{} {}", "-",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        size_t n;
        json_t *got = roundtrip(texts[i], &n);
        if (got != NULL)
            fail_msg("text %zu accepted: %s", i, texts[i]);
    }
    char deep[2 * RPC_JSON_DEPTH + 8];
    memset(deep, '[', RPC_JSON_DEPTH + 1);
    memset(deep + RPC_JSON_DEPTH + 1, ']', RPC_JSON_DEPTH + 1);
    deep[2 * RPC_JSON_DEPTH + 2] = '\0';
    size_t n;
    assert_null(roundtrip(deep, &n));
}

/* msgpack values JSON cannot hold are refused with a pointer. */
static void test_from_refuses(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "no/t", 4);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_bin(&pk, 2);
    msgpack_pack_bin_body(&pk, "ab", 2);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    errlist errs = {0};
    assert_null(rpc_json_from(&up.data, "", &errs));
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.items[0].pointer, "/no~1t/1");
    errlist_clear(&errs);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_jansson),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_from_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
