/*
 * orgadmin.h - the operator's operations on orgs, defined once.
 *
 * Create, list, show, change (name, suspension, quotas) and delete orgs.
 * Each operation takes its input as the HTTP API does (a path id, a query's
 * cursor and limit, a JSON body), checks it whole before the first write,
 * and answers once with a status and either a JSON body or a problem (slug,
 * detail, errors by JSON Pointer). HTTP (http_orgs.c) and msgpack-RPC
 * (rpc_methods.c) only translate, so their checks and messages cannot
 * drift apart. Only the operator token reaches them (least privilege: the
 * operator sees an org's usage, never its leaders, events or boards).
 *
 * Deleting answers 202 at once: the org's state becomes "deleting" (its
 * tokens stop working within ORGS_META_MS on every daemon) and its erase is
 * an entry of the due index (kind "d"), due ORGADMIN_ERASE_DELAY_MS later,
 * which any daemon takes and resumes after a crash (orgs_erase.c).
 */
#ifndef PODIUM_ORGADMIN_H
#define PODIUM_ORGADMIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "errlist.h"

#define ORGADMIN_LIST_MAX       100   /* orgs per page of a list */
#define ORGADMIN_ERASE_DELAY_MS 12000 /* past every daemon's cache of the org's state */

/* An operation's answer; valid during the callback. */
typedef struct orgadmin_result {
    int status;          /* 200, 201, 202; or a problem's (400 and up) */
    const char *slug;    /* the problem type, when status >= 400 */
    const char *detail;  /* its detail */
    const errlist *errs; /* what was wrong in the input, or NULL */
    const char *json;    /* the answer's body when status < 400 (no newline) */
    size_t len;
    const char *id; /* the org's id, when status < 400 */
} orgadmin_result;

typedef void orgadmin_cb(void *arg, const orgadmin_result *res);

/* {"id", "name"}: makes the org and its first admin token (shown once). */
void orgadmin_create(app *a, json_t *body, orgadmin_cb *cb, void *arg);
/* A page of orgs in id order, after `cursor` (an id, "" from the first). */
void orgadmin_list(app *a, const char *cursor, int64_t limit, orgadmin_cb *cb, void *arg);
/* One org, with its usage. */
void orgadmin_get(app *a, const char *id, orgadmin_cb *cb, void *arg);
/* {"name", "suspended", "quotas"}: changes what it names. */
void orgadmin_update(app *a, const char *id, json_t *body, orgadmin_cb *cb, void *arg);
/* Starts erasing the org (202). */
void orgadmin_delete(app *a, const char *id, orgadmin_cb *cb, void *arg);

#endif
