/*
 * main.c - podiumd: start-up, signals and shutdown.
 *
 * Start-up order: config (defaults, file, --flags, checks), logging, the
 * embedded Redis when none is configured, the store, the read cache, auth,
 * the batcher, the due index of background work, the webhook engine, the
 * SSE hub, the orgs (orgs.c: each org's rules and push channel; board
 * changes go from the read cache's listener to both; org default's rules
 * from the rules file, or from Redis once the store is ready), the closer,
 * the admin and operator tokens, then the HTTP and RPC listeners.
 * Everything runs on one event_base. Signals are libevent events: SIGTERM
 * and SIGINT stop accepting requests, claiming background work (closes,
 * webhook deliveries), end the SSE streams, answer what is in flight and
 * let webhook attempts finish (those still running RELEASE_MS before the
 * drain's end go back to the outbox), then leave the loop; SIGHUP reloads
 * the rules file (a bad file keeps the running rules and says why); SIGCHLD
 * reaps the embedded Redis.
 */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "auth.h"
#include "boards.h"
#include "config.h"
#include "embedded_redis.h"
#include "http_server.h"
#include "ingest.h"
#include "log.h"
#include "push.h"
#include "rpc_server.h"
#include "rules.h"
#include "closer.h"
#include "due.h"
#include "orgerase.h"
#include "orgs.h"
#include "rulesync.h"
#include "sdnotify.h"
#include "sse.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

#define DEFAULT_CONFIG "/etc/podium/podiumd.conf"
#define DRAIN_MAX_MS   10000
#define RELEASE_MS     1500 /* before DRAIN_MAX_MS: webhook attempts still in flight are given back */

/* Everything main owns, for the signal and timer callbacks. */
struct daemon {
    app a;
    config cfg;
    embedded_redis *er;
    orgerase *erase;
    struct event *sigs[4];
    struct event *drain, *watchdog;
    int64_t drain_started;
    bool notified_ready;
};

/* Prints usage to out. */
static void usage(FILE *out)
{
    fprintf(out, "usage: podiumd [-c FILE] [--SETTING VALUE ...]\n"
                 "       podiumd --check-rules FILE\n"
                 "       podiumd --help | --version\n\n"
                 "Settings (file: 'name = value'; command line: '--name value'):\n");
    config_print_help(out);
}

/* The store's readiness changed. */
static void on_store_ready(void *arg, bool ready)
{
    struct daemon *d = arg;
    if (!ready) {
        log_warn("redis: not ready; writes answer 503 until it is back");
        return;
    }
    orgs_store_ready(d->a.orgs, true);
    webhook_store_ready(d->a.wh);
    if (!d->notified_ready) {
        d->notified_ready = true;
        sdnotify("READY=1");
        log_info("podiumd ready");
    }
}

/* A board changed: this daemon's writes are announced to the others; every
 * change may concern a stream. */
static void on_board_change(void *arg, const char *org, const char *board, int64_t version,
                            bool local)
{
    app *a = arg;
    struct org *o = local ? orgs_find(a->orgs, org) : NULL;
    if (o)
        org_note_board(o, board, version);
    sse_board_changed(a->sse, org, board, version);
}

/* The closer announced a closed period (an org's push channel). */
static void on_period_closed(void *arg, const char *org, const char *ch, const char *per)
{
    app *a = arg;
    sse_period_closed(a->sse, org, ch, per);
}

/* An org's push channel was (re)subscribed: its streams look again. */
static void on_push_resync(void *arg, const char *org)
{
    app *a = arg;
    sse_resync(a->sse, org);
}

/* Other rules are in force in an org: its next close may be due sooner. */
static void on_org_rules(void *arg, struct org *o)
{
    app *a = arg;
    closer_rules_changed(a->closer, o);
}

/* An org was suspended, resumed or went: streams of an org not served end. */
static void on_org_state(void *arg, struct org *o)
{
    app *a = arg;
    sse_org_state(a->sse, org_id(o), org_get_state(o) == ORG_ACTIVE);
    rpc_server_org_changed(a->rpc, org_id(o));
    if (org_get_state(o) == ORG_ACTIVE) { /* resumed: what waited is due now */
        due_schedule(a->due, DUE_CLOSE, org_id(o), 0);
        due_schedule(a->due, DUE_WEBHOOK, org_id(o), 0);
    }
}

/* Drain timer: leave the loop when nothing is in flight any more. */
static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    int64_t elapsed = util_now_ms() - d->drain_started;
    if (elapsed > DRAIN_MAX_MS - RELEASE_MS)
        webhook_release(d->a.wh); /* what did not finish goes back to the outbox */
    size_t busy = http_server_busy(d->a.http) + rpc_server_busy(d->a.rpc) + ingest_busy(d->a.in) +
                  webhook_busy(d->a.wh);
    if (busy == 0 || elapsed > DRAIN_MAX_MS) {
        if (busy)
            log_warn("shutdown: %zu requests still in flight after %d ms; stopping anyway", busy,
                     DRAIN_MAX_MS);
        event_base_loopexit(d->a.base, NULL);
        return;
    }
    struct timeval tv = {0, 10000};
    evtimer_add(d->drain, &tv);
}

/* Signal events. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        if (d->a.stopping)
            return;
        log_info("shutdown: %s received; answering requests in flight",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
        sdnotify("STOPPING=1");
        d->a.stopping = true;
        due_stop(d->a.due);
        closer_stop(d->a.closer);
        orgerase_stop(d->erase);
        http_server_close(d->a.http);
        rpc_server_close(d->a.rpc);
        webhook_stop(d->a.wh);
        sse_shutdown(d->a.sse); /* streams end now; their last bytes count as busy */
        d->drain_started = util_now_ms();
        on_drain(-1, 0, d);
        break;
    case SIGHUP:
        sdnotify("RELOADING=1");
        if (d->cfg.rules_file[0] && !orgs_load_rules_file(d->a.orgs))
            log_err("rules: reload failed; the running rules stay in force");
        sdnotify("READY=1");
        break;
    case SIGCHLD:
        embedded_redis_reap(d->er);
        break;
    }
}

/* Watchdog timer: tell systemd we are alive. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    sdnotify("WATCHDOG=1");
}

/* Parses the command line into d->cfg; returns -1 (exit 2) or 1 (exit 0). */
static int parse_args(struct daemon *d, int argc, char **argv)
{
    const char *file = NULL;
    char err[512];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            file = argv[++i];
    }
    config_defaults(&d->cfg);
    if (file == NULL && access(DEFAULT_CONFIG, R_OK) == 0)
        file = DEFAULT_CONFIG;
    if (file && config_load_file(&d->cfg, file, err, sizeof(err)) < 0) {
        fprintf(stderr, "podiumd: %s\n", err);
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0) {
            i++;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("podiumd %s\n", PODIUM_VERSION);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr,
                    "podiumd: unexpected argument '%s' (settings are --name value; "
                    "see --help)\n",
                    a);
            return -1;
        }
        char where[128];
        snprintf(where, sizeof(where), "%.100s", a);
        if (config_set(&d->cfg, a + 2, argv[++i], where, err, sizeof(err)) < 0) {
            fprintf(stderr, "podiumd: %s\n", err);
            return -1;
        }
    }
    if (config_check(&d->cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "podiumd: %s\n", err);
        return -1;
    }
    return 0;
}

/* `podiumd --check-rules FILE`: validate offline, print every problem. */
static int check_rules(const char *path)
{
    rules *r = rulesync_read_file(path, stdout);
    if (r == NULL)
        return 2;
    printf("%s: ok (%zu activities, %zu challenges)\n", path, r->n_activities, r->n_challenges);
    rules_free(r);
    return 0;
}

/* Creates a directory and its parents (mode 0700 for new ones). */
static int mkdir_p(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--check-rules") == 0)
        return check_rules(argv[2]);
    static struct daemon d;
    int rc = parse_args(&d, argc, argv);
    if (rc != 0) {
        config_free(&d.cfg);
        return rc < 0 ? 2 : 0;
    }
    int level;
    if (log_level_parse(d.cfg.log_level, &level))
        log_set_level(level);
    log_route_libevent();
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    char err[512], uri[700];
    app *a = &d.a;
    a->cfg = &d.cfg;
    /* Precise timers: the batch window is counted in microseconds. The
     * changelist folds the read/write toggles that evhttp makes around each
     * answer into one epoll_ctl per loop turn, or none (7-9% more events/s);
     * libevent's caveat about dup()ed descriptors does not apply, as podiumd
     * registers none. */
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    a->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (a->base == NULL || mkdir_p(d.cfg.data_dir) < 0) {
        log_err("cannot create data_dir %s: %s", d.cfg.data_dir, strerror(errno));
        goto out;
    }
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
    for (int i = 0; i < 4; i++) {
        d.sigs[i] = evsignal_new(a->base, sigs[i], on_signal, &d);
        evsignal_add(d.sigs[i], NULL);
    }
    snprintf(uri, sizeof(uri), "%s", d.cfg.redis);
    if (!d.cfg.redis[0]) {
        d.er = embedded_redis_start(a->base, d.cfg.redis_server, d.cfg.data_dir, uri, sizeof(uri),
                                    err, sizeof(err));
        if (d.er == NULL) {
            log_err("embedded redis: %s", err);
            goto out;
        }
    }
    a->st = store_new(a->base, uri, on_store_ready, &d);
    a->bc = boards_new(a->st);
    a->au = auth_new(a->st);
    ingest_options io = {.window_us = d.cfg.batch_window,
                         .max_events = d.cfg.batch_events,
                         .idempotency_ttl = d.cfg.idempotency_ttl,
                         .on_version = boards_note_version,
                         .on_version_arg = a->bc};
    a->in = ingest_new(a->base, a->st, &io);
    a->due = due_new(a->base, a->st);
    if (a->st == NULL || a->bc == NULL || a->au == NULL || a->in == NULL || a->due == NULL)
        goto out;
    orgs_hooks oh = {.rules = on_org_rules,
                     .state = on_org_state,
                     .closed = on_period_closed,
                     .resync = on_push_resync,
                     .arg = a};
    a->orgs = orgs_new(a, &oh); /* its hooks reach the closer and the hub, made next */
    if (a->orgs == NULL)
        goto out;
    a->wh = webhook_new(a);
    a->sse = sse_new(a);
    a->closer = closer_new(a, d.cfg.retention);
    d.erase = orgerase_new(a);
    if (a->wh == NULL || a->sse == NULL || a->closer == NULL || d.erase == NULL)
        goto out;
    boards_set_on_change(a->bc, on_board_change, a);
    if (d.cfg.rules_file[0] && !orgs_load_rules_file(a->orgs)) {
        status = 2;
        goto out;
    }
    char token[AUTH_TOKEN_LEN + 1], tokfile[600];
    if (d.cfg.admin_token_file[0])
        snprintf(tokfile, sizeof(tokfile), "%s", d.cfg.admin_token_file);
    else
        snprintf(tokfile, sizeof(tokfile), "%s/admin.token", d.cfg.data_dir);
    if (auth_bootstrap_file(tokfile, token, err, sizeof(err)) < 0) {
        log_err("admin token: %s", err);
        goto out;
    }
    auth_set_bootstrap(a->au, token);
    if (d.cfg.operator_token_file[0])
        snprintf(tokfile, sizeof(tokfile), "%s", d.cfg.operator_token_file);
    else
        snprintf(tokfile, sizeof(tokfile), "%s/operator.token", d.cfg.data_dir);
    if (auth_bootstrap_file(tokfile, token, err, sizeof(err)) < 0) {
        log_err("operator token: %s", err);
        goto out;
    }
    auth_set_operator(a->au, token);
    a->http = http_server_new(a, err, sizeof(err));
    if (a->http == NULL) {
        log_err("%s", err);
        goto out;
    }
    if (d.cfg.rpc_listen[0]) {
        a->rpc = rpc_server_new(a, err, sizeof(err));
        if (a->rpc == NULL) {
            log_err("%s", err);
            goto out;
        }
    }
    uint64_t wd = sdnotify_watchdog_usec();
    if (wd) {
        d.watchdog = event_new(a->base, -1, EV_PERSIST, on_watchdog, &d);
        struct timeval tv = {(time_t)(wd / 2000000), (suseconds_t)(wd / 2 % 1000000)};
        event_add(d.watchdog, &tv);
    }
    d.drain = evtimer_new(a->base, on_drain, &d);
    event_base_dispatch(a->base);
    log_info("podiumd stopped");
    status = 0;
out:
    http_server_free(a->http);
    rpc_server_free(a->rpc);
    ingest_free(a->in);
    store_free(a->st);
    closer_free(a->closer); /* after the store: its last callbacks reach the closer */
    orgerase_free(d.erase);
    webhook_free(a->wh); /* and the webhook engine */
    boards_free(a->bc);
    sse_free(a->sse);   /* after the store and the read cache, whose callbacks reach it */
    orgs_free(a->orgs); /* after every holder of an org: the store, streams, the closer */
    due_free(a->due);   /* after every handler: their tickets point to it */
    auth_free(a->au);
    embedded_redis_stop(d.er);
    if (d.drain)
        event_free(d.drain);
    if (d.watchdog)
        event_free(d.watchdog);
    for (int i = 0; i < 4; i++)
        if (d.sigs[i])
            event_free(d.sigs[i]);
    if (a->base)
        event_base_free(a->base);
    config_free(&d.cfg);
    return status;
}
