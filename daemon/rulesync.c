/*
 * rulesync.c - keeps an org's rules in force equal to its stored rule set.
 *
 * State. `seen` is the newest stored version this daemon has looked at
 * (installed, refused as invalid, or passed over in rules_file mode), -1
 * before the first look; `version` is the version in force. A fetch (HMGET
 * version doc source) runs when the store becomes ready, on every message
 * of the org's channel (and after each resubscribe), and when a check
 * (HGET version), made by rulesync_touch at most once per CHECK_INTERVAL_MS,
 * sees a version other than `seen` (CHECK_ORG_MS for orgs but default: with
 * a thousand orgs in use, their checks would be a thousand calls a second,
 * for messages that are rarely lost). Only one fetch is in flight at a time; a
 * request meanwhile runs one more after it. An org nobody uses costs
 * nothing: no timer runs, and its channel is silent.
 *
 * Ordering. Every command goes over the store's one command connection, so
 * replies come in the order Redis ran the commands: a fetch answered after
 * rules.lua stored version N sees N or newer. A stored version is installed
 * when it differs from the one in force (not only when it is higher: after
 * Redis lost its data, versions start again at 1).
 *
 * rules_file mode. `file_doc` holds the text of the file in force; it is
 * written through rules.lua while `file_pending` (after start, SIGHUP, or a
 * failed write), at once when the store is ready and else at the next touch.
 * `file_gen` tells a write's answer for an older file text from the current
 * one. Fetches there only look at the source of foreign versions, to warn.
 *
 * Logs name the org unless it is "default", whose lines read "rules: ...".
 *
 * Ownership. rulesync owns file_doc, a hold on the rules in force and,
 * until it installs them, the rules it compiled. Store callbacks hold `rs`
 * (or a struct apply, counted in `applying`), so rulesync is freed when
 * rulesync_busy says none is in flight, or after the store, whose last
 * callbacks fire with NULL.
 */
#include "rulesync.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "keys.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define CHECK_INTERVAL_MS 1000 /* org default's; other orgs' are CHECK_ORG_MS apart */
#define CHECK_ORG_MS      5000
#define FILE_MAX_BYTES    (64u << 20)

struct rulesync {
    store *st;
    store_sub *sub;
    char who[EVENT_NAME_MAX + 16]; /* "rules" or "rules of {org}", for logs */
    bool is_default;
    rulesync_event_fn *ev;
    void *ev_arg;
    rules *cur;      /* in force (a hold), NULL = none */
    int64_t version; /* of cur in Redis; 0 = none or not stored yet */
    bool loaded;     /* a fetch answered, or the file is in force */
    char *file;      /* rules_file, NULL when rules come from Redis */
    char *file_doc;  /* text of the file in force (rules_file mode) */
    size_t file_len;
    uint64_t file_gen;      /* bumped at each load of the file */
    uint64_t writing_gen;   /* file_gen of the write in flight */
    bool file_pending;      /* file_doc still to be written to Redis */
    bool file_writing;      /* a write of file_doc is in flight */
    int64_t seen;           /* newest stored version looked at; -1 = none yet */
    int64_t warned;         /* foreign version warned about (rules_file mode) */
    bool warned_none;       /* "nothing stored" was said since the store became ready */
    bool fetching, refetch; /* a fetch in flight; another one wanted after it */
    bool checking;          /* a version check in flight */
    int64_t checked_ms;     /* when the last check or fetch was sent */
    int applying;           /* PUTs in flight */
    char key[KEYS_MAX], hist[KEYS_MAX], channel[KEYS_MAX];
};

/* A PUT's rule set on its way to Redis; owns r until installed. */
struct apply {
    rulesync *rs;
    rules *r;
    rulesync_done_fn *done;
    void *arg;
};

/* Tells the owner. */
static void tell(rulesync *rs, rulesync_event e)
{
    if (rs->ev)
        rs->ev(rs->ev_arg, e);
}

/* Reads a whole file into a NUL-terminated buffer; NULL with errno. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n < cap - 1)
            break;
        if (cap >= FILE_MAX_BYTES) {
            free(buf);
            buf = NULL;
            errno = EFBIG;
            break;
        }
        char *bigger = realloc(buf, cap * 2);
        if (bigger == NULL)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

rules *rulesync_read_file(const char *path, FILE *report)
{
    size_t len;
    char *text = read_all(path, &len);
    if (text == NULL) {
        fprintf(report, "%s: cannot read: %s\n", path, strerror(errno));
        return NULL;
    }
    errlist errs = {0};
    rules *r = rules_parse(text, len, &errs);
    free(text);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(report, "%s: %s: %s\n", path,
                errs.items[i].pointer[0] ? errs.items[i].pointer : "/", errs.items[i].message);
    errlist_clear(&errs);
    return r;
}

/* Puts r in force as stored version `version` (0 = not stored yet); takes r. */
static void install(rulesync *rs, rules *r, int64_t version)
{
    rules_free(rs->cur);
    rs->cur = r;
    rs->version = version;
    tell(rs, RULESYNC_INSTALLED);
}

/* Sends rules.lua with doc; false when the store is not ready. */
static bool run_rules_lua(rulesync *rs, const char *doc, size_t len, const char *source,
                          const char *expected, store_cb *cb, void *arg)
{
    char now[24];
    util_i64toa(util_now_ms(), now);
    const char *argv[] = {rs->key, rs->hist, doc, now, source, expected, rs->channel};
    size_t lens[] = {strlen(rs->key),  strlen(rs->hist),   len, strlen(now), strlen(source),
                     strlen(expected), strlen(rs->channel)};
    return store_script(rs->st, STORE_SCRIPT_RULES, 2, 7, argv, lens, cb, arg) == 0;
}

/* Reads a rules.lua reply: its status word, version and applied_at. */
static const char *script_result(const store_reply *r, int64_t *version, int64_t *applied_at)
{
    const char *word = store_reply_str(store_reply_at(r, 0), NULL);
    *version = store_reply_int(store_reply_at(r, 1));
    *applied_at = store_reply_int(store_reply_at(r, 2));
    if (store_reply_is_error(r) || word == NULL)
        return NULL;
    return word;
}

static void fetch(rulesync *rs);
static void write_file(rulesync *rs);

/* rules.lua reply to a write of the rules file. */
static void on_file_written(void *arg, const store_reply *r)
{
    rulesync *rs = arg;
    int64_t version, applied_at;
    rs->file_writing = false;
    const char *word = script_result(r, &version, &applied_at);
    if (word == NULL || version <= 0) {
        if (r) /* NULL: the connection went; the next ready writes it */
            log_warn("%s: cannot store %s in Redis yet; retrying", rs->who, rs->file);
        return;
    }
    if (rs->writing_gen != rs->file_gen) { /* reloaded meanwhile: store the new text */
        write_file(rs);
        return;
    }
    rs->file_pending = false;
    rs->version = version;
    rs->seen = version;
    if (strcmp(word, "changed") == 0)
        log_info("%s: stored %s in Redis as version %" PRId64, rs->who, rs->file, version);
    else
        log_info("%s: %s is version %" PRId64 " in Redis already", rs->who, rs->file, version);
}

/* Writes the rules file's text through rules.lua if it is pending. */
static void write_file(rulesync *rs)
{
    if (!rs->file_pending || rs->file_writing || !store_ready(rs->st))
        return;
    if (run_rules_lua(rs, rs->file_doc, rs->file_len, "file", "", on_file_written, rs)) {
        rs->file_writing = true;
        rs->writing_gen = rs->file_gen;
    }
}

/* HMGET reply of a fetch: version, doc, source. */
static void on_fetched(void *arg, const store_reply *r)
{
    rulesync *rs = arg;
    rs->fetching = false;
    if (r == NULL || store_reply_is_error(r)) {
        if (r)
            log_warn("%s: cannot read the rule set from Redis: %s", rs->who,
                     store_reply_str(r, NULL));
        tell(rs, RULESYNC_FAILED);
        return; /* `seen` is unchanged: the next check fetches again */
    }
    rs->loaded = true;
    int64_t version = store_reply_int(store_reply_at(r, 0));
    size_t len;
    const char *doc = store_reply_str(store_reply_at(r, 1), &len);
    const char *source = store_reply_str(store_reply_at(r, 2), NULL);
    if (version <= 0 || doc == NULL) {
        rs->seen = 0;
        if (!rs->file && !rs->warned_none && rs->cur == NULL) {
            rs->warned_none = true;
            log_at(rs->is_default ? LOG_LVL_WARN : LOG_LVL_DEBUG,
                   "%s: none stored in Redis yet and no rules_file set; writes are "
                   "refused until PUT /v1/rules stores a rule set",
                   rs->who);
        }
        goto again;
    }
    rs->seen = version;
    if (rs->file) {
        if (version != rs->version && source && strcmp(source, "api") == 0 &&
            rs->warned != version && !rs->file_pending) {
            rs->warned = version;
            log_warn("%s: version %" PRId64 " was stored through PUT /v1/rules, but this "
                     "podiumd takes its rules from %s and keeps them",
                     rs->who, version, rs->file);
        }
        goto again;
    }
    if (version == rs->version)
        goto again;
    errlist errs = {0};
    rules *nr = rules_parse(doc, len, &errs);
    for (size_t i = 0; i < errs.n; i++)
        log_err("%s (version %" PRId64 " in Redis): %s: %s", rs->who, version,
                errs.items[i].pointer[0] ? errs.items[i].pointer : "/", errs.items[i].message);
    errlist_clear(&errs);
    if (nr == NULL) {
        log_err("%s: version %" PRId64 " stored in Redis is not valid for this podiumd; the "
                "running rules (version %" PRId64 ") stay in force",
                rs->who, version, rs->version);
        goto again;
    }
    log_info("%s: applied the rule set stored in Redis (version %" PRId64
             ", %zu activities, %zu challenges)",
             rs->who, version, nr->n_activities, nr->n_challenges);
    install(rs, nr, version);
again:
    if (rs->refetch) {
        rs->refetch = false;
        fetch(rs);
    }
    tell(rs, RULESYNC_FETCHED);
}

/* Reads the stored rule set (one fetch at a time). */
static void fetch(rulesync *rs)
{
    if (rs->fetching) {
        rs->refetch = true;
        return;
    }
    const char *argv[] = {"HMGET", rs->key, "version", "doc", "source"};
    size_t lens[5];
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    if (store_command(rs->st, on_fetched, rs, 5, argv, lens) == 0) {
        rs->fetching = true;
        rs->checked_ms = util_now_ms();
    } else {
        tell(rs, RULESYNC_FAILED);
    }
}

/* HGET version reply of a check. */
static void on_checked(void *arg, const store_reply *r)
{
    rulesync *rs = arg;
    rs->checking = false;
    if (r == NULL || store_reply_is_error(r))
        return;
    if (store_reply_int(r) != rs->seen) {
        log_debug("%s: the stored version is %" PRId64 ", not %" PRId64 "; reading it", rs->who,
                  store_reply_int(r), rs->seen);
        fetch(rs);
    }
}

void rulesync_touch(rulesync *rs)
{
    if (rs == NULL || !store_ready(rs->st))
        return;
    int64_t now = util_now_ms();
    if (now - rs->checked_ms < (rs->is_default ? CHECK_INTERVAL_MS : CHECK_ORG_MS))
        return;
    rs->checked_ms = now;
    write_file(rs);
    if (rs->checking || rs->fetching)
        return;
    if (!rs->loaded) { /* the first fetch failed: try it again */
        fetch(rs);
        return;
    }
    const char *argv[] = {"HGET", rs->key, "version"};
    size_t lens[] = {4, strlen(rs->key), 7};
    if (store_command(rs->st, on_checked, rs, 3, argv, lens) == 0)
        rs->checking = true;
}

/* A message on the org's channel (a new version), or a (re)subscription. */
static void on_message(void *arg, const char *msg, size_t len)
{
    rulesync *rs = arg;
    if (msg)
        log_debug("%s: Redis announces version %.*s", rs->who, (int)(len > 20 ? 20 : len), msg);
    if (store_ready(rs->st))
        fetch(rs);
}

rulesync *rulesync_new(store *st, const char *org, const char *rules_file, rulesync_event_fn *ev,
                       void *arg)
{
    rulesync *rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        return NULL;
    rs->st = st;
    rs->ev = ev;
    rs->ev_arg = arg;
    rs->seen = -1;
    rs->is_default = strcmp(org, "default") == 0;
    if (rs->is_default)
        snprintf(rs->who, sizeof(rs->who), "rules");
    else
        snprintf(rs->who, sizeof(rs->who), "rules of %s", org);
    keys_ruleset(rs->key, org);
    keys_rulehist(rs->hist, org);
    keys_rules_channel(rs->channel, org);
    if (rules_file && rules_file[0] && (rs->file = strdup(rules_file)) == NULL)
        goto fail;
    if ((rs->sub = store_subscribe(st, rs->channel, on_message, rs)) == NULL)
        goto fail;
    if (store_ready(st))
        fetch(rs);
    return rs;
fail:
    rulesync_free(rs);
    return NULL;
}

void rulesync_free(rulesync *rs)
{
    if (rs == NULL)
        return;
    store_unsubscribe(rs->sub);
    rules_free(rs->cur);
    free(rs->file);
    free(rs->file_doc);
    free(rs);
}

void rulesync_reset(rulesync *rs)
{
    if (rs == NULL || rs->file)
        return;
    rules_free(rs->cur);
    rs->cur = NULL;
    rs->version = 0;
    rs->seen = -1;
    rs->loaded = false;
    rs->warned_none = false;
    if (store_ready(rs->st))
        fetch(rs);
}

bool rulesync_busy(const rulesync *rs)
{
    return rs && (rs->fetching || rs->checking || rs->file_writing || rs->applying > 0);
}

const rules *rulesync_rules(const rulesync *rs)
{
    return rs ? rs->cur : NULL;
}

bool rulesync_loaded(const rulesync *rs)
{
    return rs && (rs->loaded || (rs->file && rs->cur));
}

const char *rulesync_file(const rulesync *rs)
{
    return rs->file;
}

bool rulesync_load_file(rulesync *rs)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&buf, &len);
    if (report == NULL)
        return false;
    rules *r = rulesync_read_file(rs->file, report);
    fclose(report);
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        log_err("%s: %s", rs->who, line);
    free(buf);
    if (r == NULL)
        return false;
    char *doc = strdup(r->source);
    if (doc == NULL) {
        rules_free(r);
        return false;
    }
    log_info("%s: applied %s (%zu activities, %zu challenges)", rs->who, rs->file, r->n_activities,
             r->n_challenges);
    install(rs, r, 0); /* the version is known once Redis has it */
    free(rs->file_doc);
    rs->file_doc = doc;
    rs->file_len = strlen(doc);
    rs->file_gen++;
    rs->file_pending = true;
    write_file(rs);
    return true;
}

void rulesync_store_ready(rulesync *rs, bool ready)
{
    if (rs == NULL || !ready)
        return;
    rs->warned_none = false;
    write_file(rs);
    fetch(rs);
}

/* rules.lua reply to a PUT: install, then tell the caller. */
static void on_applied(void *arg, const store_reply *r)
{
    struct apply *ap = arg;
    rulesync *rs = ap->rs;
    rs->applying--;
    int64_t version, applied_at;
    const char *word = script_result(r, &version, &applied_at);
    rulesync_status st = RULESYNC_UNAVAILABLE;
    if (word && strcmp(word, "conflict") == 0) {
        st = RULESYNC_CONFLICT;
    } else if (word && version > 0) {
        st = strcmp(word, "changed") == 0 ? RULESYNC_CHANGED : RULESYNC_SAME;
        rs->seen = version;
        if (version != rs->version) {
            log_info("%s: applied version %" PRId64
                     " from PUT /v1/rules (%zu activities, %zu challenges)",
                     rs->who, version, ap->r->n_activities, ap->r->n_challenges);
            install(rs, ap->r, version);
            ap->r = NULL;
        }
    }
    rules_free(ap->r);
    ap->done(ap->arg, st, version, applied_at);
    free(ap);
}

int rulesync_apply(rulesync *rs, const char *doc, size_t len, rules *r, const char *expected,
                   rulesync_done_fn *done, void *arg)
{
    struct apply *ap = NULL;
    if (rs->file || (ap = calloc(1, sizeof(*ap))) == NULL)
        goto fail;
    *ap = (struct apply){.rs = rs, .r = r, .done = done, .arg = arg};
    if (!run_rules_lua(rs, doc, len, "api", expected, on_applied, ap))
        goto fail;
    rs->applying++;
    return 0;
fail:
    free(ap);
    rules_free(r);
    return -1;
}
