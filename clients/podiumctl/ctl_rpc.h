/*
 * ctl_rpc.h - podiumctl's reads over the binary protocol (libpodium).
 *
 * With --rpc HOST:PORT (or $PODIUM_RPC), the board, leader and challenges
 * commands ask podiumd over msgpack-RPC instead of HTTP, and watch
 * subscribes there (libpodium's libevent form); the results are
 * the same documents (PROTOCOL.md), turned back into JSON values here so
 * that podiumctl prints them the same way.
 */
#ifndef PODIUMCTL_RPC_H
#define PODIUMCTL_RPC_H

#include <jansson.h>
#include <stddef.h>

/* Connects to hostport ("127.0.0.1:7421", "[::1]:7421"), authenticates with
 * token and calls method with params (a JSON object, or NULL). Returns the
 * result (caller owns); else NULL, with *status the HTTP status the error
 * carries (0 when podiumd could not be reached) and *error its JSON (caller
 * owns; NULL when unreachable) and a message in err. */
json_t *ctl_rpc_call(const char *hostport, const char *token, const char *method,
                     const json_t *params, long *status, json_t **error, char *err, size_t errlen);

/* A notification of a subscription: its name and data. */
typedef void ctl_rpc_event_fn(void *arg, const char *name, json_t *data);
/* Connects, authenticates and subscribes with params, then calls fn for
 * each notification until the connection is lost (returns 0, with why in
 * err) or a request is refused (returns the refusal's HTTP status, with
 * its message in err). */
long ctl_rpc_watch(const char *hostport, const char *token, const json_t *params,
                   ctl_rpc_event_fn *fn, void *arg, char *err, size_t errlen);

#endif
