/*
 * rpc_json.c - msgpack objects to jansson values and back.
 *
 * Conversion is recursive; depth is bounded by the codec's limit (16), so
 * the C stack is too. Map keys must be strings and strings UTF-8, as in
 * JSON; positive integers above INT64_MAX, bin and ext are refused.
 * Floats stay floats both ways, so a value reads the same through HTTP.
 */
#include "rpc_json.h"

#include <stdio.h>
#include <string.h>

/* Appends "/key" to a pointer, escaping '~' and '/' (RFC 6901). */
static void pointer_add(char *dst, size_t cap, const char *at, const char *key, size_t klen)
{
    size_t n = (size_t)snprintf(dst, cap, "%s/", at);
    for (size_t i = 0; i < klen && n + 3 < cap; i++) {
        if (key[i] == '~' || key[i] == '/') {
            dst[n++] = '~';
            dst[n++] = key[i] == '~' ? '0' : '1';
        } else {
            dst[n++] = key[i];
        }
    }
    dst[n < cap ? n : cap - 1] = '\0';
}

json_t *rpc_json_from(const msgpack_object *o, const char *at, errlist *errs)
{
    char ptr[256];
    json_t *v = NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX)
            break;
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        v = json_stringn(o->via.str.ptr, o->via.str.size);
        if (v == NULL)
            errlist_add(errs, at, "must be UTF-8 text");
        return v;
    case MSGPACK_OBJECT_ARRAY:
        v = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            snprintf(ptr, sizeof(ptr), "%s/%u", at, i);
            json_t *item = rpc_json_from(&o->via.array.ptr[i], ptr, errs);
            if (item == NULL) {
                json_decref(v);
                return NULL;
            }
            json_array_append_new(v, item);
        }
        return v;
    case MSGPACK_OBJECT_MAP:
        v = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (k->type != MSGPACK_OBJECT_STR || memchr(k->via.str.ptr, 0, k->via.str.size)) {
                json_decref(v);
                errlist_add(errs, at, "map keys must be strings");
                return NULL;
            }
            pointer_add(ptr, sizeof(ptr), at, k->via.str.ptr, k->via.str.size);
            json_t *key = json_stringn(k->via.str.ptr, k->via.str.size);
            if (key == NULL) {
                json_decref(v);
                errlist_add(errs, ptr, "member names must be UTF-8 text");
                return NULL;
            }
            json_decref(key);
            if (json_object_getn(v, k->via.str.ptr, k->via.str.size)) {
                json_decref(v);
                errlist_add(errs, ptr, "is given twice");
                return NULL;
            }
            json_t *item = rpc_json_from(&o->via.map.ptr[i].val, ptr, errs);
            if (item == NULL) {
                json_decref(v);
                return NULL;
            }
            json_object_setn_new_nocheck(v, k->via.str.ptr, k->via.str.size, item);
        }
        return v;
    default:
        break;
    }
    errlist_add(errs, at,
                "must be a value JSON can hold (no binary, extension or integer "
                "above 2^63-1)");
    return NULL;
}

int rpc_json_pack(msgpack_packer *pk, const json_t *v)
{
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_NULL:
        return msgpack_pack_nil(pk);
    case JSON_TRUE:
        return msgpack_pack_true(pk);
    case JSON_FALSE:
        return msgpack_pack_false(pk);
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, (int64_t)json_integer_value(v));
    case JSON_REAL:
        return msgpack_pack_double(pk, json_real_value(v));
    case JSON_STRING:
        rc |= msgpack_pack_str(pk, json_string_length(v));
        rc |= msgpack_pack_str_body(pk, json_string_value(v), json_string_length(v));
        return rc ? -1 : 0;
    case JSON_ARRAY:
        rc |= msgpack_pack_array(pk, json_array_size(v));
        for (size_t i = 0; i < json_array_size(v) && rc == 0; i++)
            rc |= rpc_json_pack(pk, json_array_get(v, i));
        return rc ? -1 : 0;
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *val;
        rc |= msgpack_pack_map(pk, json_object_size(v));
        json_object_keylen_foreach((json_t *)v, key, klen, val)
        {
            rc |= msgpack_pack_str(pk, klen);
            rc |= msgpack_pack_str_body(pk, key, klen);
            rc |= rpc_json_pack(pk, val);
        }
        return rc ? -1 : 0;
    }
    }
    return -1;
}

int rpc_json_pack_text(msgpack_packer *pk, const char *text, size_t len)
{
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (v == NULL)
        return -1;
    int rc = rpc_json_pack(pk, v);
    json_decref(v);
    return rc;
}
