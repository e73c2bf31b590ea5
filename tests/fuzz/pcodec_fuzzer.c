/*
 * pcodec_fuzzer.c - fuzzes the msgpack-RPC decoder (proto/pcodec.c).
 *
 * The first byte chooses how the rest is split into feeds (1 to 256 bytes
 * at a time), so that every split of a frame is tried; small limits make
 * every limit reachable. Each decoded message is packed again with the
 * encoders, whose output must decode to a message of the same kind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcodec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Re-encodes m and checks that it decodes again. */
static void roundtrip(const pcodec_msg *m)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = 0;
    if (m->kind == PCODEC_REQUEST) {
        rc |= pcodec_pack_request(&pk, m->msgid, "m");
        rc |= msgpack_pack_object(&pk, *m->params);
    } else if (m->kind == PCODEC_RESPONSE) {
        rc |= pcodec_pack_response(&pk, m->msgid);
        rc |= msgpack_pack_object(&pk, *m->error);
        rc |= msgpack_pack_object(&pk, *m->result);
    } else {
        rc |= pcodec_pack_notification(&pk, "n");
        rc |= msgpack_pack_object(&pk, *m->params);
    }
    pcodec_decoder *d = pcodec_decoder_new(NULL);
    pcodec_msg again;
    if (rc != 0 || pcodec_feed(d, sb.data, sb.size) < 0 || pcodec_next(d, &again) != 1 ||
        again.kind != m->kind)
        abort();
    pcodec_msg_free(&again);
    pcodec_decoder_free(d);
    msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = (size_t)data[0] + 1;
    pcodec_limits lim = {.frame = 4096, .depth = 8, .elems = 64, .total = 512, .str = 256};
    pcodec_decoder *d = pcodec_decoder_new(&lim);
    for (size_t off = 1; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        if (pcodec_feed(d, data + off, n) < 0)
            break;
        pcodec_msg m;
        int rc;
        while ((rc = pcodec_next(d, &m)) == 1) {
            roundtrip(&m);
            pcodec_msg_free(&m);
        }
        if (rc < 0)
            break;
    }
    pcodec_decoder_free(d);
    return 0;
}
