/*
 * rules.c - validates a rule set (JSON, SPEC section 4) and compiles it.
 *
 * Design. One walk over the document, with a context that carries the JSON
 * Pointer of the value being looked at and counts the errors found. Each
 * section has one function that both checks and compiles it, so the checks
 * and the compiled values cannot drift apart. A problem never stops the
 * walk: the value keeps its default and the walk goes on, so that a comms
 * team sees every mistake in a file at once. Members are read in a fixed
 * order (activities before the challenges that name them, a challenge's
 * activities before its goals), not in document order. When any error was
 * found, the half-built rules are freed and rules_parse returns NULL.
 *
 * Messages read "<problem>; expected <what>" or "expected <what>, got
 * <what>", and quote user text through show(), which keeps them short and
 * valid UTF-8 (errlist cuts at 512 bytes and the HTTP layer emits JSON).
 *
 * Invariants of a compiled rule set: 1..RULES_MAX_ACTIVITIES activities with
 * valid, unique ids in document order; 1..RULES_MAX_CHALLENGES challenges
 * with valid, unique ids; every challenge has a loaded zone and
 * period.zone == zone; counts[i] is set only for i < n_activities; every
 * goal names an activity that its challenge counts; teams and leaders are
 * NULL or non-empty lists of unique ids; every number is within the bounds
 * that docs/rules.md states.
 *
 * Ownership. A rules struct owns every string, array and zone it points to
 * (rules_free releases them). The JSON tree is freed before rules_parse
 * returns; source is a NUL-terminated copy of the text. Out of memory aborts,
 * as in errlist.c.
 */
#include "rules.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tz.h"
#include "util.h"

#define POINTS_MAX      10000         /* |base points| of an activity */
#define COUNT_MAX       10000         /* daily caps, goal counts, bonus points */
#define FACTOR_MAX      100.0         /* multipliers: (0, FACTOR_MAX] */
#define DURATION_MAX    604800        /* cooldown and grace: at most 7 days */
#define GRACE_DEFAULT   900           /* 15 minutes */
#define LENGTH_MAX      (366 * 86400) /* an interval period: at most a year */
#define NAME_MAX_CHARS  100           /* challenge and campaign names */
#define BADGE_MAX_CHARS 64
#define STREAK_MIN_DAYS 2
#define STREAK_MAX_DAYS 365
#define SHOW_CHARS      32 /* user text quoted in a message, at most */

#define WHAT_ID     "an id: 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
#define WHAT_LENGTH "a duration such as \"14d\" or \"1h\", from 1s to 366d"
#define WHAT_DUR    "a duration such as \"90s\", \"2m\", \"1h\" or \"1d\", at most 7d"
#define WHAT_TIME   "an RFC 3339 time in whole seconds such as \"2026-11-30T00:00:00Z\""
#define WHAT_COUNT  "an integer from 1 to 10000"
#define WHAT_BONUS  "an integer from 0 to 10000"

/* A JSON Pointer under construction; s is NUL-terminated once allocated. */
typedef struct jpath {
    char *s;
    size_t len, cap;
} jpath;

/* State of one rules_parse call. */
typedef struct pctx {
    errlist *errs;
    size_t n_errs; /* errors this parse found (errlist stops keeping at ERRLIST_MAX) */
    jpath path;    /* pointer of the value being checked */
    rules *r;      /* being compiled; owned by rules_parse */
    json_t *acts;  /* "activities" when a non-empty object, else NULL; borrowed */
} pctx;

/* Aborts on allocation failure, like errlist.c. */
static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

/* strdup that aborts on allocation failure; the caller owns the copy. */
static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        abort();
    return p;
}

/* An empty JSON object used as a set of strings; aborts on failure. */
static json_t *xjson_object(void)
{
    json_t *o = json_object();
    if (o == NULL)
        abort();
    return o;
}

/* Makes room for `extra` more bytes plus the NUL. */
static void jpath_reserve(jpath *p, size_t extra)
{
    if (p->len + extra + 1 <= p->cap)
        return;
    size_t cap = p->cap ? p->cap : 64;
    while (cap < p->len + extra + 1)
        cap *= 2;
    char *s = realloc(p->s, cap);
    if (s == NULL)
        abort();
    p->s = s;
    p->cap = cap;
}

/* Appends "/key" with ~ and / escaped (RFC 6901); returns the length to pop back to. */
static size_t jpath_key(jpath *p, const char *key)
{
    size_t old = p->len;
    jpath_reserve(p, 1 + 2 * strlen(key));
    p->s[p->len++] = '/';
    for (const char *k = key; *k; k++) {
        if (*k == '~' || *k == '/') {
            p->s[p->len++] = '~';
            p->s[p->len++] = *k == '~' ? '0' : '1';
        } else {
            p->s[p->len++] = *k;
        }
    }
    p->s[p->len] = '\0';
    return old;
}

/* Appends "/i"; returns the length to pop back to. */
static size_t jpath_index(jpath *p, size_t i)
{
    size_t old = p->len;
    jpath_reserve(p, 24);
    p->len += (size_t)snprintf(p->s + p->len, 24, "/%zu", i);
    return old;
}

/* Cuts the pointer back to a length that jpath_key or jpath_index returned. */
static void jpath_pop(jpath *p, size_t len)
{
    p->len = len;
    if (p->s)
        p->s[len] = '\0';
}

/* Records an error at the current pointer. */
__attribute__((format(printf, 2, 3))) static void fail(pctx *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    errlist_add(c->errs, c->path.s ? c->path.s : "", "%s", msg);
    c->n_errs++;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
    size_t n;
    if (s[0] < 0x80)
        return 1;
    else if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* Number of characters (code points) of a valid UTF-8 string. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

/* Copies text for a message into out (4 * max_chars + 8 bytes): at most
 * max_chars characters, control characters and invalid UTF-8 as '?', "..."
 * when cut; '"' and '\' escaped if `escape`. */
static const char *clean(const char *s, bool escape, size_t max_chars, char *out)
{
    size_t o = 0, chars = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && chars < max_chars) {
        size_t n = utf8_seq(p);
        if (n == 0 || *p < 0x20 || *p == 0x7F) {
            out[o++] = '?';
            p++;
        } else {
            if (escape && (*p == '"' || *p == '\\'))
                out[o++] = '\\';
            memcpy(out + o, p, n);
            o += n;
            p += n;
        }
        chars++;
    }
    if (*p) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* Like clean, in double quotes. */
static const char *show(const char *s, char out[4 * SHOW_CHARS + 16])
{
    char tmp[4 * SHOW_CHARS + 16];
    snprintf(out, 4 * SHOW_CHARS + 16, "\"%s\"", clean(s, true, SHOW_CHARS, tmp));
    return out;
}

/* How a JSON value looks, for "got ..." in messages. */
static const char *kind_of(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
    default:
        return "null";
    }
}

/* Writes a number as the document gave it (integer or real) into out. */
static const char *num_text(const json_t *j, char out[32])
{
    if (json_is_integer(j))
        snprintf(out, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    else
        snprintf(out, 32, "%g", json_real_value(j));
    return out;
}

/* Joins a NULL-terminated list as "a, b, c" into out (outlen bytes). */
static void join(const char *const *list, char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; list[i] && o < outlen; i++)
        o += (size_t)snprintf(out + o, outlen - o, "%s%s", i ? ", " : "", list[i]);
}

/* Reports every member of obj that is not in `known` (NULL-terminated),
 * suggesting the closest known name for a likely typo. */
static void check_members(pctx *c, json_t *obj, const char *const *known)
{
    const char *key;
    json_t *v;
    char list[256];
    join(known, list, sizeof(list));
    json_object_foreach(obj, key, v)
    {
        (void)v;
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        bool found = false;
        for (size_t i = 0; known[i] && !found; i++) {
            size_t d = util_edit_distance(key, known[i]), len = strlen(known[i]);
            found = d == 0;
            /* a likely typo: two edits, or a third of the name, and not all of it */
            if (d < best_d && (d <= 2 || d <= len / 3) && d < len) {
                best = known[i];
                best_d = d;
            }
        }
        if (found)
            continue;
        size_t old = jpath_key(&c->path, key);
        if (best)
            fail(c, "unknown member; expected one of %s (did you mean \"%s\"?)", list, best);
        else
            fail(c, "unknown member; expected one of %s", list);
        jpath_pop(&c->path, old);
    }
}

/* Records s under the current pointer in `set`; reports and returns true if
 * it was recorded before. */
static bool is_duplicate(pctx *c, json_t *set, const char *s, const char *what)
{
    char q[4 * SHOW_CHARS + 16];
    json_t *prev = json_object_get(set, s);
    if (prev) {
        fail(c, "duplicate %s %s; already at %s", what, show(s, q), json_string_value(prev));
        return true;
    }
    json_object_set_new(set, s, json_string(c->path.s));
    return false;
}

/* Looks up member key of obj and pushes its pointer; *old gets the length
 * to pop back to. Reports "missing" if required and absent. */
static json_t *enter(pctx *c, json_t *obj, const char *key, bool required, const char *what,
                     size_t *old)
{
    json_t *v = json_object_get(obj, key);
    *old = jpath_key(&c->path, key);
    if (v == NULL && required)
        fail(c, "missing; expected %s", what);
    return v;
}

/* json_is_* are macros; these can be passed to enter_as. */
static bool is_number(const json_t *j)
{
    return json_is_number(j);
}

/* True for a JSON string. */
static bool is_string(const json_t *j)
{
    return json_is_string(j);
}

/* enter, then check the member's JSON type with `is`: returns the member
 * when present and of that type, else NULL (reporting a wrong type). The
 * caller pops back to *old either way. */
static json_t *enter_as(pctx *c, json_t *obj, const char *key, bool required, const char *what,
                        bool (*is)(const json_t *), size_t *old)
{
    json_t *v = enter(c, obj, key, required, what, old);
    if (v != NULL && !is(v)) {
        fail(c, "expected %s, got %s", what, kind_of(v));
        return NULL;
    }
    return v;
}

/* Reports that string member v is not what was expected, quoting it. */
static void fail_string(pctx *c, const char *what, const json_t *v)
{
    char q[4 * SHOW_CHARS + 16];
    fail(c, "expected %s, got %s", what, show(json_string_value(v), q));
}

/* Reads number member key in [min, max] (min excluded if min_open) into
 * *out; true when present and valid. */
static bool get_number(pctx *c, json_t *obj, const char *key, bool required, double min,
                       bool min_open, double max, const char *what, double *out)
{
    size_t old;
    char num[32];
    bool ok = false;
    json_t *v = enter_as(c, obj, key, required, what, is_number, &old);
    if (v != NULL) {
        double d = json_number_value(v);
        ok = !(d < min || (min_open && d == min) || d > max);
        if (ok)
            *out = d;
        else
            fail(c, "expected %s, got %s", what, num_text(v, num));
    }
    jpath_pop(&c->path, old);
    return ok;
}

/* Reads integer member key in [min, max] into *out; integral reals such as
 * 3.0 are accepted. True when present and valid. */
static bool get_int(pctx *c, json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                    const char *what, int64_t *out)
{
    size_t old;
    char num[32];
    bool ok = false;
    json_t *v = enter_as(c, obj, key, required, what, is_number, &old);
    if (v != NULL) {
        double d = json_number_value(v);
        bool integral = json_is_integer(v) || d == floor(d);
        ok = integral && d >= (double)min && d <= (double)max;
        if (ok)
            *out = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)d;
        else
            fail(c, "expected %s, got %s", what, num_text(v, num));
    }
    jpath_pop(&c->path, old);
    return ok;
}

/* Reads string member key of min_chars..max_chars characters; *out is
 * borrowed from the JSON tree. True when present and valid. */
static bool get_string(pctx *c, json_t *obj, const char *key, bool required, size_t min_chars,
                       size_t max_chars, const char *what, const char **out)
{
    size_t old;
    bool ok = false;
    json_t *v = enter_as(c, obj, key, required, what, is_string, &old);
    if (v != NULL) {
        size_t n = utf8_chars(json_string_value(v));
        ok = n >= min_chars && n <= max_chars;
        if (ok)
            *out = json_string_value(v);
        else
            fail(c, "expected %s, got %zu characters", what, n);
    }
    jpath_pop(&c->path, old);
    return ok;
}

/* Reads id member key (util_valid_id); *out is borrowed. */
static bool get_id(pctx *c, json_t *obj, const char *key, bool required, const char **out)
{
    size_t old;
    bool ok = false;
    json_t *v = enter_as(c, obj, key, required, WHAT_ID, is_string, &old);
    if (v != NULL) {
        ok = util_valid_id(json_string_value(v));
        if (ok)
            *out = json_string_value(v);
        else
            fail_string(c, WHAT_ID, v);
    }
    jpath_pop(&c->path, old);
    return ok;
}

/* Reads id member "id" like get_id and checks it is not in `seen` (ids of
 * earlier siblings, reported as duplicate `what`); *out is borrowed. */
static bool get_unique_id(pctx *c, json_t *obj, json_t *seen, const char *what, const char **out)
{
    if (!get_id(c, obj, "id", true, out))
        return false;
    size_t old = jpath_key(&c->path, "id");
    (void)is_duplicate(c, seen, *out, what);
    jpath_pop(&c->path, old);
    return true;
}

/* Reads one of the NULL-terminated `names` from member key; *out gets its
 * index. True when present and valid. */
static bool get_enum(pctx *c, json_t *obj, const char *key, bool required, const char *const *names,
                     const char *what, int *out)
{
    size_t old;
    bool ok = false;
    json_t *v = enter_as(c, obj, key, required, what, is_string, &old);
    for (int i = 0; v != NULL && !ok && names[i]; i++) {
        if (strcmp(names[i], json_string_value(v)) == 0) {
            *out = i;
            ok = true;
        }
    }
    if (v != NULL && !ok)
        fail_string(c, what, v);
    jpath_pop(&c->path, old);
    return ok;
}

/* Reads duration member key, in seconds, from min to max (`what` says so in
 * errors); *out is untouched when the member is absent or invalid. */
static bool get_duration_in(pctx *c, json_t *obj, const char *key, bool required, int64_t min,
                            int64_t max, const char *what, int64_t *out)
{
    size_t old;
    bool ok = false;
    json_t *v = enter_as(c, obj, key, required, what, is_string, &old);
    if (v != NULL) {
        int64_t secs;
        ok = util_parse_duration(json_string_value(v), max, &secs) && secs >= min;
        if (ok)
            *out = secs;
        else
            fail_string(c, what, v);
    }
    jpath_pop(&c->path, old);
    return ok;
}

/* get_duration_in for cooldowns and grace times: at most DURATION_MAX. */
static bool get_duration(pctx *c, json_t *obj, const char *key, int64_t *out)
{
    return get_duration_in(c, obj, key, false, 0, DURATION_MAX, WHAT_DUR, out);
}

/* Reads RFC 3339 member key into Unix seconds; fractions of a second are
 * refused so that spans are exactly what the file says. */
static bool get_time(pctx *c, json_t *obj, const char *key, bool required, int64_t *out)
{
    size_t old;
    bool ok = false;
    int64_t ms;
    json_t *v = enter_as(c, obj, key, required, WHAT_TIME, is_string, &old);
    if (v != NULL) {
        ok = util_parse_rfc3339(json_string_value(v), &ms) && ms % 1000 == 0;
        if (ok)
            *out = ms / 1000;
        else
            fail_string(c, WHAT_TIME, v);
    }
    jpath_pop(&c->path, old);
    return ok;
}

/* Checks that the time at member `ends` comes after `starts`. */
static void check_span(pctx *c, int64_t starts, int64_t ends)
{
    if (starts < ends)
        return;
    size_t old = jpath_key(&c->path, "ends");
    fail(c, "expected a time after \"starts\", got one at or before it");
    jpath_pop(&c->path, old);
}

/* Index of a referenced activity id, reporting an unknown one at the current
 * pointer: >= 0 when compiled, -1 when unknown, -2 when it exists but has no
 * index (too many activities) or "activities" is missing, empty or not an
 * object (reported once there, not again at each reference). */
static int activity_ref(pctx *c, const char *id)
{
    char q[4 * SHOW_CHARS + 16], list[240];
    if (c->acts == NULL)
        return -2;
    int i = rules_activity_index(c->r, id);
    if (i >= 0)
        return i;
    if (json_object_get(c->acts, id) != NULL)
        return -2;
    size_t o = 0;
    list[0] = '\0';
    for (size_t k = 0; k < c->r->n_activities; k++) {
        const char *a = c->r->activities[k].id;
        if (!util_valid_id(a))
            continue;
        if (o + strlen(a) + 8 >= sizeof(list)) {
            snprintf(list + o, sizeof(list) - o, ", ...");
            break;
        }
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "", a);
    }
    fail(c, "unknown activity type %s; expected one of the ids in /activities: %s", show(id, q),
         list);
    return -1;
}

/* Checks and compiles one activity `key` with value v into a. */
static void parse_activity(pctx *c, const char *key, json_t *v, rules_activity *a)
{
    static const char *const members[] = {"points", "daily_cap", "cooldown", NULL};
    size_t old = jpath_key(&c->path, key);
    a->id = xstrdup(key);
    if (!util_valid_id(key))
        fail(c, "invalid activity type; expected %s", WHAT_ID);
    if (!json_is_object(v)) {
        fail(c, "expected an object such as {\"points\": 10}, got %s", kind_of(v));
        goto out;
    }
    check_members(c, v, members);
    (void)get_number(c, v, "points", true, -POINTS_MAX, false, POINTS_MAX,
                     "a number from -10000 to 10000", &a->points);
    (void)get_int(c, v, "daily_cap", false, 1, COUNT_MAX, WHAT_COUNT, &a->daily_cap);
    (void)get_duration(c, v, "cooldown", &a->cooldown);
out:
    jpath_pop(&c->path, old);
}

/* Checks and compiles "activities": the first RULES_MAX_ACTIVITIES into
 * r->activities, any further ones only checked. */
static void parse_activities(pctx *c, json_t *root)
{
    size_t old;
    const char *key;
    json_t *v;
    json_t *acts = enter(c, root, "activities", true,
                         "an object of activity types such as {\"post\": {\"points\": 10}}", &old);
    if (acts == NULL)
        goto out;
    if (!json_is_object(acts)) {
        fail(c, "expected an object of activity types, got %s", kind_of(acts));
        goto out;
    }
    size_t n = json_object_size(acts);
    if (n == 0)
        fail(c, "expected at least one activity type, got none");
    else
        c->acts = acts; /* references are checked against a non-empty table only */
    if (n > RULES_MAX_ACTIVITIES)
        fail(c, "expected at most %d activity types, got %zu", RULES_MAX_ACTIVITIES, n);
    json_object_foreach(acts, key, v)
    {
        rules_activity scratch = {0};
        rules *r = c->r;
        rules_activity *a =
            r->n_activities < RULES_MAX_ACTIVITIES ? &r->activities[r->n_activities++] : &scratch;
        parse_activity(c, key, v, a);
        free(scratch.id);
    }
out:
    jpath_pop(&c->path, old);
}

/* Checks and compiles one multiplier table (member key of mult). */
static void parse_factors(pctx *c, json_t *mult, const char *key, rules_factor **out, size_t *n)
{
    size_t old, old2;
    const char *name;
    json_t *v;
    json_t *t = enter(c, mult, key, false, "", &old);
    if (t == NULL)
        goto out;
    if (!json_is_object(t)) {
        fail(c, "expected an object of factors such as {\"linkedin\": 1.5}, got %s", kind_of(t));
        goto out;
    }
    *out = xcalloc(json_object_size(t), sizeof(**out));
    json_object_foreach(t, name, v)
    {
        (void)v;
        rules_factor *f = &(*out)[(*n)++];
        f->name = xstrdup(name);
        f->factor = 1;
        if (!util_valid_id(name)) {
            old2 = jpath_key(&c->path, name);
            fail(c, "invalid name; expected %s", WHAT_ID);
            jpath_pop(&c->path, old2);
        }
        (void)get_number(c, t, name, true, 0, true, FACTOR_MAX,
                         "a factor greater than 0 and at most 100, such as 1.5", &f->factor);
    }
out:
    jpath_pop(&c->path, old);
}

/* Checks and compiles "multipliers". */
static void parse_multipliers(pctx *c, json_t *root)
{
    static const char *const members[] = {"channel", "stakeholder", NULL};
    size_t old;
    json_t *m = enter(c, root, "multipliers", false, "", &old);
    if (m == NULL)
        goto out;
    if (!json_is_object(m)) {
        fail(c, "expected an object with \"channel\" and \"stakeholder\" tables, got %s",
             kind_of(m));
        goto out;
    }
    check_members(c, m, members);
    parse_factors(c, m, "channel", &c->r->channel, &c->r->n_channel);
    parse_factors(c, m, "stakeholder", &c->r->stakeholder, &c->r->n_stakeholder);
out:
    jpath_pop(&c->path, old);
}

/* Checks and compiles "bonuses". */
static void parse_bonuses(pctx *c, json_t *root)
{
    static const char *const members[] = {"first_of_day", "streak", NULL};
    static const char *const streak_members[] = {"days", "points", NULL};
    size_t old, old2;
    int64_t days = 0, points = 0;
    json_t *b = enter(c, root, "bonuses", false, "", &old);
    if (b == NULL)
        goto out;
    if (!json_is_object(b)) {
        fail(c, "expected an object with \"first_of_day\" and \"streak\", got %s", kind_of(b));
        goto out;
    }
    check_members(c, b, members);
    (void)get_int(c, b, "first_of_day", false, 0, COUNT_MAX, WHAT_BONUS, &c->r->first_of_day);
    json_t *s = enter(c, b, "streak", false, "", &old2);
    if (s != NULL && !json_is_object(s)) {
        fail(c, "expected an object such as {\"days\": 5, \"points\": 20}, got %s", kind_of(s));
    } else if (s != NULL) {
        check_members(c, s, streak_members);
        bool ok = get_int(c, s, "days", true, STREAK_MIN_DAYS, STREAK_MAX_DAYS,
                          "an integer from 2 to 365", &days);
        ok &= get_int(c, s, "points", true, 0, COUNT_MAX, WHAT_BONUS, &points);
        if (ok) {
            c->r->streak_days = days;
            c->r->streak_points = points;
        }
    }
    jpath_pop(&c->path, old2);
out:
    jpath_pop(&c->path, old);
}

/* Checks and compiles one campaign object v into k. */
static void parse_campaign(pctx *c, json_t *v, rules_campaign *k)
{
    static const char *const members[] = {"name", "starts", "ends", "multiplier", NULL};
    const char *name;
    if (!json_is_object(v)) {
        fail(c, "expected a campaign object, got %s", kind_of(v));
        return;
    }
    check_members(c, v, members);
    if (get_string(c, v, "name", true, 1, NAME_MAX_CHARS, "a name of 1 to 100 characters", &name))
        k->name = xstrdup(name);
    bool ok = get_time(c, v, "starts", true, &k->starts);
    ok &= get_time(c, v, "ends", true, &k->ends);
    if (ok)
        check_span(c, k->starts, k->ends);
    (void)get_number(c, v, "multiplier", true, 0, true, FACTOR_MAX,
                     "a factor greater than 0 and at most 100, such as 2", &k->multiplier);
}

/* Checks and compiles "campaigns". */
static void parse_campaigns(pctx *c, json_t *root)
{
    size_t old, i;
    json_t *v;
    json_t *a = enter(c, root, "campaigns", false, "", &old);
    if (a == NULL)
        goto out;
    if (!json_is_array(a)) {
        fail(c, "expected an array of campaigns, got %s", kind_of(a));
        goto out;
    }
    c->r->campaigns = xcalloc(json_array_size(a), sizeof(*c->r->campaigns));
    c->r->n_campaigns = json_array_size(a);
    json_array_foreach(a, i, v)
    {
        size_t old2 = jpath_index(&c->path, i);
        parse_campaign(c, v, &c->r->campaigns[i]);
        jpath_pop(&c->path, old2);
    }
out:
    jpath_pop(&c->path, old);
}

/* Checks and compiles a challenge's "activities" into ch->counts; true
 * when the member is a readable array (so goals can be checked against it). */
static bool parse_counted(pctx *c, json_t *v, rules_challenge *ch)
{
    size_t old, i;
    json_t *e, *seen = NULL;
    bool ok = false;
    json_t *a = enter(c, v, "activities", true,
                      "a non-empty array of activity types, such as [\"post\", \"reply\"]", &old);
    if (a == NULL)
        goto out;
    if (!json_is_array(a) || json_array_size(a) == 0) {
        fail(c,
             "expected a non-empty array of activity types, such as [\"post\", \"reply\"], got %s",
             json_is_array(a) ? "an empty array" : kind_of(a));
        goto out;
    }
    ok = true;
    seen = xjson_object();
    json_array_foreach(a, i, e)
    {
        size_t old2 = jpath_index(&c->path, i);
        if (!json_is_string(e)) {
            fail(c, "expected an activity type from /activities, got %s", kind_of(e));
        } else if (!is_duplicate(c, seen, json_string_value(e), "activity type")) {
            int k = activity_ref(c, json_string_value(e));
            if (k >= 0)
                ch->counts[k] = true;
        }
        jpath_pop(&c->path, old2);
    }
out:
    json_decref(seen);
    jpath_pop(&c->path, old);
    return ok;
}

/* Checks and compiles one goal object v of challenge ch into g; `seen`
 * holds the goal ids met so far, `counted_ok` whether ch->counts is known. */
static void parse_goal(pctx *c, json_t *v, rules_challenge *ch, rules_goal *g, json_t *seen,
                       bool counted_ok)
{
    static const char *const members[] = {"id", "activity", "count", "bonus", "badge", NULL};
    const char *s;
    char q[4 * SHOW_CHARS + 16];
    if (!json_is_object(v)) {
        fail(c, "expected a goal object, got %s", kind_of(v));
        return;
    }
    check_members(c, v, members);
    if (get_unique_id(c, v, seen, "goal id", &s))
        g->id = xstrdup(s);
    if (get_string(c, v, "activity", true, 1, SIZE_MAX, "an activity type from /activities", &s)) {
        size_t old = jpath_key(&c->path, "activity");
        int k = activity_ref(c, s);
        if (k >= 0) {
            g->activity = (size_t)k;
            if (counted_ok && !ch->counts[k])
                fail(c,
                     "activity type %s is not counted by this challenge; add it to its "
                     "\"activities\" or pick one of those",
                     show(s, q));
        }
        jpath_pop(&c->path, old);
    }
    (void)get_int(c, v, "count", true, 1, COUNT_MAX, WHAT_COUNT, &g->count);
    (void)get_int(c, v, "bonus", false, 0, COUNT_MAX, WHAT_BONUS, &g->bonus);
    if (get_string(c, v, "badge", false, 1, BADGE_MAX_CHARS, "a badge name of 1 to 64 characters",
                   &s))
        g->badge = xstrdup(s);
}

/* Checks and compiles a challenge's "goals". */
static void parse_goals(pctx *c, json_t *v, rules_challenge *ch, bool counted_ok)
{
    size_t old, i;
    json_t *e, *seen = NULL;
    json_t *a = enter(c, v, "goals", false, "", &old);
    if (a == NULL)
        goto out;
    if (!json_is_array(a)) {
        fail(c, "expected an array of goals, got %s", kind_of(a));
        goto out;
    }
    if (json_array_size(a) == 0)
        goto out;
    ch->goals = xcalloc(json_array_size(a), sizeof(*ch->goals));
    ch->n_goals = json_array_size(a);
    seen = xjson_object();
    json_array_foreach(a, i, e)
    {
        size_t old2 = jpath_index(&c->path, i);
        parse_goal(c, e, ch, &ch->goals[i], seen, counted_ok);
        jpath_pop(&c->path, old2);
    }
out:
    json_decref(seen);
    jpath_pop(&c->path, old);
}

/* Checks and compiles a list of ids (member key: "teams" or "leaders");
 * absent leaves *out NULL, which means everybody. */
static void parse_id_list(pctx *c, json_t *v, const char *key, const char *what, size_t max,
                          char ***out, size_t *n)
{
    size_t old, i;
    json_t *e, *seen = NULL;
    char q[4 * SHOW_CHARS + 16];
    json_t *a = enter(c, v, key, false, "", &old);
    if (a == NULL)
        goto out;
    if (!json_is_array(a) || json_array_size(a) == 0) {
        fail(c,
             "expected a non-empty array of %s ids (leave it out to let everybody take part), "
             "got %s",
             what, json_is_array(a) ? "an empty array" : kind_of(a));
        goto out;
    }
    if (json_array_size(a) > max) {
        fail(c, "at most %zu %s ids, got %zu", max, what, json_array_size(a));
        goto out;
    }
    *out = xcalloc(json_array_size(a), sizeof(**out));
    *n = json_array_size(a);
    seen = xjson_object();
    json_array_foreach(a, i, e)
    {
        size_t old2 = jpath_index(&c->path, i);
        if (!json_is_string(e))
            fail(c, "expected %s, got %s", WHAT_ID, kind_of(e));
        else if (!util_valid_id(json_string_value(e)))
            fail(c, "expected %s, got %s", WHAT_ID, show(json_string_value(e), q));
        else if (!is_duplicate(c, seen, json_string_value(e), what))
            (*out)[i] = xstrdup(json_string_value(e));
        jpath_pop(&c->path, old2);
    }
out:
    json_decref(seen);
    jpath_pop(&c->path, old);
}

/* Checks and loads a challenge's "timezone" (default UTC) into ch->zone. */
static void parse_zone(pctx *c, json_t *v, rules_challenge *ch)
{
    const char *name = "UTC";
    char err[128], q[4 * SHOW_CHARS + 16], e[4 * sizeof(err) + 8];
    if (json_object_get(v, "timezone") != NULL &&
        !get_string(c, v, "timezone", false, 1, 255, "an IANA time zone such as \"Europe/London\"",
                    &name))
        return;
    err[0] = '\0';
    ch->zone = tz_load(name, err, sizeof(err));
    if (ch->zone != NULL)
        return;
    size_t old = jpath_key(&c->path, "timezone");
    fail(c, "unknown time zone %s; expected an IANA name such as \"Europe/London\" (%s)",
         show(name, q), clean(err, false, sizeof(err), e));
    jpath_pop(&c->path, old);
}

/* Reads "digest_at": "thursday 10:00" (weeks) or a duration after the
 * period's start ("3d10h" is not a duration: "82h" is), into ch->digest_at
 * as seconds after the period's local start. */
static void parse_digest_at(pctx *c, json_t *v, rules_challenge *ch)
{
    static const char what[] = "a weekday and local time such as \"thursday 10:00\" (weeks), "
                               "or a duration after the period starts such as \"82h\"";
    size_t old;
    json_t *d = enter_as(c, v, "digest_at", false, what, is_string, &old);
    if (d == NULL)
        goto out;
    const char *s = json_string_value(d);
    char day[16];
    int hh, mm, n = 0;
    int64_t secs, span = 0;
    if (sscanf(s, "%15[a-z] %2d:%2d%n", day, &hh, &mm, &n) == 3 && s[n] == '\0') {
        int wd = period_weekday_parse(day);
        if (ch->period.kind != PERIOD_WEEK) {
            fail(c, "a weekday only goes with \"period\": \"week\"; give a duration "
                    "after the period starts, such as \"82h\"");
        } else if (wd < 0 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || strlen(s) != (size_t)n ||
                   s[n - 3] != ':') {
            fail_string(c, what, d);
        } else {
            ch->digest_at =
                (int64_t)((wd - ch->period.week_start + 7) % 7) * 86400 + hh * 3600 + mm * 60;
        }
        goto out;
    }
    switch (ch->period.kind) {
    case PERIOD_WEEK:
        span = 7 * 86400;
        break;
    case PERIOD_MONTH:
        span = 28 * 86400;
        break;
    case PERIOD_INTERVAL:
        span = ch->period.length;
        break;
    case PERIOD_FIXED:
        span = ch->period.fixed_end - ch->period.fixed_start;
        break;
    default:
        fail(c, "not with \"period\": \"all\", which never ends");
        goto out;
    }
    if (!util_parse_duration(s, LENGTH_MAX, &secs))
        fail_string(c, what, d);
    else if (span > 0 && secs >= span)
        fail(c,
             "expected a time before the period ends (within %" PRId64 "s of its start), got "
             "\"%s\"",
             span, s);
    else
        ch->digest_at = secs;
out:
    jpath_pop(&c->path, old);
}

/* Checks and compiles one challenge object v into ch; `ids` holds the
 * challenge ids met so far. */
static void parse_challenge(pctx *c, json_t *v, rules_challenge *ch, json_t *ids)
{
    static const char *const members[] = {
        "id",         "name",         "period", "timezone",  "week_starts", "grace",
        "activities", "scoring",      "goals",  "teams",     "leaders",     "starts",
        "ends",       "team_ranking", "length", "digest_at", NULL};
    static const char *const periods[] = {"week", "month", "fixed", "all", "interval", NULL};
    static const period_kind kinds[] = {PERIOD_WEEK, PERIOD_MONTH, PERIOD_FIXED, PERIOD_ALL,
                                        PERIOD_INTERVAL};
    static const char *const scorings[] = {"points", "count", NULL};
    static const rules_scoring scores[] = {RULES_SCORE_POINTS, RULES_SCORE_COUNT};
    static const char *const rankings[] = {"total", "average", NULL};
    const char *s;
    char q[4 * SHOW_CHARS + 16];
    int pk = -1, scoring = 0, ranking = 0;
    size_t old;

    ch->grace = GRACE_DEFAULT;
    ch->digest_at = -1;
    if (!json_is_object(v)) {
        fail(c, "expected a challenge object, got %s", kind_of(v));
        return;
    }
    check_members(c, v, members);
    if (get_unique_id(c, v, ids, "challenge id", &s)) {
        ch->id = xstrdup(s);
    }
    if (get_string(c, v, "name", true, 1, NAME_MAX_CHARS, "a name of 1 to 100 characters", &s))
        ch->name = xstrdup(s);
    if (get_enum(c, v, "period", true, periods,
                 "\"week\", \"month\", \"fixed\", \"all\" or \"interval\"", &pk))
        ch->period.kind = kinds[pk];
    parse_zone(c, v, ch);
    ch->period.zone = ch->zone;

    json_t *ws = enter(c, v, "week_starts", false, "", &old);
    if (ws != NULL && pk >= 0 && kinds[pk] != PERIOD_WEEK) {
        fail(c, "only allowed with \"period\": \"week\"");
    } else if (ws != NULL && !json_is_string(ws)) {
        fail(c, "expected a weekday from \"monday\" to \"sunday\", got %s", kind_of(ws));
    } else if (ws != NULL) {
        int day = period_weekday_parse(json_string_value(ws));
        if (day >= 0)
            ch->period.week_start = day;
        else
            fail(c, "expected a weekday from \"monday\" to \"sunday\", got %s",
                 show(json_string_value(ws), q));
    }
    jpath_pop(&c->path, old);

    (void)get_duration(c, v, "grace", &ch->grace);
    bool counted_ok = parse_counted(c, v, ch);
    if (get_enum(c, v, "scoring", false, scorings, "\"points\" or \"count\"", &scoring))
        ch->scoring = scores[scoring];
    if (get_enum(c, v, "team_ranking", false, rankings, "\"total\" or \"average\"", &ranking))
        ch->team_average = ranking == 1;
    parse_goals(c, v, ch, counted_ok);
    parse_id_list(c, v, "teams", "team", RULES_MAX_TEAMS, &ch->teams, &ch->n_teams);
    parse_id_list(c, v, "leaders", "leader", RULES_MAX_LEADERS, &ch->leaders, &ch->n_leaders);

    bool fixed = pk >= 0 && kinds[pk] == PERIOD_FIXED;
    bool interval = pk >= 0 && kinds[pk] == PERIOD_INTERVAL;
    static const char *const span[] = {"starts", "ends", "length", NULL};
    static const char *const only[] = {"only allowed with \"period\": \"fixed\" or \"interval\"",
                                       "only allowed with \"period\": \"fixed\"",
                                       "only allowed with \"period\": \"interval\""};
    for (size_t i = 0; pk >= 0 && span[i]; i++) {
        bool allowed = i == 0 ? fixed || interval : i == 1 ? fixed : interval;
        if (allowed || json_object_get(v, span[i]) == NULL)
            continue;
        old = jpath_key(&c->path, span[i]);
        fail(c, "%s", only[i]);
        jpath_pop(&c->path, old);
    }
    if (fixed) {
        bool ok = get_time(c, v, "starts", true, &ch->period.fixed_start);
        ok &= get_time(c, v, "ends", true, &ch->period.fixed_end);
        if (ok)
            check_span(c, ch->period.fixed_start, ch->period.fixed_end);
    } else if (interval) {
        (void)get_time(c, v, "starts", true, &ch->period.fixed_start);
        (void)get_duration_in(c, v, "length", true, 1, LENGTH_MAX, WHAT_LENGTH, &ch->period.length);
    }
    if (pk >= 0)
        parse_digest_at(c, v, ch);
}

/* Frees what a challenge owns (not the struct itself). */
static void challenge_free(rules_challenge *ch)
{
    free(ch->id);
    free(ch->name);
    tz_free(ch->zone);
    for (size_t i = 0; i < ch->n_goals; i++) {
        free(ch->goals[i].id);
        free(ch->goals[i].badge);
    }
    free(ch->goals);
    for (size_t i = 0; i < ch->n_teams; i++)
        free(ch->teams[i]);
    free(ch->teams);
    for (size_t i = 0; i < ch->n_leaders; i++)
        free(ch->leaders[i]);
    free(ch->leaders);
}

/* Checks and compiles "challenges": the first RULES_MAX_CHALLENGES into
 * r->challenges, any further ones only checked. */
static void parse_challenges(pctx *c, json_t *root)
{
    size_t old, i;
    json_t *v, *ids = NULL;
    json_t *a = enter(c, root, "challenges", true, "a non-empty array of challenges", &old);
    if (a == NULL)
        goto out;
    if (!json_is_array(a) || json_array_size(a) == 0) {
        fail(c, "expected a non-empty array of challenges, got %s",
             json_is_array(a) ? "an empty array" : kind_of(a));
        goto out;
    }
    if (json_array_size(a) > RULES_MAX_CHALLENGES)
        fail(c, "expected at most %d challenges, got %zu", RULES_MAX_CHALLENGES,
             json_array_size(a));
    ids = xjson_object();
    json_array_foreach(a, i, v)
    {
        rules_challenge scratch = {0};
        rules *r = c->r;
        rules_challenge *ch =
            r->n_challenges < RULES_MAX_CHALLENGES ? &r->challenges[r->n_challenges++] : &scratch;
        size_t old2 = jpath_index(&c->path, i);
        parse_challenge(c, v, ch, ids);
        jpath_pop(&c->path, old2);
        challenge_free(&scratch);
    }
out:
    json_decref(ids);
    jpath_pop(&c->path, old);
}

/* Writes the numbers that explanations show once, so that scoring an event
 * formats no floating-point number. */
static void render_numbers(rules *r)
{
    for (size_t i = 0; i < r->n_activities; i++)
        snprintf(r->activities[i].points_text, sizeof(r->activities[i].points_text), "%.6g",
                 r->activities[i].points);
    for (size_t i = 0; i < r->n_channel; i++)
        snprintf(r->channel[i].text, sizeof(r->channel[i].text), "%.6g", r->channel[i].factor);
    for (size_t i = 0; i < r->n_stakeholder; i++)
        snprintf(r->stakeholder[i].text, sizeof(r->stakeholder[i].text), "%.6g",
                 r->stakeholder[i].factor);
    for (size_t i = 0; i < r->n_campaigns; i++)
        snprintf(r->campaigns[i].text, sizeof(r->campaigns[i].text), "%.6g",
                 r->campaigns[i].multiplier);
}

rules *rules_parse(const char *text, size_t len, errlist *errs)
{
    static const char *const members[] = {"activities", "multipliers", "bonuses",
                                          "campaigns",  "challenges",  NULL};
    pctx c = {.errs = errs};
    json_error_t je;
    char text_buf[4 * sizeof(je.text) + 8];
    json_t *root = NULL;

    if (text == NULL) {
        text = "";
        len = 0;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        /* jansson may quote the offending bytes, which need not be UTF-8 */
        errlist_add(errs, "", "invalid JSON at line %d, column %d: %s", je.line, je.column,
                    clean(je.text, false, sizeof(je.text), text_buf));
        goto out;
    }
    if (!json_is_object(root)) {
        errlist_add(errs, "",
                    "expected a rule set object with \"activities\" and "
                    "\"challenges\", got %s",
                    kind_of(root));
        goto out;
    }
    c.r = xcalloc(1, sizeof(*c.r));
    c.r->refs = 1;
    c.r->source = xcalloc(len + 1, 1);
    memcpy(c.r->source, text, len);
    jpath_reserve(&c.path, 0);
    c.path.s[0] = '\0';

    check_members(&c, root, members);
    parse_activities(&c, root);
    parse_multipliers(&c, root);
    parse_bonuses(&c, root);
    parse_campaigns(&c, root);
    parse_challenges(&c, root);
    if (c.n_errs > 0) {
        rules_free(c.r);
        c.r = NULL;
    } else {
        render_numbers(c.r);
    }
out:
    free(c.path.s);
    json_decref(root);
    return c.r;
}

const rules *rules_empty(void)
{
    static rules none = {.refs = 1u << 30, .source = (char *)"{}"};
    return &none;
}

rules *rules_hold(const rules *r)
{
    rules *w = (rules *)r; /* the count is the one mutable part of shared rules */
    w->refs++;
    return w;
}

void rules_free(rules *r)
{
    if (r == NULL || --r->refs > 0)
        return;
    for (size_t i = 0; i < r->n_activities; i++)
        free(r->activities[i].id);
    for (size_t i = 0; i < r->n_channel; i++)
        free(r->channel[i].name);
    free(r->channel);
    for (size_t i = 0; i < r->n_stakeholder; i++)
        free(r->stakeholder[i].name);
    free(r->stakeholder);
    for (size_t i = 0; i < r->n_campaigns; i++)
        free(r->campaigns[i].name);
    free(r->campaigns);
    for (size_t i = 0; i < r->n_challenges; i++)
        challenge_free(&r->challenges[i]);
    free(r->source);
    free(r);
}

int rules_activity_index(const rules *r, const char *id)
{
    if (r == NULL || id == NULL)
        return -1;
    for (size_t i = 0; i < r->n_activities; i++)
        if (strcmp(r->activities[i].id, id) == 0)
            return (int)i;
    return -1;
}

int rules_challenge_index(const rules *r, const char *id)
{
    if (r == NULL || id == NULL)
        return -1;
    for (size_t i = 0; i < r->n_challenges; i++)
        if (r->challenges[i].id != NULL && strcmp(r->challenges[i].id, id) == 0)
            return (int)i;
    return -1;
}

double rules_factor_of(const rules_factor *t, size_t n, const char *name)
{
    if (name == NULL)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return t[i].factor;
    return 1;
}

/* Rounds points half away from zero, saturating at the int64 range (NaN is
 * 0). Products below 1e9 are first rounded to 6 decimals, so that decimal
 * factors behave as written: 1.15 x 10 is 11.5 and gives 12, although the
 * binary product is 11.4999... */
int64_t rules_round_points(double v)
{
    if (isnan(v))
        return 0;
    if (fabs(v) < 1e9)
        v = round(v * 1e6) / 1e6;
    if (v >= 0x1p63)
        return INT64_MAX;
    if (v <= -0x1p63)
        return INT64_MIN;
    return (int64_t)llround(v);
}

int64_t rules_points(const rules *r, size_t activity, const char *channel, const char *stakeholder)
{
    if (r == NULL || activity >= r->n_activities)
        return 0;
    double v = r->activities[activity].points;
    v *= rules_factor_of(r->channel, r->n_channel, channel);
    v *= rules_factor_of(r->stakeholder, r->n_stakeholder, stakeholder);
    return rules_round_points(v);
}
