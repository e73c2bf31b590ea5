/*
 * http_rescore.c - POST /v1/admin/challenges/{id}/rescore?period=: rebuild
 * one period's board from the event log under the rules in force.
 *
 * One rescore per board at a time, whatever the number of daemons: a lock
 * key (SET NX with a TTL) is taken first and deleted at the end. The
 * request is answered when the new board is in place (replay.h), with how
 * many events and adjustments were replayed; the read cache learns the
 * board's new version at once.
 */
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boards.h"
#include "http_server.h"
#include "ingest.h"
#include "keys.h"
#include "replay.h"
#include "store.h"
#include "util.h"

#define LOCK_TTL "900" /* s: a rescore that died leaves its lock this long */

struct rescore {
    http_req *q;
    char lock[KEYS_MAX];
    char board[EVENT_NAME_MAX + PERIOD_ID_MAX + 2]; /* "challenge:period" */
    int challenge;
    period per;
    int64_t started;
    const char *error;
    int64_t events, adjustments, version;
};

/* DEL of the lock: answers the request. */
static void on_unlocked(void *arg, const store_reply *r)
{
    struct rescore *rs = arg;
    http_req *q = rs->q;
    (void)r;
    if (rs->error) {
        char detail[512];
        snprintf(detail, sizeof(detail),
                 "The rescore did not finish (%s); the live board is unchanged.", rs->error);
        http_problem(q, 503, "rescore-failed", detail, NULL);
    } else {
        boards_note_version(q->a->bc, q->who.org, rs->board, rs->version);
        struct evbuffer *b = evbuffer_new();
        const char *colon = strchr(rs->board, ':');
        evbuffer_add_printf(b,
                            "{\"challenge\":\"%.*s\",\"period\":\"%s\",\"events\":%" PRId64
                            ",\"adjustments\":%" PRId64 ",\"version\":%" PRId64
                            ",\"took_ms\":%" PRId64 "}\n",
                            (int)(colon - rs->board), rs->board, rs->per.id, rs->events,
                            rs->adjustments, rs->version, util_now_ms() - rs->started);
        http_reply(q, 200, b);
    }
    free(rs);
}

/* Releases the lock, then answers. */
static void unlock(struct rescore *rs)
{
    const char *argv[] = {"DEL", rs->lock};
    size_t lens[] = {3, strlen(rs->lock)};
    if (store_command(rs->q->a->st, on_unlocked, rs, 2, argv, lens) < 0)
        on_unlocked(rs, NULL); /* the lock expires by itself */
}

static void on_replayed(void *arg, const char *error, int64_t events, int64_t adjustments,
                        int64_t version)
{
    struct rescore *rs = arg;
    rs->error = error ? "the replay failed; see podiumd's log" : NULL;
    rs->events = events;
    rs->adjustments = adjustments;
    rs->version = version;
    unlock(rs);
}

/* SET NX of the lock: start the replay, or say another one runs. */
static void on_locked(void *arg, const store_reply *r)
{
    struct rescore *rs = arg;
    http_req *q = rs->q;
    const rules *rl = http_rules(q);
    if (r == NULL || store_reply_is_error(r) || rl == NULL) {
        free(rs);
        http_unavailable(q);
        return;
    }
    if (store_reply_is_nil(r)) {
        free(rs);
        http_problem(q, 409, "rescore-running",
                     "A rescore of this board is already running; try again when it is done.",
                     NULL);
        return;
    }
    rs->started = util_now_ms();
    if (replay_rescore(q->a->st, q->who.org, rl, rs->challenge, &rs->per, on_replayed, rs) < 0) {
        rs->error = "Redis is not ready";
        unlock(rs);
    }
}

void http_rescore_post(http_req *q)
{
    const rules *r = http_read_rules(q);
    if (r == NULL) {
        http_unavailable(q);
        return;
    }
    int c = rules_challenge_index(r, q->param[0]);
    if (c < 0) {
        http_problem(q, 404, "not-found",
                     "No challenge has this id; GET /v1/challenges lists them.", NULL);
        return;
    }
    const rules_challenge *ch = &r->challenges[c];
    char id[32] = "current";
    if (http_query(q, "period", id, sizeof(id)) == NULL)
        snprintf(id, sizeof(id), "current");
    period per;
    bool ok;
    if (strcmp(id, "all") == 0 || ch->period.kind == PERIOD_ALL) {
        per = (period){PERIOD_ALL_START, PERIOD_ALL_END, "all"};
        ok = strcmp(id, "all") == 0 || strcmp(id, "current") == 0;
    } else {
        ok = period_resolve(&ch->period, id, util_now_ms() / 1000, &per) &&
             per.start <= util_now_ms() / 1000;
    }
    if (!ok) {
        errlist errs = {0};
        errlist_add(&errs, "/period",
                    "'%s' is not a period of this challenge that has begun: use current, "
                    "previous, all or a period id such as those in GET /v1/challenges",
                    id);
        http_problem(q, 400, "invalid-query", "The period is not valid.", &errs);
        errlist_clear(&errs);
        return;
    }
    struct rescore *rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        abort();
    rs->q = q;
    rs->challenge = c;
    rs->per = per;
    snprintf(rs->board, sizeof(rs->board), "%s:%s", ch->id, per.id);
    keys_lock(rs->lock, q->who.org, "rescore", rs->board);
    const char *argv[] = {"SET", rs->lock, "1", "NX", "EX", LOCK_TTL};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    if (store_command(q->a->st, on_locked, rs, 6, argv, lens) < 0) {
        free(rs);
        http_unavailable(q);
    }
}
