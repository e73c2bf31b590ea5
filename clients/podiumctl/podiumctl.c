/*
 * podiumctl.c - the comms team's command line for podiumd.
 *
 *   podiumctl [options] COMMAND [ARGS]    (podiumctl --help lists them)
 *
 * Each command is one or a few calls to podiumd's HTTP API (ctl_http.c),
 * whose JSON answers are shown as aligned tables for people (ctl_out.c),
 * or passed through as they are with --json, for scripts. `rules check`
 * needs no daemon: it runs the daemon's own validator on the file.
 *
 * Where it connects: --url, else $PODIUM_URL, else http://127.0.0.1:7420.
 * With --rpc HOST:PORT (or $PODIUM_RPC), board, leader and challenges read
 * over the binary protocol instead, and watch subscribes there (libpodium;
 * ctl_rpc.c); everything else is HTTP only, as the admin API is.
 * The token: --token, else $PODIUM_TOKEN, else the file named by
 * --token-file or $PODIUM_TOKEN_FILE, else ./data/admin.token (what the
 * quick start writes) or /var/lib/podium/admin.token when readable. Every
 * token acts in its own org (pdm_{org}_..., or pdm_... for org default).
 *
 * `org` commands are the operator's: they manage the orgs themselves
 * (/v1/orgs) with the operator token, which reads no org's data, so their
 * default token files are ./data/operator.token, then
 * /var/lib/podium/operator.token; --org ID may stand for the ID argument.
 *
 * Options may come anywhere on the line (`podiumctl org list --json`):
 * the global ones are taken out first, up to a `--`, and each command reads
 * its own from what is left.
 *
 * Exit status (podiumctl(1)): 0 done; 1 usage; 2 refused as invalid (a
 * rules file that does not validate, a 400/409/413/422 answer); 3 not found
 * (404); 4 not allowed (401, 403); 5 podiumd unreachable, unavailable
 * (503) or failing (other 5xx), or the answer was cut short.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_http.h"
#include "ctl_out.h"
#include "ctl_rpc.h"
#include "rules.h"
#include "rulesync.h"

enum { EX_OK = 0, EX_USAGE = 1, EX_INVALID = 2, EX_NOTFOUND = 3, EX_AUTH = 4, EX_UNAVAILABLE = 5 };

/* Global options. */
static struct {
    ctl_conn conn;
    const char *rpc; /* HOST:PORT of the binary protocol, or NULL */
    bool json;
    bool org_cmd;    /* an org command: the operator token is the one wanted */
    const char *org; /* --org: the org an org command acts on */
    char token[256];
} g;

static const char usage_text[] =
    "usage: podiumctl [--url URL] [--rpc HOST:PORT] [--token TOKEN | --token-file FILE] [--json]\n"
    "                 [--no-color]\n"
    "                 COMMAND [ARGS]\n"
    "  (--rpc: board, leader, challenges and watch go over the binary protocol)\n"
    "\n"
    "Rules:\n"
    "  rules check FILE                 validate a rules file offline (no daemon needed)\n"
    "  rules apply FILE [--dry-run]     apply it; --dry-run shows what would change\n"
    "  rules show                       the rule set in force, with its version\n"
    "Boards:\n"
    "  challenges                       challenges, their current period and next reset\n"
    "  board CHALLENGE [--period P] [--limit N]\n"
    "  watch CHALLENGE [--limit N]      a live board (Ctrl-C stops)\n"
    "  periods CHALLENGE                closed periods and their winners\n"
    "  leader ID                        a leader's standings, streaks, badges, recent events\n"
    "Admin:\n"
    "  leader-add ID --name NAME [--team TEAM] [--avatar URL]\n"
    "  leader-hide ID | leader-unhide ID | leader-erase ID --yes\n"
    "  team-add ID --name NAME\n"
    "  token create --role leader|reader|ingest|admin [--leader ID]\n"
    "  token delete ID\n"
    "  adjust LEADER CHALLENGE POINTS --reason TEXT [--period P]\n"
    "  rescore CHALLENGE [--period P]\n"
    "  export [--since DATE] [--until DATE] [--leader ID] [--challenge ID] [> FILE]\n"
    "  webhooks                         registered webhooks\n"
    "Orgs (the operator token; podiumctl org --help):\n"
    "  org create ID [--name NAME] | org list [--all] | org show ID\n"
    "  org suspend ID | org resume ID | org rename ID NAME | org quota ID ... | org delete ID\n"
    "\n"
    "Options may come anywhere; after `--` every argument is taken as it is.\n"
    "Exit status: 0 done, 1 usage, 2 invalid, 3 not found, 4 not allowed, 5 unavailable.\n";

/* Prints a message to stderr and exits with status ex. */
__attribute__((noreturn, format(printf, 2, 3))) static void die(int ex, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("podiumctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(ex);
}

/* The exit status an HTTP status stands for. */
static int exit_for(long status)
{
    if (status >= 200 && status < 300)
        return EX_OK;
    if (status == 404)
        return EX_NOTFOUND;
    if (status == 401 || status == 403)
        return EX_AUTH;
    if (status >= 400 && status < 500)
        return EX_INVALID;
    return EX_UNAVAILABLE;
}

/* Explains a failed answer (problem+json: detail and each error) and exits. */
__attribute__((noreturn)) static void fail_resp(const ctl_resp *r)
{
    if (r->status == 0)
        die(EX_UNAVAILABLE, "cannot reach podiumd at %s: %s", g.conn.url, r->error);
    json_t *p = json_loadb(r->body, r->len, 0, NULL);
    const char *detail = json_string_value(json_object_get(p, "detail"));
    fprintf(stderr, "podiumctl: %ld %s\n", r->status, detail ? detail : r->body);
    json_t *errs = json_object_get(p, "errors"), *e;
    size_t i;
    json_array_foreach(errs, i, e)
    {
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        fprintf(stderr, "  %s: %s\n", ptr && *ptr ? ptr : "(document)", msg ? msg : "");
    }
    if (r->status == 401)
        fputs("  (give a token with --token, $PODIUM_TOKEN or --token-file)\n", stderr);
    if (r->status == 403 && g.org_cmd)
        fputs("  (org commands need the operator token: data/operator.token or\n"
              "  /var/lib/podium/operator.token, or give it with --token-file)\n",
              stderr);
    json_decref(p);
    exit(exit_for(r->status));
}

/* Calls podiumd; on success returns the parsed JSON (NULL for no body) and,
 * with --json, prints the body as it came. Exits on failure. */
static json_t *call(const char *method, const char *path, const char *body, bool print_json)
{
    ctl_resp r;
    long st = ctl_request(&g.conn, method, path, body, body ? strlen(body) : 0, NULL, &r);
    if (st < 200 || st >= 300)
        fail_resp(&r);
    if (g.json && print_json)
        fwrite(r.body, 1, r.len, stdout);
    json_t *j = r.len ? json_loadb(r.body, r.len, 0, NULL) : NULL;
    ctl_resp_free(&r);
    return j;
}

/* Reads method over the binary protocol (when --rpc is given); prints the
 * result with --json; exits on failure. Takes params (may be NULL). */
static json_t *rpc_read(const char *method, json_t *params)
{
    long status;
    json_t *error;
    char err[512];
    json_t *j =
        ctl_rpc_call(g.rpc, g.conn.token, method, params, &status, &error, err, sizeof(err));
    json_decref(params);
    if (j == NULL) {
        if (status == 0)
            die(EX_UNAVAILABLE, "cannot reach podiumd at %s: %s", g.rpc, err);
        fprintf(stderr, "podiumctl: %ld %s\n", status, err);
        json_t *e;
        size_t i;
        json_array_foreach(json_object_get(error, "errors"), i, e)
            fprintf(stderr, "  %s: %s\n", json_string_value(json_object_get(e, "pointer")),
                    json_string_value(json_object_get(e, "message")));
        json_decref(error);
        exit(exit_for(status));
    }
    if (g.json) {
        char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text)
            puts(text);
        free(text);
    }
    return j;
}

/* Shortcuts to members of a JSON object. */
static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}
static json_int_t num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* Reads the value of option `name` at argv[*i] ("--name V" or "--name=V"). */
static const char *opt(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc)
        die(EX_USAGE, "%s needs a value", name);
    return argv[++*i];
}

#define PATH_LEN 2048

/* Writes prefix, the percent-encoded id, then suffix into path (PATH_LEN
 * bytes); exits when the id is too long to be one. */
static void id_path(char *path, const char *prefix, const char *id, const char *suffix)
{
    char enc[256];
    if (!ctl_urlencode(id, enc, sizeof(enc)))
        die(EX_USAGE, "%.40s...: too long for an id", id);
    snprintf(path, PATH_LEN, "%s%s%s", prefix, enc, suffix);
}

/* Appends "&name=value" (value encoded) to a query being built in q. */
static void query_add(char *q, size_t len, const char *name, const char *value)
{
    char enc[1024];
    if (value == NULL)
        return;
    if (!ctl_urlencode(value, enc, sizeof(enc)))
        die(EX_USAGE, "%s is too long", name);
    size_t n = strlen(q);
    snprintf(q + n, len - n, "%s%s=%s", n ? "&" : "?", name, enc);
}

/* Reads a whole file (NUL-terminated; caller frees). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        die(EX_USAGE, "cannot read %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n + 65536 + 1 > cap) {
            cap = (n + 65536 + 1) * 2;
            buf = realloc(buf, cap);
            if (buf == NULL)
                die(EX_UNAVAILABLE, "out of memory");
        }
        got = fread(buf + n, 1, 65536, f);
        n += got;
    } while (got > 0);
    if (f != stdin)
        fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The movement arrow of a leaderboard entry: "▲2", "▼1", "=", "new". */
static void movement_cell(ctl_table *t, const json_t *e)
{
    json_t *m = json_object_get(e, "movement");
    if (!json_is_integer(m))
        ctl_table_cell(t, CTL_DIM, "new");
    else if (json_integer_value(m) > 0)
        ctl_table_cell(t, CTL_GREEN, "▲%" JSON_INTEGER_FORMAT, json_integer_value(m));
    else if (json_integer_value(m) < 0)
        ctl_table_cell(t, CTL_RED, "▼%" JSON_INTEGER_FORMAT, -json_integer_value(m));
    else
        ctl_table_cell(t, CTL_DIM, "=");
}

/* Prints a leaderboard page (GET .../leaderboard JSON) as a table. */
static void print_board(const json_t *page, FILE *out)
{
    const char *per = str(page, "period");
    fprintf(out, "%s%s%s, period %s: %" JSON_INTEGER_FORMAT " leader%s\n", ctl_style_on(CTL_BOLD),
            str(page, "challenge"), ctl_style_off(), per, num(page, "total"),
            num(page, "total") == 1 ? "" : "s");
    static const char *const h[] = {"RANK", "LEADER", "NAME", "TEAM", "SCORE", "MOVE", NULL};
    static const ctl_align al[] = {CTL_RIGHT, CTL_LEFT, CTL_LEFT, CTL_LEFT, CTL_RIGHT, CTL_LEFT};
    ctl_table *t = ctl_table_new(h, al);
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(page, "entries"), i, e)
    {
        ctl_table_row(t);
        json_int_t rank = num(e, "rank");
        ctl_table_cell(t, rank <= 3 ? CTL_YELLOW : CTL_PLAIN, "%" JSON_INTEGER_FORMAT, rank);
        ctl_table_cell(t, CTL_PLAIN, "%s", str(e, "leader"));
        ctl_table_cell(t, CTL_BOLD, "%s", str(e, "name"));
        ctl_table_cell(t, CTL_DIM, "%s", str(e, "team"));
        ctl_table_cell(t, CTL_PLAIN, "%" JSON_INTEGER_FORMAT, num(e, "score"));
        movement_cell(t, e);
    }
    ctl_table_print(t, out);
}

/* podiumctl rules check|apply|show */
static int cmd_rules(int argc, char **argv)
{
    if (argc < 1)
        die(EX_USAGE, "rules: check FILE, apply FILE [--dry-run] or show");
    if (strcmp(argv[0], "check") == 0) {
        if (argc != 2)
            die(EX_USAGE, "usage: podiumctl rules check FILE");
        rules *r = rulesync_read_file(argv[1], stderr);
        if (r == NULL)
            return EX_INVALID;
        if (g.json)
            printf("{\"valid\":true,\"activities\":%zu,\"challenges\":%zu}\n", r->n_activities,
                   r->n_challenges);
        else
            printf("%s: ok (%zu activities, %zu challenges)\n", argv[1], r->n_activities,
                   r->n_challenges);
        rules_free(r);
        return EX_OK;
    }
    if (strcmp(argv[0], "show") == 0) {
        ctl_resp r;
        if (ctl_request(&g.conn, "GET", "/v1/rules", NULL, 0, NULL, &r) != 200)
            fail_resp(&r);
        fwrite(r.body, 1, r.len, stdout);
        ctl_resp_free(&r);
        return EX_OK;
    }
    if (strcmp(argv[0], "apply") != 0 || argc < 2)
        die(EX_USAGE, "usage: podiumctl rules apply FILE [--dry-run]");
    bool dry = argc > 2 && strcmp(argv[2], "--dry-run") == 0;
    size_t len;
    char *doc = slurp(argv[1], &len);
    json_t *j = call("PUT", dry ? "/v1/rules?dry_run=1" : "/v1/rules", doc, true);
    free(doc);
    if (g.json) {
        json_decref(j);
        return EX_OK;
    }
    if (!dry) {
        printf("%s version %" JSON_INTEGER_FORMAT " (%s)\n",
               json_is_true(json_object_get(j, "changed")) ? "applied as" : "unchanged: already",
               num(j, "version"), str(j, "applied_at"));
        json_decref(j);
        return EX_OK;
    }
    if (json_is_integer(json_object_get(j, "version")))
        printf("valid; against stored version %" JSON_INTEGER_FORMAT ":\n", num(j, "version"));
    else
        printf("valid; no rule set is stored yet: everything is new\n");
    json_t *ch = json_object_get(j, "changes");
    const char *kinds[] = {"activities", "challenges"};
    for (int k = 0; k < 2; k++) {
        json_t *c = json_object_get(ch, kinds[k]), *v;
        size_t i;
        const char *what[] = {"added", "removed", "changed"};
        for (int w = 0; w < 3; w++) {
            json_array_foreach(json_object_get(c, what[w]), i, v)
            {
                const char *id = json_is_string(v) ? json_string_value(v) : str(v, "id");
                printf("  %s%-8s%s %s %s\n",
                       ctl_style_on(w == 0   ? CTL_GREEN
                                    : w == 1 ? CTL_RED
                                             : CTL_YELLOW),
                       what[w], ctl_style_off(), kinds[k], id);
            }
        }
    }
    json_t *o;
    size_t i;
    json_array_foreach(json_object_get(ch, "other"), i, o)
        printf("  %s%-8s%s %s\n", ctl_style_on(CTL_YELLOW), "changed", ctl_style_off(),
               json_string_value(o));
    json_t *b;
    json_array_foreach(json_object_get(j, "boards"), i, b)
    {
        printf("\n%s%s%s %s: today -> proposed\n", ctl_style_on(CTL_BOLD), str(b, "challenge"),
               ctl_style_off(), str(b, "period"));
        static const char *const h[] = {"RANK",     "TODAY", "SCORE", "RANK",
                                        "PROPOSED", "SCORE", NULL};
        static const ctl_align al[] = {CTL_RIGHT, CTL_LEFT, CTL_RIGHT,
                                       CTL_RIGHT, CTL_LEFT, CTL_RIGHT};
        ctl_table *t = ctl_table_new(h, al);
        json_t *today = json_object_get(b, "today"), *prop = json_object_get(b, "proposed");
        size_t n = json_array_size(today) > json_array_size(prop) ? json_array_size(today)
                                                                  : json_array_size(prop);
        for (size_t r = 0; r < n; r++) {
            ctl_table_row(t);
            json_t *pair[2] = {json_array_get(today, r), json_array_get(prop, r)};
            for (int s = 0; s < 2; s++) {
                if (pair[s] == NULL) {
                    ctl_table_cell(t, CTL_PLAIN, "%s", "");
                    ctl_table_cell(t, CTL_PLAIN, "%s", "");
                    ctl_table_cell(t, CTL_PLAIN, "%s", "");
                    continue;
                }
                ctl_table_cell(t, CTL_PLAIN, "%" JSON_INTEGER_FORMAT, num(pair[s], "rank"));
                ctl_table_cell(t, CTL_PLAIN, "%s", str(pair[s], "leader"));
                ctl_table_cell(t, CTL_PLAIN, "%" JSON_INTEGER_FORMAT, num(pair[s], "score"));
            }
        }
        ctl_table_print(t, stdout);
    }
    json_decref(j);
    return EX_OK;
}

/* podiumctl challenges */
static int cmd_challenges(int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        die(EX_USAGE, "usage: podiumctl challenges");
    json_t *j = g.rpc ? rpc_read("challenges", NULL) : call("GET", "/v1/challenges", NULL, true);
    if (!g.json) {
        static const char *const h[] = {"CHALLENGE", "NAME", "PERIOD", "ENDS", "SCORING", NULL};
        ctl_table *t = ctl_table_new(h, NULL);
        json_t *c;
        size_t i;
        json_array_foreach(json_object_get(j, "challenges"), i, c)
        {
            json_t *cur = json_object_get(c, "current");
            ctl_table_row(t);
            ctl_table_cell(t, CTL_BOLD, "%s", str(c, "id"));
            ctl_table_cell(t, CTL_PLAIN, "%s", str(c, "name"));
            ctl_table_cell(t, CTL_PLAIN, "%s", cur ? str(cur, "id") : "-");
            ctl_table_cell(t, CTL_DIM, "%s", cur && *str(cur, "ends") ? str(cur, "ends") : "-");
            ctl_table_cell(t, CTL_PLAIN, "%s", str(c, "scoring"));
        }
        ctl_table_print(t, stdout);
    }
    json_decref(j);
    return EX_OK;
}

/* Parses --period and --limit of a board command. */
static void board_opts(int argc, char **argv, int from, const char **per, const char **limit)
{
    for (int i = from; i < argc; i++) {
        const char *v;
        if ((v = opt(argc, argv, &i, "--period")))
            *per = v;
        else if ((v = opt(argc, argv, &i, "--limit")))
            *limit = v;
        else
            die(EX_USAGE, "unknown option %s", argv[i]);
    }
}

/* podiumctl board CHALLENGE [--period P] [--limit N] */
static int cmd_board(int argc, char **argv)
{
    if (argc < 1)
        die(EX_USAGE, "usage: podiumctl board CHALLENGE [--period P] [--limit N]");
    const char *per = NULL, *limit = "10";
    board_opts(argc, argv, 1, &per, &limit);
    char path[PATH_LEN], q[1024] = "";
    query_add(q, sizeof(q), "period", per);
    query_add(q, sizeof(q), "limit", limit);
    id_path(path, "/v1/challenges/", argv[0], "/leaderboard");
    strncat(path, q, sizeof(path) - strlen(path) - 1);
    json_t *j;
    if (g.rpc) {
        json_t *p =
            json_pack("{s:s, s:I}", "challenge", argv[0], "limit", (json_int_t)atoll(limit));
        if (per)
            json_object_set_new(p, "period", json_string(per));
        j = rpc_read("leaderboard", p);
    } else {
        j = call("GET", path, NULL, true);
    }
    if (!g.json)
        print_board(j, stdout);
    json_decref(j);
    return EX_OK;
}

/* State of `watch`: SSE lines gathered into events. */
struct watch {
    char *buf;
    size_t len, cap;
    char event[64];
    bool tty;
};

/* Handles one SSE event (name, data). */
static void watch_event(struct watch *w, const char *name, json_t *j)
{
    if (g.json) {
        char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("{\"event\":\"%s\",\"data\":%s}\n", name, text ? text : "null");
        free(text);
        fflush(stdout);
    } else if (strcmp(name, "standings") == 0 && j) {
        if (w->tty)
            fputs("\033[H\033[2J", stdout); /* clear the screen */
        time_t now = time(NULL);
        char at[32];
        strftime(at, sizeof(at), "%H:%M:%S", localtime(&now));
        print_board(j, stdout);
        printf("%s(live: updated %s; Ctrl-C stops)%s\n", ctl_style_on(CTL_DIM), at,
               ctl_style_off());
        fflush(stdout);
    } else if (strcmp(name, "period_closed") == 0 && j) {
        json_t *win = json_array_get(json_object_get(j, "winners"), 0);
        printf("%speriod %s closed%s: winner %s (%" JSON_INTEGER_FORMAT ")\n",
               ctl_style_on(CTL_YELLOW), str(j, "period"), ctl_style_off(),
               win ? str(win, "name") : "nobody", win ? num(win, "score") : 0);
        fflush(stdout);
    }
}

/* An RPC notification (ctl_rpc_watch). */
static void watch_note(void *arg, const char *name, json_t *data)
{
    watch_event(arg, name, data);
}

/* ctl_stream callback: splits the SSE text into lines and events. */
static bool watch_piece(void *arg, const char *data, size_t len)
{
    struct watch *w = arg;
    if (w->len + len + 1 > w->cap) {
        w->cap = (w->len + len + 1) * 2;
        w->buf = realloc(w->buf, w->cap);
        if (w->buf == NULL)
            die(EX_UNAVAILABLE, "out of memory");
    }
    memcpy(w->buf + w->len, data, len);
    w->len += len;
    w->buf[w->len] = '\0';
    char *start = w->buf, *nl;
    static char dbuf[1 << 20];
    static size_t dlen;
    while ((nl = memchr(start, '\n', w->len - (size_t)(start - w->buf)))) {
        *nl = '\0';
        if (nl > start && nl[-1] == '\r')
            nl[-1] = '\0';
        if (*start == '\0') { /* end of an event */
            if (dlen) {
                dbuf[dlen] = '\0';
                json_t *j = json_loads(dbuf, 0, NULL);
                if (j)
                    watch_event(w, w->event, j);
                json_decref(j);
            }
            dlen = 0;
            snprintf(w->event, sizeof(w->event), "message");
        } else if (strncmp(start, "event:", 6) == 0) {
            snprintf(w->event, sizeof(w->event), "%s", start + 6 + (start[6] == ' '));
        } else if (strncmp(start, "data:", 5) == 0) {
            const char *d = start + 5 + (start[5] == ' ');
            size_t n = strlen(d);
            if (dlen + n + 2 < sizeof(dbuf)) {
                if (dlen)
                    dbuf[dlen++] = '\n';
                memcpy(dbuf + dlen, d, n);
                dlen += n;
            }
        }
        start = nl + 1;
    }
    w->len -= (size_t)(start - w->buf);
    memmove(w->buf, start, w->len);
    return true;
}

/* podiumctl watch CHALLENGE [--limit N] */
static int cmd_watch(int argc, char **argv)
{
    if (argc < 1)
        die(EX_USAGE, "usage: podiumctl watch CHALLENGE [--limit N]");
    const char *per = NULL, *limit = "10";
    board_opts(argc, argv, 1, &per, &limit);
    char path[PATH_LEN], q[1024] = "";
    query_add(q, sizeof(q), "period", per);
    query_add(q, sizeof(q), "limit", limit);
    id_path(path, "/v1/challenges/", argv[0], "/stream");
    strncat(path, q, sizeof(path) - strlen(path) - 1);
    struct watch w = {.tty = isatty(STDOUT_FILENO) && !g.json};
    snprintf(w.event, sizeof(w.event), "message");
    ctl_conn c = g.conn;
    c.timeout_s = 0;
    while (g.rpc) { /* a subscription over the binary protocol */
        json_t *p =
            json_pack("{s:s, s:I}", "challenge", argv[0], "limit", (json_int_t)atoll(limit));
        if (per)
            json_object_set_new(p, "period", json_string(per));
        char err[512];
        long st = ctl_rpc_watch(g.rpc, g.conn.token, p, watch_note, &w, err, sizeof(err));
        json_decref(p);
        if (st >= 400)
            die(exit_for(st), "%ld %s", st, err);
        fprintf(stderr, "podiumctl: %s; reconnecting in 2 s\n", err);
        sleep(2);
    }
    for (;;) { /* reconnect after a drop, as EventSource does */
        ctl_resp r;
        long st = ctl_stream(&c, path, "Accept: text/event-stream", watch_piece, &w, &r);
        if (st != 200 && st != 0)
            fail_resp(&r);
        ctl_resp_free(&r);
        fprintf(stderr, "podiumctl: stream ended (%s); reconnecting in 2 s\n",
                r.error[0] ? r.error : "closed by podiumd");
        w.len = 0;
        sleep(2);
    }
}

/* podiumctl periods CHALLENGE */
static int cmd_periods(int argc, char **argv)
{
    if (argc != 1)
        die(EX_USAGE, "usage: podiumctl periods CHALLENGE");
    char path[PATH_LEN];
    id_path(path, "/v1/challenges/", argv[0], "/periods?limit=100");
    json_t *j = call("GET", path, NULL, true);
    if (!g.json) {
        static const char *const h[] = {"PERIOD", "LEADERS", "WINNER", "SCORE", "CLOSED", NULL};
        static const ctl_align al[] = {CTL_LEFT, CTL_RIGHT, CTL_LEFT, CTL_RIGHT, CTL_LEFT};
        ctl_table *t = ctl_table_new(h, al);
        json_t *p;
        size_t i;
        json_array_foreach(json_object_get(j, "periods"), i, p)
        {
            json_t *w = json_object_get(p, "winners");
            ctl_table_row(t);
            ctl_table_cell(t, CTL_BOLD, "%s", str(p, "period"));
            ctl_table_cell(t, CTL_PLAIN, "%" JSON_INTEGER_FORMAT, num(p, "leaders"));
            char names[512] = "";
            json_t *x;
            size_t k;
            json_array_foreach(w, k, x)
            {
                size_t n = strlen(names);
                snprintf(names + n, sizeof(names) - n, "%s%s", k ? ", " : "", str(x, "name"));
            }
            ctl_table_cell(t, CTL_YELLOW, "%s", names);
            ctl_table_cell(t, CTL_PLAIN, "%" JSON_INTEGER_FORMAT,
                           num(json_array_get(w, 0), "score"));
            ctl_table_cell(t, CTL_DIM, "%s", str(p, "closed_at"));
        }
        ctl_table_print(t, stdout);
    }
    json_decref(j);
    return EX_OK;
}

/* podiumctl leader ID */
static int cmd_leader(int argc, char **argv)
{
    if (argc != 1)
        die(EX_USAGE, "usage: podiumctl leader ID");
    char path[PATH_LEN];
    id_path(path, "/v1/leaders/", argv[0], "");
    json_t *j = g.rpc ? rpc_read("leader", json_pack("{s:s}", "leader", argv[0]))
                      : call("GET", path, NULL, true);
    if (g.json) {
        json_decref(j);
        return EX_OK;
    }
    json_t *prof = json_object_get(j, "profile");
    printf("%s%s%s (%s)%s%s\n", ctl_style_on(CTL_BOLD), str(prof, "name"), ctl_style_off(),
           str(j, "id"), *str(prof, "team") ? ", team " : "", str(prof, "team"));
    static const char *const h[] = {"CHALLENGE", "PERIOD", "SCORE", "RANK", NULL};
    static const ctl_align al[] = {CTL_LEFT, CTL_LEFT, CTL_RIGHT, CTL_RIGHT};
    ctl_table *t = ctl_table_new(h, al);
    json_t *s;
    size_t i;
    json_array_foreach(json_object_get(j, "standings"), i, s)
    {
        ctl_table_row(t);
        ctl_table_cell(t, CTL_PLAIN, "%s", str(s, "challenge"));
        ctl_table_cell(t, CTL_PLAIN, "%s", str(s, "period"));
        ctl_table_cell(t, CTL_BOLD, "%" JSON_INTEGER_FORMAT, num(s, "score"));
        if (json_is_integer(json_object_get(s, "rank")))
            ctl_table_cell(t, CTL_PLAIN, "#%" JSON_INTEGER_FORMAT, num(s, "rank"));
        else
            ctl_table_cell(t, CTL_DIM, "-");
    }
    ctl_table_print(t, stdout);
    json_t *c;
    json_array_foreach(json_object_get(j, "challenges"), i, c)
    {
        json_t *b, *d = json_object_get(c, "digest");
        size_t k;
        if (num(c, "streak") > 0)
            printf("%s: %" JSON_INTEGER_FORMAT "-day streak\n", str(c, "challenge"),
                   num(c, "streak"));
        json_array_foreach(json_object_get(c, "badges"), k, b)
            printf("%s: badge %s%s%s (%s)\n", str(c, "challenge"), ctl_style_on(CTL_YELLOW),
                   str(b, "badge"), ctl_style_off(), str(b, "period"));
        if (json_is_object(d))
            printf("%s: %s\n", str(c, "challenge"), str(d, "text"));
    }
    json_t *recent = json_object_get(j, "recent"), *e;
    if (json_array_size(recent) > 0) {
        printf("\nrecent events:\n");
        static const char *const h2[] = {"AT", "TYPE", "POINTS", "NOTE", NULL};
        static const ctl_align al2[] = {CTL_LEFT, CTL_LEFT, CTL_RIGHT, CTL_LEFT};
        t = ctl_table_new(h2, al2);
        json_array_foreach(recent, i, e)
        {
            json_t *ev = json_object_get(e, "event"), *res = json_object_get(e, "result");
            ctl_table_row(t);
            ctl_table_cell(t, CTL_DIM, "%s", str(ev, "at"));
            ctl_table_cell(t, CTL_PLAIN, "%s", str(ev, "type"));
            ctl_table_cell(t, CTL_PLAIN, "%" JSON_INTEGER_FORMAT, num(res, "points"));
            json_t *reasons = json_object_get(res, "reasons");
            ctl_table_cell(t, json_array_size(reasons) ? CTL_RED : CTL_PLAIN, "%s",
                           json_array_size(reasons) ? json_string_value(json_array_get(reasons, 0))
                                                    : str(ev, "note"));
        }
        ctl_table_print(t, stdout);
    }
    json_decref(j);
    return EX_OK;
}

/* PUTs a leader's profile after merging `changes` into the stored one. */
static int put_leader(const char *id, json_t *changes, bool merge)
{
    char path[PATH_LEN];
    id_path(path, "/v1/admin/leaders/", id, "");
    json_t *body = changes;
    if (merge) {
        json_t *cur = call("GET", path, NULL, false);
        body = json_object_get(cur, "profile") ? json_deep_copy(json_object_get(cur, "profile"))
                                               : json_deep_copy(cur);
        json_decref(cur);
        json_object_update(body, changes);
        json_decref(changes);
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *j = call("PUT", path, text, true);
    free(text);
    if (!g.json)
        printf("leader %s saved\n", id);
    json_decref(j);
    return EX_OK;
}

/* podiumctl leader-add | leader-hide | leader-unhide | leader-erase | team-add */
static int cmd_leader_admin(const char *cmd, int argc, char **argv)
{
    if (argc < 1)
        die(EX_USAGE, "usage: podiumctl %s ID ...", cmd);
    const char *id = argv[0];
    if (strcmp(cmd, "leader-hide") == 0 || strcmp(cmd, "leader-unhide") == 0)
        return put_leader(id, json_pack("{s:b}", "hidden", strcmp(cmd, "leader-hide") == 0), true);
    if (strcmp(cmd, "leader-erase") == 0) {
        if (argc != 2 || strcmp(argv[1], "--yes") != 0)
            die(EX_USAGE, "erasing removes the leader and their events for good: add --yes");
        char path[PATH_LEN];
        id_path(path, "/v1/admin/leaders/", id, "");
        json_decref(call("DELETE", path, NULL, true));
        if (!g.json)
            printf("leader %s erased\n", id);
        return EX_OK;
    }
    const char *name = NULL, *team = NULL, *avatar = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = opt(argc, argv, &i, "--name")))
            name = v;
        else if ((v = opt(argc, argv, &i, "--team")) && strcmp(cmd, "leader-add") == 0)
            team = v;
        else if ((v = opt(argc, argv, &i, "--avatar")) && strcmp(cmd, "leader-add") == 0)
            avatar = v;
        else
            die(EX_USAGE, "unknown option %s", argv[i]);
    }
    if (name == NULL)
        die(EX_USAGE, "%s needs --name", cmd);
    json_t *b = json_pack("{s:s}", "name", name);
    if (team)
        json_object_set_new(b, "team", json_string(team));
    if (avatar)
        json_object_set_new(b, "avatar", json_string(avatar));
    if (strcmp(cmd, "leader-add") == 0)
        return put_leader(id, b, false);
    char path[PATH_LEN];
    id_path(path, "/v1/admin/teams/", id, "");
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    json_decref(call("PUT", path, text, true));
    free(text);
    if (!g.json)
        printf("team %s saved\n", id);
    return EX_OK;
}

/* podiumctl token create|delete */
static int cmd_token(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[0], "delete") == 0) {
        char path[PATH_LEN];
        id_path(path, "/v1/admin/tokens/", argv[1], "");
        json_decref(call("DELETE", path, NULL, true));
        if (!g.json)
            printf("token %s deleted\n", argv[1]);
        return EX_OK;
    }
    if (argc < 1 || strcmp(argv[0], "create") != 0)
        die(EX_USAGE, "usage: podiumctl token create --role ROLE [--leader ID] | token delete ID");
    const char *role = NULL, *leader = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = opt(argc, argv, &i, "--role")))
            role = v;
        else if ((v = opt(argc, argv, &i, "--leader")))
            leader = v;
        else
            die(EX_USAGE, "unknown option %s", argv[i]);
    }
    if (role == NULL)
        die(EX_USAGE, "token create needs --role leader, reader, ingest or admin");
    json_t *b = json_pack("{s:s}", "role", role);
    if (leader)
        json_object_set_new(b, "leader", json_string(leader));
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    json_t *j = call("POST", "/v1/admin/tokens", text, true);
    free(text);
    if (!g.json) {
        printf("%s\n", str(j, "token"));
        fflush(stdout);
        fprintf(stderr, "token id %s, role %s%s%s: shown once, keep it safe\n", str(j, "id"),
                str(j, "role"), leader ? ", leader " : "", leader ? leader : "");
    }
    json_decref(j);
    return EX_OK;
}

/* podiumctl adjust LEADER CHALLENGE POINTS --reason TEXT [--period P] */
static int cmd_adjust(int argc, char **argv)
{
    if (argc < 3)
        die(EX_USAGE, "usage: podiumctl adjust LEADER CHALLENGE POINTS --reason TEXT [--period P]");
    char *end;
    long long pts = strtoll(argv[2], &end, 10);
    if (*end || end == argv[2])
        die(EX_USAGE, "POINTS must be a whole number, such as 15 or -5");
    const char *reason = NULL, *per = NULL;
    for (int i = 3; i < argc; i++) {
        const char *v;
        if ((v = opt(argc, argv, &i, "--reason")))
            reason = v;
        else if ((v = opt(argc, argv, &i, "--period")))
            per = v;
        else
            die(EX_USAGE, "unknown option %s", argv[i]);
    }
    if (reason == NULL)
        die(EX_USAGE, "adjust needs --reason: it is kept in the audit log");
    json_t *b = json_pack("{s:s, s:s, s:I, s:s}", "leader", argv[0], "challenge", argv[1], "points",
                          (json_int_t)pts, "reason", reason);
    if (per)
        json_object_set_new(b, "period", json_string(per));
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    json_t *j = call("POST", "/v1/admin/adjustments", text, true);
    free(text);
    if (!g.json)
        printf("%s now has %" JSON_INTEGER_FORMAT " in %s %s (rank %" JSON_INTEGER_FORMAT ")\n",
               argv[0], num(j, "score"), argv[1], str(j, "period"), num(j, "rank"));
    json_decref(j);
    return EX_OK;
}

/* podiumctl rescore CHALLENGE [--period P] */
static int cmd_rescore(int argc, char **argv)
{
    if (argc < 1)
        die(EX_USAGE, "usage: podiumctl rescore CHALLENGE [--period P]");
    const char *per = NULL, *limit = NULL;
    board_opts(argc, argv, 1, &per, &limit);
    char path[PATH_LEN], q[1024] = "";
    query_add(q, sizeof(q), "period", per);
    id_path(path, "/v1/admin/challenges/", argv[0], "/rescore");
    strncat(path, q, sizeof(path) - strlen(path) - 1);
    g.conn.timeout_s = 900;
    json_t *j = call("POST", path, NULL, true);
    if (!g.json)
        printf("rescored %s %s: %" JSON_INTEGER_FORMAT " events in %" JSON_INTEGER_FORMAT " ms\n",
               argv[0], str(j, "period"), num(j, "events"), num(j, "took_ms"));
    json_decref(j);
    return EX_OK;
}

/* State of `export`: lines counted for the progress line. */
struct export
{
    int64_t bytes, lines, shown_at;
    bool progress;
};

/* Writes a piece of the export and updates the progress line. */
static bool export_piece(void *arg, const char *data, size_t len)
{
    struct export *x = arg;
    if (fwrite(data, 1, len, stdout) != len)
        die(EX_UNAVAILABLE, "cannot write the export: %s", strerror(errno));
    x->bytes += (int64_t)len;
    for (size_t i = 0; i < len; i++)
        x->lines += data[i] == '\n';
    if (x->progress && x->lines - x->shown_at >= 1000) {
        fprintf(stderr, "\rexported %" PRId64 " lines, %.1f MB", x->lines, x->bytes / 1e6);
        x->shown_at = x->lines;
    }
    return true;
}

/* podiumctl export [--since D] [--until D] [--leader ID] [--challenge ID] */
static int cmd_export(int argc, char **argv)
{
    char q[2048] = "", path[2200];
    for (int i = 0; i < argc; i++) {
        static const char *const names[] = {"since", "until", "leader", "challenge", "limit"};
        bool ok = false;
        for (size_t k = 0; k < 5 && !ok; k++) {
            char flag[32];
            snprintf(flag, sizeof(flag), "--%s", names[k]);
            const char *v = opt(argc, argv, &i, flag);
            if (v) {
                query_add(q, sizeof(q), names[k], v);
                ok = true;
            }
        }
        if (!ok)
            die(EX_USAGE, "unknown option %s", argv[i]);
    }
    snprintf(path, sizeof(path), "/v1/admin/events%s", q);
    struct export x = {.progress = isatty(STDERR_FILENO)};
    ctl_conn c = g.conn;
    c.timeout_s = 0;
    ctl_resp r;
    long st = ctl_stream(&c, path, NULL, export_piece, &x, &r);
    if (x.progress)
        fprintf(stderr, "\r");
    if (st != 200)
        fail_resp(&r);
    ctl_resp_free(&r);
    fflush(stdout);
    if (x.progress || !isatty(STDOUT_FILENO))
        fprintf(stderr, "exported %" PRId64 " lines (%.1f MB)\n", x.lines, x.bytes / 1e6);
    return EX_OK;
}

/* podiumctl webhooks */
static int cmd_webhooks(int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        die(EX_USAGE, "usage: podiumctl webhooks");
    json_t *j = call("GET", "/v1/admin/webhooks", NULL, true);
    if (!g.json) {
        static const char *const h[] = {"ID", "URL", "FORMAT", "EVENTS", "STATE", NULL};
        ctl_table *t = ctl_table_new(h, NULL);
        json_t *w, *arr = json_is_array(j) ? j : json_object_get(j, "webhooks");
        size_t i;
        json_array_foreach(arr, i, w)
        {
            ctl_table_row(t);
            ctl_table_cell(t, CTL_BOLD, "%s", str(w, "id"));
            ctl_table_cell(t, CTL_PLAIN, "%s", str(w, "url"));
            ctl_table_cell(t, CTL_PLAIN, "%s", str(w, "format"));
            char evs[256] = "";
            json_t *e;
            size_t k;
            json_array_foreach(json_object_get(w, "events"), k, e)
            {
                size_t n = strlen(evs);
                snprintf(evs + n, sizeof(evs) - n, "%s%s", k ? "," : "", json_string_value(e));
            }
            ctl_table_cell(t, CTL_PLAIN, "%s", evs);
            bool off = json_is_true(json_object_get(w, "disabled"));
            ctl_table_cell(t, off ? CTL_RED : CTL_GREEN, "%s", off ? "disabled" : "enabled");
        }
        ctl_table_print(t, stdout);
    }
    json_decref(j);
    return EX_OK;
}

/* ------------------------------------------------------------------ orgs */

/* Whether s asks for help. */
static bool is_help(const char *s)
{
    return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0;
}

static const char org_usage_text[] =
    "usage: podiumctl org COMMAND [ARGS]     (the operator's commands)\n"
    "  org create ID [--name NAME]      make an org; prints its admin token, shown once\n"
    "  org list [--limit N] [--cursor ID] [--all]\n"
    "                                   the orgs with their state and usage; --all\n"
    "                                   follows every page\n"
    "  org show ID                      one org: state, quotas and usage\n"
    "  org suspend ID | org resume ID   refuse its tokens and pause its background work,\n"
    "                                   or bring it back; its data stays\n"
    "  org rename ID NAME\n"
    "  org quota ID [--leaders N] [--tokens N] [--webhooks N] [--events-per-second N]\n"
    "                                   N: 0 = no limit, `default` = the config's\n"
    "  org delete ID                    erase the org and all its data (in the background)\n"
    "--org ID may stand for ID. Org ids: 1 to 64 of a-z 0-9 . _ -, starting with a\n"
    "letter or digit.\n"
    "The token: --token, $PODIUM_TOKEN, --token-file, $PODIUM_TOKEN_FILE, else\n"
    "data/operator.token or /var/lib/podium/operator.token (the operator token).\n";

/* What an org command was given: its id (positional or --org), the
 * positionals after it and its options. quotas is owned. */
struct org_args {
    const char *id;
    const char *pos[2];
    int npos;
    const char *name, *limit, *cursor;
    bool all;
    json_t *quotas;
};

/* Which options an org command takes besides --help. */
enum { ORG_NAME = 1, ORG_PAGE = 2, ORG_QUOTA = 4 };

/* Reads a quota option at argv[*i] into a->quotas ("default": null, the
 * config's value); false when argv[*i] is none. The daemon checks bounds. */
static bool org_quota_opt(int argc, char **argv, int *i, struct org_args *a)
{
    static const char *const names[][2] = {{"--leaders", "leaders"},
                                           {"--tokens", "tokens"},
                                           {"--webhooks", "webhooks"},
                                           {"--events-per-second", "events_per_second"}};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        const char *v = opt(argc, argv, i, names[k][0]);
        if (v == NULL)
            continue;
        json_t *n = NULL;
        if (strcmp(v, "default") == 0) {
            n = json_null();
        } else {
            char *end;
            errno = 0;
            long long x = strtoll(v, &end, 10);
            if (errno || *end || end == v)
                die(EX_USAGE, "%s must be a whole number (0 = no limit) or default", names[k][0]);
            n = json_integer((json_int_t)x);
        }
        if (a->quotas == NULL)
            a->quotas = json_object();
        json_object_set_new(a->quotas, names[k][1], n);
        return true;
    }
    return false;
}

/* Reads an org command's arguments (argv[0] is its name): --help, the
 * options `allow` lets through and positionals, the first of them the id
 * unless --org (taken out in main) named it. Exits on anything else. */
static void org_parse(int argc, char **argv, int allow, struct org_args *a)
{
    const char *pos[3];
    int npos = 0;
    bool literal = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (literal || argv[i][0] != '-' || argv[i][1] == '\0') {
            if (npos == 3)
                die(EX_USAGE, "org %s: too many arguments (podiumctl org --help)", argv[0]);
            pos[npos++] = argv[i];
        } else if (strcmp(argv[i], "--") == 0) {
            literal = true;
        } else if (is_help(argv[i])) {
            fputs(org_usage_text, stdout);
            exit(EX_OK);
        } else if ((allow & ORG_NAME) && (v = opt(argc, argv, &i, "--name"))) {
            a->name = v;
        } else if ((allow & ORG_PAGE) && (v = opt(argc, argv, &i, "--limit"))) {
            a->limit = v;
        } else if ((allow & ORG_PAGE) && (v = opt(argc, argv, &i, "--cursor"))) {
            a->cursor = v;
        } else if ((allow & ORG_PAGE) && strcmp(argv[i], "--all") == 0) {
            a->all = true;
        } else if (!(allow & ORG_QUOTA) || !org_quota_opt(argc, argv, &i, a)) {
            die(EX_USAGE, "org %s: unknown option %s (podiumctl org --help)", argv[0], argv[i]);
        }
    }
    int k = 0;
    a->id = g.org ? g.org : npos > 0 ? pos[k++] : NULL;
    for (; k < npos; k++) {
        if (a->npos == 2)
            die(EX_USAGE, "org %s: too many arguments (podiumctl org --help)", argv[0]);
        a->pos[a->npos++] = pos[k];
    }
}

/* Exits unless the command got its id and exactly `npos` more positionals. */
static void org_need(const struct org_args *a, const char *cmd, int npos, const char *usage)
{
    if (a->id == NULL || a->npos != npos)
        die(EX_USAGE, "usage: podiumctl org %s %s", cmd, usage);
    if (*a->id == '\0')
        die(EX_INVALID, "an org id cannot be empty");
}

/* Sends body (a JSON object; taken) with method to path; returns the answer
 * (caller frees), printed as it came with --json. Exits on failure. */
static json_t *call_json(const char *method, const char *path, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL)
        die(EX_UNAVAILABLE, "out of memory");
    json_t *j = call(method, path, text, true);
    free(text);
    return j;
}

/* A cell, or a line, for a count of an org's usage: "-" when not known. */
static const char *org_count(char *buf, size_t len, const json_t *usage, const char *k)
{
    json_t *v = json_object_get(usage, k);
    if (!json_is_integer(v))
        return "-";
    snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
}

/* The style an org's state is shown in. */
static ctl_style org_state_style(const json_t *o)
{
    const char *s = str(o, "state");
    return strcmp(s, "active") == 0      ? CTL_GREEN
           : strcmp(s, "suspended") == 0 ? CTL_YELLOW
                                         : CTL_RED;
}

/* Adds one org (a view with usage) to the org list table. */
static void org_row(ctl_table *t, const json_t *o)
{
    json_t *u = json_object_get(o, "usage");
    char buf[32];
    ctl_table_row(t);
    ctl_table_cell(t, CTL_BOLD, "%s", str(o, "id"));
    ctl_table_cell(t, CTL_PLAIN, "%s", str(o, "name"));
    ctl_table_cell(t, org_state_style(o), "%s", str(o, "state"));
    ctl_table_cell(t, CTL_PLAIN, "%s", org_count(buf, sizeof(buf), u, "leaders"));
    ctl_table_cell(t, CTL_PLAIN, "%s", org_count(buf, sizeof(buf), u, "tokens"));
    ctl_table_cell(t, CTL_PLAIN, "%s", org_count(buf, sizeof(buf), u, "events_this_week"));
    ctl_table_cell(t, CTL_PLAIN, "%s", org_count(buf, sizeof(buf), u, "events_total"));
    if (num(u, "rule_version") > 0)
        ctl_table_cell(t, CTL_PLAIN, "%" JSON_INTEGER_FORMAT, num(u, "rule_version"));
    else
        ctl_table_cell(t, CTL_DIM, "-");
    const char *last = str(u, "last_activity");
    ctl_table_cell(t, CTL_DIM, "%s", *last ? last : "-");
}

/* podiumctl org list [--limit N] [--cursor ID] [--all] */
static int org_list(const struct org_args *a)
{
    if (a->id || a->npos)
        die(EX_USAGE, "usage: podiumctl org list [--limit N] [--cursor ID] [--all]");
    json_t *orgs = json_array(), *page = NULL;
    char cursor[256] = "", path[PATH_LEN];
    if (a->cursor)
        snprintf(cursor, sizeof(cursor), "%s", a->cursor);
    for (;;) { /* one page, or with --all each page until next_cursor is null */
        char q[1024] = "";
        query_add(q, sizeof(q), "limit", a->limit);
        query_add(q, sizeof(q), "cursor", *cursor ? cursor : NULL);
        snprintf(path, sizeof(path), "/v1/orgs%s", q);
        json_decref(page);
        page = call("GET", path, NULL, !a->all);
        json_array_extend(orgs, json_object_get(page, "orgs"));
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        if (!a->all || next == NULL || strcmp(next, cursor) == 0)
            break;
        snprintf(cursor, sizeof(cursor), "%s", next);
    }
    if (g.json && a->all) { /* the pages as one answer */
        json_t *doc = json_pack("{s:O, s:n}", "orgs", orgs, "next_cursor");
        char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text)
            puts(text);
        free(text);
        json_decref(doc);
    } else if (!g.json) {
        static const char *const h[] = {"ID",          "NAME",   "STATE", "LEADERS",       "TOKENS",
                                        "EVENTS/WEEK", "EVENTS", "RULES", "LAST ACTIVITY", NULL};
        static const ctl_align al[] = {CTL_LEFT,  CTL_LEFT,  CTL_LEFT,  CTL_RIGHT, CTL_RIGHT,
                                       CTL_RIGHT, CTL_RIGHT, CTL_RIGHT, CTL_LEFT};
        ctl_table *t = ctl_table_new(h, al);
        json_t *o;
        size_t i;
        json_array_foreach(orgs, i, o)
        {
            org_row(t, o);
        }
        ctl_table_print(t, stdout);
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        if (!a->all && next)
            fprintf(stderr, "(more: podiumctl org list --cursor %s, or --all)\n", next);
    }
    json_decref(page);
    json_decref(orgs);
    return EX_OK;
}

/* One line of `org show` for a quota and, when known, its use. */
static void org_show_quota(const json_t *o, const char *label, const char *k)
{
    json_t *u = json_object_get(o, "usage");
    json_int_t q = num(json_object_get(o, "quotas"), k);
    char used[48] = "";
    if (json_is_integer(json_object_get(u, k)))
        snprintf(used, sizeof(used), "%" JSON_INTEGER_FORMAT " ", num(u, k));
    if (q > 0)
        printf("  %-19s %s(quota %" JSON_INTEGER_FORMAT ")\n", label, used, q);
    else
        printf("  %-19s %s(no quota)\n", label, used);
}

/* Prints an org (GET /v1/orgs/{id} JSON) as keys and values. */
static void print_org(const json_t *o)
{
    json_t *u = json_object_get(o, "usage");
    const char *created = str(o, "created"), *updated = str(o, "updated");
    printf("%s%s%s (%s)\n", ctl_style_on(CTL_BOLD), str(o, "name"), ctl_style_off(), str(o, "id"));
    printf("  %-19s %s%s%s\n", "state", ctl_style_on(org_state_style(o)), str(o, "state"),
           ctl_style_off());
    if (json_is_integer(json_object_get(o, "erased_keys")))
        printf("  %-19s %" JSON_INTEGER_FORMAT "\n", "keys erased so far", num(o, "erased_keys"));
    printf("  %-19s %s\n", "created", *created ? created : "-");
    printf("  %-19s %s\n", "updated", *updated ? updated : "-");
    org_show_quota(o, "leaders", "leaders");
    org_show_quota(o, "tokens", "tokens");
    org_show_quota(o, "webhooks", "webhooks");
    json_int_t eps = num(json_object_get(o, "quotas"), "events_per_second");
    if (eps > 0)
        printf("  %-19s %" JSON_INTEGER_FORMAT " (quota)\n", "events per second", eps);
    else
        printf("  %-19s (no quota)\n", "events per second");
    if (!json_is_object(u))
        return;
    const char *last = str(u, "last_activity");
    printf("  %-19s %" JSON_INTEGER_FORMAT "\n", "events this week", num(u, "events_this_week"));
    printf("  %-19s %" JSON_INTEGER_FORMAT "\n", "events in all", num(u, "events_total"));
    if (num(u, "rule_version") > 0)
        printf("  %-19s version %" JSON_INTEGER_FORMAT "\n", "rules", num(u, "rule_version"));
    else
        printf("  %-19s none yet\n", "rules");
    printf("  %-19s %s\n", "last activity", *last ? last : "never");
}

/* podiumctl org suspend|resume|rename|quota: one PATCH (body taken). */
static int org_patch(const char *cmd, const char *id, json_t *body)
{
    char path[PATH_LEN];
    id_path(path, "/v1/orgs/", id, "");
    json_t *j = call_json("PATCH", path, body);
    if (!g.json && strcmp(cmd, "rename") == 0) {
        printf("org %s renamed: %s\n", id, str(j, "name"));
    } else if (!g.json && strcmp(cmd, "quota") == 0) {
        json_t *q = json_object_get(j, "quotas");
        static const char *const k[][2] = {{"leaders", "leaders"},
                                           {"tokens", "tokens"},
                                           {"webhooks", "webhooks"},
                                           {"events per second", "events_per_second"}};
        printf("org %s quotas:", id);
        for (size_t n = 0; n < 4; n++) {
            if (num(q, k[n][1]) > 0)
                printf("%s %s %" JSON_INTEGER_FORMAT, n ? "," : "", k[n][0], num(q, k[n][1]));
            else
                printf("%s %s no limit", n ? "," : "", k[n][0]);
        }
        putchar('\n');
    } else if (!g.json) {
        printf("org %s is %s\n", id, str(j, "state"));
    }
    json_decref(j);
    return EX_OK;
}

/* podiumctl org create ID [--name NAME]: the admin token on stdout. */
static int org_create(const struct org_args *a)
{
    json_t *b = json_pack("{s:s}", "id", a->id);
    if (a->name)
        json_object_set_new(b, "name", json_string(a->name));
    json_t *j = call_json("POST", "/v1/orgs", b);
    if (!g.json) {
        printf("%s\n", str(j, "admin_token"));
        fflush(stdout);
        fprintf(stderr,
                "org %s (%s) created; its admin token (token id %s) is shown once: "
                "keep it safe\n",
                str(j, "id"), str(j, "name"), str(j, "admin_token_id"));
    }
    json_decref(j);
    return EX_OK;
}

/* podiumctl org show|delete ID: a GET or DELETE of the org. */
static int org_one(const char *cmd, const char *id)
{
    char path[PATH_LEN];
    id_path(path, "/v1/orgs/", id, "");
    bool del = strcmp(cmd, "delete") == 0;
    json_t *j = call(del ? "DELETE" : "GET", path, NULL, true);
    if (!g.json && del)
        printf("org %s: erase started (202): its tokens no longer work, and its data is "
               "erased in the background\n",
               id);
    else if (!g.json)
        print_org(j);
    json_decref(j);
    return EX_OK;
}

/* podiumctl org COMMAND [ARGS]: the operator's commands. */
static int cmd_org(int argc, char **argv)
{
    if (argc >= 1 && is_help(argv[0])) {
        fputs(org_usage_text, stdout);
        return EX_OK;
    }
    if (argc < 1) {
        fputs(org_usage_text, stderr);
        return EX_USAGE;
    }
    const char *cmd = argv[0];
    struct org_args a = {0};
    int allow = strcmp(cmd, "create") == 0  ? ORG_NAME
                : strcmp(cmd, "list") == 0  ? ORG_PAGE
                : strcmp(cmd, "quota") == 0 ? ORG_QUOTA
                                            : 0;
    org_parse(argc, argv, allow, &a);
    if (strcmp(cmd, "list") == 0)
        return org_list(&a);
    if (strcmp(cmd, "create") == 0) {
        org_need(&a, cmd, 0, "ID [--name NAME]");
        return org_create(&a);
    }
    if (strcmp(cmd, "show") == 0 || strcmp(cmd, "delete") == 0) {
        org_need(&a, cmd, 0, "ID");
        return org_one(cmd, a.id);
    }
    if (strcmp(cmd, "suspend") == 0 || strcmp(cmd, "resume") == 0) {
        org_need(&a, cmd, 0, "ID");
        return org_patch(cmd, a.id, json_pack("{s:b}", "suspended", strcmp(cmd, "suspend") == 0));
    }
    if (strcmp(cmd, "rename") == 0) {
        org_need(&a, cmd, 1, "ID NAME");
        return org_patch(cmd, a.id, json_pack("{s:s}", "name", a.pos[0]));
    }
    if (strcmp(cmd, "quota") == 0) {
        org_need(&a, cmd, 0,
                 "ID [--leaders N] [--tokens N] [--webhooks N] [--events-per-second N]");
        if (a.quotas == NULL)
            die(EX_USAGE, "org quota: give at least one of --leaders, --tokens, --webhooks "
                          "and --events-per-second");
        return org_patch(cmd, a.id, json_pack("{s:o}", "quotas", a.quotas));
    }
    fputs(org_usage_text, stderr);
    die(EX_USAGE, "unknown org command %s", cmd);
}

/* The token from the environment or a token file, as the header says; org
 * commands look for the operator's token file instead of the admin's. */
static void find_token(const char *file)
{
    const char *env = getenv("PODIUM_TOKEN");
    if (g.conn.token)
        return;
    if (env && *env) {
        g.conn.token = env;
        return;
    }
    const char *role = g.org_cmd ? "operator" : "admin";
    char local[64], global[64];
    snprintf(local, sizeof(local), "data/%s.token", role);
    snprintf(global, sizeof(global), "/var/lib/podium/%s.token", role);
    const char *files[] = {file ? file : getenv("PODIUM_TOKEN_FILE"), local, global};
    for (size_t i = 0; i < 3; i++) {
        if (files[i] == NULL)
            continue;
        FILE *f = fopen(files[i], "r");
        if (f == NULL) {
            if (i == 0)
                die(EX_USAGE, "cannot read token file %s: %s", files[i], strerror(errno));
            continue;
        }
        if (fgets(g.token, sizeof(g.token), f))
            g.token[strcspn(g.token, "\r\n")] = '\0';
        fclose(f);
        g.conn.token = g.token;
        return;
    }
}

/* What main reads before a command runs, besides what goes into g. */
struct globals {
    const char *url, *token_file;
    bool colour, help;
};

/* Takes the global options out of argv, wherever they are before a `--`,
 * into g and *o; the command and its own arguments go to args (argc
 * places), in order. Returns how many went there, or -1 when nothing is
 * left to do (--help before the command, --version). */
static int take_options(int argc, char **argv, struct globals *o, char **args)
{
    int nargs = 0;
    bool literal = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (literal || argv[i][0] != '-' || argv[i][1] == '\0') {
            args[nargs++] = argv[i];
        } else if (strcmp(argv[i], "--") == 0) {
            literal = true;
            if (nargs > 0) /* the command reads it too (org names starting with -) */
                args[nargs++] = argv[i];
        } else if (is_help(argv[i])) {
            if (nargs == 0) {
                fputs(usage_text, stdout);
                return -1;
            }
            o->help = true; /* the command's help: org has its own */
            args[nargs++] = argv[i];
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("podiumctl %s\n", PODIUM_VERSION);
            return -1;
        } else if (strcmp(argv[i], "--json") == 0) {
            g.json = true;
        } else if (strcmp(argv[i], "--no-color") == 0) {
            o->colour = false;
        } else if ((v = opt(argc, argv, &i, "--url"))) {
            o->url = v;
        } else if ((v = opt(argc, argv, &i, "--token"))) {
            g.conn.token = v;
        } else if ((v = opt(argc, argv, &i, "--rpc"))) {
            g.rpc = v;
        } else if ((v = opt(argc, argv, &i, "--token-file"))) {
            o->token_file = v;
        } else if ((v = opt(argc, argv, &i, "--org"))) {
            if (g.org && strcmp(g.org, v) != 0)
                die(EX_USAGE, "two orgs named: %s and %s", g.org, v);
            g.org = v;
        } else if (nargs == 0) {
            fputs(usage_text, stderr);
            die(EX_USAGE, "unknown option %s", argv[i]);
        } else {
            args[nargs++] = argv[i]; /* the command's own option */
        }
    }
    return nargs;
}

/* Runs command cmd with its arguments; returns the exit status. */
static int run(const char *cmd, int rest, char **args)
{
    if (g.org_cmd)
        return cmd_org(rest, args);
    if (strcmp(cmd, "rules") == 0)
        return cmd_rules(rest, args);
    if (strcmp(cmd, "challenges") == 0)
        return cmd_challenges(rest, args);
    if (strcmp(cmd, "board") == 0)
        return cmd_board(rest, args);
    if (strcmp(cmd, "watch") == 0)
        return cmd_watch(rest, args);
    if (strcmp(cmd, "periods") == 0)
        return cmd_periods(rest, args);
    if (strcmp(cmd, "leader") == 0)
        return cmd_leader(rest, args);
    if (strcmp(cmd, "leader-add") == 0 || strcmp(cmd, "leader-hide") == 0 ||
        strcmp(cmd, "leader-unhide") == 0 || strcmp(cmd, "leader-erase") == 0 ||
        strcmp(cmd, "team-add") == 0)
        return cmd_leader_admin(cmd, rest, args);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(rest, args);
    if (strcmp(cmd, "adjust") == 0)
        return cmd_adjust(rest, args);
    if (strcmp(cmd, "rescore") == 0)
        return cmd_rescore(rest, args);
    if (strcmp(cmd, "export") == 0)
        return cmd_export(rest, args);
    if (strcmp(cmd, "webhooks") == 0)
        return cmd_webhooks(rest, args);
    fputs(usage_text, stderr);
    die(EX_USAGE, "unknown command %s", cmd);
}

int main(int argc, char **argv)
{
    struct globals o = {.url = getenv("PODIUM_URL"),
                        .colour = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL};
    int rc = EX_OK;
    g.rpc = getenv("PODIUM_RPC") && *getenv("PODIUM_RPC") ? getenv("PODIUM_RPC") : NULL;
    char **args = calloc((size_t)argc + 1, sizeof(*args)); /* the command and its own */
    if (args == NULL)
        die(EX_UNAVAILABLE, "out of memory");
    int nargs = take_options(argc, argv, &o, args);
    if (nargs < 0)
        goto out;
    if (nargs == 0) {
        fputs(usage_text, stderr);
        rc = EX_USAGE;
        goto out;
    }
    g.org_cmd = strcmp(args[0], "org") == 0;
    if (o.help && !g.org_cmd) {
        fputs(usage_text, stdout);
        goto out;
    }
    if (g.org && !g.org_cmd)
        die(EX_USAGE, "--org is for org commands: the others act in the org of their token");
    signal(SIGPIPE, SIG_IGN);
    ctl_out_colour(o.colour && !g.json);
    static char base[1024];
    snprintf(base, sizeof(base), "%s", o.url && *o.url ? o.url : "http://127.0.0.1:7420");
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        base[--n] = '\0';
    g.conn.url = base;
    g.conn.timeout_s = 60;
    find_token(o.token_file);
    rc = run(args[0], nargs - 1, args + 1);
out:
    free(args);
    return rc;
}
