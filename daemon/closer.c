/*
 * closer.c - period close, exactly once across daemons and orgs (see closer.h).
 *
 * The closer is the handler of the due index's "c" entries (due.h): when
 * an org's next close, digest or expiry falls due, one daemon claims the
 * org and runs it: a `run` looks, for each challenge, at the latest period
 * that is over (end + grace + CLOSER_SETTLE_S before now) and asks Redis
 * which of it and the CLOSER_CATCHUP - 1 periods before it are closed (one
 * HMGET), then starts a job for the oldest that is not, so that late closes
 * happen in order; then at midway digests the same way; then it sweeps
 * what outlived `retention`. At the end it tells the due index when the
 * org's next such work falls due (closer_next_due), so an org costs nothing
 * between two. One job runs at a time per run, CLOSER_RUNS runs at a time
 * per daemon; each step of a job is one close.lua call, and the next step
 * starts from that call's reply, so event intake interleaves with a close
 * and waits at most for one chunk.
 *
 * A run holds its org's context and rules for its whole length: the rules
 * may change meanwhile (the next run sees the new ones, and
 * closer_rules_changed makes it due as soon as they need). A job copies what
 * it needs of the rules when it starts (names, period bounds, the day its
 * streaks are judged on, the suggested activity).
 *
 * Ownership: the closer owns its runs, a run its job; a job lives from
 * job_start to job_end, and every store callback of a job (or run) is its
 * last reference until it sends the next command. closer_free after the
 * store: the store answers pending callbacks with NULL when it is freed,
 * and they end their jobs and runs.
 */
#include "closer.h"

#include <event2/event.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boards.h"
#include "due.h"
#include "event.h"
#include "keys.h"
#include "log.h"
#include "orgs.h"
#include "period.h"
#include "rules.h"
#include "store.h"
#include "tz.h"
#include "util.h"
#include "webhook.h"

#define CLOSER_SETTLE_S  1     /* longer than another daemon's read cache keeps a page */
#define CLOSER_RUNS      4     /* orgs worked on at once */
#define CLOSER_RETRY_MS  5000  /* a run that could not finish something looks again after this */
#define CLOSER_LEASE_MS  30000 /* a job whose owner went quiet this long is taken over */
#define CLOSER_SWEEP_MAX 100   /* expired keys unlinked per sweep (one a second while more wait) */
#define NAME_MAX_BYTES   512

typedef struct job job;
typedef struct run run;

/* A growing argument list for one close.lua call (strings copied). */
struct args {
    char **v;
    size_t *len;
    int n, cap;
};

struct closer {
    app *a;
    char owner[96]; /* this daemon, in job hashes */
    int64_t retention;
    bool stopping;
    size_t nruns;
    run *runs; /* in flight */
};

/* One org's turn (see the top). */
struct run {
    closer *cl;
    app *a;
    run *prev, *next;
    due_ticket *t;
    struct org *o; /* held for the run */
    rules *r;      /* a hold on the rules it works with */
    char org[EVENT_NAME_MAX + 1];
    char who[EVENT_NAME_MAX + 8]; /* "" for org default, else "org {id}: ", before log lines */
    const char *owner;
    int64_t retention;
    int checks;     /* HMGETs of closed periods in flight */
    job *job;       /* the job running, or NULL */
    bool retry;     /* something was busy elsewhere or failed: look again soon */
    int64_t retain; /* Unix s of the next expiry, 0 = none */
    /* The latest period known closed, and known to have had its midway
     * digests (or given up on for this run), per challenge id. */
    struct {
        char ch[EVENT_NAME_MAX + 1];
        char per[PERIOD_ID_MAX], mid[PERIOD_ID_MAX];
    } known[RULES_MAX_CHALLENGES];
    size_t nknown;
};

struct job {
    run *c;
    bool mid; /* midway digests ("digest_at"), not a close */
    bool ok;  /* it went through to the end, or was done already */
    char ch[EVENT_NAME_MAX + 1];
    char chname[NAME_MAX_BYTES];
    period per, prev;
    bool has_prev, count;
    int64_t ref_day;                   /* streaks alive on this local day count */
    char activity[EVENT_NAME_MAX + 1]; /* suggested next, "" for none */
    int64_t activity_points;
    char *archive;     /* the record, JSON (owned) */
    struct args *next; /* the call to send once webhooks are queued (owned) */
    int next_nkeys;
    store_cb *next_cb;
    int64_t started_ms, walked;
    int64_t cursor;
    char k_done[KEYS_MAX], k_job[KEYS_MAX];
};

/* One check of which periods of a challenge are closed (or, for mid, of
 * whether the current one had its midway digests). */
struct check {
    run *c;
    bool mid;
    char ch[EVENT_NAME_MAX + 1];
    char ids[CLOSER_CATCHUP][PERIOD_ID_MAX]; /* oldest first */
    size_t n;
};

static void job_end(job *j);
static void read_chunk(job *j);

/* The known-closed (or, for mid, known-digested) slot of challenge id ch,
 * made when missing. */
static char *known_of(run *c, const char *ch, bool mid)
{
    size_t i = 0;
    while (i < c->nknown && strcmp(c->known[i].ch, ch) != 0)
        i++;
    if (i == c->nknown) {
        if (c->nknown == RULES_MAX_CHALLENGES) /* rules changed a lot: start over */
            c->nknown = i = 0;
        snprintf(c->known[i].ch, sizeof(c->known[0].ch), "%s", ch);
        c->known[i].per[0] = c->known[i].mid[0] = '\0';
        c->nknown++;
    }
    return mid ? c->known[i].mid : c->known[i].per;
}

/* When the midway digests of period per of ch are due (Unix s). */
static int64_t midway_at(const rules_challenge *ch, const period *per)
{
    if (ch->period.kind == PERIOD_INTERVAL)
        return per->start + ch->digest_at;
    int64_t local = period_local_day(ch->zone, per->start) * 86400 + ch->digest_at;
    return ch->zone ? tz_local_to_utc(ch->zone, local) : local;
}

/* The latest period of ch that is over at `now`; false when none is. */
static bool due_period(const rules_challenge *ch, int64_t now, period *out)
{
    int64_t t = now - ch->grace - CLOSER_SETTLE_S;
    period cur;
    switch (ch->period.kind) {
    case PERIOD_ALL:
        return false;
    case PERIOD_FIXED:
        return t >= ch->period.fixed_end && period_at(&ch->period, ch->period.fixed_start, out);
    default:
        return period_at(&ch->period, t, &cur) && period_previous(&ch->period, &cur, out);
    }
}

/* English ordinal of n: "1st", "2nd", "3rd", "4th", "11th", "22nd". */
static const char *ordinal(int64_t n, char buf[32])
{
    const char *suf = "th";
    if (n % 100 < 11 || n % 100 > 13)
        suf = n % 10 == 1 ? "st" : n % 10 == 2 ? "nd" : n % 10 == 3 ? "rd" : "th";
    snprintf(buf, 32, "%" PRId64 "%s", n, suf);
    return buf;
}

/* "a" or "an" before a word: by its first sound, for the usual exceptions
 * to its first letter ("a one-on-one", "a user", "an hour"). */
static const char *article(const char *w)
{
    static const char *const a_before[] = {"one", "once", "uni", "use", "usu", "eu", "ewe"};
    static const char *const an_before[] = {"hour", "honest", "honour", "honor", "heir"};
    for (size_t i = 0; i < sizeof(a_before) / sizeof(a_before[0]); i++)
        if (strncmp(w, a_before[i], strlen(a_before[i])) == 0)
            return "a";
    for (size_t i = 0; i < sizeof(an_before) / sizeof(an_before[0]); i++)
        if (strncmp(w, an_before[i], strlen(an_before[i])) == 0)
            return "an";
    return strchr("aeiou", w[0]) && w[0] ? "an" : "a";
}

void closer_digest_text(char *out, size_t len, bool final, const char *challenge_name, int64_t rank,
                        bool tied, int64_t score, int64_t above_rank, int64_t above_score,
                        bool count, const char *activity, int64_t points)
{
    char r[32], a[32], words[EVENT_NAME_MAX + 1];
    const char *unit = count ? (score == 1 ? "event" : "events") : score == 1 ? "point" : "points";
    size_t n;
    if (above_rank == 0)
        n = (size_t)snprintf(out, len, "You %s %s%s in %s with %" PRId64 " %s",
                             final ? (tied ? "shared" : "finished") : (tied ? "share" : "are"),
                             ordinal(rank, r), tied ? " place" : "", challenge_name, score, unit);
    else {
        int64_t gap = above_score - score;
        const char *gunit = count ? (gap == 1 ? "event" : "events") : gap == 1 ? "point" : "points";
        n = (size_t)snprintf(out, len, "You %s %s%s in %s, %" PRId64 " %s behind %s",
                             final ? (tied ? "shared" : "finished") : (tied ? "share" : "are"),
                             ordinal(rank, r), tied ? " place" : "", challenge_name, gap, gunit,
                             ordinal(above_rank, a));
    }
    if (n >= len)
        return;
    if (activity == NULL || !*activity) {
        snprintf(out + n, len - n, ".");
        return;
    }
    /* "stakeholder_interaction" reads "a stakeholder interaction" */
    snprintf(words, sizeof(words), "%s", activity);
    for (char *p = words; *p; p++)
        if (*p == '_' || *p == '-')
            *p = ' ';
    snprintf(out + n, len - n, "%s%s %s is worth %" PRId64 " %s.", final ? ". Next time, " : "; ",
             article(words), words, points, points == 1 ? "point" : "points");
}

/* The activity of ch that scores most at its best multipliers, into j. */
static void suggest(job *j, const rules *r, const rules_challenge *ch)
{
    double best_ch = 1, best_st = 1;
    for (size_t i = 0; i < r->n_channel; i++)
        best_ch = r->channel[i].factor > best_ch ? r->channel[i].factor : best_ch;
    for (size_t i = 0; i < r->n_stakeholder; i++)
        best_st = r->stakeholder[i].factor > best_st ? r->stakeholder[i].factor : best_st;
    j->activity[0] = '\0';
    if (ch->scoring == RULES_SCORE_COUNT)
        return; /* every event counts one */
    for (size_t a = 0; a < r->n_activities; a++) {
        if (!ch->counts[a])
            continue;
        int64_t pts = rules_round_points(r->activities[a].points * best_ch * best_st);
        if (pts > 0 && (!j->activity[0] || pts > j->activity_points)) {
            snprintf(j->activity, sizeof(j->activity), "%s", r->activities[a].id);
            j->activity_points = pts;
        }
    }
}

/* Runs a close.lua operation with keys then args; false when not sent. */
static bool close_call(run *c, int nkeys, int argc, const char **argv, const size_t *lens,
                       store_cb *cb, void *arg)
{
    size_t *l = NULL;
    if (lens == NULL) {
        l = malloc((size_t)argc * sizeof(*l));
        if (l == NULL)
            abort();
        for (int i = 0; i < argc; i++)
            l[i] = strlen(argv[i]);
    }
    int rc =
        store_script(c->a->st, STORE_SCRIPT_CLOSE, nkeys, argc, argv, lens ? lens : l, cb, arg);
    free(l);
    return rc == 0;
}

/* Appends a copy of s[0..n). */
static void args_add(struct args *a, const char *s, size_t n)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->v = realloc(a->v, (size_t)a->cap * sizeof(*a->v));
        a->len = realloc(a->len, (size_t)a->cap * sizeof(*a->len));
        if (a->v == NULL || a->len == NULL)
            abort();
    }
    a->v[a->n] = malloc(n + 1);
    if (a->v[a->n] == NULL)
        abort();
    memcpy(a->v[a->n], s, n);
    a->v[a->n][n] = '\0';
    a->len[a->n++] = n;
}

/* Appends a copy of the NUL-terminated s. */
static void args_str(struct args *a, const char *s)
{
    args_add(a, s, strlen(s));
}

/* Appends v in decimal. */
static void args_int(struct args *a, int64_t v)
{
    char buf[24];
    args_add(a, buf, util_i64toa(v, buf));
}

/* Frees the copies. */
static void args_free(struct args *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    free(a->len);
}

/* Sends the call that a holds (nkeys keys first). */
static bool args_send(job *j, struct args *a, int nkeys, store_cb *cb)
{
    bool ok = close_call(j->c, nkeys, a->n, (const char **)a->v, a->len, cb, j);
    args_free(a);
    return ok;
}

static void run_look(run *c);

/* The job is over (done, busy elsewhere, lost or failed): the run looks on. */
static void job_end(job *j)
{
    run *c = j->c;
    c->job = NULL;
    if (!j->ok) { /* given up on for this run: look again soon */
        c->retry = true;
        snprintf(known_of(c, j->ch, j->mid), PERIOD_ID_MAX, "%s", j->per.id);
    }
    if (j->next) {
        args_free(j->next);
        free(j->next);
    }
    free(j->archive);
    free(j);
    run_look(c);
}

/* The webhooks of a step are queued (or could not be): send the step. */
static void on_enqueued(void *arg, const char *error, size_t queued, size_t skipped)
{
    job *j = arg;
    struct args *a = j->next;
    j->next = NULL;
    if (error != NULL) {
        log_warn("%sclosing %s %s: queuing webhooks: %s", j->c->who, j->ch, j->per.id, error);
        args_free(a);
        free(a);
        job_end(j);
        return;
    }
    log_debug("%s%s %s: %zu webhook deliveries queued, %zu already were", j->c->who, j->ch,
              j->per.id, queued, skipped);
    bool ok = args_send(j, a, j->next_nkeys, j->next_cb);
    free(a);
    if (!ok)
        job_end(j);
}

/* Queues n webhook events of `type` (dedupe keys and payloads copied), then
 * sends the close.lua call in a (taken over): so a step whose call went
 * through had its webhooks queued, and a step done again queues none twice. */
static void enqueue_then(job *j, const char *type, size_t n, const char *const *keys,
                         const char *const *payloads, const size_t *lens, struct args *a, int nkeys,
                         store_cb *cb)
{
    webhook *w = j->c->a->wh;
    if (w == NULL || n == 0) {
        if (!args_send(j, a, nkeys, cb))
            job_end(j);
        return;
    }
    j->next = malloc(sizeof(*j->next));
    if (j->next == NULL)
        abort();
    *j->next = *a;
    j->next_nkeys = nkeys;
    j->next_cb = cb;
    if (webhook_enqueue(w, j->c->org, type, n, keys, payloads, lens, on_enqueued, j) < 0)
        job_end(j);
}

/* Reply of finish. */
static void on_finish(void *arg, const store_reply *r)
{
    job *j = arg;
    j->ok = r != NULL && store_reply_int(r) == 1;
    if (r != NULL && store_reply_int(r) == 1 && j->mid) {
        log_info("%smidway digests of %s period %s: %" PRId64 " leaders in %.1f s", j->c->who,
                 j->ch, j->per.id, j->walked, (double)(util_now_ms() - j->started_ms) / 1000);
        snprintf(known_of(j->c, j->ch, true), PERIOD_ID_MAX, "%s", j->per.id);
    } else if (r != NULL && store_reply_int(r) == 1) {
        log_info("%sclosed %s period %s: %" PRId64 " leaders in %.1f s", j->c->who, j->ch,
                 j->per.id, j->walked, (double)(util_now_ms() - j->started_ms) / 1000);
        snprintf(known_of(j->c, j->ch, j->mid), PERIOD_ID_MAX, "%s", j->per.id);
    } else if (r != NULL) {
        log_warn("%sclosing %s %s: %s", j->c->who, j->ch, j->per.id,
                 store_reply_is_error(r) ? store_reply_str(r, NULL)
                                         : "taken over by another daemon");
    }
    job_end(j);
}

/* Step 3: the record, retention and the announcement, in one call. */
static void finish(job *j)
{
    run *c = j->c;
    struct args a = {0};
    char key[KEYS_MAX], msg[3 * KEYS_MAX];
    int64_t now = util_now_ms() / 1000;
    args_str(&a, j->k_done);
    args_str(&a, j->k_job);
    /* A period in which nobody scored closes quietly: recorded (so that it
     * is closed once), but not listed, not streamed and not pushed. */
    json_t *rec = j->mid ? NULL : json_loads(j->archive, 0, NULL);
    size_t n = json_integer_value(json_object_get(rec, "leaders")) > 0;
    json_decref(rec);
    keys_closedp(key, c->org, j->ch);
    args_str(&a, n ? key : j->k_job); /* the job key again: not listed */
    keys_org(key, c->org, "retain");
    args_str(&a, key);
    args_str(&a, "finish");
    args_str(&a, c->owner);
    args_str(&a, j->per.id);
    if (j->mid) { /* the record is when it was done; nothing expires or is announced */
        args_int(&a, now);
        args_int(&a, now);
        args_int(&a, 0);
        args_str(&a, "");
        args_str(&a, "");
        if (!args_send(j, &a, 4, on_finish))
            job_end(j);
        return;
    }
    args_str(&a, j->archive);
    args_int(&a, now);
    args_int(&a, c->retention > 0 ? now + c->retention : 0);
    keys_push_channel(key, c->org);
    args_str(&a, n ? key : "");
    snprintf(msg, sizeof(msg), "closed %s %s", j->ch, j->per.id);
    args_str(&a, msg);
    static const char *const kinds[] = {"board", "tboard", "tcount", "hboard", "badj"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        keys_team_board(key, c->org, kinds[i], j->ch, j->per.id);
        args_str(&a, key);
    }
    snprintf(msg, sizeof(msg), "period %s %s", j->ch, j->per.id);
    args_str(&a, msg);
    char wkey[WEBHOOK_KEY_CHARS + 1];
    snprintf(wkey, sizeof(wkey), "closed:%s:%s", j->ch, j->per.id);
    const char *keys[] = {wkey}, *payloads[] = {j->archive};
    size_t lens[] = {strlen(j->archive)};
    enqueue_then(j, "period_closed", n, keys, payloads, lens, &a, 4, on_finish);
}

/* Reply of a write: the step went through while the job is still ours. */
static void on_written(void *arg, const store_reply *r)
{
    job *j = arg;
    if (r == NULL || store_reply_is_error(r) || store_reply_int(r) != 1) {
        if (r != NULL && store_reply_is_error(r))
            log_warn("%sclosing %s %s: %s", j->c->who, j->ch, j->per.id, store_reply_str(r, NULL));
        job_end(j);
        return;
    }
    if (j->c->cl->stopping)
        job_end(j); /* the next daemon, or the next start, goes on from here */
    else if (j->cursor < 0)
        finish(j);
    else
        read_chunk(j);
}

/* The digest JSON of one leader. */
static char *digest_json(const job *j, const char *leader, const char *name, int64_t rank,
                         bool tied, int64_t score, int64_t movement_prev, int64_t above_rank,
                         int64_t above_score, int64_t streak, const char *text)
{
    char at[32];
    util_format_rfc3339(util_now_ms(), at);
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:I, s:I, s:s, s:s}", "type",
                          j->mid ? "midway" : "final", "challenge", j->ch, "challenge_name",
                          j->chname, "period", j->per.id, "leader", leader, "name", name, "rank",
                          (json_int_t)rank, "tied", tied, "score", (json_int_t)score, "streak",
                          (json_int_t)streak, "text", text, "at", at);
    if (d == NULL)
        abort();
    json_object_set_new(d, "movement",
                        movement_prev > 0 ? json_integer(movement_prev - rank) : json_null());
    if (above_rank > 0)
        json_object_set_new(d, "next",
                            json_pack("{s:I, s:I, s:I}", "rank", (json_int_t)above_rank, "score",
                                      (json_int_t)above_score, "gap",
                                      (json_int_t)(above_score - score)));
    else
        json_object_set_new(d, "next", json_null());
    if (j->activity[0])
        json_object_set_new(d, "suggestion",
                            json_pack("{s:s, s:I}", "activity", j->activity, "points",
                                      (json_int_t)j->activity_points));
    else
        json_object_set_new(d, "suggestion", json_null());
    char *s = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    if (s == NULL)
        abort();
    return s;
}

/* The streak of a "day:mask:streak" state if still alive on ref_day. */
static int64_t streak_of(const char *days, int64_t ref_day)
{
    int64_t day, mask, streak;
    if (days == NULL || sscanf(days, "%" SCNd64 ":%" SCNd64 ":%" SCNd64, &day, &mask, &streak) != 3)
        return 0;
    return day >= ref_day - 1 ? streak : 0;
}

/* Reply of read: one chunk of the board; writes its digests and badges. */
static void on_chunk(void *arg, const store_reply *r)
{
    job *j = arg;
    run *c = j->c;
    if (r == NULL || store_reply_is_error(r) || store_reply_len(r) < 2) {
        if (r != NULL)
            log_warn("%sclosing %s %s: %s", j->c->who, j->ch, j->per.id, store_reply_str(r, NULL));
        job_end(j);
        return;
    }
    enum { F = 6 }; /* fields per entry */
    size_t got = (store_reply_len(r) - 2) / F, n = got > CLOSER_CHUNK ? CLOSER_CHUNK : got;
    int64_t above = store_reply_int(store_reply_at(r, 0));
    int64_t above_rank = store_reply_int(store_reply_at(r, 1));
    bool more = got > CLOSER_CHUNK;
    int64_t off = j->cursor; /* position of the first entry, from 0 */
    struct args a = {0};
    char key[KEYS_MAX], field[KEYS_MAX], text[512];
    int64_t now = util_now_ms() / 1000;
    /* KEYS: the job hash, then per leader its digest hash, then badge hashes. */
    args_str(&a, j->k_job);
    for (size_t i = 0; i < n; i++) {
        keys_leader(key, c->org, "digest", store_reply_str(store_reply_at(r, 2 + F * i), NULL));
        args_str(&a, key);
    }
    int nkeys = a.n;
    for (size_t i = 0; i < n && !j->mid; i++) { /* places are for closes */
        int64_t rank = store_reply_int(store_reply_at(r, 4 + F * i));
        if (rank > 3)
            break;
        keys_leader(key, c->org, "badges", store_reply_str(store_reply_at(r, 2 + F * i), NULL));
        args_str(&a, key);
    }
    int nbadges = a.n - nkeys;
    nkeys = a.n;
    args_str(&a, "write");
    args_str(&a, c->owner);
    args_int(&a, util_now_ms());
    args_int(&a, CLOSER_LEASE_MS);
    args_int(&a, 2);
    args_str(&a, "step");
    args_str(&a, "walk");
    args_str(&a, "cursor");
    j->cursor = more ? j->cursor + (int64_t)n : -1;
    j->walked += (int64_t)n;
    args_int(&a, j->cursor < 0 ? INT64_C(0) - 1 : j->cursor);
    int64_t prev_score = INT64_MIN, prev_rank = 0;
    /* the digests also go to webhooks: dedupe key and payload per leader */
    char(*wkeys)[WEBHOOK_KEY_CHARS + 1] = calloc(n ? n : 1, sizeof(*wkeys));
    const char **wk = calloc(n ? n : 1, sizeof(*wk)), **wp = calloc(n ? n : 1, sizeof(*wp));
    size_t *wl = calloc(n ? n : 1, sizeof(*wl)), nw = 0;
    if (wkeys == NULL || wk == NULL || wp == NULL || wl == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *id = store_reply_str(store_reply_at(r, 2 + F * i), NULL);
        int64_t score = store_reply_int(store_reply_at(r, 3 + F * i));
        int64_t rank = store_reply_int(store_reply_at(r, 4 + F * i));
        const char *profile = store_reply_str(store_reply_at(r, 5 + F * i), NULL);
        const char *days = store_reply_str(store_reply_at(r, 6 + F * i), NULL);
        int64_t prev = store_reply_int(store_reply_at(r, 7 + F * i));
        if (id == NULL)
            continue;
        if (i > 0 && score != prev_score) { /* the group above is the one just read */
            above = prev_score;
            above_rank = prev_rank;
        }
        bool tied = (i > 0 && score == prev_score) || (i == 0 && rank < off + 1) ||
                    (i + 1 < got && store_reply_int(store_reply_at(r, 3 + F * (i + 1))) == score);
        prev_score = score;
        prev_rank = rank;
        json_t *p = profile && *profile ? json_loads(profile, 0, NULL) : NULL;
        const char *name = json_string_value(json_object_get(p, "name"));
        int64_t streak = j->count ? 0 : streak_of(days, j->ref_day);
        closer_digest_text(text, sizeof(text), !j->mid, j->chname, rank, tied, score,
                           rank > 1 ? above_rank : 0, above, j->count, j->activity,
                           j->activity_points);
        char *dj = digest_json(j, id, name ? name : id, rank, tied, score, prev,
                               rank > 1 ? above_rank : 0, above, streak, text);
        json_decref(p);
        args_int(&a, 2 + (int64_t)i);
        args_str(&a, j->ch);
        args_str(&a, dj);
        free(dj);
        snprintf(wkeys[nw], sizeof(wkeys[nw]), "digest:%s:%s:%s:%s", j->mid ? "midway" : "final",
                 j->ch, j->per.id, id);
        wk[nw] = wkeys[nw];
        wp[nw] = a.v[a.n - 1];
        wl[nw++] = a.len[a.n - 1];
        if ((int)i < nbadges && score > 0) { /* ranks 1 to 3 come first */
            static const char *const places[] = {"", "1st place", "2nd place", "3rd place"};
            args_int(&a, (int64_t)(n + 2 + i));
            snprintf(field, sizeof(field), "%s:%s:@%" PRId64, j->ch, j->per.id, rank);
            args_str(&a, field);
            snprintf(text, sizeof(text), "%s|%" PRId64, places[rank], now);
            args_str(&a, text);
        }
    }
    enqueue_then(j, "digest", nw, wk, wp, wl, &a, nkeys, on_written);
    free(wkeys);
    free(wk);
    free(wp);
    free(wl);
}

/* Step 2: reads the chunk of the board at the cursor. */
static void read_chunk(job *j)
{
    run *c = j->c;
    char k[4][KEYS_MAX], off[24], cnt[24];
    keys_board(k[0], c->org, j->ch, j->per.id);
    keys_org(k[1], c->org, "leaders");
    keys_days(k[2], c->org, j->ch);
    keys_board(k[3], c->org, j->ch, j->has_prev ? j->prev.id : j->per.id);
    util_i64toa(j->cursor, off);
    util_i64toa(CLOSER_CHUNK + 1, cnt); /* one more, to see a tie across chunks */
    const char *argv[] = {k[0], k[1], k[2], k[3], "read", off, cnt, j->has_prev ? "1" : "0"};
    if (!close_call(c, 4, 8, argv, NULL, on_chunk, j))
        job_end(j);
}

/* The top of the final board, as the read cache renders it: the record. */
static void on_archive_page(void *arg, const boards_page *page)
{
    job *j = arg;
    run *c = j->c;
    json_t *p = page ? json_loadb(page->body, page->len, 0, NULL) : NULL;
    json_t *entries = json_object_get(p, "entries");
    if (p == NULL || !json_is_array(entries)) {
        json_decref(p);
        job_end(j);
        return;
    }
    char at[32];
    util_format_rfc3339(util_now_ms(), at);
    json_t *winners = json_array(), *e;
    size_t i;
    json_array_foreach(entries, i, e)
    {
        if (json_integer_value(json_object_get(e, "rank")) != 1)
            break;
        json_array_append_new(
            winners, json_pack("{s:O, s:O, s:O, s:O}", "rank", json_object_get(e, "rank"), "leader",
                               json_object_get(e, "leader"), "name", json_object_get(e, "name"),
                               "score", json_object_get(e, "score")));
    }
    json_t *rec =
        json_pack("{s:s, s:s, s:s, s:O, s:O, s:s, s:O, s:o, s:O}", "challenge", j->ch,
                  "challenge_name", j->chname, "period", j->per.id, "starts",
                  json_object_get(p, "starts"), "ends", json_object_get(p, "ends"), "closed_at", at,
                  "leaders", json_object_get(p, "total"), "winners", winners, "standings", entries);
    json_decref(p);
    if (rec == NULL)
        abort();
    free(j->archive);
    j->archive = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (j->archive == NULL)
        abort();
    struct args a = {0};
    args_str(&a, j->k_job);
    args_str(&a, "write");
    args_str(&a, c->owner);
    args_int(&a, util_now_ms());
    args_int(&a, CLOSER_LEASE_MS);
    args_int(&a, 3);
    args_str(&a, "archive");
    args_str(&a, j->archive);
    args_str(&a, "step");
    args_str(&a, "walk");
    args_str(&a, "cursor");
    args_int(&a, 0);
    j->cursor = 0;
    if (!args_send(j, &a, 1, on_written))
        job_end(j);
}

/* Step 1: the final top of the board, read through the page cache. */
static void read_archive(job *j)
{
    const rules *r = j->c->r;
    int ci = rules_challenge_index(r, j->ch);
    if (ci < 0) { /* the challenge is gone from the rules */
        job_end(j);
        return;
    }
    boards_get(j->c->a->bc, j->c->org, &r->challenges[ci], &j->per, j->has_prev ? &j->prev : NULL,
               0, CLOSER_TOP, NULL, on_archive_page, j);
}

/* Reply of claim: go on where the job stands, or leave it. */
static void on_claim(void *arg, const store_reply *r)
{
    job *j = arg;
    const char *what = store_reply_str(store_reply_at(r, 0), NULL);
    if (what == NULL || strcmp(what, "go") != 0) {
        if (what && strcmp(what, "done") == 0) {
            j->ok = true;
            snprintf(known_of(j->c, j->ch, j->mid), PERIOD_ID_MAX, "%s", j->per.id);
        }
        job_end(j);
        return;
    }
    const char *step = store_reply_str(store_reply_at(r, 1), NULL);
    const char *archive = store_reply_str(store_reply_at(r, 3), NULL);
    j->cursor = store_reply_int(store_reply_at(r, 2));
    bool walk = step && strcmp(step, "walk") == 0;
    if (j->mid) { /* no archive: straight to the walk */
        if (!walk)
            j->cursor = 0;
        log_info("%smidway digests of %s period %s", j->c->who, j->ch, j->per.id);
        if (j->cursor < 0)
            finish(j);
        else
            read_chunk(j);
    } else if (walk && archive && *archive) {
        j->archive = strdup(archive);
        if (j->archive == NULL)
            abort();
        log_info("%sclosing %s period %s, from leader %" PRId64, j->c->who, j->ch, j->per.id,
                 j->cursor < 0 ? 0 : j->cursor);
        if (j->cursor < 0)
            finish(j);
        else
            read_chunk(j);
    } else {
        log_info("%sclosing %s period %s", j->c->who, j->ch, j->per.id);
        read_archive(j);
    }
}

/* Starts closing period per of challenge ch, or (mid) its midway digests. */
static void job_start(run *c, const rules *r, const rules_challenge *ch, const period *per,
                      bool mid)
{
    job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        abort();
    j->c = c;
    j->started_ms = util_now_ms();
    snprintf(j->ch, sizeof(j->ch), "%s", ch->id);
    snprintf(j->chname, sizeof(j->chname), "%s", ch->name);
    j->per = *per;
    j->has_prev = period_previous(&ch->period, per, &j->prev);
    j->count = ch->scoring == RULES_SCORE_COUNT;
    j->mid = mid;
    j->ref_day = period_local_day(ch->zone, mid ? j->started_ms / 1000 : per->end - 1);
    suggest(j, r, ch);
    keys_leader(j->k_done, c->org, mid ? "digested" : "periods", ch->id);
    keys_team_board(j->k_job, c->org, mid ? "job:digest" : "job:close", ch->id, per->id);
    c->job = j;
    char now[24], lease[24];
    util_i64toa(util_now_ms(), now);
    util_i64toa(CLOSER_LEASE_MS, lease);
    const char *argv[] = {j->k_done, j->k_job, "claim", per->id, c->owner, now, lease};
    if (!close_call(c, 2, 7, argv, NULL, on_claim, j))
        job_end(j);
}

/* Starts the job for period id ids[i] of check k (a close or midway digests). */
static void start_from(struct check *k, size_t i)
{
    run *c = k->c;
    int ci = rules_challenge_index(c->r, k->ch);
    period per;
    if (ci >= 0 && c->job == NULL && !c->cl->stopping &&
        period_resolve(&c->r->challenges[ci].period, k->ids[i], 0, &per))
        job_start(c, c->r, &c->r->challenges[ci], &per, k->mid);
}

/* Reply of close.lua "oldest": the first of k's periods whose board holds
 * anybody is where a challenge that never closed a period starts. */
static void on_oldest(void *arg, const store_reply *r)
{
    struct check *k = arg;
    run *c = k->c;
    c->checks--;
    int64_t first = store_reply_int(r);
    if (r == NULL || store_reply_is_error(r)) {
        c->retry = true;
        snprintf(known_of(c, k->ch, k->mid), PERIOD_ID_MAX, "%s", k->ids[k->n - 1]);
    } else {
        start_from(k, first >= 1 && (size_t)first <= k->n ? (size_t)first - 1 : k->n - 1);
    }
    free(k);
    if (c->checks == 0 && c->job == NULL)
        run_look(c);
}

/* Reply of a check: closes the oldest period after the newest closed one;
 * when none of them ever closed (a new challenge, a new org, or one that
 * was suspended across period ends), the oldest one somebody scored in
 * (close.lua "oldest"), else only the latest: empty weeks from before the
 * challenge existed are not closed. */
static void on_check(void *arg, const store_reply *r)
{
    struct check *k = arg;
    run *c = k->c;
    c->checks--;
    int ci = rules_challenge_index(c->r, k->ch);
    if (r == NULL || store_reply_is_error(r)) {
        c->retry = true;
        snprintf(known_of(c, k->ch, k->mid), PERIOD_ID_MAX, "%s", k->ids[k->n - 1]);
    } else if (ci >= 0 && !c->cl->stopping) {
        size_t i = k->n; /* none closed */
        for (size_t d = k->n; d > 0; d--) {
            if (!store_reply_is_nil(store_reply_at(r, d - 1))) {
                i = d; /* after the newest one closed */
                break;
            }
        }
        if (i == k->n && !store_reply_is_nil(store_reply_at(r, k->n - 1))) {
            snprintf(known_of(c, k->ch, k->mid), PERIOD_ID_MAX, "%s", k->ids[k->n - 1]);
        } else if (i == k->n && !k->mid && k->n > 1) {
            char keys[CLOSER_CATCHUP][KEYS_MAX];
            const char *argv[CLOSER_CATCHUP + 1];
            for (size_t d = 0; d < k->n; d++) {
                keys_board(keys[d], c->org, k->ch, k->ids[d]);
                argv[d] = keys[d];
            }
            argv[k->n] = "oldest";
            if (close_call(c, (int)k->n, (int)k->n + 1, argv, NULL, on_oldest, k)) {
                c->checks++;
                return; /* k goes on in on_oldest */
            }
            c->retry = true;
            snprintf(known_of(c, k->ch, k->mid), PERIOD_ID_MAX, "%s", k->ids[k->n - 1]);
        } else {
            start_from(k, i == k->n ? k->n - 1 : i);
        }
    }
    free(k);
    if (c->checks == 0 && c->job == NULL)
        run_look(c);
}

/* Asks which of ch's latest finished periods are closed, when not known;
 * true when it asked. */
static bool check(run *c, const rules_challenge *ch, int64_t now)
{
    period p;
    if (!due_period(ch, now, &p) || strcmp(known_of(c, ch->id, false), p.id) == 0)
        return false;
    /* oldest first: ids[n - 1] is p */
    struct check *k = calloc(1, sizeof(*k));
    if (k == NULL)
        abort();
    k->c = c;
    snprintf(k->ch, sizeof(k->ch), "%s", ch->id);
    period list[CLOSER_CATCHUP];
    size_t n = 0;
    list[n++] = p;
    while (n < CLOSER_CATCHUP && period_previous(&ch->period, &list[n - 1], &list[n]))
        n++;
    for (size_t i = 0; i < n; i++) /* oldest first */
        snprintf(k->ids[i], PERIOD_ID_MAX, "%s", list[n - 1 - i].id);
    k->n = n;
    char key[KEYS_MAX];
    const char *argv[2 + CLOSER_CATCHUP];
    argv[0] = "HMGET";
    keys_periods(key, c->org, ch->id);
    argv[1] = key;
    for (size_t i = 0; i < n; i++)
        argv[2 + i] = k->ids[i];
    if (store_command(c->a->st, on_check, k, (int)n + 2, argv, NULL) < 0) {
        snprintf(known_of(c, ch->id, false), PERIOD_ID_MAX, "%s", p.id);
        c->retry = true;
        free(k);
        return false;
    }
    c->checks++;
    return true;
}

/* Asks whether the current period of ch had its midway digests, once due;
 * true when it asked. */
static bool check_mid(run *c, const rules_challenge *ch, int64_t now)
{
    period p;
    if (ch->digest_at < 0 || !period_at(&ch->period, now, &p) || now < midway_at(ch, &p) ||
        strcmp(known_of(c, ch->id, true), p.id) == 0)
        return false;
    struct check *k = calloc(1, sizeof(*k));
    if (k == NULL)
        abort();
    k->c = c;
    k->mid = true;
    k->n = 1;
    snprintf(k->ch, sizeof(k->ch), "%s", ch->id);
    snprintf(k->ids[0], PERIOD_ID_MAX, "%s", p.id);
    char key[KEYS_MAX];
    keys_leader(key, c->org, "digested", ch->id);
    const char *argv[] = {"HMGET", key, k->ids[0]};
    if (store_command(c->a->st, on_check, k, 3, argv, NULL) < 0) {
        snprintf(known_of(c, ch->id, true), PERIOD_ID_MAX, "%s", p.id);
        c->retry = true;
        free(k);
        return false;
    }
    c->checks++;
    return true;
}

int64_t closer_next_due(const rules *r, int64_t now)
{
    int64_t next = 0;
    for (size_t i = 0; r && i < r->n_challenges; i++) {
        const rules_challenge *ch = &r->challenges[i];
        int64_t at = 0;
        period p;
        if (ch->period.kind == PERIOD_FIXED) {
            int64_t t = ch->period.fixed_end + ch->grace + CLOSER_SETTLE_S;
            at = t > now ? t : 0;
        } else if (ch->period.kind != PERIOD_ALL &&
                   period_at(&ch->period, now - ch->grace - CLOSER_SETTLE_S, &p)) {
            at = p.end + ch->grace + CLOSER_SETTLE_S;
        }
        if (at > 0 && (next == 0 || at < next))
            next = at;
        if (ch->digest_at >= 0 && period_at(&ch->period, now, &p)) {
            int64_t m = midway_at(ch, &p);
            at = m > now ? m : p.end; /* passed: the next period's comes after this one's end */
            if (next == 0 || at < next)
                next = at;
        }
    }
    return next;
}

static void run_end(run *c);
static void sweep(run *c);

/* Starts the next step of a run: a check of each challenge (closes first,
 * then midway digests), and once none is due, the retention sweep. */
static void run_look(run *c)
{
    if (c->job || c->checks > 0)
        return;
    if (c->cl->stopping) {
        run_end(c);
        return;
    }
    int64_t now = util_now_ms() / 1000;
    bool asked = false;
    for (size_t i = 0; i < c->r->n_challenges; i++)
        asked |= check(c, &c->r->challenges[i], now);
    for (size_t i = 0; !asked && i < c->r->n_challenges; i++)
        asked |= check_mid(c, &c->r->challenges[i], now);
    if (!asked)
        sweep(c);
}

/* Reply of a sweep: {expired keys handled, the next expiry or ""}. A full
 * one means more wait: sweep again. */
static void on_sweep(void *arg, const store_reply *r)
{
    run *c = arg;
    if (r == NULL || store_reply_is_error(r)) {
        if (r != NULL)
            log_warn("%sretention sweep: %s", c->who, store_reply_str(r, NULL));
        c->retry = true;
        run_end(c);
        return;
    }
    c->retain = store_reply_int(store_reply_at(r, 1));
    if (store_reply_int(store_reply_at(r, 0)) >= CLOSER_SWEEP_MAX && !c->cl->stopping)
        sweep(c);
    else
        run_end(c);
}

/* Unlinks what outlived its retention, CLOSER_SWEEP_MAX keys per call. */
static void sweep(run *c)
{
    char key[KEYS_MAX], t[24], most[24], prefix[KEYS_MAX];
    keys_org(key, c->org, "retain");
    util_i64toa(util_now_ms() / 1000, t);
    util_i64toa(CLOSER_SWEEP_MAX, most);
    snprintf(prefix, sizeof(prefix), "podium:{%s}:", c->org);
    const char *argv[] = {key, "sweep", t, most, prefix};
    if (!close_call(c, 1, 5, argv, NULL, on_sweep, c)) {
        c->retry = true;
        run_end(c);
    }
}

/* Ends a run: the org's next work is due at the earliest of its next close
 * or digest, its next expiry and the heartbeat; soon after a failure. */
static void run_end(run *c)
{
    closer *cl = c->cl;
    int64_t now = util_now_ms();
    int64_t next = now + DUE_HEARTBEAT_MS;
    int64_t at = c->r ? closer_next_due(c->r, now / 1000) * 1000 : 0;
    if (at > 0 && at < next)
        next = at;
    if (c->retain > 0 && c->retain * 1000 < next)
        next = c->retain * 1000;
    if (c->retry || cl->stopping)
        next = cl->stopping ? now : now + CLOSER_RETRY_MS;
    if (c->t)
        due_done(c->t, next);
    if (c->prev)
        c->prev->next = c->next;
    else
        cl->runs = c->next;
    if (c->next)
        c->next->prev = c->prev;
    cl->nruns--;
    rules_free(c->r);
    org_release(c->o);
    free(c);
    due_kick(cl->a->due); /* a run's room is free: claim more orgs now, not in a second */
}

/* The run's org context is here: run it, or say when to come back. */
static void on_run_org(void *arg, struct org *o)
{
    run *c = arg;
    c->o = o;
    int64_t now = util_now_ms();
    if (o == NULL || c->cl->stopping) { /* Redis is away: soon again */
        due_done(c->t, o == NULL ? now + CLOSER_RETRY_MS : now);
        c->t = NULL;
        run_end(c);
        return;
    }
    org_state st = org_get_state(o);
    if (st != ORG_ACTIVE) { /* gone: no more work; suspended: paused till resumed */
        due_done(c->t, st == ORG_SUSPENDED ? now + DUE_HEARTBEAT_MS : 0);
        c->t = NULL;
        run_end(c);
        return;
    }
    const rules *r = org_rules(o);
    if (r == NULL) { /* no rules: nothing closes; expiries still happen */
        sweep(c);
        return;
    }
    c->r = rules_hold(r);
    run_look(c);
}

/* A due "c" entry of org: run it. */
static void on_due(void *arg, const char *org_id_, due_ticket *t)
{
    closer *cl = arg;
    run *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->cl = cl;
    c->a = cl->a;
    c->t = t;
    c->owner = cl->owner;
    c->retention = cl->retention;
    snprintf(c->org, sizeof(c->org), "%s", org_id_);
    if (strcmp(org_id_, ORG_DEFAULT) != 0)
        snprintf(c->who, sizeof(c->who), "org %s: ", org_id_);
    c->next = cl->runs;
    if (cl->runs)
        cl->runs->prev = c;
    cl->runs = c;
    cl->nruns++;
    orgs_acquire(cl->a->orgs, org_id_, on_run_org, c);
}

/* Room for more runs. */
static size_t room(void *arg)
{
    closer *cl = arg;
    return cl->stopping || cl->nruns >= CLOSER_RUNS ? 0 : CLOSER_RUNS - cl->nruns;
}

void closer_rules_changed(closer *cl, struct org *o)
{
    org_state st = org_get_state(o);
    if (cl == NULL || st == ORG_SUSPENDED || st == ORG_GONE)
        return;
    int64_t now = util_now_ms() / 1000;
    int64_t at = closer_next_due(org_rules(o), now);
    due_schedule(cl->a->due, DUE_CLOSE, org_id(o),
                 at > 0 ? at * 1000 : (now * 1000 + DUE_HEARTBEAT_MS));
}

closer *closer_new(app *a, int64_t retention)
{
    closer *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->a = a;
    c->retention = retention;
    unsigned char rnd[6];
    char host[64] = "";
    if (RAND_bytes(rnd, sizeof(rnd)) != 1 || gethostname(host, sizeof(host) - 1) < 0)
        memset(rnd, 0, sizeof(rnd));
    snprintf(c->owner, sizeof(c->owner), "%.40s:%ld:%02x%02x%02x%02x%02x%02x", host, (long)getpid(),
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    due_handle(a->due, DUE_CLOSE, on_due, room, c);
    return c;
}

void closer_stop(closer *c)
{
    if (c != NULL)
        c->stopping = true;
}

void closer_free(closer *c)
{
    if (c == NULL)
        return;
    /* Runs still here wait for nothing the store will answer: drop them. */
    while (c->runs) {
        run *r = c->runs;
        c->runs = r->next;
        if (r->job) {
            free(r->job->archive);
            free(r->job);
        }
        due_drop(r->t); /* Redis is gone: its lease runs out */
        rules_free(r->r);
        org_release(r->o);
        free(r);
    }
    free(c);
}
