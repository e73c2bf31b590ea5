/*
 * erase.c - erasing a leader: personal data and events gone, boards
 * recomputed (see erase.h).
 *
 * A job runs its phases in order, one Redis command in flight at a time,
 * so that Redis is never busy for long however big the org:
 *
 *   start    the profile (first: the leader's events are refused from then
 *            on), hidden flag, latest link, badges and adjustments list
 *   boards   every board and hidden board: the standing, the team board's
 *            share, the board's adjustments (SCAN, one script per board)
 *   state    cooldown and day-state fields (SCAN last:*, days:*), cap and
 *            goal fields "leader|..." (SCAN, then HSCAN per hash), URL
 *            fields of the leader, and the leader's tokens
 *   audit    the audit stream rewritten aside without the leader's entries
 *            (XDEL would leave their bytes in the stream's nodes), then
 *            swapped in as below
 *   log      the event log rewritten aside with the same entry ids: an
 *            entry of the leader's adjustment or of their events only is
 *            left out, and in an entry shared with others each of the
 *            leader's events becomes a tombstone (e '{"erased":true}', empty
 *            r and p), so that the other events keep their places and the
 *            links between them stay right; then swapped in, after a check
 *            that the log did not grow meanwhile (else it reads on)
 *
 * Idempotency records keep results (points and ranks, no event data) until
 * they expire. Every step could run again, but the profile goes first, so a
 * second DELETE after a failure answers 404: a job that fails after `start`
 * says so (503 erase-incomplete, and the log), for an operator to finish.
 */
#include "erase.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"
#include "event.h"
#include "keys.h"
#include "log.h"
#include "scanwalk.h"
#include "store.h"

#define LOG_COUNT 100 /* log entries per XRANGE */
#define MAX_SWAPS 50
#define TOMBSTONE "{\"erased\":true}"

enum phase { P_BOARDS, P_HBOARDS, P_LAST, P_DAYS, P_CAPS, P_GOALS, P_URLS, P_TOKENS, P_DONE };

typedef struct erase {
    store *st;
    boards *bc;
    char org[EVENT_NAME_MAX + 1];
    char leader[EVENT_NAME_MAX + 1];
    char team[EVENT_NAME_MAX + 1];
    char prefix[EVENT_NAME_MAX + 3]; /* "leader|*" */
    enum phase phase;
    scanwalk *cur; /* the walk whose item a command in flight is for */
    scanwalk *kw;  /* the key walk a field walk was started from */
    char hash[KEYS_MAX];
    char name[2 * EVENT_NAME_MAX + 2]; /* the board a command in flight is for */
    const char *stream;                /* the stream being rewritten: "audit", "events" */
    int pending;                       /* XADDs of a log page in flight */
    bool page_full, copy_failed;
    char cursor[64]; /* XRANGE start: "-" or "(<id>" */
    char last[48];   /* last log entry read */
    int swaps;
    erase_result res;
    erase_done_fn *done;
    void *arg;
} erase;

static void run_phase(erase *j);
static void log_next(erase *j);

/* Ends the job. */
static void finish(erase *j, const char *error)
{
    if (error)
        log_err("erase %s: %s", j->leader, error);
    j->done(j->arg, error, error ? NULL : &j->res);
    free(j);
}

/* Sends a command given as NUL-terminated words. */
static int send(erase *j, store_cb *cb, int argc, const char **argv)
{
    size_t lens[16];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return store_command(j->st, cb, j, argc, argv, lens);
}

/* A walk is over: the next phase, or the error. */
static void on_walked(void *arg, const char *error)
{
    erase *j = arg;
    if (error) {
        finish(j, error);
        return;
    }
    j->phase++;
    run_phase(j);
}

/* Reply to a per-item command: go on with the walk. */
static void on_item_done(void *arg, const store_reply *r)
{
    erase *j = arg;
    scanwalk *w = j->cur;
    if (r == NULL || store_reply_is_error(r)) {
        scanwalk_fail(w, "a command failed");
        return;
    }
    scanwalk_next(w);
}

/* Reply to erase.lua "board". */
static void on_board(void *arg, const store_reply *r)
{
    erase *j = arg;
    if (r && !store_reply_is_error(r) && store_reply_int(r) > 0) {
        j->res.boards++;
        boards_note_version(j->bc, j->org, j->name, store_reply_int(r));
    }
    on_item_done(arg, r);
}

/* A board or hidden board: remove the leader's standing. */
static void board_item(void *arg, scanwalk *w, const char *key, const char *value)
{
    erase *j = arg;
    (void)value;
    j->cur = w;
    char ch[EVENT_NAME_MAX + 1], per[PERIOD_ID_MAX + 1];
    if (!keys_split_board(key, ch, sizeof(ch), per, sizeof(per))) {
        scanwalk_next(w);
        return;
    }
    snprintf(j->name, sizeof(j->name), "%s:%s", ch, per);
    char tboard[KEYS_MAX], tcount[KEYS_MAX], bver[KEYS_MAX], badj[KEYS_MAX];
    keys_team_board(tboard, j->org, "tboard", ch, per);
    keys_team_board(tcount, j->org, "tcount", ch, per);
    keys_org(bver, j->org, "bver");
    keys_team_board(badj, j->org, "badj", ch, per);
    const char *argv[] = {key,     tboard,    tcount,  bver,    badj,
                          "board", j->leader, j->name, j->team, j->phase == P_BOARDS ? "1" : "0"};
    size_t lens[10];
    for (int i = 0; i < 10; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(j->st, STORE_SCRIPT_ERASE, 5, 10, argv, lens, on_board, j) < 0)
        scanwalk_fail(w, "Redis went away");
}

/* A hash with one field per leader (last:*, days:*): delete the leader's. */
static void field_item(void *arg, scanwalk *w, const char *key, const char *value)
{
    erase *j = arg;
    (void)value;
    j->cur = w;
    const char *argv[] = {"HDEL", key, j->leader};
    if (send(j, on_item_done, 3, argv) < 0)
        scanwalk_fail(w, "Redis went away");
}

/* One field "leader|..." of a hash: delete it (the field walk goes on). */
static void prefixed_field(void *arg, scanwalk *w, const char *field, const char *value)
{
    erase *j = arg;
    (void)value;
    j->cur = w;
    const char *argv[] = {"HDEL", j->hash, field};
    if (send(j, on_item_done, 3, argv) < 0)
        scanwalk_fail(w, "Redis went away");
}

/* The field walk of one hash is over: back to the key walk. */
static void on_fields_walked(void *arg, const char *error)
{
    erase *j = arg;
    (void)error; /* a hash that went away meanwhile is fine */
    scanwalk_next(j->kw);
}

/* A hash with fields "leader|..." (cap:*, goal:*): walk its fields. */
static void hash_item(void *arg, scanwalk *w, const char *key, const char *value)
{
    erase *j = arg;
    (void)value;
    snprintf(j->hash, sizeof(j->hash), "%s", key);
    j->kw = w;
    if (scanwalk_fields(j->st, key, j->prefix, prefixed_field, on_fields_walked, j) < 0)
        scanwalk_fail(w, "Redis went away");
}

/* Reply to token.lua "delete". */
static void on_token(void *arg, const store_reply *r)
{
    erase *j = arg;
    if (r && !store_reply_is_error(r) && !store_reply_is_nil(r))
        j->res.tokens++;
    on_item_done(arg, r);
}

/* A token ("sha" -> "id role leader"): delete it when it is the leader's. */
static void token_item(void *arg, scanwalk *w, const char *sha, const char *value)
{
    erase *j = arg;
    (void)sha;
    j->cur = w;
    char id[64], role[16], leader[EVENT_NAME_MAX + 1];
    if (value == NULL || sscanf(value, "%63s %15s %64s", id, role, leader) != 3 ||
        strcmp(leader, j->leader) != 0) {
        scanwalk_next(w);
        return;
    }
    char tokens[KEYS_MAX], ids[KEYS_MAX];
    keys_org(tokens, j->org, "tokens");
    keys_org(ids, j->org, "tokenids");
    const char *argv[] = {tokens, ids, "delete", id};
    size_t lens[4];
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(j->st, STORE_SCRIPT_TOKEN, 2, 4, argv, lens, on_token, j) < 0)
        scanwalk_fail(w, "Redis went away");
}

/* Starts the walk of the current phase. */
static void run_phase(erase *j)
{
    char pattern[KEYS_MAX];
    int rc = 0;
    switch (j->phase) {
    case P_BOARDS:
    case P_HBOARDS:
        keys_org(pattern, j->org, j->phase == P_BOARDS ? "board:*" : "hboard:*");
        rc = scanwalk_keys(j->st, pattern, board_item, on_walked, j);
        break;
    case P_LAST:
    case P_DAYS:
        keys_org(pattern, j->org, j->phase == P_LAST ? "last:*" : "days:*");
        rc = scanwalk_keys(j->st, pattern, field_item, on_walked, j);
        break;
    case P_CAPS:
    case P_GOALS:
        keys_org(pattern, j->org, j->phase == P_CAPS ? "cap:*" : "goal:*");
        rc = scanwalk_keys(j->st, pattern, hash_item, on_walked, j);
        break;
    case P_URLS:
        keys_org(j->hash, j->org, "urls");
        rc = scanwalk_fields(j->st, j->hash, j->prefix, prefixed_field, on_walked, j);
        break;
    case P_TOKENS:
        keys_org(pattern, j->org, "tokens");
        rc = scanwalk_fields(j->st, pattern, "*", token_item, on_walked, j);
        break;
    case P_DONE:
        j->stream = "audit"; /* then "events" */
        snprintf(j->cursor, sizeof(j->cursor), "-");
        log_next(j);
        return;
    }
    if (rc < 0)
        finish(j, "Redis went away");
}

/* --- log: rewrite aside without the leader's events ------------------------ */

/* The aside copy of the stream being rewritten. */
static void aside_log(const erase *j, char *out)
{
    keys_leader(out, j->org, strcmp(j->stream, "audit") == 0 ? "erasing:audit" : "erasing:events",
                j->leader);
}

static void on_log_range(void *arg, const store_reply *r);

static void log_next(erase *j)
{
    char key[KEYS_MAX];
    keys_org(key, j->org, j->stream);
    const char *argv[] = {"XRANGE", key, j->cursor, "+", "COUNT", "100"};
    if (send(j, on_log_range, 6, argv) < 0)
        finish(j, "Redis went away");
}

/* True if an event JSON of the log is the leader's. */
static bool is_leaders(const erase *j, const char *json, size_t len)
{
    json_t *o = json_loadb(json, len, 0, NULL);
    const char *l = json_string_value(json_object_get(o, "leader"));
    bool mine = l && strcmp(l, j->leader) == 0;
    json_decref(o);
    return mine;
}

static void on_copied(void *arg, const store_reply *r);
static void swap_log(erase *j);

static void on_log_range(void *arg, const store_reply *r)
{
    erase *j = arg;
    if (r == NULL || store_reply_is_error(r)) {
        finish(j, "reading the event log failed");
        return;
    }
    size_t n = store_reply_len(r);
    char aside[KEYS_MAX];
    aside_log(j, aside);
    /* One pipeline of XADDs for the page: the store sends them in order and
     * the replies come back in order; the last one reads on. */
    int pending = 0;
    for (size_t i = 0; i < n; i++) {
        const store_reply *e = store_reply_at(r, i);
        const char *id = store_reply_str(store_reply_at(e, 0), NULL);
        const store_reply *f = store_reply_at(e, 1);
        size_t nf = store_reply_len(f);
        if (id == NULL)
            continue;
        snprintf(j->last, sizeof(j->last), "%s", id);
        snprintf(j->cursor, sizeof(j->cursor), "(%s", id);
        const char **argv = calloc(nf + 3, sizeof(*argv));
        size_t *lens = calloc(nf + 3, sizeof(*lens));
        if (argv == NULL || lens == NULL)
            abort();
        size_t k = 0, kept = 0; /* fields copied, tombstones aside */
        argv[k] = "XADD", lens[k++] = 4;
        argv[k] = aside, lens[k++] = strlen(aside);
        argv[k] = id, lens[k++] = strlen(id);
        for (size_t x = 0; x + 1 < nf; x += 2) {
            size_t nl, vl;
            const char *name = store_reply_str(store_reply_at(f, x), &nl);
            const char *v = store_reply_str(store_reply_at(f, x + 1), &vl);
            if (name == NULL || v == NULL)
                continue;
            bool mine = false;
            if (strcmp(name, "a") == 0 || strcmp(name, "e") == 0)
                mine = is_leaders(j, v, vl);
            else if (strcmp(name, "leader") == 0) /* an audit entry */
                mine = strcmp(v, j->leader) == 0;
            if (mine && strcmp(name, "e") != 0) {
                j->res.events += strcmp(name, "a") == 0;
                kept = 0; /* an adjustment, in the log or the audit stream: left out whole */
                k = 3;
                break;
            }
            if (strcmp(name, "e") == 0 && mine && x + 5 < nf) {
                /* the event's e, r, p become a tombstone */
                argv[k] = "e", lens[k++] = 1;
                argv[k] = TOMBSTONE, lens[k++] = strlen(TOMBSTONE);
                argv[k] = "r", lens[k++] = 1;
                argv[k] = "", lens[k++] = 0;
                argv[k] = "p", lens[k++] = 1;
                argv[k] = "", lens[k++] = 0;
                x += 4;
                j->res.events++;
                continue;
            }
            kept++;
            argv[k] = name, lens[k++] = nl;
            argv[k] = v, lens[k++] = vl;
        }
        if (kept > 0) { /* an entry of the leader's events only is left out */
            if (store_command(j->st, on_copied, j, (int)k, argv, lens) < 0) {
                /* XADDs already sent still answer (with NULL): the last one ends the job */
                free(argv);
                free(lens);
                j->copy_failed = true;
                break;
            }
            pending++;
        }
        free(argv);
        free(lens);
    }
    if (pending == 0 && j->copy_failed) {
        finish(j, "Redis went away");
        return;
    }
    if (pending == 0) {
        if (n < LOG_COUNT)
            swap_log(j);
        else
            log_next(j);
        return;
    }
    /* on_copied counts replies down; the last one decides what comes next */
    j->pending = pending;
    j->page_full = n == LOG_COUNT;
}

static void on_copied(void *arg, const store_reply *r)
{
    erase *j = arg;
    if (r == NULL || store_reply_is_error(r))
        j->copy_failed = true;
    if (--j->pending > 0)
        return;
    if (j->copy_failed)
        finish(j, "copying the event log failed");
    else if (j->page_full)
        log_next(j);
    else
        swap_log(j);
}

static void on_swapped(void *arg, const store_reply *r)
{
    erase *j = arg;
    const char *s = store_reply_str(r, NULL);
    if (s == NULL || store_reply_is_error(r)) {
        finish(j, "swapping the event log failed");
    } else if (strcmp(s, "more") == 0) {
        if (++j->swaps > MAX_SWAPS)
            finish(j, "the event log kept growing; run the erase again when it is quieter");
        else
            log_next(j);
    } else if (strcmp(j->stream, "audit") == 0) {
        j->stream = "events";
        j->swaps = 0;
        j->last[0] = '\0';
        snprintf(j->cursor, sizeof(j->cursor), "-");
        log_next(j);
    } else {
        finish(j, NULL);
    }
}

/* Puts the rewritten log in place unless the log grew. */
static void swap_log(erase *j)
{
    char log_key[KEYS_MAX], aside[KEYS_MAX];
    keys_org(log_key, j->org, j->stream);
    aside_log(j, aside);
    const char *argv[] = {log_key, aside, "swap", j->last};
    size_t lens[4];
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(j->st, STORE_SCRIPT_ERASE, 2, 4, argv, lens, on_swapped, j) < 0)
        finish(j, "Redis went away");
}

/* --- start ----------------------------------------------------------------- */

static void on_started(void *arg, const store_reply *r)
{
    erase *j = arg;
    if (r == NULL || store_reply_is_error(r)) {
        finish(j, "Redis refused the first step");
        return;
    }
    if (store_reply_is_nil(r)) {
        j->done(j->arg, NULL, NULL); /* no such leader */
        free(j);
        return;
    }
    snprintf(j->team, sizeof(j->team), "%s", store_reply_str(r, NULL));
    j->phase = P_BOARDS;
    run_phase(j);
}

int erase_leader(store *st, boards *bc, const char *org, const char *leader, erase_done_fn *done,
                 void *arg)
{
    if (!store_ready(st))
        return -1;
    erase *j = calloc(1, sizeof(*j));
    if (j == NULL)
        abort();
    j->st = st;
    j->bc = bc;
    snprintf(j->org, sizeof(j->org), "%s", org);
    snprintf(j->leader, sizeof(j->leader), "%s", leader);
    snprintf(j->prefix, sizeof(j->prefix), "%s|*", leader);
    j->done = done;
    j->arg = arg;
    char k[5][KEYS_MAX];
    keys_org(k[0], org, "leaders");
    keys_org(k[1], org, "hidden");
    keys_org(k[2], org, "lastev");
    keys_leader(k[3], org, "badges", leader);
    keys_leader(k[4], org, "adj", leader);
    const char *argv[] = {k[0], k[1], k[2], k[3], k[4], "start", leader};
    size_t lens[7];
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(st, STORE_SCRIPT_ERASE, 5, 7, argv, lens, on_started, j) < 0) {
        free(j);
        return -1;
    }
    return 0;
}
