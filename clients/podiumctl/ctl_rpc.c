/*
 * ctl_rpc.c - podiumctl's reads over msgpack-RPC (ctl_rpc.h), with
 * libpodium's blocking form: one connection per command, auth, one call.
 */
#include "ctl_rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "podium.h"

/* Packs a JSON value as msgpack. */
static void pack_json(msgpack_packer *pk, const json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        msgpack_pack_map(pk, json_object_size(v));
        json_object_foreach((json_t *)v, k, x)
        {
            msgpack_pack_str(pk, strlen(k));
            msgpack_pack_str_body(pk, k, strlen(k));
            pack_json(pk, x);
        }
        break;
    case JSON_ARRAY:
        msgpack_pack_array(pk, json_array_size(v));
        json_array_foreach(v, i, x) pack_json(pk, x);
        break;
    case JSON_STRING:
        msgpack_pack_str(pk, json_string_length(v));
        msgpack_pack_str_body(pk, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(v));
        break;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(v));
        break;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        break;
    default:
        msgpack_pack_nil(pk);
    }
}

/* The params packer of podium_call. */
static void pack_params(msgpack_packer *pk, void *arg)
{
    if (arg)
        pack_json(pk, arg);
    else
        msgpack_pack_map(pk, 0);
}

/* A msgpack object as a JSON value (caller owns). */
static json_t *to_json(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR)
                continue;
            char *k = strndup(kv->key.via.str.ptr, kv->key.via.str.size);
            json_object_set_new(m, k ? k : "", to_json(&kv->val));
            free(k);
        }
        return m;
    }
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++)
            json_array_append_new(a, to_json(&o->via.array.ptr[i]));
        return a;
    }
    case MSGPACK_OBJECT_STR:
        return json_stringn(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    default:
        return json_null();
    }
}

json_t *ctl_rpc_call(const char *hostport, const char *token, const char *method,
                     const json_t *params, long *status, json_t **error, char *err, size_t errlen)
{
    char host[256];
    *status = 0;
    *error = NULL;
    snprintf(host, sizeof(host), "%s", hostport);
    char *colon = strrchr(host, ':');
    if (colon == NULL) {
        snprintf(err, errlen, "--rpc wants HOST:PORT, got %s", hostport);
        return NULL;
    }
    *colon = '\0';
    int port = atoi(colon + 1);
    char *h = host;
    if (h[0] == '[' && colon > h && colon[-1] == ']') { /* [::1]:7421 */
        colon[-1] = '\0';
        h++;
    }
    podium *p = podium_connect(h, port, err, errlen);
    if (p == NULL)
        return NULL;
    pcodec_msg m;
    json_t *result = NULL;
    if (token && *token && podium_auth(p, token, err, errlen) < 0) {
        *status = 401;
        podium_close(p);
        return NULL;
    }
    if (podium_call(p, method, pack_params, (void *)params, &m, err, errlen) < 0) {
        podium_close(p);
        return NULL;
    }
    if (m.error && m.error->type != MSGPACK_OBJECT_NIL) {
        *error = to_json(m.error);
        *status = (long)json_integer_value(json_object_get(*error, "status"));
        snprintf(err, errlen, "%s",
                 json_string_value(json_object_get(*error, "message"))
                     ? json_string_value(json_object_get(*error, "message"))
                     : "refused");
    } else if (m.result) {
        result = to_json(m.result);
        *status = 200;
    }
    pcodec_msg_free(&m);
    podium_close(p);
    return result;
}
