/*
 * rpc_json_fuzzer.c - fuzzes the one-pass JSON to msgpack transcoder
 * (daemon/rpc_json.c) against jansson.
 *
 * Any input must be packed or refused without reading outside it; what
 * both jansson and the transcoder accept must read back the same (jansson
 * also takes NUL-free texts only, as podiumd renders them).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exactly size bytes: overreads are caught */
    memcpy(text, data, size);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc = rpc_json_pack_text(&sb, text, size);
    json_t *want = json_loadb(text, size, JSON_DECODE_ANY, NULL);
    if (rc == 0) {
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        if (msgpack_unpack_next(&up, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
            off != sb.size)
            abort();
        errlist errs = {0};
        json_t *got = rpc_json_from(&up.data, "", &errs);
        if (want && got && !json_equal(got, want) && !memchr(text, '\\', size))
            abort(); /* escapes aside (jansson refuses lone surrogates), both must agree */
        json_decref(got);
        errlist_clear(&errs);
        msgpack_unpacked_destroy(&up);
    } else if (sb.size != 0) {
        abort(); /* a refusal leaves the buffer as it was */
    }
    json_decref(want);
    msgpack_sbuffer_destroy(&sb);
    free(text);
    return 0;
}
