/*
 * sse_load.c - load client for podiumd's SSE streams (tests/bench/sse.sh).
 *
 * Opens N streams to one challenge on 127.0.0.1 (in waves, so that the
 * listen backlog never overflows), waits until every stream had its first
 * standings event, reads podiumd's RSS, then posts one event that changes
 * the top and measures, per stream, the time from just before the POST to
 * the arrival of the next standings event. Prints p50/p99/max and RSS
 * growth per stream, and stops by itself: every phase has a deadline.
 *
 * One libevent loop, one bufferevent per stream; a stream's bytes are only
 * scanned for "event: standings", so the client costs little per event.
 *
 *   sse_load PORT TOKEN PATH N PID POST_TOKEN POST_BODY
 *
 * TOKEN reads the streams; POST_TOKEN (ingest or admin) posts the event.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WAVE       100 /* streams opened at once: below the listen backlog */
#define PHASE_SECS 60
#define MARKER     "event: standings"
#define MARKER_LEN (sizeof(MARKER) - 1)

struct conn {
    struct bufferevent *bev;
    int seen;       /* standings events seen */
    double arrived; /* seconds, when the event after the POST came */
    char tail[MARKER_LEN];
    size_t ntail;
};

static struct event_base *base;
static struct conn *conns;
static int n, opened, first_seen, second_seen, failed;
static int port;
static const char *token, *path, *post_token;
static double t_post, t_answer;

/* Monotonic seconds. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident set size of pid in KiB (0 if unreadable). */
static long rss_kib(int pid)
{
    char p[64], line[256];
    long kib = 0;
    snprintf(p, sizeof(p), "/proc/%d/status", pid);
    FILE *f = fopen(p, "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* Counts markers in new bytes (with the tail of the previous read). */
static void on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char buf[16384 + MARKER_LEN];
    int got;
    while ((got = evbuffer_remove(in, buf + c->ntail, 16384)) > 0) {
        memcpy(buf, c->tail, c->ntail);
        size_t len = c->ntail + (size_t)got;
        for (char *p = buf; (p = memmem(p, (size_t)(buf + len - p), MARKER, MARKER_LEN));
             p += MARKER_LEN) {
            c->seen++;
            if (c->seen == 1)
                first_seen++;
            if (c->seen == 2) {
                c->arrived = now();
                second_seen++;
            }
        }
        c->ntail = len < MARKER_LEN - 1 ? len : MARKER_LEN - 1;
        memcpy(c->tail, buf + len - c->ntail, c->ntail);
    }
    if (second_seen == n)
        event_base_loopbreak(base);
}

/* A stream failed or was closed by the server. */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    failed++;
    bufferevent_free(bev);
    c->bev = NULL;
}

/* Opens one stream. */
static int open_one(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL)
        return -1;
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ);
    evbuffer_add_printf(bufferevent_get_output(c->bev),
                        "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                        "Authorization: Bearer %s\r\n\r\n",
                        path, token);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -1;
    return 0;
}

/* Runs the loop until cond holds or the deadline passes; false on timeout. */
static int run_until(int *counter, int target, double secs)
{
    double deadline = now() + secs;
    while (*counter + failed < target && now() < deadline) {
        struct timeval tv = {0, 20000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    return *counter >= target;
}

/* Runs the loop for secs. */
static void run_for(double secs)
{
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* Sends the POST on a blocking socket; returns the HTTP status. */
static int post(const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -1;
    char req[2048];
    int len = snprintf(req, sizeof(req),
                       "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                       "%s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s",
                       post_token, strlen(body), body);
    t_post = now();
    if (write(fd, req, (size_t)len) != len) {
        close(fd);
        return -1;
    }
    char resp[64] = "";
    ssize_t r = read(fd, resp, sizeof(resp) - 1);
    t_answer = now();
    close(fd);
    int status = -1;
    if (r > 12)
        sscanf(resp, "HTTP/1.%*d %d", &status);
    return status;
}

/* qsort on doubles. */
static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: sse_load PORT TOKEN PATH N PID POST_TOKEN POST_BODY\n");
        return 2;
    }
    port = atoi(argv[1]);
    token = argv[2];
    path = argv[3];
    n = atoi(argv[4]);
    int pid = atoi(argv[5]);
    post_token = argv[6];
    base = event_base_new();
    conns = calloc((size_t)n, sizeof(*conns));
    if (base == NULL || conns == NULL || n <= 0)
        return 1;
    long rss0 = rss_kib(pid);
    double t0 = now();
    for (opened = 0; opened < n;) {
        int wave = n - opened < WAVE ? n - opened : WAVE;
        for (int i = 0; i < wave; i++)
            if (open_one(&conns[opened + i]) < 0) {
                fprintf(stderr, "cannot open stream %d (raise ulimit -n)\n", opened + i);
                return 1;
            }
        opened += wave;
        if (!run_until(&first_seen, opened, PHASE_SECS) || failed) {
            fprintf(stderr, "only %d of %d streams had their first event (%d failed)\n", first_seen,
                    opened, failed);
            return 1;
        }
    }
    double t_open = now() - t0;
    /* Let the daemon settle (buffers flushed, nothing in flight). */
    run_for(1.5);
    long rss1 = rss_kib(pid);
    int st = post(argv[7]);
    if (st != 200) {
        fprintf(stderr, "the POST answered %d\n", st);
        return 1;
    }
    run_until(&second_seen, n, 10);
    double *lat = calloc((size_t)n, sizeof(*lat));
    int m = 0;
    for (int i = 0; i < n; i++)
        if (conns[i].seen >= 2)
            lat[m++] = (conns[i].arrived - t_post) * 1000;
    qsort(lat, (size_t)m, sizeof(*lat), cmp);
    printf("streams            %d opened in %.1f s, %d got the change, %d failed\n", n, t_open, m,
           failed);
    if (m > 0) {
        printf("latency post->event p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", lat[m / 2],
               lat[(size_t)(m * 0.99) < (size_t)m ? (size_t)(m * 0.99) : (size_t)m - 1],
               lat[m - 1]);
        printf("                   (POST answered after %.1f ms, first stream had it after "
               "%.1f ms)\n",
               (t_answer - t_post) * 1000, lat[0]);
    }
    printf("podiumd RSS        %ld KiB before, %ld KiB with the streams: %.2f KiB per stream\n",
           rss0, rss1, (double)(rss1 - rss0) / n);
    for (int i = 0; i < n; i++)
        if (conns[i].bev)
            bufferevent_free(conns[i].bev);
    free(lat);
    free(conns);
    event_base_free(base);
    return m == n ? 0 : 1;
}
