/*
 * config.c - the table of podiumd's settings and the parsers that fill it.
 *
 * Every setting is one row of `settings` below: name, type, where it lives in
 * struct config, bounds, default (as the text a user would write), whether a
 * configuration reload may change it (config_reload_fixed), an optional
 * validator and one line of help.
 * Nothing else in the daemon lists settings: defaults, the file parser, the
 * command line (config_set), --help and the reload rules all walk the table.
 *
 * File format, one setting a line:
 *
 *     # comment
 *     name = value            # a comment may follow whitespace
 *     name = "quoted value"   # keeps spaces and '#'; escapes \" and \\ only
 *
 * Whitespace around names and values is trimmed; blank lines are skipped; a
 * leading UTF-8 byte order mark is ignored. Unknown names, a setting given
 * twice, a missing '=', bad or out-of-bounds values, control characters and
 * lines over CONFIG_LINE_MAX bytes are refused as "FILE:LINE: message".
 *
 * Ownership: string fields of struct config are heap copies owned by the
 * struct; config_set frees the value it replaces, config_free frees them all.
 * Loading is all or nothing: the file is applied to a copy that replaces the
 * caller's struct only when every line was good.
 */
#include "config.h"

#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_LINE_MAX 4096      /* bytes in one line of the file, newline excluded */
#define CONFIG_FILE_MAX (1 << 20) /* bytes in the whole file */
#define HOST_MAX        256       /* host buffer of the internal address checks */

enum setting_type { SET_STRING, SET_INT, SET_DURATION, SET_DURATION_MS, SET_BOOL };

/* Checks a string value; writes a message (without the setting's name) on error. */
typedef bool (*setting_check)(const char *value, char *msg, size_t msglen);

struct setting {
    const char *name;
    enum setting_type type;
    size_t offset;    /* of the char *, int64_t or bool in struct config */
    int64_t min, max; /* bounds of SET_INT, SET_DURATION (seconds), SET_DURATION_MS (ms) */
    const char *unit; /* what a SET_INT counts, for messages and help */
    const char *def;  /* default, as written in the file */
    bool reloadable;  /* a reload may change it; otherwise it needs a restart */
    setting_check check;
    const char *help;
};

static bool check_http_listen(const char *value, char *msg, size_t msglen);
static bool check_rpc_listen(const char *value, char *msg, size_t msglen);
static bool check_redis(const char *value, char *msg, size_t msglen);
static bool check_nonempty(const char *value, char *msg, size_t msglen);
static bool check_log_level(const char *value, char *msg, size_t msglen);
static bool check_cors_origins(const char *value, char *msg, size_t msglen);
static bool check_frame_ancestors(const char *value, char *msg, size_t msglen);

#define KIB 1024
#define MIB (1024 * 1024)
#define DAY 86400

/* One row each of a string, an integer with a unit, a duration in seconds, a
 * duration in milliseconds ("250ms", or as a duration in seconds) and a boolean. */
// clang-format off
#define S(n, def, reload, check, help) \
    {#n, SET_STRING, offsetof(config, n), 0, 0, NULL, def, reload, check, help}
#define I(n, min, max, unit, def, reload, help) \
    {#n, SET_INT, offsetof(config, n), min, max, unit, def, reload, NULL, help}
#define D(n, min, max, def, reload, help) \
    {#n, SET_DURATION, offsetof(config, n), min, max, NULL, def, reload, NULL, help}
#define B(n, def, reload, help) \
    {#n, SET_BOOL, offsetof(config, n), 0, 0, NULL, def, reload, NULL, help}
#define M(n, min, max, def, reload, help) \
    {#n, SET_DURATION_MS, offsetof(config, n), min, max, NULL, def, reload, NULL, help}
// clang-format on

static const struct setting settings[] = {
    S(http_listen, "127.0.0.1:7420", false, check_http_listen,
      "HTTP listener: host:port or [v6addr]:port; port 0 picks a free port"),
    S(rpc_listen, "127.0.0.1:7421", false, check_rpc_listen,
      "msgpack-RPC listener, written like http_listen; empty turns it off"),
    S(redis, "", false, check_redis,
      "empty: embedded redis-server; else redis://[[user]:pass@]host[:port][/db] or unix:/path"),
    S(redis_server, "redis-server", false, NULL,
      "redis-server binary that runs the embedded Redis (looked up in PATH)"),
    S(data_dir, "/var/lib/podium", false, check_nonempty,
      "state: embedded Redis data, the spool of events kept while Redis is away"),
    S(rules_file, "", false, NULL,
      "org default's rules from this file, reread on SIGHUP; empty: rules live in Redis"),
    S(admin_token_file, "", false, NULL,
      "bootstrap admin token of org default, made if missing; empty: data_dir/admin.token"),
    S(operator_token_file, "", false, NULL,
      "bootstrap operator token (creates and manages orgs), made if missing; empty: "
      "data_dir/operator.token"),
    S(log_level, "info", true, check_log_level,
      "least severe records logged: error, warning, info or debug"),
    S(cors_origins, "", true, check_cors_origins,
      "comma-separated CORS origins, as https://intra.example.com; * allows any; empty: none"),
    S(embed_frame_ancestors, "'none'", true, check_frame_ancestors,
      "sites that may show /embed/{challenge} in a frame: CSP frame-ancestors sources, "
      "space-separated, as https://intra.example.com https://*.sharepoint.com; 'none' (the "
      "default) lets no site frame it; every other route always refuses framing"),
    I(max_body, 1 * KIB, 64 * MIB, "bytes", "1048576", true, "largest request body accepted"),
    I(max_headers, 1 * KIB, 1 * MIB, "bytes", "16384", true,
      "largest request line and headers accepted, together"),
    D(read_timeout, 1, 3600, "10s", true,
      "time a client may take to send a request; a duration such as 10s, 2m or 1h"),
    I(batch_window, 0, 100000, "microseconds", "0", true,
      "how long events are gathered into one call to Redis; 0: what arrived in one turn of "
      "the event loop (while four calls of an org are in flight, more gather by themselves)"),
    I(batch_events, 1, 1000, "events", "500", true, "most events in one call to Redis"),
    D(retention, 0, 36500LL * DAY, "730d", false,
      "how long the boards of a closed period stay readable (0: forever); then they are "
      "deleted without blocking Redis"),
    D(idempotency_ttl, 8 * DAY, 365 * DAY, "8d", true,
      "how long an event id is remembered so that it scores once (at least 8 days)"),
    I(max_connections, 1, 1000000, "connections", "10000", true,
      "most open HTTP connections; a request on one more is answered 503 and closed"),
    D(webhook_timeout, 1, 300, "10s", false,
      "longest a webhook delivery attempt may take, connect included; a slower receiver "
      "counts as a failure and is retried"),
    I(webhook_concurrency, 1, 1000, "deliveries", "16", false,
      "most webhook deliveries this daemon sends at once"),
    I(webhook_retry_base, 10, 3600000, "milliseconds", "5000", false,
      "bound of the first webhook retry's delay; each retry doubles it (full jitter, "
      "at most 1h), for 3 days"),
    B(webhook_allow_http, "false", false,
      "accept http:// webhook URLs; for tests and receivers on this host only: by default "
      "only https:// is accepted"),
    M(sse_interval, 50, 60000, "1s", false,
      "SSE streams: least time between two standings events of one stream (changes in "
      "between are coalesced); also how often the versions of watched boards are checked"),
    D(sse_heartbeat, 1, 3600, "15s", false,
      "SSE streams: a comment line is sent this often so that proxies keep them open"),
    I(sse_max_buffer, 4 * KIB, 64 * MIB, "bytes", "262144", true,
      "SSE streams: a subscriber whose unsent output passes this is cut off"),
    I(quota_leaders, 0, 10000000, "leaders", "10000", true,
      "most leaders an org may have, unless its operator set another quota; 0: no limit"),
    I(quota_tokens, 0, 10000000, "tokens", "20000", true,
      "most API tokens an org may have, unless its operator set another quota; 0: no limit"),
    I(quota_webhooks, 0, 10000, "endpoints", "50", true,
      "most webhook endpoints an org may register, unless its operator set another quota; "
      "0: no limit"),
    I(quota_events_per_second, 0, 10000000, "events", "0", true,
      "events an org may post per second on each podiumd (bursts of 2 s, at least 1000 "
      "events, pass), unless its operator set another quota; 0: no limit"),
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* Writes a formatted message into err (which may be NULL); returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* strdup that aborts on exhaustion: nothing useful can follow. */
static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        abort();
    return p;
}

/* The row of `name`, or NULL. */
static const struct setting *setting_find(const char *name)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    }
    return NULL;
}

/* The string field of row s in cfg. */
static char **field_str(config *cfg, const struct setting *s)
{
    return (char **)((char *)cfg + s->offset);
}

/* The int64_t field of row s in cfg. */
static int64_t *field_i64(config *cfg, const struct setting *s)
{
    return (int64_t *)((char *)cfg + s->offset);
}

/* The bool field of row s in cfg. */
static bool *field_bool(config *cfg, const struct setting *s)
{
    return (bool *)((char *)cfg + s->offset);
}

/* The string value of row s in cfg (read only). */
static const char *get_str(const config *cfg, const struct setting *s)
{
    return *(char *const *)((const char *)cfg + s->offset);
}

/* The int64_t value of row s in cfg (read only). */
static int64_t get_i64(const config *cfg, const struct setting *s)
{
    return *(const int64_t *)((const char *)cfg + s->offset);
}

/* The bool value of row s in cfg (read only). */
static bool get_bool(const config *cfg, const struct setting *s)
{
    return *(const bool *)((const char *)cfg + s->offset);
}

/* Formats seconds in the largest unit that divides them ("8d", "90s"). */
static void format_duration(int64_t secs, char *out, size_t outlen)
{
    static const struct {
        int64_t secs;
        char unit;
    } units[] = {{DAY, 'd'}, {3600, 'h'}, {60, 'm'}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (secs != 0 && secs % units[i].secs == 0) {
            snprintf(out, outlen, "%lld%c", (long long)(secs / units[i].secs), units[i].unit);
            return;
        }
    }
    snprintf(out, outlen, "%llds", (long long)secs);
}

/* Formats milliseconds as "250ms", or in seconds' units when whole ("1s"). */
static void format_ms(int64_t ms, char *out, size_t outlen)
{
    if (ms % 1000 == 0)
        format_duration(ms / 1000, out, outlen);
    else
        snprintf(out, outlen, "%lldms", (long long)ms);
}

/* Parses "250ms" or a duration in seconds ("1s", "2m", "3") into ms. */
static bool parse_ms(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    int64_t v;
    if (n > 2 && strcmp(s + n - 2, "ms") == 0) {
        char num[24];
        if (n - 2 >= sizeof(num) || !isdigit((unsigned char)*s))
            return false;
        memcpy(num, s, n - 2);
        num[n - 2] = '\0';
        if (!util_parse_i64(num, 0, INT64_MAX, &v))
            return false;
        *out = v;
        return true;
    }
    if (!util_parse_duration(s, INT64_MAX / 1000, &v))
        return false;
    *out = v * 1000;
    return true;
}

/* True if s is an optional sign and digits, then at most `suffixes` letter. */
static bool looks_numeric(const char *s, const char *suffixes)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    while (isdigit((unsigned char)*s))
        s++;
    if (*s != '\0' && suffixes != NULL && strchr(suffixes, *s) != NULL)
        s++;
    return *s == '\0';
}

/* Parses a boolean: true/yes/on/1 or false/no/off/0. */
static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
            *out = strcmp(s, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

/* Splits and checks a listen address; msg says what is wrong on failure. */
static int hostport_split(const char *s, char *host, size_t hostlen, int *port, char *msg,
                          size_t msglen)
{
    const char *h, *hend, *p;
    if (*s == '\0')
        return fail(msg, msglen, "expected host:port, got an empty value");
    if (*s == '[') {
        h = s + 1;
        hend = strchr(h, ']');
        if (hend == NULL)
            return fail(msg, msglen, "missing ']' after the IPv6 address in \"%s\"", s);
        if (hend[1] != ':')
            return fail(msg, msglen, "expected :port after ']' in \"%s\"", s);
        p = hend + 2;
        /* Validate the address without its zone ("fe80::1%eth0"). */
        char v6[INET6_ADDRSTRLEN];
        const char *zone = memchr(h, '%', (size_t)(hend - h));
        size_t alen = (size_t)((zone != NULL ? zone : hend) - h);
        struct in6_addr a;
        if (alen == 0 || alen >= sizeof(v6))
            return fail(msg, msglen, "\"%.*s\" is not an IPv6 address", (int)(hend - h), h);
        memcpy(v6, h, alen);
        v6[alen] = '\0';
        if (inet_pton(AF_INET6, v6, &a) != 1)
            return fail(msg, msglen, "\"%.*s\" is not an IPv6 address", (int)(hend - h), h);
        if (zone != NULL) {
            if (zone + 1 == hend)
                return fail(msg, msglen, "empty IPv6 zone in \"%s\"", s);
            for (const char *z = zone + 1; z < hend; z++) {
                if (!isalnum((unsigned char)*z) && *z != '_' && *z != '-' && *z != '.')
                    return fail(msg, msglen, "bad IPv6 zone in \"%s\"", s);
            }
        }
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL)
            return fail(msg, msglen, "expected host:port, got \"%s\"", s);
        if (memchr(s, ':', (size_t)(colon - s)) != NULL)
            return fail(msg, msglen, "IPv6 addresses go in brackets, as in [::1]:7420, got \"%s\"",
                        s);
        h = s;
        hend = colon;
        p = colon + 1;
        if (h == hend)
            return fail(msg, msglen,
                        "missing host in \"%s\" (0.0.0.0 or [::] listen on every address)", s);
        for (const char *c = h; c < hend; c++) {
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_')
                return fail(msg, msglen, "bad character '%c' in host name \"%.*s\"", *c,
                            (int)(hend - h), h);
        }
    }
    if ((size_t)(hend - h) > 253)
        return fail(msg, msglen, "host name longer than 253 characters");
    if (*p == '\0')
        return fail(msg, msglen, "missing port after ':' in \"%s\"", s);
    int64_t v;
    if (!isdigit((unsigned char)*p) || !util_parse_i64(p, 0, 65535, &v))
        return fail(msg, msglen, "port \"%s\" is not a number from 0 to 65535", p);
    if ((size_t)(hend - h) >= hostlen)
        return fail(msg, msglen, "host name too long");
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    *port = (int)v;
    return 0;
}

int config_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    if (s == NULL || host == NULL || port == NULL)
        return -1;
    return hostport_split(s, host, hostlen, port, NULL, 0);
}

/* Validator of http_listen: a host:port. */
static bool check_http_listen(const char *value, char *msg, size_t msglen)
{
    char host[HOST_MAX];
    int port;
    return hostport_split(value, host, sizeof(host), &port, msg, msglen) == 0;
}

/* Validator of rpc_listen: a host:port, or empty for no listener. */
static bool check_rpc_listen(const char *value, char *msg, size_t msglen)
{
    return *value == '\0' || check_http_listen(value, msg, msglen);
}

/* Checks "[[user]:password@]host[:port][/db]" after "redis://". Never
 * echoes the part before '@', which may hold a password. */
static bool check_redis_url(const char *rest, char *msg, size_t msglen)
{
    const char *at = strrchr(rest, '@');
    const char *auth = at != NULL ? at + 1 : rest;
    const char *slash = strchr(auth, '/');
    size_t alen = slash != NULL ? (size_t)(slash - auth) : strlen(auth);
    char hp[HOST_MAX + 16], host[HOST_MAX], why[256];
    int port = 0;
    if (alen == 0) {
        fail(msg, msglen, "redis:// URL: missing host, expected redis://host[:port][/db]");
        return false;
    }
    if (alen >= HOST_MAX) {
        fail(msg, msglen, "redis:// URL: host name too long");
        return false;
    }
    /* The port is optional: add Redis's own when none is given. */
    const char *close = *auth == '[' ? memchr(auth, ']', alen) : NULL;
    bool has_port =
        *auth == '[' ? close != NULL && close != auth + alen - 1 : memchr(auth, ':', alen) != NULL;
    snprintf(hp, sizeof(hp), "%.*s%s", (int)alen, auth, has_port ? "" : ":6379");
    if (hostport_split(hp, host, sizeof(host), &port, why, sizeof(why)) != 0) {
        fail(msg, msglen, "redis:// URL: %s", why);
        return false;
    }
    if (port == 0) {
        fail(msg, msglen, "redis:// URL: port 0 is not a Redis port");
        return false;
    }
    int64_t db;
    if (slash != NULL && slash[1] != '\0' &&
        (!isdigit((unsigned char)slash[1]) || !util_parse_i64(slash + 1, 0, INT32_MAX, &db))) {
        fail(msg, msglen, "redis:// URL: the database after '/' must be a number");
        return false;
    }
    return true;
}

/* Validator of redis: "", redis://..., unix:/path; names schemes not supported. */
static bool check_redis(const char *value, char *msg, size_t msglen)
{
    static const char *const unsupported[] = {"sentinel://", "cluster://", "rediss://"};
    if (*value == '\0')
        return true;
    if (strncmp(value, "redis://", 8) == 0)
        return check_redis_url(value + 8, msg, msglen);
    if (strncmp(value, "unix:", 5) == 0) {
        if (value[5] != '/' || value[6] == '\0') {
            fail(msg, msglen, "expected unix:/absolute/path/to/redis.sock");
            return false;
        }
        return true;
    }
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        if (strncmp(value, unsupported[i], strlen(unsupported[i])) == 0) {
            fail(msg, msglen,
                 "%s is not supported by this version; use redis://host:port or unix:/path",
                 unsupported[i]);
            return false;
        }
    }
    fail(msg, msglen,
         "expected \"\" (embedded Redis), redis://host[:port][/db] or unix:/path/to/redis.sock");
    return false;
}

/* Validator of settings that must not be empty. */
static bool check_nonempty(const char *value, char *msg, size_t msglen)
{
    if (*value != '\0')
        return true;
    fail(msg, msglen, "must not be empty");
    return false;
}

/* Validator of log_level. */
static bool check_log_level(const char *value, char *msg, size_t msglen)
{
    int level;
    if (log_level_parse(value, &level))
        return true;
    fail(msg, msglen, "expected error, warning, info or debug, got \"%s\"", value);
    return false;
}

/* Validator of cors_origins: "*" or scheme://host[:port], comma-separated. */
/* One source of a frame-ancestors list: 'self', a scheme ("https:") or
 * scheme://host[:port] where host may start with "*."; no path, quote,
 * semicolon or comma, so that the value cannot break out of the header. */
static bool frame_source_ok(const char *p, size_t n)
{
    if (n == 6 && strncmp(p, "'self'", 6) == 0)
        return true;
    size_t i = 0;
    while (i < n && (isalnum((unsigned char)p[i]) || p[i] == '+' || p[i] == '-' || p[i] == '.'))
        i++;
    if (i == 0 || i == n || p[i] != ':' || !isalpha((unsigned char)p[0]))
        return false;
    if (i + 1 == n) /* a scheme source such as https: */
        return true;
    if (n < i + 4 || p[i + 1] != '/' || p[i + 2] != '/')
        return false;
    const char *h = p + i + 3, *end = p + n;
    if (end - h > 2 && h[0] == '*' && h[1] == '.')
        h += 2;
    const char *colon = NULL;
    for (const char *c = h; c < end; c++) {
        if (*c == ':' && colon == NULL)
            colon = c;
        else if (colon ? !isdigit((unsigned char)*c)
                       : !(isalnum((unsigned char)*c) || *c == '-' || *c == '.'))
            return false;
    }
    return (colon ? colon : end) > h && (colon == NULL || end - colon > 1);
}

/* embed_frame_ancestors: 'none' alone, or frame sources separated by spaces. */
static bool check_frame_ancestors(const char *value, char *msg, size_t msglen)
{
    const char *p = value;
    size_t count = 0;
    for (;;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        if (n == 6 && strncmp(p, "'none'", 6) == 0) {
            if (count > 0 || p[n + strspn(p + n, " ")] != '\0') {
                fail(msg, msglen, "'none' cannot be combined with other sources");
                return false;
            }
        } else if (!frame_source_ok(p, n)) {
            fail(msg, msglen,
                 "\"%.*s\" is not a frame source: use 'self', 'none', https: or "
                 "https://host[:port] (host may start with *.)",
                 (int)n, p);
            return false;
        }
        count++;
        p += n;
    }
    if (count == 0) {
        fail(msg, msglen, "empty: use 'none' to let no site frame the embed page");
        return false;
    }
    return true;
}

static bool check_cors_origins(const char *value, char *msg, size_t msglen)
{
    const char *p = value;
    if (*value == '\0')
        return true;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        int n = (int)(last - p);
        if (n == 0) {
            fail(msg, msglen, "empty origin in the list");
            return false;
        }
        bool star = n == 1 && *p == '*';
        const char *host = NULL;
        if (!star && n > 8 && strncmp(p, "https://", 8) == 0)
            host = p + 8;
        else if (!star && n > 7 && strncmp(p, "http://", 7) == 0)
            host = p + 7;
        if (!star && host == NULL) {
            fail(msg, msglen, "origin \"%.*s\": expected * or http(s)://host[:port]", n, p);
            return false;
        }
        for (const char *c = host; c != NULL && c < last; c++) {
            if (*c == '/') {
                fail(msg, msglen, "origin \"%.*s\" has a path; an origin is scheme://host[:port]",
                     n, p);
                return false;
            }
            if (isspace((unsigned char)*c)) {
                fail(msg, msglen, "origin \"%.*s\" contains a space", n, p);
                return false;
            }
        }
        if (*end == '\0')
            break;
        p = end + 1;
    }
    return true;
}

/* The setting closest to an unknown name, or NULL if none is close. */
static const char *closest_setting(const char *name)
{
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; i < NSETTINGS; i++) {
        size_t d = util_edit_distance(name, settings[i].name);
        if (d < bestd) {
            bestd = d;
            best = settings[i].name;
        }
    }
    return best;
}

/* Prefix of a value message: "where: name: ", or "--name: " alone. */
static void message_prefix(const char *where, const char *name, char *out, size_t outlen)
{
    if (where == NULL || *where == '\0')
        snprintf(out, outlen, "%s: ", name);
    else if (strncmp(where, "--", 2) == 0 && strcmp(where + 2, name) == 0)
        snprintf(out, outlen, "%s: ", where);
    else
        snprintf(out, outlen, "%s: %s: ", where, name);
}

/* Parses `value` for row s and stores it in cfg; msg holds the reason on error. */
static int setting_apply(config *cfg, const struct setting *s, const char *value, char *msg,
                         size_t msglen)
{
    int64_t v;
    char lim[32];
    switch (s->type) {
    case SET_STRING:
        if (s->check != NULL && !s->check(value, msg, msglen))
            return -1;
        free(*field_str(cfg, s));
        *field_str(cfg, s) = xstrdup(value);
        return 0;
    case SET_INT:
        if (!util_parse_i64(value, INT64_MIN, INT64_MAX, &v)) {
            if (looks_numeric(value, NULL))
                return fail(msg, msglen, "%s is out of range (%lld to %lld)", value,
                            (long long)s->min, (long long)s->max);
            return fail(msg, msglen, "expected a whole number of %s, got \"%s\"", s->unit, value);
        }
        if (v < s->min)
            return fail(msg, msglen, "%s is below the minimum %lld", value, (long long)s->min);
        if (v > s->max)
            return fail(msg, msglen, "%s is above the maximum %lld", value, (long long)s->max);
        *field_i64(cfg, s) = v;
        return 0;
    case SET_DURATION:
        if (!util_parse_duration(value, INT64_MAX, &v)) {
            if (isdigit((unsigned char)*value) && looks_numeric(value, "smhd")) {
                format_duration(s->max, lim, sizeof(lim));
                return fail(msg, msglen, "%s is above the maximum %s", value, lim);
            }
            return fail(msg, msglen,
                        "expected a duration such as 90s, 2m, 1h, 8d or plain seconds, got \"%s\"",
                        value);
        }
        if (v < s->min) {
            format_duration(s->min, lim, sizeof(lim));
            return fail(msg, msglen, "%s is below the minimum %s", value, lim);
        }
        if (v > s->max) {
            format_duration(s->max, lim, sizeof(lim));
            return fail(msg, msglen, "%s is above the maximum %s", value, lim);
        }
        *field_i64(cfg, s) = v;
        return 0;
    case SET_DURATION_MS:
        if (!parse_ms(value, &v))
            return fail(msg, msglen,
                        "expected a duration such as 250ms, 1s or 2m (plain numbers are "
                        "seconds), got \"%s\"",
                        value);
        if (v < s->min || v > s->max) {
            format_ms(v < s->min ? s->min : s->max, lim, sizeof(lim));
            return fail(msg, msglen, "%s is %s the %s %s", value, v < s->min ? "below" : "above",
                        v < s->min ? "minimum" : "maximum", lim);
        }
        *field_i64(cfg, s) = v;
        return 0;
    case SET_BOOL: {
        bool b;
        if (!parse_bool(value, &b))
            return fail(msg, msglen, "expected true or false (yes/no, on/off, 1/0), got \"%s\"",
                        value);
        *field_bool(cfg, s) = b;
        return 0;
    }
    }
    return fail(msg, msglen, "internal error: unknown setting type");
}

int config_set(config *cfg, const char *name, const char *value, const char *where, char *err,
               size_t errlen)
{
    if (name == NULL || value == NULL)
        return fail(err, errlen, "%s: no setting name or value", where != NULL ? where : "?");
    const struct setting *s = setting_find(name);
    if (s == NULL) {
        const char *hint = closest_setting(name);
        const char *w = where != NULL && *where != '\0' ? where : name;
        if (hint != NULL)
            return fail(err, errlen, "%s: unknown setting \"%s\" (did you mean \"%s\"?)", w, name,
                        hint);
        return fail(err, errlen, "%s: unknown setting \"%s\"", w, name);
    }
    char msg[512], prefix[640];
    if (setting_apply(cfg, s, value, msg, sizeof(msg)) == 0)
        return 0;
    message_prefix(where, name, prefix, sizeof(prefix));
    return fail(err, errlen, "%s%s", prefix, msg);
}

void config_defaults(config *cfg)
{
    char msg[256];
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (setting_apply(cfg, &settings[i], settings[i].def, msg, sizeof(msg)) != 0) {
            fprintf(stderr, "podiumd: bad default of %s: %s\n", settings[i].name, msg);
            abort();
        }
    }
}

void config_free(config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (settings[i].type == SET_STRING) {
            free(*field_str(cfg, &settings[i]));
            *field_str(cfg, &settings[i]) = NULL;
        }
    }
}

/* Deep copy of src into dst (dst's old contents are not freed). */
static void config_copy(config *dst, const config *src)
{
    *dst = *src;
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (settings[i].type == SET_STRING) {
            char **f = field_str(dst, &settings[i]);
            *f = *f != NULL ? xstrdup(*f) : NULL;
        }
    }
}

/* Parses the value part of a line (after '=' and leading blanks) in place:
 * unquoted up to a blank-preceded '#', or "quoted" with \" and \\. Sets
 * *out to the value inside `p`; returns 0 or -1 with a message. */
static int parse_value(char *p, char **out, char *msg, size_t msglen)
{
    if (*p != '"') {
        char *end = p;
        for (char *c = p; *c != '\0'; c++) {
            if (*c == '#' && (c == p || c[-1] == ' ' || c[-1] == '\t'))
                break;
            end = c + 1;
        }
        while (end > p && isspace((unsigned char)end[-1]))
            end--;
        *end = '\0';
        *out = p;
        return 0;
    }
    char *r = p + 1, *w = p;
    for (;;) {
        if (*r == '\0')
            return fail(msg, msglen, "missing closing '\"'");
        if (*r == '"')
            break;
        if (*r == '\\') {
            if (r[1] != '"' && r[1] != '\\')
                return fail(
                    msg, msglen,
                    "unknown escape '\\%c' in quoted value (only \\\" and \\\\ are allowed)",
                    r[1] != '\0' ? r[1] : ' ');
            r++;
        }
        *w++ = *r++;
    }
    *w = '\0';
    r++;
    while (*r == ' ' || *r == '\t')
        r++;
    if (*r != '\0' && *r != '#')
        return fail(msg, msglen, "unexpected text after the closing '\"'");
    *out = p;
    return 0;
}

/* Applies one line (NUL-terminated, newline removed) to cfg; seen[] holds the
 * line each setting was first given on. */
static int load_line(config *cfg, char *line, const char *name, int lineno, int *seen, char *err,
                     size_t errlen)
{
    char where[512];
    snprintf(where, sizeof(where), "%s:%d", name, lineno);
    for (const char *c = line; *c != '\0'; c++) {
        if (iscntrl((unsigned char)*c) && *c != '\t')
            return fail(err, errlen, "%s: control character 0x%02x in line", where,
                        (unsigned char)*c);
    }
    char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    char *key = p;
    while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
        p++;
    char *keyend = p;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '=') {
        return fail(err, errlen, "%s: expected \"name = value\", found no '=' after \"%.*s\"",
                    where, (int)(keyend - key), key);
    }
    if (keyend == key)
        return fail(err, errlen, "%s: expected a setting name before '='", where);
    *keyend = '\0';
    p++;
    const struct setting *s = setting_find(key);
    if (s == NULL)
        return config_set(cfg, key, "", where, err, errlen); /* says "unknown setting" */
    int idx = (int)(s - settings);
    if (seen[idx] != 0)
        return fail(err, errlen, "%s: %s: set twice (first on line %d)", where, key, seen[idx]);
    seen[idx] = lineno;
    while (*p == ' ' || *p == '\t')
        p++;
    char *value = NULL, msg[256];
    if (parse_value(p, &value, msg, sizeof(msg)) != 0)
        return fail(err, errlen, "%s: %s: %s", where, key, msg);
    return config_set(cfg, key, value, where, err, errlen);
}

int config_load_buffer(config *cfg, const char *buf, size_t len, const char *name, char *err,
                       size_t errlen)
{
    int seen[NSETTINGS] = {0};
    char line[CONFIG_LINE_MAX + 1];
    config next;
    int rc = -1;
    config_copy(&next, cfg);
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    size_t pos = 0;
    for (int lineno = 1; pos < len; lineno++) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t n = (nl != NULL ? (size_t)(nl - buf) : len) - pos;
        if (n > CONFIG_LINE_MAX) {
            fail(err, errlen, "%s:%d: line longer than %d bytes", name, lineno, CONFIG_LINE_MAX);
            goto out;
        }
        if (memchr(buf + pos, '\0', n) != NULL) {
            fail(err, errlen, "%s:%d: NUL byte in line (is this a text file?)", name, lineno);
            goto out;
        }
        memcpy(line, buf + pos, n);
        line[n] = '\0';
        if (n > 0 && line[n - 1] == '\r') /* CRLF line ends */
            line[n - 1] = '\0';
        if (load_line(&next, line, name, lineno, seen, err, errlen) != 0)
            goto out;
        pos += n + 1;
    }
    config_free(cfg);
    *cfg = next;
    memset(&next, 0, sizeof(next));
    rc = 0;
out:
    config_free(&next);
    return rc;
}

int config_load_file(config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = NULL;
    char *buf = NULL;
    int rc = -1;
    f = fopen(path, "re");
    if (f == NULL) {
        fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    buf = malloc(CONFIG_FILE_MAX + 1);
    if (buf == NULL)
        abort();
    size_t len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    if (ferror(f)) {
        fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    if (len > CONFIG_FILE_MAX) {
        fail(err, errlen, "%s: larger than %d bytes; is this the right file?", path,
             CONFIG_FILE_MAX);
        goto out;
    }
    rc = config_load_buffer(cfg, buf, len, path, err, errlen);
out:
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
}

int config_check(const config *cfg, char *err, size_t errlen)
{
    char msg[512];
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        if (s->type == SET_STRING) {
            const char *v = get_str(cfg, s);
            if (v == NULL)
                return fail(err, errlen, "%s: not set", s->name);
            if (s->check != NULL && !s->check(v, msg, sizeof(msg)))
                return fail(err, errlen, "%s: %s", s->name, msg);
        } else if (s->type == SET_INT || s->type == SET_DURATION || s->type == SET_DURATION_MS) {
            int64_t v = get_i64(cfg, s);
            if (v < s->min || v > s->max)
                return fail(err, errlen, "%s: %lld is out of range (%lld to %lld)", s->name,
                            (long long)v, (long long)s->min, (long long)s->max);
        }
    }
    if (*cfg->redis == '\0' && *cfg->redis_server == '\0')
        return fail(err, errlen,
                    "redis_server: must name the redis-server binary when redis is empty "
                    "(embedded Redis)");
    if (*cfg->rpc_listen != '\0') {
        char h1[HOST_MAX], h2[HOST_MAX];
        int p1, p2;
        if (config_parse_hostport(cfg->http_listen, h1, sizeof(h1), &p1) == 0 &&
            config_parse_hostport(cfg->rpc_listen, h2, sizeof(h2), &p2) == 0 && p1 != 0 &&
            p1 == p2 && strcmp(h1, h2) == 0)
            return fail(err, errlen, "http_listen and rpc_listen are both %s", cfg->http_listen);
    }
    return 0;
}

bool config_known(const char *name)
{
    return name != NULL && setting_find(name) != NULL;
}

int config_reload_fixed(config *next, const config *running, char *names, size_t nameslen)
{
    int changed = 0;
    size_t used = 0;
    if (names != NULL && nameslen > 0)
        names[0] = '\0';
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        if (s->reloadable)
            continue;
        bool differ = false;
        if (s->type == SET_STRING) {
            const char *a = get_str(next, s), *b = get_str(running, s);
            differ = (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
            if (differ) {
                free(*field_str(next, s));
                *field_str(next, s) = b != NULL ? xstrdup(b) : NULL;
            }
        } else if (s->type == SET_BOOL) {
            differ = get_bool(next, s) != get_bool(running, s);
            *field_bool(next, s) = get_bool(running, s);
        } else {
            differ = get_i64(next, s) != get_i64(running, s);
            *field_i64(next, s) = get_i64(running, s);
        }
        if (!differ)
            continue;
        if (names != NULL && used < nameslen) {
            int n = snprintf(names + used, nameslen - used, "%s%s", changed ? ", " : "", s->name);
            used += n > 0 ? (size_t)n : 0;
        }
        changed++;
    }
    return changed;
}

void config_print_help(FILE *out)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        char lo[32], hi[32];
        switch (s->type) {
        case SET_STRING:
            fprintf(out, "  %s = %s\n", s->name, *s->def != '\0' ? s->def : "\"\"");
            break;
        case SET_INT:
            fprintf(out, "  %s = %s %s (%lld to %lld)\n", s->name, s->def, s->unit,
                    (long long)s->min, (long long)s->max);
            break;
        case SET_DURATION:
            format_duration(s->min, lo, sizeof(lo));
            format_duration(s->max, hi, sizeof(hi));
            fprintf(out, "  %s = %s (%s to %s)\n", s->name, s->def, lo, hi);
            break;
        case SET_DURATION_MS:
            format_ms(s->min, lo, sizeof(lo));
            format_ms(s->max, hi, sizeof(hi));
            fprintf(out, "  %s = %s (%s to %s)\n", s->name, s->def, lo, hi);
            break;
        case SET_BOOL:
            fprintf(out, "  %s = %s (true or false)\n", s->name, s->def);
            break;
        }
        fprintf(out, "        %s\n", s->help);
    }
}
