/*
 * podium_async.c - libpodium's libevent form (podium.h): many requests in
 * flight on one bufferevent, answered through callbacks in any order.
 *
 * Requests are packed straight into the bufferevent's output (a
 * msgpack_packer whose write function is evbuffer_add), so a pipelined
 * burst goes out in few writes. Pending requests sit in a ring indexed by
 * msgid modulo PODIUM_ASYNC_MAX: msgids are handed out in order and at
 * most PODIUM_ASYNC_MAX are in flight, so a slot is free when its id comes
 * round again. Input is fed to the codec as it arrives; each complete
 * answer finds its slot by msgid.
 *
 * Losing the connection (EOF, an error, a malformed answer) answers every
 * pending request with NULL, once, and the connection stays failed.
 */
#include "podium.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct slot {
    podium_done_fn *done; /* NULL = free */
    void *arg;
};

struct podium_async {
    struct bufferevent *bev;
    pcodec_decoder *dec;
    msgpack_packer pk;
    podium_notify_fn *on_note;
    void *note_arg;
    struct slot *slots; /* PODIUM_ASYNC_MAX */
    uint32_t next_id;
    size_t inflight;
    bool failed;
};

/* msgpack_packer write function: appends to the bufferevent's output. */
static int pk_write(void *data, const char *buf, size_t len)
{
    return evbuffer_add(bufferevent_get_output(data), buf, len);
}

/* Answers every pending request with NULL and marks the connection failed. */
static void fail_all(podium_async *a)
{
    if (a->failed)
        return;
    a->failed = true;
    for (size_t i = 0; i < PODIUM_ASYNC_MAX && a->inflight > 0; i++) {
        struct slot *s = &a->slots[i];
        if (s->done) {
            podium_done_fn *done = s->done;
            s->done = NULL;
            a->inflight--;
            done(s->arg, NULL);
        }
    }
}

/* Input: feed the codec and dispatch every complete message. */
static void on_read(struct bufferevent *bev, void *arg)
{
    podium_async *a = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    if (len == 0 || a->failed)
        return;
    const unsigned char *data = evbuffer_pullup(in, -1);
    int rc = pcodec_feed(a->dec, data, len);
    evbuffer_drain(in, len);
    if (rc < 0) {
        fail_all(a);
        return;
    }
    pcodec_msg m;
    while ((rc = pcodec_next(a->dec, &m)) == 1) {
        if (m.kind == PCODEC_NOTIFICATION) {
            if (a->on_note)
                a->on_note(a->note_arg, &m);
        } else if (m.kind == PCODEC_RESPONSE && m.has_msgid) {
            struct slot *s = &a->slots[m.msgid % PODIUM_ASYNC_MAX];
            if (s->done) {
                podium_done_fn *done = s->done;
                s->done = NULL;
                a->inflight--;
                done(s->arg, &m);
            }
        }
        pcodec_msg_free(&m);
        if (a->failed)
            return;
    }
    if (rc < 0)
        fail_all(a);
}

/* Connected, EOF or an error. */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    podium_async *a = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        fail_all(a);
}

podium_async *podium_async_new(struct event_base *base, const char *host, int port,
                               podium_notify_fn *on_note, void *note_arg)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        sl = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*v6);
    } else {
        return NULL;
    }
    podium_async *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->slots = calloc(PODIUM_ASYNC_MAX, sizeof(*a->slots));
    a->dec = pcodec_decoder_new(NULL);
    a->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (a->slots == NULL || a->dec == NULL || a->bev == NULL) {
        podium_async_free(a);
        return NULL;
    }
    a->on_note = on_note;
    a->note_arg = note_arg;
    a->next_id = 1;
    msgpack_packer_init(&a->pk, a->bev, pk_write);
    bufferevent_setcb(a->bev, on_read, NULL, on_event, a);
    bufferevent_enable(a->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(a->bev, (struct sockaddr *)&ss, (int)sl) < 0) {
        podium_async_free(a);
        return NULL;
    }
    return a;
}

int podium_async_call(podium_async *a, const char *method, podium_pack_fn *params, void *arg,
                      podium_done_fn *done, void *done_arg)
{
    if (a->failed || a->inflight >= PODIUM_ASYNC_MAX)
        return -1;
    uint32_t id = a->next_id++;
    struct slot *s = &a->slots[id % PODIUM_ASYNC_MAX];
    if (s->done) /* still pending from PODIUM_ASYNC_MAX ids ago */
        return -1;
    if (pcodec_pack_request(&a->pk, id, method) < 0)
        return -1;
    if (params)
        params(&a->pk, arg);
    else
        msgpack_pack_map(&a->pk, 0);
    s->done = done;
    s->arg = done_arg;
    a->inflight++;
    return 0;
}

size_t podium_async_inflight(const podium_async *a)
{
    return a->inflight;
}

bool podium_async_failed(const podium_async *a)
{
    return a->failed;
}

void podium_async_free(podium_async *a)
{
    if (a == NULL)
        return;
    if (a->slots)
        fail_all(a);
    if (a->bev)
        bufferevent_free(a->bev);
    pcodec_decoder_free(a->dec);
    free(a->slots);
    free(a);
}
