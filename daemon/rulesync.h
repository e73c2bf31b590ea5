/*
 * rulesync.h - the life cycle of an org's rule set on this podiumd.
 *
 * The rule set lives in Redis, versioned (keys.h: ruleset, rulehist), and is
 * written only through rules.lua. rulesync keeps the rules in force on this
 * daemon (ingest_set_rules) equal to the stored version: it fetches it when
 * the store becomes ready, when rules.lua announces a new version on the
 * org's channel, and, as a safety net for a lost message, when a check of
 * the stored version once a second finds one it has not looked at yet. A
 * stored rule set that does not validate here (written by a newer podiumd,
 * say) is logged with every error and the running rules stay.
 *
 * With rules_file set the file wins: it is validated and installed at start
 * and on SIGHUP, and written to Redis (source "file"; unchanged bytes make
 * no new version); rule sets that others store are never installed, and one
 * stored through the API is logged as a warning.
 *
 * app.rules_version and app.rules_loaded_ms follow what is installed.
 */
#ifndef PODIUM_RULESYNC_H
#define PODIUM_RULESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "app.h"
#include "rules.h"

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
/* Creates the rule set keeper of `org` and subscribes to its channel. `a`
 * (with a->st and a->in set) is borrowed; rules_file may be NULL or "" (rules
 * from Redis) and is copied. NULL on failure. */
rulesync *rulesync_new(app *a, const char *org, const char *rules_file);
/* Frees it; NULL is allowed. Free it after the store, whose last callbacks
 * still reach it. */
void rulesync_free(rulesync *rs);
/* rules_file mode: validates and installs the file, and stores it in Redis
 * (now, or once the store is ready). False (running rules kept) with every
 * problem logged when the file is invalid. */
bool rulesync_load_file(rulesync *rs) __attribute__((warn_unused_result));
/* The store's readiness changed (main forwards it). */
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
