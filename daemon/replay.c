/*
 * replay.c - rescoring a period from the event log (see replay.h).
 *
 * A job is a small state machine driven by store callbacks, one command in
 * flight at a time:
 *
 *   read:  XRANGE log (cursor .. end COUNT 200) -> plan the events that count
 *          in the period, keep adjustments for it; when 500 events wait, or
 *          the range is read, send them
 *   score: one score.lua call with the job's aside keys -> read on
 *   swap:  swap.lua; "more" when the log grew in range -> read on
 *   clean: UNLINK the job's other keys, 100 per command -> done
 */
#include "replay.h"

#include <inttypes.h>
#include <math.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "keys.h"
#include "log.h"
#include "scoring.h"
#include "store.h"
#include "util.h"

#define READ_COUNT   200 /* log entries per XRANGE, at most */
#define BATCH        250 /* events per score.lua call: a few ms of Redis time */
#define MAX_SWAPS    50  /* tries before giving up on a log that keeps growing */
#define UNLINK_STEP  100 /* keys per UNLINK */
#define ARRIVAL_SKEW 300 /* s: an event's `at` may be up to 5 minutes after its arrival */

typedef struct replay {
    store *st;
    char org[EVENT_NAME_MAX + 1];
    rules *r; /* the job's own copy */
    int challenge;
    period per;
    char aside[48];
    char end[32];     /* last stream id in range, or "+" */
    char cursor[64];  /* next XRANGE start: "-", "<ms>" or "(<id>" */
    char last[48];    /* id of the last entry read whole, "" = none */
    char partial[48]; /* id of an entry read in part, "" = none */
    size_t skip;      /* events of `partial` already taken */
    bool range_done;  /* the last XRANGE reached the end of the range */
    int count;        /* entries to ask for: about a call's worth of events */
    int64_t seen_entries, seen_events;
    scorecall *call;
    event *evs; /* events waiting to be scored, with their plans */
    score_plan *plans;
    score_std *stds;
    size_t n, cap;
    int64_t adjustments; /* applied by the swap */
    json_t *keys;        /* every aside key the job wrote, as a set */
    int64_t events, version;
    int swaps;
    replay_done_fn *done;
    replay_top_fn *top_done; /* a preview (replay_top), not a rescore */
    int top_n;
    json_t *top;
    void *arg;
} replay;

static void read_more(replay *j);

/* Frees a job and everything it holds. */
static void job_free(replay *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free(j->evs[i].url);
        free(j->evs[i].note);
    }
    free(j->evs);
    free(j->plans);
    free(j->stds);
    json_decref(j->keys);
    json_decref(j->top);
    scorecall_free(j->call);
    rules_free(j->r);
    free(j);
}

/* The key a live key of the job has aside. */
static void aside_key(const replay *j, const char *live, char *out, size_t len)
{
    const char *tag = strstr(live, "}:");
    size_t head = tag ? (size_t)(tag - live) + 2 : 0, a = strlen(j->aside), rest = strlen(live);
    if (head + a + 1 + (rest - head) >= len) { /* cannot happen: keys are short */
        out[0] = '\0';
        return;
    }
    memcpy(out, live, head);
    memcpy(out + head, j->aside, a);
    out[head + a] = ':';
    memcpy(out + head + a + 1, live + head, rest - head + 1);
}

/* Ends the job: tells the caller, then frees it. */
static void finish(replay *j, const char *error, int64_t version)
{
    if (error)
        log_err("%s %s: %s", j->top_done ? "dry run" : "rescore", j->per.id, error);
    if (j->top_done) {
        j->top_done(j->arg, error, error ? NULL : j->top);
        if (!error)
            j->top = NULL; /* handed over */
    } else {
        j->done(j->arg, error, j->events, j->adjustments, version);
    }
    job_free(j);
}

static void clean(replay *j);

/* ZREVRANGE of a preview's board: the top, ranked, then clean up. */
static void on_top(void *arg, const store_reply *r)
{
    replay *j = arg;
    if (r == NULL || store_reply_is_error(r)) {
        finish(j, "reading the replayed board failed", 0);
        return;
    }
    j->top = json_array();
    int64_t prev = 0;
    size_t rank = 0;
    for (size_t i = 0; i + 1 < store_reply_len(r); i += 2) {
        const char *leader = store_reply_str(store_reply_at(r, i), NULL);
        const char *comp = store_reply_str(store_reply_at(r, i + 1), NULL);
        /* the composite (see score.lua) is exact below 2^53: its high part is the score */
        int64_t score = (int64_t)floor(strtod(comp ? comp : "0", NULL) / 4294967296.0);
        if (i == 0 || score != prev)
            rank = i / 2 + 1; /* competition ranking */
        prev = score;
        json_array_append_new(j->top, json_pack("{s:i,s:s,s:I}", "rank", (int)rank, "leader",
                                                leader ? leader : "", "score", (json_int_t)score));
    }
    clean(j);
}

/* A preview's last step: read the top of the board it built. */
static void read_top(replay *j)
{
    const rules_challenge *ch = &j->r->challenges[j->challenge];
    char live[KEYS_MAX], moved[KEYS_MAX + 64], stop[16];
    keys_board(live, j->org, ch->id, j->per.id);
    aside_key(j, live, moved, sizeof(moved));
    json_object_set_new(j->keys, moved, json_true()); /* removed with the rest */
    snprintf(stop, sizeof(stop), "%d", j->top_n - 1);
    const char *argv[] = {"ZREVRANGE", moved, "0", stop, "WITHSCORES"};
    size_t lens[5];
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    if (store_command(j->st, on_top, j, 5, argv, lens) < 0)
        finish(j, "Redis went away while reading the board", 0);
}

/* Reply to an UNLINK of leftover keys: unlink the next ones, or finish. */
static void on_cleaned(void *arg, const store_reply *r);

/* Unlinks up to UNLINK_STEP of the job's leftover keys. */
static void clean(replay *j)
{
    const char *argv[UNLINK_STEP + 1];
    size_t lens[UNLINK_STEP + 1];
    int argc = 1;
    argv[0] = "UNLINK";
    lens[0] = 6;
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(j->keys, tmp, key, v)
    {
        if (argc > UNLINK_STEP)
            break;
        argv[argc] = key;
        lens[argc++] = strlen(key);
    }
    if (argc == 1) {
        finish(j, NULL, j->version);
        return;
    }
    if (store_command(j->st, on_cleaned, j, argc, argv, lens) < 0)
        finish(j, "Redis went away while cleaning up", 0);
}

static void on_cleaned(void *arg, const store_reply *r)
{
    replay *j = arg;
    if (r == NULL || store_reply_is_error(r)) {
        finish(j, "Redis refused to unlink the job's keys", 0);
        return;
    }
    const char *key;
    json_t *v;
    void *tmp;
    int k = 0;
    json_object_foreach_safe(j->keys, tmp, key, v)
    {
        if (k++ == UNLINK_STEP)
            break;
        json_object_del(j->keys, key);
    }
    clean(j);
}

static void on_swapped(void *arg, const store_reply *r);

/* Sends swap.lua: the growth check, the board's adjustments, the swap. */
static void swap(replay *j)
{
    const rules_challenge *ch = &j->r->challenges[j->challenge];
    char live[4][KEYS_MAX], moved[4][KEYS_MAX + 64], fixed[4][KEYS_MAX];
    keys_board(live[0], j->org, ch->id, j->per.id);
    keys_team_board(live[1], j->org, "tboard", ch->id, j->per.id);
    keys_team_board(live[2], j->org, "tcount", ch->id, j->per.id);
    keys_team_board(live[3], j->org, "hboard", ch->id, j->per.id);
    keys_org(fixed[0], j->org, "events");
    keys_org(fixed[1], j->org, "bver");
    keys_org(fixed[2], j->org, "leaders");
    keys_team_board(fixed[3], j->org, "badj", ch->id, j->per.id);
    const char *argv[15];
    size_t lens[15], n = 0;
    for (int i = 0; i < 4; i++)
        argv[n++] = fixed[i];
    for (int i = 0; i < 4; i++) {
        aside_key(j, live[i], moved[i], sizeof(moved[i]));
        argv[n++] = moved[i];
        argv[n++] = live[i];
        json_object_del(j->keys, moved[i]); /* renamed, not left over */
    }
    char name[KEYS_MAX];
    keys_board_name(name, ch->id, j->per.id);
    argv[n++] = j->last;
    argv[n++] = j->end;
    argv[n++] = name;
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    if (store_script(j->st, STORE_SCRIPT_SWAP, 12, (int)n, argv, lens, on_swapped, j) < 0)
        finish(j, "Redis went away before the swap", 0);
}

static void on_swapped(void *arg, const store_reply *r)
{
    replay *j = arg;
    const char *what = store_reply_str(store_reply_at(r, 0), NULL);
    if (r == NULL || store_reply_is_error(r) || what == NULL) {
        finish(j, "the swap failed", 0);
    } else if (strcmp(what, "more") == 0) {
        if (++j->swaps > MAX_SWAPS) {
            finish(j, "the log kept growing in range; try again when it is quieter", 0);
            return;
        }
        j->range_done = false;
        read_more(j);
    } else {
        j->version = store_reply_int(store_reply_at(r, 1));
        j->adjustments = store_reply_int(store_reply_at(r, 2));
        clean(j);
    }
}

static void on_scored(void *arg, const store_reply *r);

/* Sends the waiting events as one score.lua call with the job's keys. */
static void score_batch(replay *j)
{
    scorecall_opts o = {.idempotency_ttl = 86400, .aside = j->aside, .period_only = true};
    scorecall_begin(j->call, j->org, util_now_ms(), &o);
    scorecall_add(j->call, j->r, j->evs, j->plans, j->stds, j->n, false);
    int nkeys;
    const char **argv;
    const size_t *lens;
    int argc = scorecall_finish(j->call, &nkeys, &argv, &lens);
    for (int i = 1; i < nkeys; i++) /* every key but the leaders hash is aside */
        json_object_setn_new(j->keys, argv[i], lens[i], json_true());
    if (store_script(j->st, STORE_SCRIPT_SCORE, nkeys, argc, argv, lens, on_scored, j) < 0)
        finish(j, "Redis went away while scoring", 0);
}

static void on_scored(void *arg, const store_reply *r)
{
    replay *j = arg;
    if (r == NULL || store_reply_is_error(r)) {
        finish(j, store_reply_str(r, NULL) ? store_reply_str(r, NULL) : "scoring failed", 0);
        return;
    }
    j->events += (int64_t)j->n;
    for (size_t i = 0; i < j->n; i++) {
        free(j->evs[i].url);
        free(j->evs[i].note);
    }
    j->n = 0;
    if (j->range_done)
        j->top_done ? read_top(j) : swap(j);
    else
        read_more(j);
}

/* Keeps one event of the log when it counts in the job's period. */
static void take_event(replay *j, const char *json, size_t len)
{
    event_batch b = {0};
    errlist errs = {0};
    if (len > 0 && strncmp(json, "{\"erased\":", 11) == 0)
        return; /* an erased leader's event (erase.c) */
    /* `now` far ahead: the log's events were checked when they arrived */
    if (event_parse_json(json, len, INT64_MAX / 2, &b, &errs) < 0 || b.n != 1) {
        log_warn("rescore: skipping an event the log holds but that no longer parses");
        errlist_clear(&errs);
        event_batch_free(&b);
        return;
    }
    if (j->n == j->cap) {
        j->cap = j->cap ? 2 * j->cap : BATCH;
        j->evs = realloc(j->evs, j->cap * sizeof(*j->evs));
        j->plans = realloc(j->plans, j->cap * sizeof(*j->plans));
        j->stds = realloc(j->stds, j->cap * sizeof(*j->stds));
        if (j->evs == NULL || j->plans == NULL || j->stds == NULL)
            abort();
    }
    score_plan *p = &j->plans[j->n];
    if (score_plan_replay(j->r, &b.v[0], j->challenge, j->per.id, p, &j->stds[j->n])) {
        p->first = j->n; /* one standing per event, at its own index */
        j->evs[j->n++] = b.v[0];
        b.v[0].url = b.v[0].note = NULL; /* moved */
    }
    event_batch_free(&b);
}

static void on_range(void *arg, const store_reply *r)
{
    replay *j = arg;
    if (r == NULL || store_reply_is_error(r)) {
        finish(j, "reading the event log failed", 0);
        return;
    }
    size_t n = store_reply_len(r), i;
    bool full = false;
    /* Stop once a call's worth waits. An entry stopped halfway is read
     * again from its start (cursor inclusive) and its first `skip` events
     * are passed over. */
    for (i = 0; i < n && !full; i++) {
        const store_reply *entry = store_reply_at(r, i);
        const char *id = store_reply_str(store_reply_at(entry, 0), NULL);
        const store_reply *f = store_reply_at(entry, 1);
        if (id == NULL)
            continue;
        size_t skip = strcmp(id, j->partial) == 0 ? j->skip : 0, nth = 0;
        if (skip == 0) {
            j->seen_entries++;
            j->seen_events += (int64_t)store_reply_len(f) / 6;
        }
        for (size_t k = 0; k + 1 < store_reply_len(f); k += 2) {
            size_t len;
            const char *name = store_reply_str(store_reply_at(f, k), NULL);
            const char *value = store_reply_str(store_reply_at(f, k + 1), &len);
            if (name == NULL || value == NULL)
                continue;
            if (strcmp(name, "e") == 0 && nth++ >= skip) {
                if (j->n >= BATCH) { /* this event and the rest wait for the next call */
                    full = true;
                    snprintf(j->partial, sizeof(j->partial), "%s", id);
                    snprintf(j->cursor, sizeof(j->cursor), "%s", id);
                    j->skip = nth - 1;
                    break;
                }
                take_event(j, value, len);
            }
        }
        if (!full) {
            j->partial[0] = '\0';
            snprintf(j->last, sizeof(j->last), "%s", id);
            snprintf(j->cursor, sizeof(j->cursor), "(%s", id);
        }
    }
    j->range_done = !full && n < (size_t)j->count;
    /* Ask next for about one call's worth of entries, so that each XRANGE
     * is short for Redis and for the daemon. */
    int64_t per = j->seen_entries ? j->seen_events / j->seen_entries : 1;
    j->count = (int)(BATCH / (per > 0 ? per : 1));
    j->count = j->count < 1 ? 1 : j->count > READ_COUNT ? READ_COUNT : j->count;
    if (j->n >= BATCH || (j->range_done && j->n > 0))
        score_batch(j);
    else if (j->range_done)
        j->top_done ? read_top(j) : swap(j);
    else
        read_more(j);
}

/* Reads the next entries of the log in range. */
static void read_more(replay *j)
{
    char keylog[KEYS_MAX], count[16];
    keys_org(keylog, j->org, "events");
    snprintf(count, sizeof(count), "%d", j->count);
    const char *argv[] = {"XRANGE", keylog, j->cursor, j->end, "COUNT", count};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    if (store_command(j->st, on_range, j, 6, argv, lens) < 0)
        finish(j, "Redis went away while reading the log", 0);
}

/* Creates a job and starts reading the log. */
static int start(store *st, const char *org, const rules *r, int challenge, const period *per,
                 replay_done_fn *done, replay_top_fn *top_done, int top_n, void *arg)
{
    if (!store_ready(st))
        return -1;
    errlist errs = {0};
    rules *copy = rules_parse(r->source, strlen(r->source), &errs);
    errlist_clear(&errs);
    if (copy == NULL)
        return -1;
    replay *j = calloc(1, sizeof(*j));
    if (j == NULL)
        abort();
    j->st = st;
    snprintf(j->org, sizeof(j->org), "%s", org);
    j->r = copy;
    j->challenge = challenge;
    j->per = *per;
    j->call = scorecall_new();
    j->keys = json_object();
    j->done = done;
    j->top_done = top_done;
    j->top_n = top_n > 0 ? top_n : 10;
    j->arg = arg;
    j->count = 16;
    unsigned char rnd[4] = {0};
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) /* a clash needs two jobs at once anyway */
        log_warn("rescore: no random bytes for the job id");
    snprintf(j->aside, sizeof(j->aside), "rs:%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    /* Events arrive at most ARRIVAL_SKEW before their `at`, and until the
     * period's end plus grace; the log's ids are arrival times. */
    const rules_challenge *ch = &copy->challenges[challenge];
    if (per->end >= PERIOD_ALL_END) {
        snprintf(j->cursor, sizeof(j->cursor), "-");
        snprintf(j->end, sizeof(j->end), "+");
    } else {
        int64_t from = per->start - ARRIVAL_SKEW, to = per->end + ch->grace + 60;
        snprintf(j->cursor, sizeof(j->cursor), "%" PRId64, (from > 0 ? from : 0) * 1000);
        snprintf(j->end, sizeof(j->end), "%" PRId64, to * 1000);
    }
    read_more(j);
    return 0;
}

int replay_rescore(store *st, const char *org, const rules *r, int challenge, const period *per,
                   replay_done_fn *done, void *arg)
{
    return start(st, org, r, challenge, per, done, NULL, 0, arg);
}

int replay_top(store *st, const char *org, const rules *r, int challenge, const period *per, int n,
               replay_top_fn *done, void *arg)
{
    return start(st, org, r, challenge, per, NULL, done, n, arg);
}
