/*
 * app.h - the daemon's parts, created in main.c and passed to every front end.
 *
 * One struct so that handlers reach the store, the batcher, the read cache
 * and the config without globals. main.c owns every member.
 */
#ifndef PODIUM_APP_H
#define PODIUM_APP_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct config;
struct store;
struct ingest;
struct auth;
struct boards;
struct http_server;
struct rulesync;
struct webhook;
struct sse;
struct push;

typedef struct app {
    struct event_base *base;
    const struct config *cfg;
    struct store *st;
    struct ingest *in;
    struct auth *au;
    struct boards *bc;
    struct http_server *http;
    struct rulesync *rs;     /* the rules' life cycle (rulesync.c) */
    struct webhook *wh;      /* the webhook outbox and delivery engine (webhook.c) */
    struct sse *sse;         /* the SSE subscriber hub (sse.c) */
    struct push *push;       /* the org's push channel (push.c) */
    int64_t rules_loaded_ms; /* when the rules in force were installed, 0 = none */
    int64_t rules_version;   /* their version in Redis; 0 = none (or not stored yet) */
    bool stopping;
} app;

#endif
