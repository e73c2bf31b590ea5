/*
 * podium-bench.c - load generator for podiumd's binary protocol.
 *
 *   podium-bench [--host H] [--port P] --token T [--connections 4]
 *                [--pipeline 64] [--batch 100] [--duration 10] [--leaders 1000]
 *                [--type post] [--method post_events|leaderboard]
 *                [--challenge weekly] [--minimal] [--redis HOST:PORT]
 *
 * Each connection (libpodium's libevent form) keeps `pipeline` requests in
 * flight for `duration` seconds: post_events of `batch` events each, with
 * ids "pb<run>.<connection>.<request>.<k>" spread over `leaders` leaders
 * l0.., or leaderboard reads. Then it waits for what is in flight, and
 * prints requests/s, events/s and the latency percentiles of requests.
 *
 * With --redis, it then reads the org's event log from Redis (XRANGE) and
 * checks that every acknowledged event is there exactly once, and that no
 * event of this run is there twice (those in flight at the end may be
 * there or not). The exit status is 1 when the check fails, or when any
 * request was refused.
 */
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "podium.h"

#define MAX_CONNS 256

static struct {
    const char *host, *token, *type, *method, *challenge, *redis;
    int port, conns, pipeline, batch, leaders;
    double duration;
    bool minimal;
} opt = {"127.0.0.1", NULL, "post", "post_events", "weekly", NULL, 7421,
         4,           64,   100,    1000,          10,       false};

struct conn;

/* One request in flight. */
struct req {
    struct conn *c;
    uint32_t seq;
    struct timespec t0;
};

struct conn {
    int n;
    podium_async *a;
    uint32_t seq;     /* requests sent */
    uint8_t *acked;   /* per request: 1 = acknowledged */
    size_t acked_cap; /* bytes of acked */
};

static struct {
    struct event_base *base;
    struct conn conns[MAX_CONNS];
    uint64_t run;
    bool stopping;
    uint32_t *lat; /* microseconds per answered request */
    size_t nlat, caplat;
    uint64_t events, refused, lost;
    struct timespec start, end;
} b;

/* Seconds between two times. */
static double secs(const struct timespec *a, const struct timespec *z)
{
    return (double)(z->tv_sec - a->tv_sec) + (double)(z->tv_nsec - a->tv_nsec) / 1e9;
}

/* Packs a string; packing into memory fails only when memory does. */
static void put(msgpack_packer *pk, const char *s)
{
    if (pcodec_pack_cstr(pk, s) < 0)
        abort();
}

/* Packs post_events params: a batch of fresh events. */
static void pack_events(msgpack_packer *pk, void *arg)
{
    struct req *r = arg;
    char id[96], leader[32];
    msgpack_pack_map(pk, opt.minimal ? 2 : 1);
    put(pk, "events");
    msgpack_pack_array(pk, (size_t)opt.batch);
    for (int k = 0; k < opt.batch; k++) {
        snprintf(id, sizeof(id), "pb%" PRIu64 ".%d.%" PRIu32 ".%d", b.run, r->c->n, r->seq, k);
        snprintf(leader, sizeof(leader), "l%d",
                 (int)((r->seq * (uint32_t)opt.batch + (uint32_t)k + (uint32_t)r->c->n * 7919u) %
                       (uint32_t)opt.leaders));
        msgpack_pack_map(pk, 3);
        put(pk, "id");
        put(pk, id);
        put(pk, "leader");
        put(pk, leader);
        put(pk, "type");
        put(pk, opt.type);
    }
    if (opt.minimal) {
        put(pk, "minimal");
        msgpack_pack_true(pk);
    }
}

/* Packs leaderboard params. */
static void pack_board(msgpack_packer *pk, void *arg)
{
    (void)arg;
    msgpack_pack_map(pk, 2);
    put(pk, "challenge");
    put(pk, opt.challenge);
    put(pk, "limit");
    msgpack_pack_int(pk, 10);
}

static void send_one(struct conn *c);

/* An answer: record it, and keep the pipeline full. */
static void on_answer(void *arg, const pcodec_msg *m)
{
    struct req *r = arg;
    struct conn *c = r->c;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (m == NULL) {
        b.lost++;
    } else if (m->error && m->error->type != MSGPACK_OBJECT_NIL) {
        if (b.refused++ < 3) {
            const msgpack_object *msg = pcodec_map_get(m->error, "message");
            fprintf(stderr, "podium-bench: refused: %.*s\n",
                    msg && msg->type == MSGPACK_OBJECT_STR ? (int)msg->via.str.size : 1,
                    msg && msg->type == MSGPACK_OBJECT_STR ? msg->via.str.ptr : "?");
        }
    } else {
        if (b.nlat == b.caplat) {
            b.caplat = b.caplat ? 2 * b.caplat : 1 << 16;
            b.lat = realloc(b.lat, b.caplat * sizeof(*b.lat));
            if (b.lat == NULL)
                abort();
        }
        b.lat[b.nlat++] = (uint32_t)(secs(&r->t0, &now) * 1e6);
        if (strcmp(opt.method, "post_events") == 0) {
            b.events += (uint64_t)opt.batch;
            c->acked[r->seq] = 1; /* send_one made room */
        }
    }
    free(r);
    if (!b.stopping && m != NULL)
        send_one(c);
    else if (b.stopping) {
        size_t left = 0;
        for (int i = 0; i < opt.conns; i++)
            left += podium_async_inflight(b.conns[i].a);
        if (left == 0)
            event_base_loopbreak(b.base);
    }
}

/* Sends the next request of a connection. */
static void send_one(struct conn *c)
{
    struct req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    r->c = c;
    r->seq = c->seq++;
    if (r->seq >= c->acked_cap) {
        size_t cap = c->acked_cap ? 2 * c->acked_cap : 1 << 16;
        c->acked = realloc(c->acked, cap);
        if (c->acked == NULL)
            abort();
        memset(c->acked + c->acked_cap, 0, cap - c->acked_cap);
        c->acked_cap = cap;
    }
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    bool post = strcmp(opt.method, "post_events") == 0;
    if (podium_async_call(c->a, opt.method, post ? pack_events : pack_board, r, on_answer, r) < 0) {
        free(r);
        b.lost++;
    }
}

/* Answer to auth: refusals end the run. */
static void on_auth(void *arg, const pcodec_msg *m)
{
    (void)arg;
    if (m == NULL || (m->error && m->error->type != MSGPACK_OBJECT_NIL)) {
        fprintf(stderr, "podium-bench: auth %s\n", m ? "refused" : "failed: connection lost");
        exit(1);
    }
}

/* Packs {"token": ...}. */
static void pack_token(msgpack_packer *pk, void *arg)
{
    (void)arg;
    msgpack_pack_map(pk, 1);
    put(pk, "token");
    put(pk, opt.token);
}

/* The end of the run: stop sending, wait for answers (10 s at most). */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (!b.stopping) {
        b.stopping = true;
        clock_gettime(CLOCK_MONOTONIC, &b.end);
        struct timeval tv = {10, 0};
        event_base_loopexit(b.base, &tv);
        size_t left = 0;
        for (int i = 0; i < opt.conns; i++)
            left += podium_async_inflight(b.conns[i].a);
        if (left == 0)
            event_base_loopbreak(b.base);
    }
}

/* Compares two latencies for qsort. */
static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;
    return a < c ? -1 : a > c;
}

/* Latency percentile p (0..1) in ms. */
static double pct(double p)
{
    if (b.nlat == 0)
        return 0;
    size_t i = (size_t)(p * (double)(b.nlat - 1));
    return b.lat[i] / 1000.0;
}

/* Reads the event log from Redis and checks exactly-once; returns 0 when
 * every acknowledged event is there once and none is there twice. */
static int check_log(void)
{
    char host[256];
    int port = 6379;
    snprintf(host, sizeof(host), "%s", opt.redis);
    char *colon = strrchr(host, ':');
    if (colon) {
        *colon = '\0';
        port = atoi(colon + 1);
    }
    redisContext *rc = redisConnect(host, port);
    if (rc == NULL || rc->err) {
        fprintf(stderr, "podium-bench: redis %s: %s\n", opt.redis, rc ? rc->errstr : "no memory");
        return 1;
    }
    /* count[conn][seq * batch + k] */
    uint8_t *count[MAX_CONNS] = {0};
    for (int i = 0; i < opt.conns; i++) {
        count[i] = calloc((size_t)b.conns[i].seq * (size_t)opt.batch + 1, 1);
        if (count[i] == NULL)
            abort();
    }
    char prefix[64], cursor[64] = "-";
    int plen = snprintf(prefix, sizeof(prefix), "\"id\":\"pb%" PRIu64 ".", b.run);
    uint64_t seen = 0, twice = 0, entries = 0;
    for (;;) {
        redisReply *r = redisCommand(rc, "XRANGE podium:{default}:events %s + COUNT 200", cursor);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "podium-bench: XRANGE failed\n");
            return 1;
        }
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *e = r->element[i], *f = e->element[1];
            snprintf(cursor, sizeof(cursor), "(%s", e->element[0]->str);
            entries++;
            for (size_t k = 0; k + 1 < f->elements; k += 2) {
                if (strcmp(f->element[k]->str, "e") != 0)
                    continue;
                const char *id = strstr(f->element[k + 1]->str, prefix);
                int cn, kk;
                unsigned seq;
                if (id == NULL || sscanf(id + plen, "%d.%u.%d", &cn, &seq, &kk) != 3 || cn < 0 ||
                    cn >= opt.conns || seq >= b.conns[cn].seq || kk < 0 || kk >= opt.batch)
                    continue;
                uint8_t *c = &count[cn][(size_t)seq * (size_t)opt.batch + (size_t)kk];
                if (*c == 1)
                    twice++;
                if (*c < 255)
                    (*c)++;
                seen++;
            }
        }
        size_t n = r->elements;
        freeReplyObject(r);
        if (n < 200)
            break;
    }
    redisFree(rc);
    uint64_t acked = 0, missing = 0;
    for (int i = 0; i < opt.conns; i++) {
        for (uint32_t s = 0; s < b.conns[i].seq; s++) {
            if (!b.conns[i].acked[s])
                continue;
            for (int k = 0; k < opt.batch; k++) {
                acked++;
                missing += count[i][(size_t)s * (size_t)opt.batch + (size_t)k] == 0;
            }
        }
        free(count[i]);
    }
    printf("exactly-once check: %" PRIu64 " acknowledged events; %" PRIu64
           " of this run in the log (%" PRIu64 " entries read); missing %" PRIu64 ", twice %" PRIu64
           ": %s\n",
           acked, seen, entries, missing, twice, missing == 0 && twice == 0 ? "ok" : "FAILED");
    return missing == 0 && twice == 0 ? 0 : 1;
}

/* Prints usage and exits. */
static void usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: podium-bench --token TOKEN [--host 127.0.0.1] [--port 7421]\n"
            "       [--connections 4] [--pipeline 64] [--batch 100] [--duration 10]\n"
            "       [--leaders 1000] [--type post] [--method post_events|leaderboard]\n"
            "       [--challenge weekly] [--minimal] [--redis HOST:PORT]\n");
    exit(status);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && ++i)
        if (strcmp(a, "--help") == 0)
            usage(0);
        else if (strcmp(a, "--minimal") == 0)
            opt.minimal = true;
        else if (OPT("--host"))
            opt.host = v;
        else if (OPT("--port"))
            opt.port = atoi(v);
        else if (OPT("--token"))
            opt.token = v;
        else if (OPT("--connections"))
            opt.conns = atoi(v);
        else if (OPT("--pipeline"))
            opt.pipeline = atoi(v);
        else if (OPT("--batch"))
            opt.batch = atoi(v);
        else if (OPT("--duration"))
            opt.duration = atof(v);
        else if (OPT("--leaders"))
            opt.leaders = atoi(v);
        else if (OPT("--type"))
            opt.type = v;
        else if (OPT("--method"))
            opt.method = v;
        else if (OPT("--challenge"))
            opt.challenge = v;
        else if (OPT("--redis"))
            opt.redis = v;
        else
            usage(1);
#undef OPT
    }
    if (opt.token == NULL || opt.conns < 1 || opt.conns > MAX_CONNS || opt.pipeline < 1 ||
        opt.pipeline > 1024 || opt.batch < 1 || opt.batch > 1000 || opt.duration <= 0 ||
        opt.leaders < 1 ||
        (strcmp(opt.method, "post_events") != 0 && strcmp(opt.method, "leaderboard") != 0))
        usage(1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    b.run = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    b.base = event_base_new();
    for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &b.conns[i];
        c->n = i;
        c->a = podium_async_new(b.base, opt.host, opt.port, NULL, NULL);
        if (c->a == NULL) {
            fprintf(stderr, "podium-bench: cannot connect to %s:%d\n", opt.host, opt.port);
            return 1;
        }
        if (podium_async_call(c->a, "auth", pack_token, NULL, on_auth, NULL) < 0)
            return 1;
        for (int k = 0; k < opt.pipeline; k++)
            send_one(c);
    }
    struct event *stop = evtimer_new(b.base, on_stop, NULL);
    struct timeval tv = {(time_t)opt.duration, (suseconds_t)(fmod(opt.duration, 1) * 1e6)};
    evtimer_add(stop, &tv);
    clock_gettime(CLOCK_MONOTONIC, &b.start);
    event_base_dispatch(b.base);
    double t = secs(&b.start, &b.end);
    qsort(b.lat, b.nlat, sizeof(*b.lat), cmp_u32);
    bool post = strcmp(opt.method, "post_events") == 0;
    printf("%s: %d connections, pipeline %d, %.1f s\n", opt.method, opt.conns, opt.pipeline, t);
    if (post)
        printf("  %d events per request%s\n", opt.batch, opt.minimal ? ", minimal (no ranks)" : "");
    printf("  %.0f requests/s", (double)b.nlat / t);
    if (post)
        printf(", %.0f events/s", (double)b.events / t);
    printf("\n  latency ms: p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", pct(0.5),
           pct(0.9), pct(0.99), pct(0.999), b.nlat ? b.lat[b.nlat - 1] / 1000.0 : 0);
    if (b.refused || b.lost)
        printf("  refused %" PRIu64 ", lost %" PRIu64 "\n", b.refused, b.lost);
    int status = b.refused || b.lost ? 1 : 0;
    for (int i = 0; i < opt.conns; i++)
        podium_async_free(b.conns[i].a);
    event_free(stop);
    event_base_free(b.base);
    if (opt.redis && post && check_log() != 0)
        status = 1;
    for (int i = 0; i < opt.conns; i++)
        free(b.conns[i].acked);
    free(b.lat);
    return status;
}
