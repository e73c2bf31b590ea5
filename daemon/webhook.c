/*
 * webhook.c - the webhook outbox's producer side (enqueue) and delivery
 * engine (poll, claim, send, report).
 *
 * The outbox lives in Redis, one per org (keys.h, outbox.lua); this module
 * keeps no delivery state that matters past a crash. Its loop:
 *
 *   due index "w" entry of an org (due.h) -> outbox.lua claim (at most the
 *   free transfer slots) -> one libcurl easy handle per delivery, added to
 *   the multi handle -> on completion, outbox.lua report (delivered, retry,
 *   failed, gone, dropped) -> the slot is free again.
 *
 * libcurl runs in multi-socket mode on the daemon's event_base: curl tells
 * on_curl_socket which sockets to watch (one libevent event per socket,
 * kept as curl's socket pointer) and on_curl_timer when to call it back;
 * libevent calls curl_multi_socket_action. Nothing here blocks.
 *
 * An org's "w" entry is due when a delivery of it is: the enqueue makes it
 * due at once (and this daemon polls the index at once), a retry makes it
 * due at its time, and each claim sets it to the outbox's earliest due
 * delivery (a claimed one's lease end, so that a delivery whose daemon
 * died is sent again) or, with none, DUE_HEARTBEAT_MS ahead. An org that
 * registers an endpoint gets its entry first, so no outbox is ever
 * forgotten. Tickets wait in a queue while every transfer slot is busy.
 *
 * Ownership: a transfer owns its easy handle, header list and body; it is
 * freed once its report is sent (the report copies its arguments). Redis
 * calls carry a small struct they own. `calls` counts Redis calls awaited
 * and `ninflight` transfers, which is what webhook_busy tells the drain.
 */
#include "webhook.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "due.h"
#include "keys.h"
#include "log.h"
#include "orgs.h"
#include "store.h"
#include "util.h"
#include "webhook_body.h"

#define POLL_MS 1000
#define ORG_MAX 65
#define ID_MAX  96

/* One delivery attempt in flight. */
struct transfer {
    webhook *w;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    struct transfer *prev, *next;
    int64_t lease, created, attempts;
    int64_t retry_at; /* from Retry-After, Unix ms; 0: none */
    char org[ORG_MAX], id[ID_MAX], ep[ID_MAX];
};

/* A due ticket waiting for transfer slots. */
struct queued {
    struct queued *next;
    webhook *w;
    due_ticket *t;
};

struct webhook {
    struct event_base *base;
    store *st;
    due *due;
    struct orgs *orgs;
    const config *cfg;
    CURLM *multi;
    struct event *curl_timer; /* curl's own timeout */
    struct transfer *inflight;
    size_t ninflight;
    size_t calls; /* Redis calls awaited */
    bool claiming, stopping, migrated;
    bool full;          /* the last claim filled every slot */
    struct event *soon; /* polls the due index before its next poll */
    struct queued *tickets, **tickets_tail;
};

/* A Redis call of the engine (claim, report, enqueue). */
struct call {
    webhook *w;
    webhook_done_cb *done;
    webhook_test_cb *test;
    void *arg;
    size_t asked;      /* claim: how many were asked for */
    due_ticket *t;     /* claim: the org's due ticket */
    char org[ORG_MAX]; /* claim, report */
    char id[ID_MAX];   /* report */
    char outcome[16];  /* report */
};

int64_t webhook_backoff_ms(int64_t attempts, int64_t base_ms, int64_t cap_ms, double u)
{
    int64_t bound = base_ms;
    for (int64_t i = 1; i < attempts && bound < cap_ms; i++)
        bound *= 2;
    if (bound > cap_ms)
        bound = cap_ms;
    if (u < 0)
        u = 0;
    return (int64_t)(u * (double)bound);
}

int64_t webhook_retry_after_ms(const char *value, int64_t now_ms)
{
    int64_t secs;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9')
        return util_parse_i64(value, 0, 100LL * 365 * 86400, &secs) ? now_ms + secs * 1000 : -1;
    time_t t = curl_getdate(value, NULL);
    return t < 0 || t > 253402300799 ? -1 : (int64_t)t * 1000; /* at most 9999-12-31 */
}

/* A uniform random number in [0, 1). */
static double random_unit(void)
{
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (uint32_t)util_now_ms() * 2654435761u;
    return (double)r / 4294967296.0;
}

/* Free transfer slots. */
static size_t slots(const webhook *w)
{
    size_t max = (size_t)w->cfg->webhook_concurrency;
    return w->ninflight >= max ? 0 : max - w->ninflight;
}

/* The soon timer: a retry falls due before the due index's next poll. */
static void on_soon(evutil_socket_t fd, short what, void *arg)
{
    webhook *w = arg;
    due_kick(w->due);
}

/* Polls the due index in delay_ms, unless a poll is set sooner already. */
static void soon(webhook *w, int64_t delay_ms)
{
    if (w->stopping || evtimer_pending(w->soon, NULL))
        return;
    struct timeval tv = {0, (suseconds_t)(delay_ms < 0 ? 0 : delay_ms) * 1000};
    evtimer_add(w->soon, &tv);
}

/* A new call record, counted as awaited. */
static struct call *call_new(webhook *w)
{
    struct call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->w = w;
    w->calls++;
    return c;
}

/* Forgets a call record. */
static void call_free(struct call *c)
{
    c->w->calls--;
    free(c);
}

/* Runs outbox.lua for org with its first three keys, then the extra keys
 * (nextra of them, given first in argv) and the arguments. */
static int outbox(webhook *w, const char *org, int nextra, int argc, const char **argv,
                  const size_t *lens, store_cb *cb, struct call *c)
{
    char k1[KEYS_MAX], k2[KEYS_MAX], k3[KEYS_MAX];
    keys_org(k1, org, "webhooks");
    keys_org(k2, org, "wh:due");
    keys_org(k3, org, "wh:out");
    const char **av = malloc(sizeof(*av) * (size_t)(argc + 3));
    size_t *al = malloc(sizeof(*al) * (size_t)(argc + 3));
    if (av == NULL || al == NULL)
        abort();
    av[0] = k1, av[1] = k2, av[2] = k3;
    for (int i = 0; i < 3; i++)
        al[i] = strlen(av[i]);
    for (int i = 0; i < argc; i++) {
        av[3 + i] = argv[i];
        al[3 + i] = lens ? lens[i] : strlen(argv[i]);
    }
    int rc = store_script(w->st, STORE_SCRIPT_OUTBOX, 3 + nextra, argc + 3, av, al, cb, c);
    free(av);
    free(al);
    return rc;
}

/* outbox.lua's answer to a report. */
static void on_reported(void *arg, const store_reply *r)
{
    struct call *c = arg;
    webhook *w = c->w;
    const char *s = store_reply_str(r, NULL);
    if (r == NULL || store_reply_is_error(r))
        log_warn("webhook: delivery %s: recording '%s' failed; it is sent again when its lease "
                 "ends",
                 c->id, c->outcome);
    else if (s && strcmp(s, "stale") == 0)
        log_info("webhook: delivery %s: its claim had passed to another daemon or its endpoint "
                 "went; outcome '%s' not recorded",
                 c->id, c->outcome);
    else if (strcmp(c->outcome, "gone") == 0)
        log_warn("webhook: delivery %s: the receiver answered 410 Gone: endpoint disabled, "
                 "%" PRId64 " pending deliveries to it dropped",
                 c->id, store_reply_int(r));
    call_free(c);
    (void)w;
}

/* Records the outcome of a claimed delivery (or gives it back). */
static void report(webhook *w, const char *org, const char *id, const char *ep, int64_t lease,
                   const char *outcome, const char *code, int64_t next_due)
{
    char hist[KEYS_MAX], slease[24], now[24], next[24], hmax[24];
    keys_leader(hist, org, "wh:hist", ep);
    util_i64toa(lease, slease);
    util_i64toa(util_now_ms(), now);
    util_i64toa(next_due, next);
    util_i64toa(WEBHOOK_HISTORY, hmax);
    const char *argv[] = {hist, "report", id, slease, now, outcome, code, next, hmax};
    struct call *c = call_new(w);
    snprintf(c->org, sizeof(c->org), "%s", org);
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->outcome, sizeof(c->outcome), "%s", outcome);
    if (outbox(w, org, 1, 9, argv, NULL, on_reported, c) < 0) {
        log_warn("webhook: delivery %s: Redis is not ready to record '%s'; it is sent again "
                 "when its lease ends",
                 id, outcome);
        call_free(c);
        return;
    }
    if (strcmp(outcome, "retry") == 0 || strcmp(outcome, "release") == 0)
        due_schedule(w->due, DUE_WEBHOOK, org, strcmp(outcome, "retry") == 0 ? next_due : 0);
}

/* Unlinks and frees a transfer (its easy handle must be out of the multi). */
static void transfer_free(struct transfer *t)
{
    webhook *w = t->w;
    if (t->prev)
        t->prev->next = t->next;
    else
        w->inflight = t->next;
    if (t->next)
        t->next->prev = t->prev;
    w->ninflight--;
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->body);
    free(t);
}

/* The response code or error of a finished attempt, as outbox.lua records it. */
static void attempt_code(CURLcode res, long status, char out[24])
{
    if (status > 0)
        snprintf(out, 24, "%ld", status);
    else if (res == CURLE_OPERATION_TIMEDOUT)
        snprintf(out, 24, "timeout");
    else if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST)
        snprintf(out, 24, "connect");
    else
        snprintf(out, 24, "error");
}

/* An attempt ended: decide the outcome, report it, free the slot. */
static void finish(struct transfer *t, CURLcode res)
{
    webhook *w = t->w;
    long status = 0;
    char code[24];
    if (res == CURLE_OK)
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    attempt_code(res, status, code);
    int64_t now = util_now_ms(), attempts = t->attempts + 1;
    int64_t deadline = t->created + WEBHOOK_WINDOW_MS;
    if (status >= 200 && status < 300) {
        log_info("webhook %s: delivery %s delivered (status %ld, attempt %" PRId64 ")", t->ep,
                 t->id, status, attempts);
        report(w, t->org, t->id, t->ep, t->lease, "delivered", code, 0);
    } else if (status == 410) {
        report(w, t->org, t->id, t->ep, t->lease, "gone", code, 0);
    } else {
        int64_t next = t->retry_at > 0
                           ? t->retry_at
                           : now + webhook_backoff_ms(attempts, w->cfg->webhook_retry_base,
                                                      WEBHOOK_BACKOFF_CAP, random_unit());
        if (next < now)
            next = now;
        if (now >= deadline) {
            log_warn("webhook %s: delivery %s failed for good after %" PRId64
                     " attempts (last: %s)",
                     t->ep, t->id, attempts, code);
            report(w, t->org, t->id, t->ep, t->lease, "failed", code, 0);
        } else {
            if (next > deadline)
                next = deadline;
            log_info("webhook %s: delivery %s attempt %" PRId64 " failed (%s%s%s); next in %" PRId64
                     " ms",
                     t->ep, t->id, attempts, code, res != CURLE_OK ? ", " : "",
                     res != CURLE_OK ? curl_easy_strerror(res) : "", next - now);
            report(w, t->org, t->id, t->ep, t->lease, "retry", code, next);
            if (next - now < POLL_MS) /* sooner than the next poll of the due index */
                soon(w, next - now);
        }
    }
    curl_multi_remove_handle(w->multi, t->easy);
    transfer_free(t);
    if (w->full) { /* the last claim took all it could: more may be due */
        w->full = false;
        due_kick(w->due);
    }
}

/* Takes the attempts libcurl finished. */
static void check_done(webhook *w)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct transfer *t = NULL;
        CURLcode res = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (t)
            finish(t, res);
    }
}

/* A watched socket is ready. */
static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    webhook *w = arg;
    int action = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(w->multi, fd, action, &running);
    check_done(w);
    if (running <= 0 && evtimer_pending(w->curl_timer, NULL))
        evtimer_del(w->curl_timer);
}

/* curl's timeout expired. */
static void on_curl_timeout(evutil_socket_t fd, short what, void *arg)
{
    webhook *w = arg;
    int running = 0;
    curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(w);
}

/* CURLMOPT_TIMERFUNCTION: when curl wants to be called back (-1: never). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    webhook *w = userp;
    if (timeout_ms < 0) {
        evtimer_del(w->curl_timer);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(w->curl_timer, &tv); /* 0: from the loop, never from inside curl */
    }
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch socket s for what curl asks, or stop. The
 * socket's event is curl's socket pointer (curl_multi_assign). */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    webhook *w = userp;
    struct event *ev = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ev)
            event_free(ev);
        return 0;
    }
    short kind =
        EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (ev) {
        event_del(ev);
        event_assign(ev, w->base, s, kind, on_socket_event, w);
    } else {
        ev = event_new(w->base, s, kind, on_socket_event, w);
        if (ev == NULL)
            return -1;
        curl_multi_assign(w->multi, s, ev);
    }
    event_add(ev, NULL);
    return 0;
}

/* Response bodies are not kept. */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    return size * n;
}

/* Notes a Retry-After header of the answer. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[80];
        size_t vl = len - 12 < sizeof(v) - 1 ? len - 12 : sizeof(v) - 1;
        memcpy(v, p + 12, vl);
        v[vl] = '\0';
        v[strcspn(v, "\r\n")] = '\0';
        int64_t at = webhook_retry_after_ms(v, util_now_ms());
        t->retry_at = at > 0 ? at : 0;
    }
    return len;
}

/* Splits a record "type created attempts codes\npayload"; false if bad. */
static bool record_split(const char *rec, size_t len, char *type, size_t typelen, int64_t *created,
                         int64_t *attempts, const char **payload, size_t *plen)
{
    const char *nl = memchr(rec, '\n', len);
    char head[160];
    if (nl == NULL || (size_t)(nl - rec) >= sizeof(head))
        return false;
    memcpy(head, rec, (size_t)(nl - rec));
    head[nl - rec] = '\0';
    char *save = NULL, *ty = strtok_r(head, " ", &save), *cr = strtok_r(NULL, " ", &save),
         *at = strtok_r(NULL, " ", &save);
    if (ty == NULL || at == NULL || !util_parse_i64(cr, 0, INT64_MAX, created) ||
        !util_parse_i64(at, 0, INT64_MAX, attempts))
        return false;
    snprintf(type, typelen, "%s", ty);
    *payload = nl + 1;
    *plen = len - (size_t)(nl + 1 - rec);
    return true;
}

/* Starts one attempt of a claimed delivery, or reports why it cannot be
 * sent (endpoint gone or disabled: dropped; unreadable: failed). */
static void start(webhook *w, const char *org, const char *id, const char *rec, size_t reclen,
                  const char *epjson, int64_t lease)
{
    char ep[ID_MAX] = "", type[32];
    const char *payload;
    size_t plen, blen = 0;
    int64_t created, attempts;
    json_t *e = NULL;
    char *body = NULL;
    struct transfer *t = NULL;
    /* the endpoint id is between "msg_" and the next '_' */
    if (strncmp(id, "msg_", 4) == 0)
        snprintf(ep, sizeof(ep), "%.*s", (int)strcspn(id + 4, "_"), id + 4);
    if (!record_split(rec, reclen, type, sizeof(type), &created, &attempts, &payload, &plen)) {
        log_err("webhook %s: delivery %s has an unreadable record; dropped", ep, id);
        report(w, org, id, ep, lease, "failed", "error", 0);
        return;
    }
    e = epjson[0] ? json_loads(epjson, 0, NULL) : NULL;
    const char *url = json_string_value(json_object_get(e, "url"));
    const char *fmt = json_string_value(json_object_get(e, "format"));
    const char *key = json_string_value(json_object_get(e, "key"));
    webhook_format f;
    unsigned char raw[WEBHOOK_KEY_MAX];
    int rawlen = key ? webhook_body_secret_decode(key, raw) : -1;
    if (e == NULL || json_is_true(json_object_get(e, "disabled"))) {
        log_info("webhook %s: delivery %s dropped: the endpoint is %s", ep, id,
                 e ? "disabled" : "deleted");
        report(w, org, id, ep, lease, "dropped", "-", 0);
        goto out;
    }
    if (url == NULL || fmt == NULL || !webhook_body_format_parse(fmt, &f) || rawlen <= 0) {
        log_err("webhook %s: the endpoint's record is unreadable; delivery %s failed", ep, id);
        report(w, org, id, ep, lease, "failed", "error", 0);
        goto out;
    }
    body = webhook_body_render(f, type, created, payload, plen, &blen);
    if (body == NULL) {
        log_err("webhook %s: delivery %s has a payload that is not a JSON object; failed", ep, id);
        report(w, org, id, ep, lease, "failed", "error", 0);
        goto out;
    }
    char sig[WEBHOOK_SIG_MAX], h[WEBHOOK_SIG_MAX + 40];
    int64_t ts = util_now_ms() / 1000;
    if (webhook_body_sign(raw, (size_t)rawlen, id, ts, body, blen, sig) < 0) {
        log_err("webhook %s: cannot sign delivery %s (no HMAC); it is retried", ep, id);
        report(w, org, id, ep, lease, "retry", "error", util_now_ms() + POLL_MS * 60);
        goto out;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        abort();
    t->w = w;
    t->body = body;
    body = NULL;
    t->lease = lease;
    t->created = created;
    t->attempts = attempts;
    snprintf(t->org, sizeof(t->org), "%s", org);
    snprintf(t->id, sizeof(t->id), "%s", id);
    snprintf(t->ep, sizeof(t->ep), "%s", ep);
    t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
    t->headers = curl_slist_append(t->headers, "Expect:");
    snprintf(h, sizeof(h), "webhook-id: %s", id);
    t->headers = curl_slist_append(t->headers, h);
    snprintf(h, sizeof(h), "webhook-timestamp: %" PRId64, ts);
    t->headers = curl_slist_append(t->headers, h);
    snprintf(h, sizeof(h), "webhook-signature: %s", sig);
    t->headers = curl_slist_append(t->headers, h);
    t->easy = curl_easy_init();
    if (t->easy == NULL || t->headers == NULL)
        abort();
    long ms = (long)w->cfg->webhook_timeout * 1000;
    CURL *c = t->easy;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, w->cfg->webhook_allow_http ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "podiumd/" PODIUM_VERSION);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_PRIVATE, t);
    t->next = w->inflight;
    if (w->inflight)
        w->inflight->prev = t;
    w->inflight = t;
    w->ninflight++;
    log_debug("webhook %s: sending delivery %s (%s, attempt %" PRId64 ")", ep, id, type,
              attempts + 1);
    if (curl_multi_add_handle(w->multi, c) != CURLM_OK) {
        log_err("webhook %s: cannot start delivery %s; given back", ep, id);
        report(w, org, id, ep, lease, "release", "-", 0);
        transfer_free(t);
    }
out:
    free(body);
    json_decref(e);
}

static void claim_next(webhook *w);

/* outbox.lua's answer to a claim: {lease end, next due or "", (id, record,
 * endpoint)...}. The org's due entry becomes its next due delivery (now
 * when the claim took all it asked for: more may wait). */
static void on_claimed(void *arg, const store_reply *r)
{
    struct call *c = arg;
    webhook *w = c->w;
    size_t n = store_reply_len(r);
    int64_t now = util_now_ms();
    if (r == NULL || store_reply_is_error(r) || n < 2) {
        due_done(c->t, now + POLL_MS * 5);
        call_free(c);
        w->claiming = false;
        claim_next(w);
        return;
    }
    int64_t lease = store_reply_int(store_reply_at(r, 0));
    int64_t next = store_reply_int(store_reply_at(r, 1));
    size_t got = 0;
    for (size_t i = 2; i + 2 < n; i += 3) {
        size_t idlen, reclen;
        const char *id = store_reply_str(store_reply_at(r, i), &idlen);
        const char *rec = store_reply_str(store_reply_at(r, i + 1), &reclen);
        const char *ep = store_reply_str(store_reply_at(r, i + 2), NULL);
        if (id == NULL || rec == NULL || idlen >= ID_MAX)
            continue;
        got++;
        if (w->stopping)
            report(w, c->org, id, "-", lease, "release", "-", 0);
        else
            start(w, c->org, id, rec, reclen, ep ? ep : "", lease);
    }
    if (got >= c->asked) {
        next = now;
        w->full = true;
    } else if (next <= 0 || next > now + DUE_HEARTBEAT_MS)
        next = now + DUE_HEARTBEAT_MS;
    due_done(c->t, next);
    call_free(c);
    w->claiming = false;
    claim_next(w);
}

/* Claims for the next org waiting, one at a time while slots are free;
 * with none free, the waiting tickets go back due now, for a daemon with
 * room (or this one once a transfer ends). */
static void claim_next(webhook *w)
{
    while (!w->claiming && w->tickets) {
        struct queued *qd = w->tickets;
        w->tickets = qd->next;
        if (w->tickets == NULL)
            w->tickets_tail = &w->tickets;
        due_ticket *t = qd->t;
        free(qd);
        size_t free_slots = slots(w);
        if (w->stopping || free_slots == 0 || !store_ready(w->st)) {
            due_done(t, util_now_ms());
            continue;
        }
        const char *org = due_ticket_org(t);
        char now[24], lease[24], most[24];
        util_i64toa(util_now_ms(), now);
        util_i64toa(w->cfg->webhook_timeout * 2000 + 5000, lease);
        util_i64toa((int64_t)free_slots, most);
        const char *argv[] = {"claim", now, lease, most};
        struct call *c = call_new(w);
        c->asked = free_slots;
        c->t = t;
        snprintf(c->org, sizeof(c->org), "%s", org);
        if (outbox(w, org, 0, 4, argv, NULL, on_claimed, c) == 0) {
            w->claiming = true;
            return;
        }
        due_done(t, util_now_ms() + POLL_MS * 5);
        call_free(c);
    }
}

/* The org of a due ticket is known: queue the ticket for a claim, unless
 * the org is suspended (its deliveries wait) or gone (no more work). */
static void on_due_org(void *arg, struct org *o)
{
    struct queued *qd = arg;
    webhook *w = qd->w;
    org_state st = o ? org_get_state(o) : ORG_LOADING;
    org_release(o);
    if (st != ORG_ACTIVE) {
        int64_t now = util_now_ms();
        due_done(qd->t, st == ORG_LOADING     ? now + POLL_MS * 5
                        : st == ORG_SUSPENDED ? now + DUE_HEARTBEAT_MS
                                              : 0);
        free(qd);
        return;
    }
    *w->tickets_tail = qd;
    w->tickets_tail = &qd->next;
    claim_next(w);
}

/* A due "w" entry: the org's outbox has deliveries due (or its heartbeat). */
static void on_due(void *arg, const char *org_id, due_ticket *t)
{
    webhook *w = arg;
    struct queued *qd = calloc(1, sizeof(*qd));
    if (qd == NULL)
        abort();
    qd->w = w;
    qd->t = t;
    orgs_acquire(w->orgs, org_id, on_due_org, qd);
}

/* Room for more tickets: as many as transfer slots are free. */
static size_t room(void *arg)
{
    webhook *w = arg;
    return w->stopping || w->tickets ? 0 : slots(w);
}

/* SMEMBERS of the set the daemons polled before the due index: their
 * outboxes become due entries, then the set goes. */
static void on_old_orgs(void *arg, const store_reply *r)
{
    struct call *c = arg;
    webhook *w = c->w;
    call_free(c);
    if (r == NULL || store_reply_is_error(r))
        return;
    for (size_t i = 0; i < store_reply_len(r); i++) {
        const char *org = store_reply_str(store_reply_at(r, i), NULL);
        if (org && util_valid_id(org))
            due_schedule(w->due, DUE_WEBHOOK, org, 0);
    }
    if (store_reply_len(r) > 0) {
        log_info("webhook: moved %zu orgs' outboxes to the due index", store_reply_len(r));
        const char *argv[] = {"DEL", keys_webhook_orgs_v1};
        struct call *d = call_new(w);
        if (store_command(w->st, on_old_orgs, d, 2, argv, NULL) < 0)
            call_free(d);
    }
}

void webhook_store_ready(webhook *w)
{
    if (w == NULL || w->migrated)
        return;
    w->migrated = true;
    const char *argv[] = {"SMEMBERS", keys_webhook_orgs_v1};
    struct call *c = call_new(w);
    if (store_command(w->st, on_old_orgs, c, 2, argv, NULL) < 0) {
        call_free(c);
        w->migrated = false;
    }
}

/* outbox.lua's answer to an enqueue: {queued, skipped, first id}. */
static void on_enqueued(void *arg, const store_reply *r)
{
    struct call *c = arg;
    webhook *w = c->w;
    int64_t queued = store_reply_int(store_reply_at(r, 0));
    int64_t skipped = store_reply_int(store_reply_at(r, 1));
    const char *first = store_reply_str(store_reply_at(r, 2), NULL);
    const char *err = r == NULL || store_reply_is_error(r) || store_reply_len(r) == 0
                          ? "Redis did not take the deliveries"
                          : NULL;
    if (err == NULL && queued > 0) {
        due_schedule(w->due, DUE_WEBHOOK, c->org, 0); /* due now: the next poll, at once */
        due_kick(w->due);
    }
    if (c->done)
        c->done(c->arg, err, err ? 0 : (size_t)queued, err ? 0 : (size_t)skipped);
    else if (c->test)
        c->test(c->arg,
                err               ? WEBHOOK_TEST_ERROR
                : queued == -1    ? WEBHOOK_TEST_NONE
                : queued == -2    ? WEBHOOK_TEST_DISABLED
                : first && *first ? WEBHOOK_TEST_QUEUED
                                  : WEBHOOK_TEST_ERROR,
                err || queued <= 0 || first == NULL || !*first ? NULL : first);
    call_free(c);
}

/* Runs the enqueue operation: n payloads, with dedupe keys or not. */
static int enqueue(webhook *w, const char *org, const char *type, const char *only, size_t n,
                   const char *const *keys, const char *const *payloads, const size_t *lens,
                   struct call *c)
{
    size_t nk = keys ? n : 0, argc = 1 + nk + 5 + n;
    const char **argv = calloc(argc, sizeof(*argv));
    size_t *al = calloc(argc, sizeof(*al));
    char *kbuf = malloc(nk * KEYS_MAX + 1);
    if (argv == NULL || al == NULL || kbuf == NULL)
        abort();
    char seq[KEYS_MAX], now[24], ttl[24];
    keys_org(seq, org, "wh:seq");
    util_i64toa(util_now_ms(), now);
    util_i64toa(WEBHOOK_DEDUPE_TTL_S, ttl);
    size_t a = 0;
    argv[a++] = seq;
    for (size_t i = 0; i < nk; i++) {
        char *k = kbuf + i * KEYS_MAX;
        keys_leader(k, org, "wh:key", keys[i]);
        argv[a++] = k;
    }
    argv[a++] = "enqueue";
    argv[a++] = type;
    argv[a++] = now;
    argv[a++] = ttl;
    argv[a++] = only;
    for (size_t i = 0; i < a; i++)
        al[i] = strlen(argv[i]);
    for (size_t i = 0; i < n; i++) {
        argv[a] = payloads[i];
        al[a++] = lens[i];
    }
    snprintf(c->org, sizeof(c->org), "%s", org);
    int rc = outbox(w, org, (int)(1 + nk), (int)argc, argv, al, on_enqueued, c);
    free(argv);
    free(al);
    free(kbuf);
    return rc;
}

int webhook_enqueue(webhook *w, const char *org, const char *type, size_t n,
                    const char *const *keys, const char *const *payloads, const size_t *lens,
                    webhook_done_cb *cb, void *arg)
{
    if (w == NULL || w->stopping || !store_ready(w->st) || n == 0 || n > WEBHOOK_ENQUEUE_MAX ||
        !util_valid_id(org) || strcmp(type, "test") == 0 || !webhook_body_type_known(type) ||
        keys == NULL || payloads == NULL || lens == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t kl = keys[i] ? strlen(keys[i]) : 0;
        if (kl == 0 || kl > WEBHOOK_KEY_CHARS || payloads[i] == NULL)
            return -1;
        json_t *p = json_loadb(payloads[i], lens[i], 0, NULL); /* else it fails at each send */
        bool object = json_is_object(p);
        json_decref(p);
        if (!object)
            return -1;
    }
    struct call *c = call_new(w);
    c->done = cb;
    c->arg = arg;
    if (enqueue(w, org, type, "", n, keys, payloads, lens, c) < 0) {
        call_free(c);
        return -1;
    }
    return 0;
}

int webhook_enqueue_test(webhook *w, const char *org, const char *endpoint, webhook_test_cb *cb,
                         void *arg)
{
    if (w == NULL || !store_ready(w->st))
        return -1;
    json_t *p = json_pack("{s:s, s:s}", "webhook", endpoint, "message",
                          "A test event sent from POST /v1/admin/webhooks/{id}/test.");
    char *payload = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(p);
    if (payload == NULL)
        abort();
    const char *payloads[] = {payload};
    size_t lens[] = {strlen(payload)};
    struct call *c = call_new(w);
    c->test = cb;
    c->arg = arg;
    int rc = enqueue(w, org, "test", endpoint, 1, NULL, payloads, lens, c);
    if (rc < 0)
        call_free(c);
    free(payload);
    return rc;
}

static bool curl_ready; /* curl_global_init done, for the one engine */

webhook *webhook_new(app *a)
{
    if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_err("webhook: libcurl cannot start");
        return NULL;
    }
    curl_ready = true;
    webhook *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    struct event_base *base = a->base;
    w->base = base;
    w->st = a->st;
    w->due = a->due;
    w->orgs = a->orgs;
    w->cfg = a->cfg;
    w->tickets_tail = &w->tickets;
    w->multi = curl_multi_init();
    w->curl_timer = evtimer_new(base, on_curl_timeout, w);
    w->soon = evtimer_new(base, on_soon, w);
    if (w->multi == NULL || w->curl_timer == NULL || w->soon == NULL) {
        webhook_free(w);
        return NULL;
    }
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
    due_handle(a->due, DUE_WEBHOOK, on_due, room, w);
    return w;
}

void webhook_stop(webhook *w)
{
    if (w == NULL)
        return;
    w->stopping = true;
    claim_next(w); /* gives the waiting tickets back */
}

void webhook_release(webhook *w)
{
    if (w == NULL)
        return;
    webhook_stop(w);
    while (w->inflight) {
        struct transfer *t = w->inflight;
        log_info("webhook %s: delivery %s still in flight at shutdown; given back", t->ep, t->id);
        report(w, t->org, t->id, t->ep, t->lease, "release", "-", 0);
        curl_multi_remove_handle(w->multi, t->easy);
        transfer_free(t);
    }
}

size_t webhook_busy(const webhook *w)
{
    return w ? w->ninflight + w->calls : 0;
}

void webhook_free(webhook *w)
{
    if (w == NULL)
        return;
    w->stopping = true;
    while (w->inflight) {
        struct transfer *t = w->inflight;
        curl_multi_remove_handle(w->multi, t->easy);
        transfer_free(t);
    }
    if (w->multi)
        curl_multi_cleanup(w->multi);
    if (w->curl_timer)
        event_free(w->curl_timer);
    if (w->soon)
        event_free(w->soon);
    while (w->tickets) {
        struct queued *qd = w->tickets;
        w->tickets = qd->next;
        due_drop(qd->t);
        free(qd);
    }
    free(w);
    if (curl_ready)
        curl_global_cleanup();
    curl_ready = false;
}
