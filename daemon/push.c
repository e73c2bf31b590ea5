/*
 * push.c - announcing board changes on the org's channel, and listening.
 *
 * Sending. push_note adds a board to `pending` (one line per board, the
 * highest version noted). The first note after a quiet spell is published
 * at once; later ones wait until PUSH_WINDOW_MS after the previous PUBLISH,
 * so a busy daemon sends at most 1000 / PUSH_WINDOW_MS messages a second
 * whatever its event rate, and a quiet one adds no delay. A PUBLISH that
 * fails (Redis away) is not retried: every listener also checks the
 * versions of the boards it watches (sse.c), which covers lost messages.
 *
 * Receiving. Every message line is parsed on its own; "board" lines go to
 * boards_learn_version (which tells the listener of the read cache when
 * the version is news), "closed" lines and resubscriptions to the handlers.
 * A daemon hears its own announcements too; they are not news to it.
 */
#include "push.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"
#include "keys.h"
#include "log.h"
#include "store.h"
#include "util.h"

struct line {
    char board[128];
    int64_t version;
};

struct push {
    store *st;
    boards *bc;
    push_handlers h;
    char org[64];
    char channel[KEYS_MAX];
    store_sub *sub;
    struct event *timer;
    bool armed;
    int64_t last_ms;      /* when the last PUBLISH was sent */
    int64_t quiet_ms;     /* nobody heard the last one: nothing is sent before this */
    struct line *pending; /* grown as boards are noted, up to PUSH_MAX_LINES */
    size_t npending, cap;
};

/* PUBLISH reply: how many heard it. Nobody: wait PUSH_QUIET_MS before the
 * next; a failure is covered by the version checks. */
static void on_published(void *arg, const store_reply *r)
{
    push *p = arg;
    if (r != NULL && !store_reply_is_error(r) && store_reply_int(r) == 0)
        p->quiet_ms = util_now_ms() + PUSH_QUIET_MS;
}

/* Sends every pending line as one message. */
static void publish(push *p)
{
    if (p->npending == 0)
        return;
    size_t cap = p->npending * (sizeof(p->pending->board) + 32), n = 0;
    char *msg = malloc(cap);
    if (msg == NULL)
        abort();
    for (size_t i = 0; i < p->npending; i++)
        n += (size_t)snprintf(msg + n, cap - n, "%sboard %s %" PRId64, i ? "\n" : "",
                              p->pending[i].board, p->pending[i].version);
    p->npending = 0;
    p->last_ms = util_now_ms();
    const char *argv[] = {"PUBLISH", p->channel, msg};
    size_t lens[] = {7, strlen(p->channel), n};
    if (store_command(p->st, on_published, p, 3, argv, lens) < 0)
        log_debug("push: Redis not ready; the announcement is dropped");
    free(msg);
}

/* Window timer: publish what gathered. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    push *p = arg;
    p->armed = false;
    publish(p);
}

void push_note(push *p, const char *board, int64_t version)
{
    if (p == NULL || board == NULL || strlen(board) >= sizeof(p->pending->board))
        return;
    if (p->npending == 0 && util_now_ms() < p->quiet_ms)
        return; /* nobody listened lately: not even a timer for it */
    size_t i = 0;
    while (i < p->npending && strcmp(p->pending[i].board, board) != 0)
        i++;
    if (i == p->npending && i == p->cap) { /* an org that writes few boards keeps a small list */
        p->cap = p->cap ? 2 * p->cap : 4;
        p->pending = realloc(p->pending, p->cap * sizeof(*p->pending));
        if (p->pending == NULL)
            abort();
    }
    if (i == p->npending) {
        snprintf(p->pending[i].board, sizeof(p->pending[i].board), "%s", board);
        p->pending[i].version = version;
        p->npending++;
    } else if (version > p->pending[i].version) {
        p->pending[i].version = version;
    }
    if (p->armed && p->npending < PUSH_MAX_LINES)
        return;
    int64_t now = util_now_ms();
    int64_t wait = p->last_ms + PUSH_WINDOW_MS - now;
    if (p->quiet_ms - now > wait)
        wait = p->quiet_ms - now; /* nobody listened lately */
    if (wait <= 0 || p->npending >= PUSH_MAX_LINES) {
        if (p->armed) {
            evtimer_del(p->timer);
            p->armed = false;
        }
        publish(p);
        return;
    }
    struct timeval tv = {0, (suseconds_t)(wait * 1000)};
    evtimer_add(p->timer, &tv);
    p->armed = true;
}

bool push_parse_line(const char *line, size_t len, char *kind, size_t kindlen, char *a, size_t alen,
                     char *b, size_t blen)
{
    const char *end = line + len, *w[3];
    size_t wl[3];
    const char *c = line;
    for (int i = 0; i < 3; i++) {
        while (c < end && *c == ' ')
            c++;
        w[i] = c;
        while (c < end && *c != ' ' && *c != '\r')
            c++;
        wl[i] = (size_t)(c - w[i]);
        if (wl[i] == 0)
            return false;
    }
    while (c < end && (*c == ' ' || *c == '\r'))
        c++;
    if (c != end || wl[0] >= kindlen || wl[1] >= alen || wl[2] >= blen)
        return false;
    if (!((wl[0] == 5 && memcmp(w[0], "board", 5) == 0) ||
          (wl[0] == 6 && memcmp(w[0], "closed", 6) == 0)))
        return false;
    memcpy(kind, w[0], wl[0]);
    kind[wl[0]] = '\0';
    memcpy(a, w[1], wl[1]);
    a[wl[1]] = '\0';
    memcpy(b, w[2], wl[2]);
    b[wl[2]] = '\0';
    return true;
}

/* A message on the channel, or NULL after each (re)subscription. */
static void on_message(void *arg, const char *msg, size_t len)
{
    push *p = arg;
    if (msg == NULL) {
        if (p->h.resync)
            p->h.resync(p->h.arg);
        return;
    }
    for (const char *c = msg, *end = msg + len; c < end;) {
        const char *nl = memchr(c, '\n', (size_t)(end - c));
        size_t n = nl ? (size_t)(nl - c) : (size_t)(end - c);
        char kind[8], x[KEYS_MAX], y[KEYS_MAX];
        int64_t v;
        if (!push_parse_line(c, n, kind, sizeof(kind), x, sizeof(x), y, sizeof(y))) {
            log_debug("push: ignored a line of %zu bytes that is not board or closed", n);
        } else if (kind[0] == 'b') {
            if (util_parse_i64(y, 0, INT64_MAX, &v))
                boards_learn_version(p->bc, p->org, x, v);
        } else if (p->h.closed && util_valid_id(x)) {
            p->h.closed(p->h.arg, p->org, x, y);
        }
        c += n + 1;
    }
}

push *push_new(struct event_base *base, store *st, boards *bc, const char *org,
               const push_handlers *h)
{
    push *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->st = st;
    p->bc = bc;
    p->h = *h;
    snprintf(p->org, sizeof(p->org), "%s", org);
    keys_push_channel(p->channel, org);
    p->timer = evtimer_new(base, on_timer, p);
    if (p->timer == NULL) {
        push_free(p);
        return NULL;
    }
    return p;
}

void push_listen(push *p, bool on)
{
    if (on && p->sub == NULL) {
        p->sub = store_subscribe(p->st, p->channel, on_message, p);
    } else if (!on && p->sub) {
        store_unsubscribe(p->sub);
        p->sub = NULL;
    }
}

void push_free(push *p)
{
    if (p == NULL)
        return;
    store_unsubscribe(p->sub);
    if (p->timer)
        event_free(p->timer);
    free(p->pending);
    free(p);
}
