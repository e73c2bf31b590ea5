/*
 * store.c - hiredis async connection, reconnects and Lua scripts.
 *
 * Life cycle: store_new parses the URI and calls connect_now(). On connect
 * the store sends SELECT (when a db is given) and one SCRIPT LOAD per
 * script; when the last of them is answered the store is ready. A lost
 * connection (or a failed connect) clears `ac`, marks the store not ready and
 * arms the reconnect timer, doubling the delay from 50 ms up to 2 s.
 *
 * Ownership: hiredis owns and frees the async context after the disconnect
 * callback; the store only forgets its pointer there. Script calls copy their
 * arguments into one block (struct call) so that a NOSCRIPT answer can be
 * retried with EVAL and the script body without involving the caller.
 */
#include "store.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

extern const char lua_score[], lua_page[], lua_leader[], lua_token[];

static const struct {
    const char *name;
    const char *body;
} scripts[STORE_SCRIPT_COUNT] = {
    [STORE_SCRIPT_SCORE] = {"score.lua", lua_score},
    [STORE_SCRIPT_PAGE] = {"page.lua", lua_page},
    [STORE_SCRIPT_LEADER] = {"leader.lua", lua_leader},
    [STORE_SCRIPT_TOKEN] = {"token.lua", lua_token},
};

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

struct store {
    struct event_base *base;
    redisAsyncContext *ac; /* NULL while disconnected */
    struct event *retry;   /* reconnect timer */
    char host[256];
    int port;                  /* 0 for a unix socket, whose path is in host */
    int db;                    /* -1: no SELECT */
    char user[128], pass[256]; /* AUTH after connect when pass is set */
    int backoff;               /* ms until the next connect attempt */
    int loading;               /* SCRIPT LOAD replies still awaited */
    bool ready;
    bool closing;
    int failures; /* connect attempts failed in a row */
    char sha[STORE_SCRIPT_COUNT][41];
    store_ready_cb *on_ready;
    void *on_ready_arg;
};

/* A script call in flight; owns copies of its arguments. */
struct call {
    store *s;
    store_script_id id;
    int nkeys, argc;
    bool retried;
    const char **argv;
    size_t *argvlen;
    store_cb *cb;
    void *arg;
};

static void connect_now(store *s);

/* Announces a readiness change to the owner. */
static void set_ready(store *s, bool ready)
{
    if (s->ready == ready)
        return;
    s->ready = ready;
    if (s->on_ready)
        s->on_ready(s->on_ready_arg, ready);
}

/* Arms the reconnect timer with the current backoff, then doubles it. */
static void schedule_retry(store *s)
{
    if (s->closing)
        return;
    struct timeval tv = {s->backoff / 1000, (s->backoff % 1000) * 1000};
    evtimer_add(s->retry, &tv);
    s->backoff = s->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff * 2;
}

/* Reconnect timer callback. */
static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    connect_now(arg);
}

/* Answer to one SCRIPT LOAD (or SELECT); the store is ready after the last. */
static void on_loaded(redisAsyncContext *ac, void *reply, void *priv)
{
    store *s = ac->data;
    redisReply *r = reply;
    if (s == NULL)
        return;
    if (r == NULL)
        return; /* disconnect path handles it */
    if (r->type == REDIS_REPLY_ERROR) {
        log_err("redis: setting up the connection failed: %s", r->str);
        redisAsyncDisconnect(ac);
        return;
    }
    if (--s->loading == 0) {
        s->backoff = BACKOFF_MIN_MS;
        s->failures = 0;
        log_info("redis: connected, %d scripts loaded", STORE_SCRIPT_COUNT);
        set_ready(s, true);
    }
}

/* Connect callback: on success, load the scripts. */
static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    store *s = ac->data;
    if (s == NULL)
        return;
    if (status != REDIS_OK) {
        /* The very first attempt often races an embedded redis-server still
         * starting: only the ones after it are worth a warning. */
        log_at(s->failures++ ? LOG_LVL_WARN : LOG_LVL_DEBUG, "redis: cannot connect to %s%s%d: %s",
               s->host, s->port ? ":" : "", s->port, ac->errstr);
        s->ac = NULL; /* hiredis frees the context after this callback */
        schedule_retry(s);
        return;
    }
    s->loading = STORE_SCRIPT_COUNT;
    if (s->pass[0]) {
        s->loading++;
        if (s->user[0])
            redisAsyncCommand(ac, on_loaded, NULL, "AUTH %s %s", s->user, s->pass);
        else
            redisAsyncCommand(ac, on_loaded, NULL, "AUTH %s", s->pass);
    }
    if (s->db >= 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", s->db);
        s->loading++;
        redisAsyncCommand(ac, on_loaded, NULL, "SELECT %s", db);
    }
    for (int i = 0; i < STORE_SCRIPT_COUNT; i++) {
        redisAsyncCommand(ac, on_loaded, NULL, "SCRIPT LOAD %s", scripts[i].body);
    }
}

/* Disconnect callback: forget the context, retry later. */
static void on_disconnect(const redisAsyncContext *ac, int status)
{
    store *s = ac->data;
    if (s == NULL)
        return;
    s->ac = NULL;
    set_ready(s, false);
    if (!s->closing) {
        log_warn("redis: connection lost: %s", status == REDIS_OK ? "closed" : ac->errstr);
        schedule_retry(s);
    }
}

/* Starts one connection attempt. */
static void connect_now(store *s)
{
    redisAsyncContext *ac =
        s->port ? redisAsyncConnect(s->host, s->port) : redisAsyncConnectUnix(s->host);
    if (ac == NULL || ac->err) {
        log_at(s->failures++ ? LOG_LVL_WARN : LOG_LVL_DEBUG, "redis: cannot connect: %s",
               ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(s);
        return;
    }
    ac->data = s;
    s->ac = ac;
    redisLibeventAttach(ac, s->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

/* Splits a redis:// or unix: URI into the store's fields. */
static int parse_uri(store *s, const char *uri)
{
    s->db = -1;
    if (strncmp(uri, "unix:", 5) == 0) {
        if (strlen(uri + 5) >= sizeof(s->host) || uri[5] != '/')
            return -1;
        strcpy(s->host, uri + 5);
        s->port = 0;
        return 0;
    }
    if (strncmp(uri, "redis://", 8) != 0)
        return -1;
    const char *h = uri + 8, *at = strrchr(h, '@'), *slash, *colon;
    if (at) { /* redis://[user]:pass@host */
        const char *sep = memchr(h, ':', (size_t)(at - h));
        if (sep == NULL || (size_t)(sep - h) >= sizeof(s->user) ||
            (size_t)(at - sep - 1) >= sizeof(s->pass))
            return -1;
        memcpy(s->user, h, (size_t)(sep - h));
        memcpy(s->pass, sep + 1, (size_t)(at - sep - 1));
        h = at + 1;
    }
    slash = strchr(h, '/');
    char hostport[sizeof(((store *)0)->host)];
    size_t n = slash ? (size_t)(slash - h) : strlen(h);
    if (n == 0 || n >= sizeof(hostport))
        return -1;
    memcpy(hostport, h, n);
    hostport[n] = '\0';
    int64_t v = 6379;
    colon = strrchr(hostport, ':');
    if (colon && strchr(hostport, ']') < colon) {
        if (!util_parse_i64(colon + 1, 1, 65535, &v))
            return -1;
        hostport[colon - hostport] = '\0';
    }
    char *host = hostport;
    if (host[0] == '[') {
        host++;
        host[strcspn(host, "]")] = '\0';
    }
    snprintf(s->host, sizeof(s->host), "%s", host);
    s->port = (int)v;
    if (slash && slash[1]) {
        int64_t db;
        if (!util_parse_i64(slash + 1, 0, 15, &db))
            return -1;
        s->db = (int)db;
    }
    return 0;
}

store *store_new(struct event_base *base, const char *uri, store_ready_cb *on_ready, void *arg)
{
    store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (parse_uri(s, uri) < 0) {
        log_err("redis: cannot understand address '%s' (expected redis://host:port or "
                "unix:/path)",
                uri);
        free(s);
        return NULL;
    }
    s->base = base;
    s->backoff = BACKOFF_MIN_MS;
    s->on_ready = on_ready;
    s->on_ready_arg = arg;
    s->retry = evtimer_new(base, on_retry, s);
    for (int i = 0; i < STORE_SCRIPT_COUNT; i++) {
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)scripts[i].body, strlen(scripts[i].body), md);
        for (int j = 0; j < SHA_DIGEST_LENGTH; j++)
            snprintf(s->sha[i] + 2 * j, 3, "%02x", md[j]);
    }
    connect_now(s);
    return s;
}

void store_free(store *s)
{
    if (s == NULL)
        return;
    s->closing = true;
    s->on_ready = NULL; /* the owner is going away: no news of this disconnect */
    if (s->ac) {
        redisAsyncContext *ac = s->ac;
        redisAsyncFree(ac); /* fires pending callbacks with NULL, then on_disconnect */
    }
    event_free(s->retry);
    free(s);
}

bool store_ready(const store *s)
{
    return s && s->ready;
}

/* Plain command reply: hand it on. */
static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct call *c = priv;
    c->cb(c->arg, reply);
    free(c);
}

int store_command(store *s, store_cb *cb, void *arg, int argc, const char **argv,
                  const size_t *argvlen)
{
    if (!s->ready || s->ac == NULL)
        return -1;
    struct call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    c->cb = cb;
    c->arg = arg;
    if (redisAsyncCommandArgv(s->ac, on_reply, c, argc, argv, argvlen) != REDIS_OK) {
        free(c);
        return -1;
    }
    return 0;
}

/* Sends a call as EVALSHA, or as EVAL with the body after NOSCRIPT. */
static int send_call(store *s, struct call *c);

/* Script reply: retry once on NOSCRIPT, otherwise hand it on. */
static void on_script_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct call *c = priv;
    redisReply *r = reply;
    store *s = c->s;
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0 && !c->retried) {
        c->retried = true;
        log_info("redis: %s was not loaded; sending it again", scripts[c->id].name);
        if (send_call(s, c) == 0)
            return;
        r = NULL;
    }
    if (r && r->type == REDIS_REPLY_ERROR)
        log_err("redis: %s failed: %s", scripts[c->id].name, r->str);
    c->cb(c->arg, (const store_reply *)r);
    free(c);
}

static int send_call(store *s, struct call *c)
{
    if (s->ac == NULL)
        return -1;
    char nkeys[16];
    int n = snprintf(nkeys, sizeof(nkeys), "%d", c->nkeys);
    const char *body = c->retried ? scripts[c->id].body : s->sha[c->id];
    c->argv[0] = c->retried ? "EVAL" : "EVALSHA";
    c->argvlen[0] = strlen(c->argv[0]);
    c->argv[1] = body;
    c->argvlen[1] = strlen(body);
    c->argv[2] = nkeys;
    c->argvlen[2] = (size_t)n;
    if (redisAsyncCommandArgv(s->ac, on_script_reply, c, c->argc + 3, c->argv, c->argvlen) !=
        REDIS_OK)
        return -1;
    return 0;
}

int store_script(store *s, store_script_id id, int nkeys, int argc, const char **argv,
                 const size_t *argvlen, store_cb *cb, void *arg)
{
    if (!s->ready || s->ac == NULL)
        return -1;
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += argvlen[i];
    size_t head = sizeof(struct call) + (size_t)(argc + 3) * (sizeof(char *) + sizeof(size_t));
    struct call *c = malloc(head + bytes);
    if (c == NULL)
        return -1;
    *c = (struct call){.s = s, .id = id, .nkeys = nkeys, .argc = argc, .cb = cb, .arg = arg};
    c->argv = (const char **)(c + 1);
    c->argvlen = (size_t *)(c->argv + argc + 3);
    char *p = (char *)(c->argvlen + argc + 3);
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], argvlen[i]);
        c->argv[i + 3] = p;
        c->argvlen[i + 3] = argvlen[i];
        p += argvlen[i];
    }
    if (send_call(s, c) < 0) {
        free(c);
        return -1;
    }
    return 0;
}

/* The reply accessors: store_reply is hiredis' redisReply. */
#define R(r) ((const redisReply *)(r))

bool store_reply_is_error(const store_reply *r)
{
    return r == NULL || R(r)->type == REDIS_REPLY_ERROR;
}

bool store_reply_is_nil(const store_reply *r)
{
    return r == NULL || R(r)->type == REDIS_REPLY_NIL;
}

const char *store_reply_str(const store_reply *r, size_t *len)
{
    if (r == NULL || (R(r)->type != REDIS_REPLY_STRING && R(r)->type != REDIS_REPLY_STATUS &&
                      R(r)->type != REDIS_REPLY_ERROR)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = R(r)->len;
    return R(r)->str;
}

int64_t store_reply_int(const store_reply *r)
{
    if (r == NULL)
        return 0;
    if (R(r)->type == REDIS_REPLY_INTEGER)
        return R(r)->integer;
    if (R(r)->type == REDIS_REPLY_STRING) {
        int64_t v;
        if (util_parse_i64(R(r)->str, INT64_MIN, INT64_MAX, &v))
            return v;
    }
    return 0;
}

size_t store_reply_len(const store_reply *r)
{
    return r && R(r)->type == REDIS_REPLY_ARRAY ? R(r)->elements : 0;
}

const store_reply *store_reply_at(const store_reply *r, size_t i)
{
    if (r == NULL || R(r)->type != REDIS_REPLY_ARRAY || i >= R(r)->elements)
        return NULL;
    return (const store_reply *)R(r)->element[i];
}
