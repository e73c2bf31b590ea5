/*
 * test_pcodec.c - unit tests for proto/pcodec.c: the bounded incremental
 * decoder and the message encoders.
 *
 * Messages are built with the encoders (and, for hostile input, by hand),
 * fed whole and byte by byte, and the decoder must hand out the same
 * messages either way. Each limit is tested just under and just over, and
 * headers that declare huge sizes must fail before their payload arrives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pcodec.h"

/* Packs a request {"k": i} with msgid id into sb. */
static void pack_req(msgpack_sbuffer *sb, uint32_t id, const char *method, int64_t i)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    assert_int_equal(pcodec_pack_request(&pk, id, method), 0);
    msgpack_pack_map(&pk, 1);
    assert_int_equal(pcodec_pack_cstr(&pk, "k"), 0);
    msgpack_pack_int64(&pk, i);
}

/* Feeds n bytes in pieces of `step` and collects messages; returns how many. */
static size_t feed_all(pcodec_decoder *d, const char *buf, size_t n, size_t step, uint32_t *ids,
                       int64_t *ks)
{
    size_t got = 0;
    for (size_t off = 0; off < n; off += step) {
        size_t len = n - off < step ? n - off : step;
        assert_int_equal(pcodec_feed(d, buf + off, len), 0);
        pcodec_msg m;
        int rc;
        while ((rc = pcodec_next(d, &m)) == 1) {
            assert_int_equal(m.kind, PCODEC_REQUEST);
            assert_true(m.has_msgid);
            ids[got] = m.msgid;
            const msgpack_object *k = pcodec_map_get(m.params, "k");
            assert_non_null(k);
            ks[got++] =
                k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? k->via.i64 : (int64_t)k->via.u64;
            pcodec_msg_free(&m);
        }
        assert_int_equal(rc, 0);
    }
    return got;
}

/* Three requests come out the same fed whole, in odd pieces and byte by byte. */
static void test_split_feeds(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_req(&sb, 1, "ping", -5);
    pack_req(&sb, 4294967295u, "leaderboard", 1 << 20);
    pack_req(&sb, 7, "x", 0);
    static const size_t steps[] = {1000, 1, 2, 3, 7};
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        pcodec_decoder *d = pcodec_decoder_new(NULL);
        uint32_t ids[3];
        int64_t ks[3];
        assert_int_equal(feed_all(d, sb.data, sb.size, steps[s], ids, ks), 3);
        assert_int_equal(ids[0], 1);
        assert_int_equal(ids[1], 4294967295u);
        assert_int_equal(ids[2], 7);
        assert_int_equal(ks[0], -5);
        assert_int_equal(ks[1], 1 << 20);
        assert_int_equal(ks[2], 0);
        assert_int_equal(pcodec_pending(d), 0);
        assert_string_equal(pcodec_error(d), "");
        pcodec_decoder_free(d);
    }
    msgpack_sbuffer_destroy(&sb);
}

/* Responses and notifications decode; the method is not NUL-terminated. */
static void test_kinds(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(pcodec_pack_response(&pk, 9), 0);
    const char *ptrs[] = {"/events/0/type"}, *msgs[] = {"unknown"};
    assert_int_equal(pcodec_pack_error(&pk, "invalid-event", 422, "bad", 1, ptrs, msgs), 0);
    msgpack_pack_nil(&pk);
    assert_int_equal(pcodec_pack_notification(&pk, "standings"), 0);
    msgpack_pack_array(&pk, 0);
    assert_int_equal(pcodec_pack_response(&pk, -1), 0); /* nil msgid: refused by the reader */
    msgpack_pack_nil(&pk);
    msgpack_pack_nil(&pk);
    pcodec_decoder *d = pcodec_decoder_new(NULL);
    assert_int_equal(pcodec_feed(d, sb.data, sb.size), 0);
    pcodec_msg m;
    assert_int_equal(pcodec_next(d, &m), 1);
    assert_int_equal(m.kind, PCODEC_RESPONSE);
    assert_int_equal(m.msgid, 9);
    assert_true(pcodec_str_eq(pcodec_map_get(m.error, "code"), "invalid-event"));
    assert_int_equal(pcodec_map_get(m.error, "status")->via.u64, 422);
    const msgpack_object *errs = pcodec_map_get(m.error, "errors");
    assert_non_null(errs);
    assert_int_equal(errs->via.array.size, 1);
    assert_true(pcodec_str_eq(pcodec_map_get(&errs->via.array.ptr[0], "pointer"), ptrs[0]));
    assert_int_equal(m.result->type, MSGPACK_OBJECT_NIL);
    pcodec_msg_free(&m);
    assert_int_equal(pcodec_next(d, &m), 1);
    assert_int_equal(m.kind, PCODEC_NOTIFICATION);
    assert_false(m.has_msgid);
    assert_int_equal(m.method_len, 9);
    assert_memory_equal(m.method, "standings", 9);
    pcodec_msg_free(&m);
    assert_int_equal(pcodec_next(d, &m), -1);
    assert_false(m.has_msgid);
    assert_int_equal(pcodec_next(d, &m), -1); /* failed for good */
    assert_int_equal(pcodec_feed(d, "\x90", 1), -1);
    pcodec_msg_free(&m);
    pcodec_decoder_free(d);
    msgpack_sbuffer_destroy(&sb);
}

/* Decodes one hand-made input with small limits: the rc of the first
 * pcodec_next that is not 0 after feeding it all (0 if none). */
static int decode_raw(const void *buf, size_t n, bool *has_msgid, uint32_t *msgid)
{
    pcodec_limits lim = {.frame = 256, .depth = 4, .elems = 8, .total = 20, .str = 16};
    pcodec_decoder *d = pcodec_decoder_new(&lim);
    pcodec_msg m;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) { /* byte by byte: limits hit early */
        assert_int_equal(pcodec_feed(d, (const char *)buf + i, 1), 0);
        rc = pcodec_next(d, &m);
    }
    if (has_msgid) {
        *has_msgid = m.has_msgid;
        *msgid = m.msgid;
    }
    if (rc == 1)
        pcodec_msg_free(&m);
    else if (rc < 0)
        assert_true(strlen(pcodec_error(d)) > 0);
    pcodec_decoder_free(d);
    return rc;
}

/* Every limit just under (accepted) and just over (refused). */
static void test_limits(void **state)
{
    static const struct {
        const char *what;
        const char *in;
        size_t n;
        int want;
    } cases[] = {
        /* [0, 1, "m", "16 bytes........"] and 17 bytes */
        {"str at limit",
         "\x94\x00\x01\xa1m\xb0"
         "0123456789abcdef",
         22, 1},
        {"str over",
         "\x94\x00\x01\xa1m\xb1"
         "0123456789abcdefg",
         23, -1},
        /* a str32 declaring 4 GiB: refused from its header alone */
        {"str32 huge", "\x94\x00\x01\xa1m\xdb\xff\xff\xff\xff", 10, -1},
        {"bin32 huge", "\x94\x00\x01\xa1m\xc6\x7f\xff\xff\xff", 10, -1},
        {"ext32 huge", "\x94\x00\x01\xa1m\xc9\x7f\xff\xff\xff\x01", 11, -1},
        /* depth: message array, then 3 more levels is 4: accepted; 5: refused */
        {"depth 4", "\x94\x00\x01\xa1m\x91\x91\x90", 8, 1},
        {"depth 5", "\x94\x00\x01\xa1m\x91\x91\x91\x90", 9, -1},
        {"array32 huge", "\x94\x00\x01\xa1m\xdd\xff\xff\xff\xff", 10, -1},
        {"map16 9 pairs", "\x94\x00\x01\xa1m\xde\x00\x09", 8, -1},
        {"array 8", "\x94\x00\x01\xa1m\x98\x01\x02\x03\x04\x05\x06\x07\x08", 14, 1},
        {"array 9", "\x94\x00\x01\xa1m\x99\x01\x02\x03\x04\x05\x06\x07\x08\x09", 15, -1},
        /* total 20 elements: 5 + [8 ints] + ... */
        {"total over",
         "\x94\x00\x01\xa1m\x93\x98\x01\x02\x03\x04\x05\x06\x07\x08\x98\x01\x02\x03\x04\x05\x06"
         "\x07\x08\x00",
         25, -1},
        {"c1", "\x94\x00\x01\xc1", 4, -1},
        {"not an array", "\xa1x", 2, -1},
        {"3 elements request", "\x93\x00\x01\xa1m", 5, -1},
        {"type 3", "\x94\x03\x01\xa1m\xc0", 6, -1},
        {"method not str", "\x94\x00\x01\x05\xc0", 5, -1},
        {"incomplete", "\x94\x00\x01\xa1m", 5, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = decode_raw(cases[i].in, cases[i].n, NULL, NULL);
        if (rc != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].what, rc, cases[i].want);
    }
    /* the frame limit: a 300-byte message in 256 */
    char big[300] = "\x94\x00\x01\xa1m\xdc\x01\x00";
    memset(big + 8, 0x01, sizeof(big) - 8);
    assert_int_equal(decode_raw(big, sizeof(big), NULL, NULL), -1);
    /* a bad message that carries its msgid gives it back */
    bool has;
    uint32_t id;
    assert_int_equal(decode_raw("\x94\x00\x2a\x05\xc0", 5, &has, &id), -1);
    assert_true(has);
    assert_int_equal(id, 42);
    assert_int_equal(decode_raw("\x94\x00\xa1x\xa1m\xc0", 7, &has, &id), -1);
    assert_false(has);
}

/* Many messages in one feed, then the buffer is reused without growing. */
static void test_many(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (uint32_t i = 0; i < 1000; i++)
        pack_req(&sb, i, "post_events", i);
    pcodec_decoder *d = pcodec_decoder_new(NULL);
    uint32_t *ids = calloc(1000, sizeof(*ids));
    int64_t *ks = calloc(1000, sizeof(*ks));
    for (int round = 0; round < 3; round++) {
        assert_int_equal(feed_all(d, sb.data, sb.size, 4096, ids, ks), 1000);
        for (uint32_t i = 0; i < 1000; i++) {
            assert_int_equal(ids[i], i);
            assert_int_equal(ks[i], i);
        }
    }
    free(ids);
    free(ks);
    pcodec_decoder_free(d);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_feeds),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
