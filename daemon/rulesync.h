/*
 * rulesync.h - the life cycle of one org's rule set on this podiumd.
 *
 * The rule set lives in Redis, versioned (keys.h: ruleset, rulehist), and is
 * written only through rules.lua. A rulesync, one per org this daemon serves
 * (orgs.c owns them), keeps the org's rules in force on this daemon equal to
 * the stored version: it fetches it when made, when the store becomes ready,
 * when rules.lua announces a new version on the org's channel (and after
 * each resubscription), and, as a safety net for a lost message, when a
 * check of the stored version, made at most once a second (every 5 s for
 * orgs but default) while the org is in use (rulesync_touch), finds one it
 * has not looked at yet. A stored rule
 * set that does not validate here (written by a newer podiumd, say) is
 * logged with every error and the running rules stay.
 *
 * With rules_file set (org default only) the file wins: it is validated and
 * installed at start and on SIGHUP, and written to Redis (source "file";
 * unchanged bytes make no new version); rule sets that others store are
 * never installed, and one stored through the API is logged as a warning.
 *
 * The rules in force are shared (rules_hold): a request checked against
 * them keeps them while a newer version is installed.
 */
#ifndef PODIUM_RULESYNC_H
#define PODIUM_RULESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rules.h"

struct store;
typedef struct rulesync rulesync;

/* Outcome of rulesync_apply. */
typedef enum {
    RULESYNC_CHANGED,    /* stored as a new version and installed */
    RULESYNC_SAME,       /* the stored version holds these very bytes; installed */
    RULESYNC_CONFLICT,   /* the stored version is not the expected one; nothing changed */
    RULESYNC_UNAVAILABLE /* Redis unreachable or failed; nothing known to be changed */
} rulesync_status;

/* Told once what rulesync_apply did: `version` is the stored version (the
 * current one on a conflict, 0 = none), applied_at_ms when it was stored. */
typedef void rulesync_done_fn(void *arg, rulesync_status st, int64_t version,
                              int64_t applied_at_ms);

/* Reads and validates a rules file (also against what this podiumd applies);
 * prints each problem to `report` as "path: pointer: message". Returns the
 * compiled rules (caller owns) or NULL. */
rules *rulesync_read_file(const char *path, FILE *report);
/* What rulesync tells its owner. */
typedef enum {
    RULESYNC_FETCHED,   /* a fetch of the stored rule set is over (whatever it found) */
    RULESYNC_FAILED,    /* a fetch could not be made or answered */
    RULESYNC_INSTALLED, /* other rules are in force */
} rulesync_event;
typedef void rulesync_event_fn(void *arg, rulesync_event ev);

/* Creates the rule set keeper of `org`, subscribes to its channel and, when
 * the store is ready, fetches the stored rule set. The store is borrowed;
 * rules_file may be NULL or "" (rules from Redis) and is copied. `ev` (may
 * be NULL) hears what happens. NULL on failure. */
rulesync *rulesync_new(struct store *st, const char *org, const char *rules_file,
                       rulesync_event_fn *ev, void *arg);
/* Frees it and its hold on the rules; NULL is allowed. While the store
 * lives, only when rulesync_busy is false: store callbacks hold it. */
void rulesync_free(rulesync *rs);
/* True while a Redis call of it is in flight. */
bool rulesync_busy(const rulesync *rs);
/* The rules in force, or NULL before any were installed. Borrowed: take a
 * hold (rules_hold) to keep them past the current callback. */
const rules *rulesync_rules(const rulesync *rs);
/* True once a fetch has answered (or the rules file is in force). */
bool rulesync_loaded(const rulesync *rs);
/* The org is in use: check the stored version if the last check is a
 * second old, and write a pending rules file. */
void rulesync_touch(rulesync *rs);
/* The org was deleted and made again: forgets the rules in force and
 * fetches the stored ones (not rules_file mode). */
void rulesync_reset(rulesync *rs);
/* rules_file mode: validates and installs the file, and stores it in Redis
 * (now, or once the store is ready). False (running rules kept) with every
 * problem logged when the file is invalid. */
bool rulesync_load_file(rulesync *rs) __attribute__((warn_unused_result));
/* The store's readiness changed (orgs.c forwards it). */
void rulesync_store_ready(rulesync *rs, bool ready);
/* The rules file when rules come from one, else NULL. */
const char *rulesync_file(const rulesync *rs);
/* Stores `doc` (validated, compiled into r) as the org's rule set with source
 * "api", then installs r before calling done. expected is "" (any version),
 * "*" (any existing one) or a version number; anything else never matches.
 * Takes r in every case. Returns -1 (done not called, r freed) when the
 * store is not ready or rules come from a file. */
int rulesync_apply(rulesync *rs, const char *doc, size_t len, rules *r, const char *expected,
                   rulesync_done_fn *done, void *arg) __attribute__((warn_unused_result));

#endif
