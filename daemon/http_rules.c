/*
 * http_rules.c - GET and PUT /v1/rules: read, validate (dry run) and apply
 * the org's rule set.
 *
 * Reads come from Redis (keys.h: ruleset, rulehist), not from the rules in
 * force, so that every daemon answers the same; the ETag is "rules-N" for
 * version N. A PUT checks everything it can before Redis is touched: the
 * rules_file mode (409), the media type (415), the JSON (400) and the rules
 * (422, every error with its JSON Pointer, including what this podiumd
 * validates but does not apply). If-Match is checked inside rules.lua, so
 * the check and the write are one atomic step (412). The write itself goes
 * through rulesync, which installs the new rules before the answer leaves,
 * so the caller's next request to this daemon sees them. A dry run reads
 * the stored rule set and answers what would change, writing nothing.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_server.h"
#include "keys.h"
#include "rules.h"
#include "replay.h"
#include "orgs.h"
#include "rulesync.h"
#include "store.h"
#include "util.h"

#define DETAIL_MAX 512

/* A GET in flight: the version asked for (0 = the current one). */
struct get {
    http_req *q;
    int64_t want;
};

/* A dry run in flight: the proposed rules, compiled and as JSON. */
struct dry {
    http_req *q;
    rules *r;
    json_t *doc;
    char expected[24];
};

/* Sends a command given as NUL-terminated words; false (503 sent) if Redis is down. */
static bool send_words(http_req *q, store_cb *cb, void *arg, int argc, const char **argv)
{
    size_t lens[8];
    for (int i = 0; i < argc && i < 8; i++)
        lens[i] = strlen(argv[i]);
    if (store_command(q->a->st, cb, arg, argc, argv, lens) < 0) {
        http_unavailable(q);
        return false;
    }
    return true;
}

/* Adds the ETag of version v to the answer. */
static void set_etag(http_req *q, int64_t v)
{
    char etag[40];
    snprintf(etag, sizeof(etag), "\"rules-%" PRId64 "\"", v);
    evhttp_add_header(evhttp_request_get_output_headers(q->r), "ETag", etag);
}

/* True if If-None-Match names version v (or is "*"). */
static bool not_modified(const http_req *q, int64_t v)
{
    const char *inm = http_header(q, "If-None-Match");
    char etag[40];
    snprintf(etag, sizeof(etag), "\"rules-%" PRId64 "\"", v);
    return inm && (strstr(inm, etag) || strcmp(inm + strspn(inm, " \t"), "*") == 0);
}

/* Answers one version of the rule set; applied_at and source may be NULL
 * (older versions keep only their document). */
static void answer_version(http_req *q, int64_t v, const char *doc, size_t len,
                           const char *applied_at, const char *source)
{
    json_error_t e;
    json_t *check = json_loadb(doc, len, 0, &e);
    if (check == NULL) {
        http_problem(q, 500, "invalid-stored-rules",
                     "The rule set stored in Redis is not JSON; store a valid one with PUT "
                     "/v1/rules.",
                     NULL);
        return;
    }
    json_decref(check);
    set_etag(q, v);
    evhttp_add_header(evhttp_request_get_output_headers(q->r), "Cache-Control", "no-cache");
    if (not_modified(q, v)) {
        http_reply(q, 304, NULL);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"version\":%" PRId64 ",\"applied_at\":", v);
    int64_t ms;
    if (applied_at && util_parse_i64(applied_at, 0, INT64_MAX / 2, &ms)) {
        char t[32];
        util_format_rfc3339(ms, t);
        http_json_str(b, t);
    } else {
        evbuffer_add(b, "null", 4);
    }
    evbuffer_add(b, ",\"source\":", 10);
    if (source && (strcmp(source, "api") == 0 || strcmp(source, "file") == 0))
        http_json_str(b, source);
    else
        evbuffer_add(b, "null", 4);
    evbuffer_add(b, ",\"rules\":", 9);
    evbuffer_add(b, doc, len);
    evbuffer_add(b, "}\n", 2);
    http_reply(q, 200, b);
}

/* HGET reply of an older version from the history. */
static void on_history(void *arg, const store_reply *r)
{
    struct get *g = arg;
    http_req *q = g->q;
    size_t len;
    const char *doc = store_reply_str(r, &len);
    if (r == NULL || store_reply_is_error(r)) {
        http_unavailable(q);
    } else if (doc == NULL) {
        char detail[DETAIL_MAX];
        snprintf(detail, sizeof(detail),
                 "Version %" PRId64 " of the rules is no longer kept (only the newest 50 are).",
                 g->want);
        http_problem(q, 404, "not-found", detail, NULL);
    } else {
        answer_version(q, g->want, doc, len, NULL, NULL);
    }
    free(g);
}

/* HMGET reply of the rule set: version, doc, applied_at, source. */
static void on_current(void *arg, const store_reply *r)
{
    struct get *g = arg;
    http_req *q = g->q;
    int64_t v = store_reply_int(store_reply_at(r, 0));
    size_t len;
    const char *doc = store_reply_str(store_reply_at(r, 1), &len);
    char detail[DETAIL_MAX];
    if (r == NULL || store_reply_is_error(r)) {
        http_unavailable(q);
    } else if (v <= 0 || doc == NULL) {
        http_problem(q, 404, "no-rules", "No rule set is stored yet; PUT /v1/rules stores one.",
                     NULL);
    } else if (g->want == 0 || g->want == v) {
        answer_version(q, v, doc, len, store_reply_str(store_reply_at(r, 2), NULL),
                       store_reply_str(store_reply_at(r, 3), NULL));
    } else if (g->want > v) {
        snprintf(detail, sizeof(detail),
                 "There is no version %" PRId64 " of the rules; the current one is %" PRId64 ".",
                 g->want, v);
        http_problem(q, 404, "not-found", detail, NULL);
    } else {
        char key[KEYS_MAX], num[24];
        keys_rulehist(key, q->who.org);
        util_i64toa(g->want, num);
        const char *argv[] = {"HGET", key, num};
        if (send_words(q, on_history, g, 3, argv))
            return; /* g goes on to on_history */
    }
    free(g);
}

void http_rules_get(http_req *q)
{
    char buf[32];
    int64_t want = 0;
    if (http_query(q, "version", buf, sizeof(buf)) &&
        !util_parse_i64(buf, 1, INT64_MAX / 2, &want)) {
        errlist errs = {0};
        errlist_add(&errs, "/version", "must be a version number (1, 2, ...)");
        http_problem(q, 400, "invalid-query", "A query parameter is not valid.", &errs);
        errlist_clear(&errs);
        return;
    }
    struct get *g = calloc(1, sizeof(*g));
    if (g == NULL)
        abort();
    g->q = q;
    g->want = want;
    char key[KEYS_MAX];
    keys_ruleset(key, q->who.org);
    const char *argv[] = {"HMGET", key, "version", "doc", "applied_at", "source"};
    if (!send_words(q, on_current, g, 6, argv))
        free(g);
}

/* True if a Content-Type names JSON (application/json or a +json type);
 * no Content-Type is taken as JSON too. */
static bool json_media_type(const char *t)
{
    if (t == NULL)
        return true;
    t += strspn(t, " \t");
    size_t n = strcspn(t, "; \t");
    if (n == 16 && strncasecmp(t, "application/json", 16) == 0)
        return true;
    return n > 5 && strncasecmp(t + n - 5, "+json", 5) == 0;
}

/* Reads If-Match into out: "" (none), "*", the version's digits, or "-1"
 * (an entity tag that is not a rule set version: matches none). */
static void if_match(const http_req *q, char out[24])
{
    const char *h = http_header(q, "If-Match");
    out[0] = '\0';
    if (h == NULL)
        return;
    h += strspn(h, " \t");
    size_t n = strlen(h);
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    int64_t v;
    char num[24];
    snprintf(out, 24, "-1");
    if (n == 1 && h[0] == '*') {
        snprintf(out, 24, "*");
    } else if (n > 8 && n - 8 < sizeof(num) && strncmp(h, "\"rules-", 7) == 0 && h[n - 1] == '"') {
        memcpy(num, h + 7, n - 8);
        num[n - 8] = '\0';
        if (util_parse_i64(num, 1, INT64_MAX / 2, &v))
            util_i64toa(v, out);
    }
}

/* Answers 412: the stored version is `current`, not what If-Match named. */
static void version_conflict(http_req *q, int64_t current)
{
    char detail[DETAIL_MAX];
    if (current > 0) {
        set_etag(q, current);
        snprintf(detail, sizeof(detail),
                 "The rule set is at version %" PRId64 ", which If-Match does not name; nothing "
                 "was changed. GET /v1/rules, make the change on that version and send it with "
                 "If-Match: \"rules-%" PRId64 "\".",
                 current, current);
    } else {
        snprintf(detail, sizeof(detail),
                 "No rule set is stored yet, so If-Match cannot match; nothing was changed. "
                 "Send the rule set without If-Match.");
    }
    http_problem(q, 412, "version-conflict", detail, NULL);
}

/* True when If-Match (as read by if_match) allows stored version v. */
static bool match_ok(const char *expected, int64_t v)
{
    int64_t want;
    if (expected[0] == '\0')
        return true;
    if (strcmp(expected, "*") == 0)
        return v > 0;
    return util_parse_i64(expected, 0, INT64_MAX, &want) && want == v;
}

/* Adds v to a JSON array of ids. */
static void add_id(json_t *list, const char *id)
{
    json_array_append_new(list, json_string(id));
}

/* A challenge object with this id in a "challenges" array, or NULL. */
static json_t *challenge_by_id(json_t *list, const char *id)
{
    size_t i;
    json_t *ch;
    json_array_foreach(list, i, ch)
    {
        const char *cid = json_string_value(json_object_get(ch, "id"));
        if (cid && strcmp(cid, id) == 0)
            return ch;
    }
    return NULL;
}

/* {"added", "removed", "changed"} of challenges, compared as JSON by id. */
static json_t *diff_challenges(json_t *before, json_t *after)
{
    json_t *added = json_array(), *removed = json_array(), *changed = json_array();
    size_t i;
    json_t *ch;
    json_array_foreach(after, i, ch)
    {
        const char *id = json_string_value(json_object_get(ch, "id"));
        json_t *old = id ? challenge_by_id(before, id) : NULL;
        if (id && old == NULL)
            add_id(added, id);
        else if (id && !json_equal(old, ch))
            add_id(changed, id);
    }
    json_array_foreach(before, i, ch)
    {
        const char *id = json_string_value(json_object_get(ch, "id"));
        if (id && challenge_by_id(after, id) == NULL)
            add_id(removed, id);
    }
    return json_pack("{s:o,s:o,s:o}", "added", added, "removed", removed, "changed", changed);
}

/* An activity's compiled limits: points, daily_cap and cooldown (s), 0 = none. */
static json_t *activity_json(const rules_activity *a)
{
    json_t *p = a->points == (double)(int64_t)a->points ? json_integer((json_int_t)a->points)
                                                        : json_real(a->points);
    return json_pack("{s:o,s:I,s:I}", "points", p, "daily_cap", (json_int_t)a->daily_cap,
                     "cooldown", (json_int_t)a->cooldown);
}

/* {"added", "removed", "changed"} of activities. With the stored rules
 * compiled (`before`), a change is one of points, daily_cap or cooldown and
 * is shown before and after; otherwise the stored JSON is compared and shown. */
static json_t *diff_activities(const rules *before, json_t *before_json, const rules *after)
{
    json_t *added = json_array(), *removed = json_array(), *changed = json_array();
    for (size_t i = 0; i < after->n_activities; i++) {
        const rules_activity *a = &after->activities[i];
        if (before) {
            int j = rules_activity_index(before, a->id);
            if (j < 0) {
                add_id(added, a->id);
                continue;
            }
            const rules_activity *b = &before->activities[j];
            if (b->points != a->points || b->daily_cap != a->daily_cap ||
                b->cooldown != a->cooldown)
                json_array_append_new(changed,
                                      json_pack("{s:s,s:o,s:o}", "id", a->id, "before",
                                                activity_json(b), "after", activity_json(a)));
            continue;
        }
        json_t *old = json_object_get(before_json, a->id);
        if (old == NULL)
            add_id(added, a->id);
        else /* the stored rules do not compile here: show what is stored */
            json_array_append_new(changed, json_pack("{s:s,s:O,s:o}", "id", a->id, "before", old,
                                                     "after", activity_json(a)));
    }
    if (before) {
        for (size_t j = 0; j < before->n_activities; j++)
            if (rules_activity_index(after, before->activities[j].id) < 0)
                add_id(removed, before->activities[j].id);
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(before_json, k, v)
        {
            if (rules_activity_index(after, k) < 0)
                add_id(removed, k);
        }
    }
    return json_pack("{s:o,s:o,s:o}", "added", added, "removed", removed, "changed", changed);
}

/* Top-level members besides activities and challenges whose JSON differs. */
static json_t *diff_other(json_t *before, json_t *after)
{
    static const char *const members[] = {"multipliers", "bonuses", "campaigns", NULL};
    json_t *out = json_array();
    for (const char *const *m = members; *m; m++) {
        json_t *b = json_object_get(before, *m), *a = json_object_get(after, *m);
        if ((a == NULL) != (b == NULL) || (a && !json_equal(a, b)))
            add_id(out, *m);
    }
    return out;
}

/* One board of a dry run: a challenge's period, replayed under one rule set. */
struct dry_task {
    const rules *r; /* the stored or the proposed rules */
    int challenge;
    period per;
    json_t *slot; /* the object whose member `key` gets the top */
    const char *key;
};

/* The boards part of a dry run in flight: tasks run one after another. */
struct dry_boards {
    http_req *q;
    json_t *out;
    rules *before, *after; /* owned */
    struct dry_task *tasks;
    size_t n, next;
    int64_t version;
};

#define DRY_TOP 10 /* entries of each replayed board */

static void dry_next(struct dry_boards *db);

/* Sends the dry run's answer and frees it. */
static void dry_answer(struct dry_boards *db)
{
    http_req *q = db->q;
    char *text = json_dumps(db->out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    evbuffer_add(b, "\n", 1);
    if (db->version > 0)
        set_etag(q, db->version);
    http_reply(q, 200, b);
    free(text);
    json_decref(db->out);
    rules_free(db->before);
    rules_free(db->after);
    free(db->tasks);
    free(db);
}

/* One replayed board is ready. */
static void on_dry_top(void *arg, const char *error, json_t *top)
{
    struct dry_boards *db = arg;
    struct dry_task *t = &db->tasks[db->next - 1];
    json_object_set_new(t->slot, t->key, error ? json_null() : top);
    dry_next(db);
}

/* Starts the next replay, or answers when none is left. */
static void dry_next(struct dry_boards *db)
{
    while (db->next < db->n) {
        struct dry_task *t = &db->tasks[db->next++];
        if (replay_top(db->q->a->st, db->q->who.org, t->r, t->challenge, &t->per, DRY_TOP,
                       on_dry_top, db) == 0)
            return;
        json_object_set_new(t->slot, t->key, json_null()); /* Redis went away */
    }
    dry_answer(db);
}

/*
 * dry_run_boards - per challenge of the proposed rules, its current and
 * previous periods' top of the board, replayed from the event log under the
 * stored rules ("today") and under the proposed ones ("proposed"), as
 * "boards": [{"challenge", "period", "today": [...], "proposed": [...]}].
 * "today" is null when the stored rules have no challenge of that id.
 * Takes `out`, `before` and `after`, and answers the request.
 */
static void dry_run_boards(http_req *q, json_t *out, rules *before, rules *after, int64_t v)
{
    struct dry_boards *db = calloc(1, sizeof(*db));
    if (db == NULL)
        abort();
    *db = (struct dry_boards){.q = q, .out = out, .before = before, .after = after, .version = v};
    db->tasks = calloc(4 * after->n_challenges + 1, sizeof(*db->tasks));
    if (db->tasks == NULL)
        abort();
    json_t *boards = json_array();
    json_object_set_new(out, "boards", boards);
    int64_t now = util_now_ms() / 1000;
    for (size_t c = 0; c < after->n_challenges; c++) {
        const rules_challenge *ch = &after->challenges[c];
        int bc = before ? rules_challenge_index(before, ch->id) : -1;
        period pers[2];
        int np = 0;
        if (period_at(&ch->period, now, &pers[0])) {
            np = 1;
            if (period_previous(&ch->period, &pers[0], &pers[1]))
                np = 2;
        }
        for (int k = 0; k < np; k++) {
            json_t *b = json_pack("{s:s,s:s}", "challenge", ch->id, "period", pers[k].id);
            json_array_append_new(boards, b);
            json_object_set_new(b, "today", json_null());
            if (bc >= 0)
                db->tasks[db->n++] = (struct dry_task){before, bc, pers[k], b, "today"};
            db->tasks[db->n++] = (struct dry_task){after, (int)c, pers[k], b, "proposed"};
        }
    }
    dry_next(db);
}

/* HMGET reply for a dry run: the stored version and document. */
static void on_dry_stored(void *arg, const store_reply *r)
{
    struct dry *d = arg;
    http_req *q = d->q;
    int64_t v = store_reply_int(store_reply_at(r, 0));
    size_t len;
    const char *doc = store_reply_str(store_reply_at(r, 1), &len);
    if (r == NULL || store_reply_is_error(r)) {
        http_unavailable(q);
        goto out;
    }
    if (v <= 0 || doc == NULL) {
        v = 0;
        doc = NULL;
    }
    if (!match_ok(d->expected, v)) {
        version_conflict(q, v);
        goto out;
    }
    json_t *before_json = NULL;
    rules *before = NULL;
    if (doc) {
        errlist errs = {0};
        before_json = json_loadb(doc, len, 0, NULL);
        before = rules_parse(doc, len, &errs);
        errlist_clear(&errs);
    }
    json_t *empty = json_object();
    json_t *bj = json_is_object(before_json) ? before_json : empty;
    json_t *b_acts = json_object_get(bj, "activities"), *b_chs = json_object_get(bj, "challenges");
    json_t *changes = json_pack(
        "{s:o,s:o,s:o}", "activities",
        diff_activities(before, json_is_object(b_acts) ? b_acts : empty, d->r), "challenges",
        diff_challenges(json_is_array(b_chs) ? b_chs : NULL, json_object_get(d->doc, "challenges")),
        "other", diff_other(bj, d->doc));
    json_t *out = json_pack("{s:b,s:o,s:o}", "valid", 1, "version",
                            v > 0 ? json_integer(v) : json_null(), "changes", changes);
    json_decref(empty);
    json_decref(before_json);
    dry_run_boards(q, out, before, d->r, v); /* answers, and frees before and d->r */
    json_decref(d->doc);
    free(d);
    return;
out:
    rules_free(d->r);
    json_decref(d->doc);
    free(d);
}

/* rulesync's answer to an apply. */
static void on_applied(void *arg, rulesync_status st, int64_t version, int64_t applied_at_ms)
{
    http_req *q = arg;
    if (st == RULESYNC_UNAVAILABLE) {
        http_unavailable(q);
        return;
    }
    if (st == RULESYNC_CONFLICT) {
        version_conflict(q, version);
        return;
    }
    char t[32];
    util_format_rfc3339(applied_at_ms, t);
    set_etag(q, version);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"version\":%" PRId64 ",\"applied_at\":\"%s\",\"changed\":%s}\n",
                        version, t, st == RULESYNC_CHANGED ? "true" : "false");
    http_reply(q, 200, b);
}

void http_rules_put(http_req *q)
{
    const char *file = rulesync_file(org_rulesync(q->org));
    char detail[DETAIL_MAX], buf[16], expected[24];
    errlist errs = {0};
    if (file) {
        snprintf(detail, sizeof(detail),
                 "This podiumd takes its rules from its rules_file (%.300s), which wins over the "
                 "API; nothing was changed. Edit that file and send SIGHUP to podiumd "
                 "(systemctl reload podiumd) to apply it.",
                 file);
        http_problem(q, 409, "rules-from-file", detail, NULL);
        return;
    }
    if (!json_media_type(http_header(q, "Content-Type"))) {
        http_problem(q, 415, "unsupported-media-type",
                     "Send the rule set as application/json (with curl: -H 'Content-Type: "
                     "application/json' --data-binary @rules.json); nothing was changed.",
                     NULL);
        return;
    }
    bool dry = false;
    if (http_query(q, "dry_run", buf, sizeof(buf))) {
        if (strcmp(buf, "1") == 0 || strcmp(buf, "true") == 0) {
            dry = true;
        } else if (strcmp(buf, "0") != 0 && strcmp(buf, "false") != 0) {
            errlist_add(&errs, "/dry_run", "must be 1 (or true) to validate only, 0 or false");
            http_problem(q, 400, "invalid-query", "A query parameter is not valid.", &errs);
            errlist_clear(&errs);
            return;
        }
    }
    size_t len;
    const char *body = http_body(q, &len);
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    rules *r = rules_parse(body, len, &errs); /* for a JSON error: its cleaned message */
    if (doc == NULL) {
        rules_free(r);
        http_problem(q, 400, "invalid-rules",
                     "The body is not JSON; nothing was changed. The error gives the line and "
                     "column where reading stopped.",
                     &errs);
        errlist_clear(&errs);
        return;
    }
    if (r == NULL) {
        json_decref(doc);
        http_problem(q, 422, "invalid-rules",
                     "The rule set is not valid; nothing was changed. Every problem is listed "
                     "with its JSON Pointer.",
                     &errs);
        errlist_clear(&errs);
        return;
    }
    if_match(q, expected);
    if (dry) {
        struct dry *d = calloc(1, sizeof(*d));
        if (d == NULL)
            abort();
        *d = (struct dry){.q = q, .r = r, .doc = doc};
        memcpy(d->expected, expected, sizeof(expected));
        char key[KEYS_MAX];
        keys_ruleset(key, q->who.org);
        const char *argv[] = {"HMGET", key, "version", "doc"};
        if (!send_words(q, on_dry_stored, d, 4, argv)) {
            rules_free(r);
            json_decref(doc);
            free(d);
        }
        return;
    }
    json_decref(doc);
    if (rulesync_apply(org_rulesync(q->org), body, len, r, expected, on_applied, q) < 0)
        http_unavailable(q);
}
