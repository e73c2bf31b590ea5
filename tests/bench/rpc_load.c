/*
 * rpc_load.c - a pipelined msgpack-RPC load generator for podiumd (a stopgap
 * until podium-bench): C connections, each keeping `depth` requests in
 * flight, each request `batch` events (post_events) or one leaderboard read.
 *
 *   rpc_load PORT TOKEN CONNS DEPTH BATCH SECONDS LEADERS MODE
 *   MODE: post (with ranks), minimal (post without ranks), read (top 10)
 *
 * One thread per connection, blocking sockets: write `depth` requests, then
 * send one more for each answer read. Prints requests/s, events/s, latency
 * percentiles and the count of events acknowledged as new (not duplicate),
 * which tests/bench/rpc.sh compares with Redis (exactly once). Uses the
 * shared codec (proto/pcodec.c) to read answers.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pcodec.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if ((x) < 0)                                                                               \
            exit(1);                                                                               \
    } while (0)

static int port, depth, batch, secs, leaders;
static const char *token, *mode;

struct worker {
    pthread_t th;
    int id;
    long long reqs, events, fresh, errors;
    double *lat; /* ms per answered request */
    size_t nlat, caplat;
};

/* Monotonic time in seconds. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes all of buf or exits. */
static void write_all(int fd, const char *buf, size_t n)
{
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w <= 0) {
            perror("write");
            exit(1);
        }
        buf += w;
        n -= (size_t)w;
    }
}

/* Packs request msgid of worker w into sb. */
static void pack_one(struct worker *w, msgpack_sbuffer *sb, uint32_t msgid, long long *seq)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    if (strcmp(mode, "read") == 0) {
        if (pcodec_pack_request(&pk, msgid, "leaderboard") < 0)
            exit(1);
        msgpack_pack_map(&pk, 1);
        CHECK(pcodec_pack_cstr(&pk, "challenge"));
        CHECK(pcodec_pack_cstr(&pk, "weekly"));
        return;
    }
    if (pcodec_pack_request(&pk, msgid, "post_events") < 0)
        exit(1);
    bool minimal = strcmp(mode, "minimal") == 0;
    msgpack_pack_map(&pk, minimal ? 2 : 1);
    CHECK(pcodec_pack_cstr(&pk, "events"));
    msgpack_pack_array(&pk, (size_t)batch);
    for (int i = 0; i < batch; i++) {
        char id[64], leader[16];
        long long n = (*seq)++;
        snprintf(id, sizeof(id), "r%d-%d-%lld", (int)getpid(), w->id, n);
        snprintf(leader, sizeof(leader), "l%lld", (n * 7919 + w->id) % leaders);
        msgpack_pack_map(&pk, 3);
        CHECK(pcodec_pack_cstr(&pk, "id"));
        CHECK(pcodec_pack_cstr(&pk, id));
        CHECK(pcodec_pack_cstr(&pk, "leader"));
        CHECK(pcodec_pack_cstr(&pk, leader));
        CHECK(pcodec_pack_cstr(&pk, "type"));
        CHECK(pcodec_pack_cstr(&pk, "reply"));
    }
    if (minimal) {
        CHECK(pcodec_pack_cstr(&pk, "minimal"));
        msgpack_pack_true(&pk);
    }
}

/* Counts the fresh (not duplicate) results of a post_events answer. */
static long long fresh_of(const msgpack_object *result)
{
    const msgpack_object *rs = pcodec_map_get(result, "results");
    long long n = 0;
    if (rs == NULL || rs->type != MSGPACK_OBJECT_ARRAY)
        return 0;
    for (uint32_t i = 0; i < rs->via.array.size; i++) {
        const msgpack_object *d = pcodec_map_get(&rs->via.array.ptr[i], "duplicate");
        n += d && d->type == MSGPACK_OBJECT_BOOLEAN && !d->via.boolean;
    }
    return n;
}

/* One connection's loop. */
static void *run(void *arg)
{
    struct worker *w = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(0x7f000001)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pcodec_limits lim = pcodec_default_limits();
    lim.frame = 64u << 20;
    lim.elems = 100000;
    lim.total = 10000000;
    pcodec_decoder *d = pcodec_decoder_new(&lim);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (pcodec_pack_request(&pk, 0, "auth") < 0)
        exit(1);
    msgpack_pack_map(&pk, 1);
    CHECK(pcodec_pack_cstr(&pk, "token"));
    CHECK(pcodec_pack_cstr(&pk, token));
    write_all(fd, sb.data, sb.size);
    msgpack_sbuffer_clear(&sb);
    double *sent = calloc((size_t)depth + 1, sizeof(double));
    long long seq = 0;
    uint32_t next = 1;
    for (int i = 0; i < depth; i++) {
        uint32_t id = next++;
        pack_one(w, &sb, id, &seq);
        sent[id % (uint32_t)depth] = now_s();
    }
    write_all(fd, sb.data, sb.size);
    msgpack_sbuffer_clear(&sb);
    double end = now_s() + secs;
    size_t outstanding = (size_t)depth + 1;
    char buf[1 << 16];
    bool stopping = false;
    while (outstanding > 0) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r <= 0) {
            fprintf(stderr, "connection %d closed\n", w->id);
            break;
        }
        if (pcodec_feed(d, buf, (size_t)r) < 0)
            exit(1);
        pcodec_msg m;
        int rc;
        double t = now_s();
        if (t > end)
            stopping = true;
        while ((rc = pcodec_next(d, &m)) == 1) {
            outstanding--;
            if (m.msgid == 0) { /* auth */
                if (m.error->type != MSGPACK_OBJECT_NIL) {
                    fprintf(stderr, "auth refused\n");
                    exit(1);
                }
                pcodec_msg_free(&m);
                continue;
            }
            if (m.error->type != MSGPACK_OBJECT_NIL) {
                w->errors++;
            } else {
                w->reqs++;
                if (strcmp(mode, "read") != 0) {
                    w->events += batch;
                    w->fresh += fresh_of(m.result);
                }
            }
            if (w->nlat == w->caplat) {
                w->caplat = w->caplat ? 2 * w->caplat : 4096;
                w->lat = realloc(w->lat, w->caplat * sizeof(double));
            }
            w->lat[w->nlat++] = (t - sent[m.msgid % (uint32_t)depth]) * 1000;
            pcodec_msg_free(&m);
            if (!stopping) {
                uint32_t id = next++;
                pack_one(w, &sb, id, &seq);
                sent[id % (uint32_t)depth] = t;
                outstanding++;
            }
        }
        if (rc < 0) {
            fprintf(stderr, "bad answer: %s\n", pcodec_error(d));
            exit(1);
        }
        if (sb.size) {
            write_all(fd, sb.data, sb.size);
            msgpack_sbuffer_clear(&sb);
        }
    }
    close(fd);
    free(sent);
    msgpack_sbuffer_destroy(&sb);
    pcodec_decoder_free(d);
    return NULL;
}

/* qsort comparator of doubles. */
static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: rpc_load PORT TOKEN CONNS DEPTH BATCH SECONDS LEADERS "
                        "post|minimal|read\n");
        return 2;
    }
    port = atoi(argv[1]);
    token = argv[2];
    int conns = atoi(argv[3]);
    depth = atoi(argv[4]);
    batch = atoi(argv[5]);
    secs = atoi(argv[6]);
    leaders = atoi(argv[7]);
    mode = argv[8];
    struct worker *ws = calloc((size_t)conns, sizeof(*ws));
    double t0 = now_s();
    for (int i = 0; i < conns; i++) {
        ws[i].id = i;
        pthread_create(&ws[i].th, NULL, run, &ws[i]);
    }
    long long reqs = 0, events = 0, fresh = 0, errors = 0;
    size_t nlat = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(ws[i].th, NULL);
        reqs += ws[i].reqs;
        events += ws[i].events;
        fresh += ws[i].fresh;
        errors += ws[i].errors;
        nlat += ws[i].nlat;
    }
    double el = now_s() - t0;
    double *all = malloc((nlat ? nlat : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(all + k, ws[i].lat, ws[i].nlat * sizeof(double));
        k += ws[i].nlat;
        free(ws[i].lat);
    }
    qsort(all, nlat, sizeof(double), cmp);
    printf("%-8s conns %d depth %d batch %d: %.0f requests/s, %.0f events/s, p50 %.2f ms, "
           "p99 %.2f ms, errors %lld, fresh %lld\n",
           mode, conns, depth, batch, (double)reqs / el, (double)events / el,
           nlat ? all[nlat / 2] : 0, nlat ? all[nlat * 99 / 100] : 0, errors, fresh);
    free(all);
    free(ws);
    return errors ? 1 : 0;
}
