/*
 * orgerase.c - the erase of deleted orgs (see orgerase.h).
 *
 * One job per claimed org: get (the entry must still say "deleting"), then
 * SCAN step -> UNLINK of the page -> orgs.lua "progress" -> next step, until
 * the cursor comes back to 0, ORGERASE_PASSES times; then "purge". At most
 * ORGERASE_JOBS jobs run at once per daemon.
 *
 * Ownership: the eraser owns its jobs; each store callback is a job's last
 * reference until it sends the next call.
 */
#include "orgerase.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "due.h"
#include "keys.h"
#include "log.h"
#include "orgs.h"
#include "store.h"
#include "util.h"

#define ORGERASE_JOBS 2

typedef struct job job;

struct orgerase {
    app *a;
    bool stopping;
    size_t njobs;
    job *jobs;
};

struct job {
    orgerase *e;
    job *prev, *next;
    due_ticket *t;
    char org[ORG_ID_MAX + 1];
    char pattern[KEYS_MAX];
    char cursor[32];
    int pass;
    int64_t erased;
};

/* Ends a job; the org's "d" entry is due again at next (0: it is done). */
static void job_end(job *j, int64_t next)
{
    orgerase *e = j->e;
    due_done(j->t, next);
    if (j->prev)
        j->prev->next = j->next;
    else
        e->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    e->njobs--;
    free(j);
}

/* A step failed: its entry is due again soon. */
static void job_retry(job *j, const char *what)
{
    log_warn("orgs: erasing org %s: %s; going on in a moment", j->org, what);
    job_end(j, util_now_ms() + 5000);
}

static void step(job *j);

/* orgs.lua "purge": the org is gone. */
static void on_purged(void *arg, const store_reply *r)
{
    job *j = arg;
    if (r == NULL || store_reply_is_error(r)) {
        job_retry(j, "removing its registry entry failed");
        return;
    }
    log_info("orgs: org %s is erased (%" PRId64 " keys in this run)", j->org, j->erased);
    orgs_apply_entry(j->e->a->orgs, j->org, NULL);
    job_end(j, 0);
}

/* Removes the registry entry, the id and the due entries of the org. */
static void purge(job *j)
{
    char entry[KEYS_MAX], d[DUE_KINDS][KEYS_MAX];
    const char *argv[3 + DUE_KINDS + 2];
    size_t n = 0;
    keys_registry(entry, j->org);
    argv[n++] = entry;
    argv[n++] = keys_orgids;
    for (int k = 0; k < DUE_KINDS; k++) {
        keys_due(d[k], due_kind_letter((due_kind)k));
        argv[n++] = d[k];
    }
    size_t nkeys = n;
    argv[n++] = "purge";
    argv[n++] = j->org;
    size_t lens[3 + DUE_KINDS + 2];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(j->e->a->st, STORE_SCRIPT_ORGS, (int)nkeys, (int)n, argv, lens, on_purged, j) <
        0)
        job_retry(j, "Redis is not ready");
}

/* orgs.lua "progress": on to the next step. */
static void on_progress(void *arg, const store_reply *r)
{
    job *j = arg;
    (void)r; /* the count is a display; a lost one does not matter */
    step(j);
}

/* UNLINK of a page: count it, then go on. */
static void on_unlinked(void *arg, const store_reply *r)
{
    job *j = arg;
    if (r == NULL || store_reply_is_error(r)) {
        job_retry(j, "UNLINK failed");
        return;
    }
    int64_t n = store_reply_int(r);
    j->erased += n;
    char entry[KEYS_MAX], sn[24];
    keys_registry(entry, j->org);
    util_i64toa(n, sn);
    const char *argv[] = {entry, "progress", sn};
    size_t lens[] = {strlen(entry), 8, strlen(sn)};
    if (n == 0 ||
        store_script(j->e->a->st, STORE_SCRIPT_ORGS, 1, 3, argv, lens, on_progress, j) < 0)
        step(j);
}

/* SCAN reply: {cursor, {keys}}. */
static void on_scan(void *arg, const store_reply *r)
{
    job *j = arg;
    if (r == NULL || store_reply_is_error(r) || store_reply_len(r) != 2) {
        job_retry(j, "SCAN failed");
        return;
    }
    snprintf(j->cursor, sizeof(j->cursor), "%s", store_reply_str(store_reply_at(r, 0), NULL));
    if (strcmp(j->cursor, "0") == 0)
        j->pass++;
    const store_reply *keys = store_reply_at(r, 1);
    size_t n = store_reply_len(keys);
    if (n == 0) {
        step(j);
        return;
    }
    const char **argv = calloc(n + 1, sizeof(*argv));
    size_t *lens = calloc(n + 1, sizeof(*lens));
    if (argv == NULL || lens == NULL)
        abort();
    argv[0] = "UNLINK";
    lens[0] = 6;
    size_t m = 1, plen = strlen(j->pattern) - 1; /* the pattern without its '*' */
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *k = store_reply_str(store_reply_at(keys, i), &len);
        if (k && len >= plen && memcmp(k, j->pattern, plen) == 0) { /* its org's, surely */
            argv[m] = k;
            lens[m++] = len;
        }
    }
    if (store_command(j->e->a->st, on_unlinked, j, (int)m, argv, lens) < 0)
        job_retry(j, "Redis is not ready");
    free(argv);
    free(lens);
}

/* The next SCAN step, or the purge after the last pass. */
static void step(job *j)
{
    if (j->e->stopping) {
        job_end(j, util_now_ms()); /* another daemon goes on */
        return;
    }
    if (j->pass >= ORGERASE_PASSES) {
        purge(j);
        return;
    }
    char count[24];
    util_i64toa(ORGERASE_COUNT, count);
    const char *argv[] = {"SCAN", j->cursor, "MATCH", j->pattern, "COUNT", count};
    if (store_command(j->e->a->st, on_scan, j, 6, argv, NULL) < 0)
        job_retry(j, "Redis is not ready");
}

/* orgs.lua "get": erase only what is still being deleted. */
static void on_get(void *arg, const store_reply *r)
{
    job *j = arg;
    const char *word = store_reply_str(store_reply_at(r, 0), NULL);
    if (r == NULL || store_reply_is_error(r) || word == NULL) {
        job_retry(j, "reading its registry entry failed");
        return;
    }
    const store_reply *f = store_reply_at(r, 1);
    const char *state = NULL;
    for (size_t i = 0; i + 1 < store_reply_len(f); i += 2) {
        const char *k = store_reply_str(store_reply_at(f, i), NULL);
        if (k && strcmp(k, "state") == 0)
            state = store_reply_str(store_reply_at(f, i + 1), NULL);
    }
    if (state == NULL || strcmp(state, "deleting") != 0) {
        log_info("orgs: org %s is not being deleted any more; nothing erased", j->org);
        job_end(j, 0);
        return;
    }
    log_info("orgs: erasing org %s", j->org);
    step(j);
}

/* A due "d" entry: erase the org. */
static void on_due(void *arg, const char *org_id, due_ticket *t)
{
    orgerase *e = arg;
    job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        abort();
    j->e = e;
    j->t = t;
    snprintf(j->org, sizeof(j->org), "%s", org_id);
    snprintf(j->pattern, sizeof(j->pattern), "podium:{%s}:*", org_id);
    snprintf(j->cursor, sizeof(j->cursor), "0");
    j->next = e->jobs;
    if (e->jobs)
        e->jobs->prev = j;
    e->jobs = j;
    e->njobs++;
    char entry[KEYS_MAX];
    keys_registry(entry, org_id);
    const char *argv[] = {entry, "get"};
    size_t lens[] = {strlen(entry), 3};
    if (store_script(e->a->st, STORE_SCRIPT_ORGS, 1, 2, argv, lens, on_get, j) < 0)
        job_retry(j, "Redis is not ready");
}

/* Room for more jobs. */
static size_t room(void *arg)
{
    orgerase *e = arg;
    return e->stopping || e->njobs >= ORGERASE_JOBS ? 0 : ORGERASE_JOBS - e->njobs;
}

orgerase *orgerase_new(app *a)
{
    orgerase *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->a = a;
    due_handle(a->due, DUE_DELETE, on_due, room, e);
    return e;
}

void orgerase_stop(orgerase *e)
{
    if (e)
        e->stopping = true;
}

void orgerase_free(orgerase *e)
{
    if (e == NULL)
        return;
    while (e->jobs) {
        job *j = e->jobs;
        e->jobs = j->next;
        due_drop(j->t);
        free(j);
    }
    free(e);
}
