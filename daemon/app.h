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
struct rpc_server;
struct rulesync;
struct webhook;
struct sse;
struct orgs;
struct due;
struct closer;

typedef struct app {
    struct event_base *base;
    const struct config *cfg;
    struct store *st;
    struct ingest *in;
    struct auth *au;
    struct boards *bc;
    struct http_server *http;
    struct rpc_server *rpc; /* NULL when rpc_listen is empty */
    struct orgs *orgs;      /* the orgs served: rules, state, push channels (orgs.c) */
    struct due *due;        /* background work due across orgs (due.c) */
    struct closer *closer;  /* period closes, digests, retention (closer.c) */
    struct webhook *wh;     /* the webhook outbox and delivery engine (webhook.c) */
    struct sse *sse;        /* the SSE subscriber hub (sse.c) */
    bool stopping;
} app;

#endif
