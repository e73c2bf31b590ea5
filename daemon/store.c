/*
 * store.c - hiredis async connections, reconnects, Lua scripts and pub/sub.
 *
 * Two connections, each a `link` with its own reconnect timer and backoff:
 * `cmd` carries commands and scripts, `sub` carries SUBSCRIBE (a connection
 * in subscribed mode can send nothing else). The sub link is opened by the
 * first store_subscribe and is otherwise independent: the store is "ready"
 * when `cmd` is, whatever `sub` does.
 *
 * Life cycle of a link: connect_now() starts an attempt. On connect the
 * store sends AUTH (when a password is given) and SELECT (when a db is
 * given); `cmd` then sends one SCRIPT LOAD per script and is ready when the
 * last answer comes, `sub` sends one SUBSCRIBE per subscription and tells
 * each subscriber when its SUBSCRIBE is confirmed. A lost connection (or a
 * failed connect) clears the link's `ac` and arms its reconnect timer,
 * doubling the delay from 50 ms up to 2 s.
 *
 * Ownership: hiredis owns and frees an async context after the disconnect
 * callback; the store only forgets its pointer there. Script calls copy their
 * arguments into one block (struct call) so that a NOSCRIPT answer can be
 * retried with EVAL and the script body without involving the caller.
 * A subscription lives in the store from store_subscribe until Redis
 * confirms its UNSUBSCRIBE (or the link drops, or store_free): hiredis holds
 * a pointer to it as the SUBSCRIBE callback's private data until then.
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

extern const char lua_score[], lua_page[], lua_leader[], lua_token[], lua_rules[], lua_teams[],
    lua_swap[];

extern const char lua_adjust[], lua_visibility[], lua_erase[], lua_close[], lua_outbox[], lua_due[],
    lua_orgs[];

static const struct {
    const char *name;
    const char *body;
} scripts[STORE_SCRIPT_COUNT] = {
    [STORE_SCRIPT_SCORE] = {"score.lua", lua_score},
    [STORE_SCRIPT_PAGE] = {"page.lua", lua_page},
    [STORE_SCRIPT_LEADER] = {"leader.lua", lua_leader},
    [STORE_SCRIPT_TOKEN] = {"token.lua", lua_token},
    [STORE_SCRIPT_RULES] = {"rules.lua", lua_rules},
    [STORE_SCRIPT_TEAMS] = {"teams.lua", lua_teams},
    [STORE_SCRIPT_SWAP] = {"swap.lua", lua_swap},
    [STORE_SCRIPT_ADJUST] = {"adjust.lua", lua_adjust},
    [STORE_SCRIPT_VISIBILITY] = {"visibility.lua", lua_visibility},
    [STORE_SCRIPT_ERASE] = {"erase.lua", lua_erase},
    [STORE_SCRIPT_CLOSE] = {"close.lua", lua_close},
    [STORE_SCRIPT_OUTBOX] = {"outbox.lua", lua_outbox},
    [STORE_SCRIPT_DUE] = {"due.lua", lua_due},
    [STORE_SCRIPT_ORGS] = {"orgs.lua", lua_orgs},
};

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define CHANNEL_MAX    256

/* One connection to Redis with its reconnect state. */
struct link {
    store *s;
    redisAsyncContext *ac; /* NULL while disconnected */
    struct event *retry;   /* reconnect timer */
    int backoff;           /* ms until the next connect attempt */
    int failures;          /* connect attempts failed in a row */
    int loading;           /* setup replies still awaited */
    bool connected;        /* connected; setup may still be under way */
    bool up;               /* connected and set up */
    const char *what;      /* "" or "pub/sub ", for log lines */
};

/* One channel subscription. It lives from store_subscribe until Redis
 * confirms its UNSUBSCRIBE (or the pub/sub link drops, or store_free):
 * hiredis holds it as the private data of the channel's callback until
 * then. `cb` NULL marks one being unsubscribed; a store_subscribe of the
 * same channel meanwhile revives it (`resubscribe`), since hiredis keeps
 * one callback per channel name. */
struct store_sub {
    store *s;
    struct store_sub *prev, *next;
    char channel[CHANNEL_MAX];
    store_message_cb *cb;
    void *arg;
    bool resubscribe; /* revived while its UNSUBSCRIBE was on the way */
    bool pending;     /* a SUBSCRIBE or UNSUBSCRIBE of it awaits its reply */
};

struct store {
    struct event_base *base;
    struct link cmd, sub;
    char host[256];
    int port;                  /* 0 for a unix socket, whose path is in host */
    int db;                    /* -1: no SELECT */
    char user[128], pass[256]; /* AUTH after connect when pass is set */
    bool ready;
    bool closing;
    char sha[STORE_SCRIPT_COUNT][41];
    store_ready_cb *on_ready;
    void *on_ready_arg;
    struct store_sub *subs; /* every subscription, live or being unsubscribed */
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

static void connect_now(struct link *l);

/* Announces a readiness change to the owner. */
static void set_ready(store *s, bool ready)
{
    if (s->ready == ready)
        return;
    s->ready = ready;
    if (s->on_ready)
        s->on_ready(s->on_ready_arg, ready);
}

/* Arms a link's reconnect timer with its current backoff, then doubles it. */
static void schedule_retry(struct link *l)
{
    if (l->s->closing)
        return;
    struct timeval tv = {l->backoff / 1000, (l->backoff % 1000) * 1000};
    evtimer_add(l->retry, &tv);
    l->backoff = l->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff * 2;
}

/* Reconnect timer callback. */
static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    connect_now(arg);
}

/* A link finished its setup: reset the backoff. */
static void link_up(struct link *l)
{
    l->up = true;
    l->backoff = BACKOFF_MIN_MS;
    l->failures = 0;
}

/* Answer to one SCRIPT LOAD, AUTH or SELECT; the link is up after the last. */
static void on_loaded(redisAsyncContext *ac, void *reply, void *priv)
{
    struct link *l = ac->data;
    redisReply *r = reply;
    if (l == NULL || r == NULL)
        return; /* the disconnect path handles it */
    if (r->type == REDIS_REPLY_ERROR) {
        log_err("redis: setting up the %sconnection failed: %s", l->what, r->str);
        redisAsyncDisconnect(ac);
        return;
    }
    if (--l->loading > 0)
        return;
    link_up(l);
    if (l == &l->s->cmd) {
        log_info("redis: connected, %d scripts loaded", STORE_SCRIPT_COUNT);
        set_ready(l->s, true);
    } else {
        log_debug("redis: pub/sub connection set up");
    }
}

/* Unlinks and frees a subscription. */
static void sub_free(struct store_sub *sb)
{
    store *s = sb->s;
    if (sb->prev)
        sb->prev->next = sb->next;
    else
        s->subs = sb->next;
    if (sb->next)
        sb->next->prev = sb->prev;
    free(sb);
}

static void send_subscribe(store *s, struct store_sub *sb);

/* Every reply on the SUBSCRIBE of one channel: the confirmation, then each
 * message, then the UNSUBSCRIBE's confirmation; NULL when the connection
 * goes (the link's reconnect subscribes the live ones again). */
static void on_sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct store_sub *sb = priv;
    redisReply *r = reply;
    if (sb == NULL)
        return;
    if (r == NULL) {
        sb->pending = false;
        if (sb->cb == NULL && !sb->s->closing)
            sub_free(sb); /* being unsubscribed: the link took it along */
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        log_err("redis: SUBSCRIBE %s failed: %s", sb->channel, r->str);
        redisAsyncDisconnect(ac);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "subscribe") == 0) {
        sb->pending = false;
        log_debug("redis: subscribed to %s", sb->channel);
        if (sb->cb) {
            sb->cb(sb->arg, NULL, 0);
        } else if (redisAsyncCommand(ac, on_sub_reply, sb, "UNSUBSCRIBE %s", sb->channel) ==
                   REDIS_OK) {
            sb->pending = true; /* unsubscribed while its SUBSCRIBE was on the way */
        }
    } else if (strcmp(kind, "unsubscribe") == 0) {
        /* hiredis has forgotten the channel's callback now */
        sb->pending = false;
        if (sb->resubscribe) {
            sb->resubscribe = false;
            send_subscribe(sb->s, sb);
        } else {
            log_debug("redis: unsubscribed from %s", sb->channel);
            sub_free(sb);
        }
    } else if (strcmp(kind, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING &&
               sb->cb) {
        sb->cb(sb->arg, r->element[2]->str, r->element[2]->len);
    }
}

/* Sends the SUBSCRIBE of one subscription on the sub link. */
static void send_subscribe(store *s, struct store_sub *sb)
{
    if (redisAsyncCommand(s->sub.ac, on_sub_reply, sb, "SUBSCRIBE %s", sb->channel) != REDIS_OK)
        log_warn("redis: cannot send SUBSCRIBE %s", sb->channel);
    else
        sb->pending = true;
}

/* Connect callback: on success, authenticate, select, and load the scripts
 * (cmd) or subscribe (sub). */
static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct link *l = ac->data;
    if (l == NULL)
        return;
    store *s = l->s;
    if (status != REDIS_OK) {
        /* The very first attempt often races an embedded redis-server still
         * starting: only the ones after it are worth a warning. */
        log_at(l->failures++ ? LOG_LVL_WARN : LOG_LVL_DEBUG,
               "redis: cannot open the %sconnection to %s%s%d: %s", l->what, s->host,
               s->port ? ":" : "", s->port, ac->errstr);
        l->ac = NULL; /* hiredis frees the context after this callback */
        schedule_retry(l);
        return;
    }
    l->connected = true;
    l->loading = 0;
    if (s->pass[0]) {
        l->loading++;
        if (s->user[0])
            redisAsyncCommand(ac, on_loaded, NULL, "AUTH %s %s", s->user, s->pass);
        else
            redisAsyncCommand(ac, on_loaded, NULL, "AUTH %s", s->pass);
    }
    if (s->db >= 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", s->db);
        l->loading++;
        redisAsyncCommand(ac, on_loaded, NULL, "SELECT %s", db);
    }
    if (l == &s->sub) {
        if (l->loading == 0)
            link_up(l);
        for (struct store_sub *sb = s->subs, *next; sb; sb = next) {
            next = sb->next;
            if (sb->cb)
                send_subscribe(s, sb);
            else
                sub_free(sb); /* unsubscribed while the link was down */
        }
        return;
    }
    l->loading += STORE_SCRIPT_COUNT;
    for (int i = 0; i < STORE_SCRIPT_COUNT; i++) {
        redisAsyncCommand(ac, on_loaded, NULL, "SCRIPT LOAD %s", scripts[i].body);
    }
}

/* Disconnect callback: forget the context, retry later. */
static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct link *l = ac->data;
    if (l == NULL)
        return;
    l->ac = NULL;
    l->connected = l->up = false;
    if (l == &l->s->cmd)
        set_ready(l->s, false);
    if (!l->s->closing) {
        log_warn("redis: %sconnection lost: %s", l->what,
                 status == REDIS_OK ? "closed" : ac->errstr);
        schedule_retry(l);
    }
}

/* Starts one connection attempt of a link. */
static void connect_now(struct link *l)
{
    store *s = l->s;
    redisAsyncContext *ac =
        s->port ? redisAsyncConnect(s->host, s->port) : redisAsyncConnectUnix(s->host);
    if (ac == NULL || ac->err) {
        log_at(l->failures++ ? LOG_LVL_WARN : LOG_LVL_DEBUG,
               "redis: cannot open the %sconnection: %s", l->what,
               ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(l);
        return;
    }
    ac->data = l;
    l->ac = ac;
    redisLibeventAttach(ac, s->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

/* Prepares a link of s (not connected yet). */
static void link_init(store *s, struct link *l, const char *what)
{
    l->s = s;
    l->backoff = BACKOFF_MIN_MS;
    l->what = what;
    l->retry = evtimer_new(s->base, on_retry, l);
}

/* Closes a link; pending callbacks fire with NULL. */
static void link_close(struct link *l)
{
    if (l->ac) {
        redisAsyncContext *ac = l->ac;
        redisAsyncFree(ac); /* fires pending callbacks with NULL, then on_disconnect */
    }
    if (l->retry)
        event_free(l->retry);
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
    s->on_ready = on_ready;
    s->on_ready_arg = arg;
    link_init(s, &s->cmd, "");
    link_init(s, &s->sub, "pub/sub ");
    for (int i = 0; i < STORE_SCRIPT_COUNT; i++) {
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)scripts[i].body, strlen(scripts[i].body), md);
        for (int j = 0; j < SHA_DIGEST_LENGTH; j++)
            snprintf(s->sha[i] + 2 * j, 3, "%02x", md[j]);
    }
    connect_now(&s->cmd);
    return s;
}

void store_free(store *s)
{
    if (s == NULL)
        return;
    s->closing = true;
    s->on_ready = NULL; /* the owner is going away: no news of this disconnect */
    link_close(&s->cmd);
    link_close(&s->sub);
    /* Live subscriptions are their owners' until store_unsubscribe, which
     * may come later (an org freed after the store): they stay, orphaned. */
    for (struct store_sub *sb = s->subs, *next; sb; sb = next) {
        next = sb->next;
        if (sb->cb) {
            sb->s = NULL;
            sb->prev = sb->next = NULL;
        } else {
            free(sb);
        }
    }
    free(s);
}

bool store_ready(const store *s)
{
    return s && s->ready;
}

store_sub *store_subscribe(store *s, const char *channel, store_message_cb *cb, void *arg)
{
    if (strlen(channel) >= CHANNEL_MAX) {
        log_err("redis: cannot subscribe to %.64s...: the channel name is too long", channel);
        return NULL;
    }
    struct store_sub *sb = s->subs;
    while (sb && !(sb->cb == NULL && strcmp(sb->channel, channel) == 0))
        sb = sb->next;
    if (sb) { /* its UNSUBSCRIBE is on the way: subscribe again once it is done */
        sb->cb = cb;
        sb->arg = arg;
        sb->resubscribe = sb->pending;
        if (!sb->pending && s->sub.connected)
            send_subscribe(s, sb);
        return sb;
    }
    sb = calloc(1, sizeof(*sb));
    if (sb == NULL)
        abort();
    *sb = (struct store_sub){.s = s, .cb = cb, .arg = arg, .next = s->subs};
    snprintf(sb->channel, sizeof(sb->channel), "%s", channel);
    if (s->subs)
        s->subs->prev = sb;
    s->subs = sb;
    if (s->sub.ac == NULL && !evtimer_pending(s->sub.retry, NULL))
        connect_now(&s->sub); /* the first subscription opens the link */
    else if (s->sub.connected)
        send_subscribe(s, sb);
    /* else: the connect callback subscribes to every channel */
    return sb;
}

void store_unsubscribe(store_sub *sb)
{
    if (sb == NULL || sb->cb == NULL)
        return;
    store *s = sb->s;
    if (s == NULL) { /* orphaned by store_free */
        free(sb);
        return;
    }
    sb->cb = NULL;
    sb->resubscribe = false;
    if (s->closing)
        return; /* store_free frees it */
    if (!s->sub.connected) {
        if (!sb->pending)
            sub_free(sb);
        return; /* else the link's loss answers its SUBSCRIBE with NULL, which frees it */
    }
    if (sb->pending)
        return; /* its SUBSCRIBE's answer comes first, and sends the UNSUBSCRIBE (on_sub_reply) */
    if (redisAsyncCommand(s->sub.ac, on_sub_reply, sb, "UNSUBSCRIBE %s", sb->channel) == REDIS_OK)
        sb->pending = true;
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
    if (!s->ready || s->cmd.ac == NULL)
        return -1;
    struct call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    c->cb = cb;
    c->arg = arg;
    if (redisAsyncCommandArgv(s->cmd.ac, on_reply, c, argc, argv, argvlen) != REDIS_OK) {
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
    if (s->cmd.ac == NULL)
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
    if (redisAsyncCommandArgv(s->cmd.ac, on_script_reply, c, c->argc + 3, c->argv, c->argvlen) !=
        REDIS_OK)
        return -1;
    return 0;
}

int store_script(store *s, store_script_id id, int nkeys, int argc, const char **argv,
                 const size_t *argvlen, store_cb *cb, void *arg)
{
    if (!s->ready || s->cmd.ac == NULL)
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
