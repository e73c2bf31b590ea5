/*
 * podium.c - libpodium's blocking form (podium.h): one request at a time
 * over a plain socket. The request is packed into an sbuffer and written
 * whole; the answer is read until the decoder hands out a message with the
 * request's msgid (a notification meanwhile is dropped).
 */
#include "podium.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct podium {
    int fd;
    uint32_t next_id;
    pcodec_decoder *dec;
};

podium *podium_connect(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char svc[16];
    snprintf(svc, sizeof(svc), "%d", port);
    int rc = getaddrinfo(host, svc, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return NULL;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to %s:%d: %s", host, port, strerror(saved));
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    podium *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->dec = pcodec_decoder_new(NULL)) == NULL) {
        free(p);
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->fd = fd;
    p->next_id = 1;
    return p;
}

void podium_close(podium *p)
{
    if (p == NULL)
        return;
    close(p->fd);
    pcodec_decoder_free(p->dec);
    free(p);
}

/* Packs params, or an empty map. */
static void pack_params(msgpack_packer *pk, podium_pack_fn *params, void *arg)
{
    if (params)
        params(pk, arg);
    else
        msgpack_pack_map(pk, 0);
}

int podium_call(podium *p, const char *method, podium_pack_fn *params, void *arg, pcodec_msg *out,
                char *err, size_t errlen)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint32_t id = p->next_id++;
    memset(out, 0, sizeof(*out));
    if (pcodec_pack_request(&pk, id, method) < 0) {
        msgpack_sbuffer_destroy(&sb);
        snprintf(err, errlen, "cannot pack the request");
        return -1;
    }
    pack_params(&pk, params, arg);
    size_t off = 0;
    while (off < sb.size) {
        ssize_t n = send(p->fd, sb.data + off, sb.size - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "send: %s", strerror(errno));
            msgpack_sbuffer_destroy(&sb);
            return -1;
        }
        off += (size_t)n;
    }
    msgpack_sbuffer_destroy(&sb);
    for (;;) {
        int rc = pcodec_next(p->dec, out);
        if (rc < 0) {
            snprintf(err, errlen, "bad answer: %s", pcodec_error(p->dec));
            return -1;
        }
        if (rc == 1) {
            if (out->kind == PCODEC_RESPONSE && out->has_msgid && out->msgid == id)
                return 0;
            pcodec_msg_free(out); /* a notification, or a stray answer */
            continue;
        }
        char buf[65536];
        ssize_t n = recv(p->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "%s", n == 0 ? "podiumd closed the connection" : strerror(errno));
            return -1;
        }
        if (pcodec_feed(p->dec, buf, (size_t)n) < 0) {
            snprintf(err, errlen, "bad answer: %s", pcodec_error(p->dec));
            return -1;
        }
    }
}

/* Packs {"token": token}. */
static void pack_token(msgpack_packer *pk, void *arg)
{
    msgpack_pack_map(pk, 1);
    if (pcodec_pack_cstr(pk, "token") < 0 || pcodec_pack_cstr(pk, arg) < 0)
        return;
}

int podium_auth(podium *p, const char *token, char *err, size_t errlen)
{
    pcodec_msg m;
    if (podium_call(p, "auth", pack_token, (void *)token, &m, err, errlen) < 0)
        return -1;
    int rc = 0;
    if (m.error && m.error->type != MSGPACK_OBJECT_NIL) {
        const msgpack_object *msg = pcodec_map_get(m.error, "message");
        if (msg && msg->type == MSGPACK_OBJECT_STR)
            snprintf(err, errlen, "%.*s", (int)msg->via.str.size, msg->via.str.ptr);
        else
            snprintf(err, errlen, "auth refused");
        rc = -1;
    }
    pcodec_msg_free(&m);
    return rc;
}
