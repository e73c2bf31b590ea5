/*
 * pcodec.h - Podium's msgpack-RPC codec, shared by podiumd and the C clients.
 *
 * Decoding is feed-then-get, with no socket in sight: pcodec_feed copies
 * bytes in, pcodec_next hands out each complete message. Before a frame
 * is given to msgpack-c, a scanner walks its element headers and checks
 * every declared size against the limits (frame bytes, nesting depth,
 * elements per container and per frame, string length) and against the
 * bytes actually present, so msgpack-c only ever allocates for elements
 * that exist: memory per connection is bounded by the frame limit plus
 * what one feed brings. A decoder that met an error stays failed.
 *
 * Encoding writes through a msgpack_packer the caller sets up (over an
 * sbuffer, an evbuffer or a socket): the helpers write the message head,
 * the caller packs params, error or result. PROTOCOL.md is the contract.
 */
#ifndef PODIUM_PCODEC_H
#define PODIUM_PCODEC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCODEC_PROTOCOL 1 /* the version PROTOCOL.md describes */

#define PCODEC_DEFAULT_FRAME (1u << 20)
#define PCODEC_DEFAULT_DEPTH 16
#define PCODEC_DEFAULT_ELEMS 4096
#define PCODEC_DEFAULT_TOTAL 65536
#define PCODEC_DEFAULT_STR   65536

typedef struct pcodec_limits {
    size_t frame; /* bytes of one message */
    size_t depth; /* nesting of arrays and maps; the message array is depth 1 */
    size_t elems; /* members of one array, pairs of one map */
    size_t total; /* elements of one message, all levels */
    size_t str;   /* bytes of one str, bin or ext */
} pcodec_limits;

typedef enum { PCODEC_REQUEST = 0, PCODEC_RESPONSE = 1, PCODEC_NOTIFICATION = 2 } pcodec_kind;

/* One decoded message. The objects live in the message's own zone until
 * pcodec_msg_free. */
typedef struct pcodec_msg {
    pcodec_kind kind;
    bool has_msgid; /* false for notifications */
    uint32_t msgid;
    const char *method; /* requests and notifications; not NUL-terminated */
    size_t method_len;
    const msgpack_object *params; /* requests and notifications */
    const msgpack_object *error;  /* responses */
    const msgpack_object *result; /* responses */
    void *own_;                   /* the zone and frame copy */
} pcodec_msg;

typedef struct pcodec_decoder pcodec_decoder;

/* The default limits (PCODEC_DEFAULT_*). */
pcodec_limits pcodec_default_limits(void);
/* Creates a decoder; lim NULL takes the defaults (copied). */
pcodec_decoder *pcodec_decoder_new(const pcodec_limits *lim);
/* Frees a decoder; NULL is allowed. */
void pcodec_decoder_free(pcodec_decoder *d);
/* Appends len bytes (copied). Returns -1 once the decoder has failed. */
int pcodec_feed(pcodec_decoder *d, const void *buf, size_t len) __attribute__((warn_unused_result));
/* Takes the next complete message into *m: 1 (the caller frees it with
 * pcodec_msg_free), 0 when more bytes are needed, -1 on malformed input
 * (pcodec_error says why; *m then holds only has_msgid/msgid, when the
 * bad frame was complete enough to carry one). */
int pcodec_next(pcodec_decoder *d, pcodec_msg *m) __attribute__((warn_unused_result));
/* Why the decoder failed, for a person; "" while it has not. */
const char *pcodec_error(const pcodec_decoder *d);
/* Bytes received and not yet handed out as messages (a partial frame). */
size_t pcodec_pending(const pcodec_decoder *d);
/* Frees a message's zone; a zeroed or freed message is allowed. */
void pcodec_msg_free(pcodec_msg *m);

/* Writes the head of a request [0, msgid, method, ...]; params follow. */
int pcodec_pack_request(msgpack_packer *pk, uint32_t msgid, const char *method)
    __attribute__((warn_unused_result));
/* Writes the head of a response [1, msgid, ...] (msgid < 0: nil); the
 * caller packs error and result. */
int pcodec_pack_response(msgpack_packer *pk, int64_t msgid) __attribute__((warn_unused_result));
/* Writes the head of a notification [2, method, ...]; params follow. */
int pcodec_pack_notification(msgpack_packer *pk, const char *method)
    __attribute__((warn_unused_result));
/* Writes an error map {"code", "status", "message"[, "errors": [{"pointer",
 * "message"}]]}; n errors from the two parallel arrays (may be 0/NULL). */
int pcodec_pack_error(msgpack_packer *pk, const char *code, int status, const char *message,
                      size_t n, const char *const *pointers, const char *const *messages)
    __attribute__((warn_unused_result));
/* Writes a NUL-terminated string as str (NULL: nil). */
int pcodec_pack_cstr(msgpack_packer *pk, const char *s) __attribute__((warn_unused_result));

/* The value of map member `key`, or NULL (also when o is not a map). */
const msgpack_object *pcodec_map_get(const msgpack_object *o, const char *key);
/* True if o is a str equal to s. */
bool pcodec_str_eq(const msgpack_object *o, const char *s);

#endif
