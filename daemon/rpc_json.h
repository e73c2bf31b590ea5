/*
 * rpc_json.h - between msgpack objects and the JSON the rest of podiumd speaks.
 *
 * The RPC front end reuses the HTTP API's checks and renderings instead of
 * keeping a second copy of them: params become jansson values and go
 * through the same validators (event.c); results rendered as JSON
 * (results.c, boards.c) are packed as msgpack with the same members.
 * JSON has no binary, extension or non-string keys, so those are refused
 * with a JSON Pointer naming them.
 */
#ifndef PODIUM_RPC_JSON_H
#define PODIUM_RPC_JSON_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>

#include "errlist.h"

/* Converts o into a new JSON value, or returns NULL with the first
 * unconvertible member in errs (pointer relative to `at`). */
json_t *rpc_json_from(const msgpack_object *o, const char *at, errlist *errs)
    __attribute__((warn_unused_result));
#define RPC_JSON_DEPTH                                                                             \
    15 /* nesting rpc_json_pack_text accepts: 16 with the message array,                           \
        * the protocol's limit for answers too */

/* Appends JSON text to sb as one msgpack object, in one pass. Returns 0,
 * or -1 (sb as it was) if the text is not one JSON value or nests deeper
 * than RPC_JSON_DEPTH. Meant for JSON podiumd rendered itself. */
int rpc_json_pack_text(msgpack_sbuffer *sb, const char *text, size_t len)
    __attribute__((warn_unused_result));

#endif
