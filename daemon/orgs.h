/*
 * orgs.h - the organisations (tenants) this podiumd serves, and its state
 * for each.
 *
 * Every token, rule set, leader and board belongs to one org, and every
 * request, stream and background job acts in one. The registry of orgs
 * lives in Redis (keys.h: podium:{#}:org:{id}, orgs.lua); an `org` is this
 * daemon's context for one of them: its registry entry (state,
 * quotas), its rule set in force (a rulesync), its push channel (a push)
 * and its events-per-second limiter.
 *
 * Contexts are made on first use (orgs_acquire), which reads the registry
 * entry and, for an org that exists, the stored rule set; until both are in,
 * callers wait. A context that nobody holds and nobody used for
 * ORGS_IDLE_MS is dropped (its channels unsubscribed), so that memory,
 * subscriptions and Redis traffic follow the orgs in use, not the orgs that
 * exist. The org "default" exists without a registry entry (a single-company
 * install never names an org) and its context is never dropped.
 *
 * Freshness: a use of a context whose registry entry is ORGS_META_MS old
 * reads it again in the background (the old entry serves meanwhile); one
 * twice as old waits for the read. So a suspension or deletion made through
 * another podiumd holds here within ORGS_META_MS for an org in use, at once
 * for one that was not, and at once on the daemon that made it
 * (orgs_apply_entry). Rules follow rulesync.h.
 *
 * Ownership: the table owns the contexts; holders count in `refs`
 * (orgs_acquire and org_hold add one, org_release drops it). Free the
 * table after the store, whose last callbacks reach its contexts.
 */
#ifndef PODIUM_ORGS_H
#define PODIUM_ORGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "rules.h"

struct rulesync;
struct store_reply;
typedef struct orgs orgs;
struct org;

#define ORG_DEFAULT     "default"
#define ORG_ID_MAX      64     /* an org id is a leader-pattern id: 1 to 64 characters */
#define ORG_NAME_MAX    200    /* bytes of an org's display name */
#define ORGS_META_MS    5000   /* a registry entry older than this is read again on use */
#define ORGS_IDLE_MS    600000 /* an unused context nobody holds is dropped after this */
#define ORGS_CREATING_S 30     /* a create that stopped half-way may be taken over after this */

typedef enum {
    ORG_LOADING,   /* its registry entry is being read for the first time */
    ORG_ACTIVE,    /* serves requests */
    ORG_SUSPENDED, /* its tokens are refused with 403, its background work pauses */
    ORG_GONE,      /* no such org, or being created or deleted: its tokens are unknown */
} org_state;

/* An org's quotas; 0 means no limit. */
typedef struct org_quotas {
    int64_t leaders, tokens, webhooks, events_per_second;
} org_quotas;

/* Called once: o is a held context (org_release it), or NULL when Redis
 * could not be asked. */
typedef void orgs_cb(void *arg, struct org *o);

/* What the table tells the daemon about its contexts. */
typedef struct orgs_hooks {
    void (*rules)(void *arg, struct org *o); /* other rules are in force */
    void (*state)(void *arg, struct org *o); /* the state changed (suspended, resumed, gone) */
    /* the org's push channel: a closed period, a (re)subscription */
    void (*closed)(void *arg, const char *org, const char *ch, const char *per);
    void (*resync)(void *arg, const char *org);
    void *arg;
} orgs_hooks;

/* Creates the table with the context of org default (whose rules come from
 * cfg->rules_file when set). `a` (base, cfg, st, bc) is borrowed. */
orgs *orgs_new(app *a, const orgs_hooks *h);
/* Frees every context; NULL is allowed. Free it after the store. */
void orgs_free(orgs *os);
/* The store's readiness changed: contexts fetch their rules again. */
void orgs_store_ready(orgs *os, bool ready);
/* rules_file mode: reads, validates and installs the file for org default
 * (at start, on SIGHUP). False with every problem logged. */
bool orgs_load_rules_file(orgs *os) __attribute__((warn_unused_result));
/* Finds or makes the context of org id (which must be a valid id) and
 * calls cb with it once its state is known; may call cb before returning. */
void orgs_acquire(orgs *os, const char *id, orgs_cb *cb, void *arg);
/* The context of org id if this daemon holds one, else NULL; not held. */
struct org *orgs_find(orgs *os, const char *id);
/* The registry entry of org id changed on this daemon (orgs.lua's answer,
 * as HGETALL fields; NULL or empty: the org is gone): its context, if any,
 * takes it at once. */
void orgs_apply_entry(orgs *os, const char *id, const struct store_reply *fields);

/* Adds a hold on o; returns it. */
struct org *org_hold(struct org *o);
/* Drops a hold; NULL is allowed. */
void org_release(struct org *o);
const char *org_id(const struct org *o);
org_state org_get_state(const struct org *o);
/* The rules in force, or NULL when none are stored. Borrowed: rules_hold
 * them to keep them past the current callback. */
const rules *org_rules(const struct org *o);
/* The rules in force for reads: those of org_rules, or rules_empty() when
 * the org stored none (it has no challenges yet). */
const rules *org_rules_or_empty(const struct org *o);
/* The rule set keeper (PUT /v1/rules, rules_file). */
struct rulesync *org_rulesync(struct org *o);
/* The quotas in force: the registry's overrides, else the config's. */
const org_quotas *org_quotas_of(const struct org *o);
/* Takes n events from the org's events-per-second allowance on this daemon.
 * False (nothing taken) when it is spent, with the wait in *retry_s and the
 * refusal for the poster in why (whylen bytes). */
bool org_take_events(struct org *o, size_t n, int64_t now_ms, int64_t *retry_s, char *why,
                     size_t whylen) __attribute__((warn_unused_result));
/* Announces on the org's push channel, soon, that this daemon brought
 * board "challenge:period" to `version` (push.h). */
void org_note_board(struct org *o, const char *board, int64_t version);
/* Counts (+1) or stops counting (-1) a live stream of the org on this
 * daemon: the org listens to its push channel while it has any. */
void org_watch(struct org *o, int delta);
/* Why a token of o, made in the org's incarnation `incarnation` (auth.h),
 * is refused, or NULL when it is not: a problem slug in *slug and its HTTP
 * status in *status. */
const char *org_refusal(const struct org *o, int64_t incarnation, int *status, const char **slug);
/* The org's creation time (Unix ms) in the registry: its incarnation, which
 * its tokens carry. */
int64_t org_incarnation(const struct org *o);

/* Parses a registry entry's state word; ORG_GONE for anything unknown. */
org_state orgs_state_parse(const char *s);
/* The word of a state in the registry and in answers. */
const char *orgs_state_name(org_state s);

#endif
