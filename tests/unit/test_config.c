/*
 * test_config.c - unit tests of config.c: the settings table, the file
 * parser, command-line overrides, bounds, listen addresses and cross-checks.
 *
 * Most cases are tables run through config_load_buffer; the file cases write
 * into a mkdtemp directory that the group teardown removes. The last tests
 * keep systemd/podiumd.conf and systemd/podiumd.8 in step with the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define ALL_SETTINGS                                                                               \
    "http_listen", "rpc_listen", "redis", "redis_server", "data_dir", "rules_file",                \
        "admin_token_file", "log_level", "cors_origins", "max_body", "max_headers",                \
        "read_timeout", "batch_window", "batch_events", "idempotency_ttl", "max_connections",      \
        "sse_interval", "sse_heartbeat", "sse_max_buffer", "embed_frame_ancestors",                \
        "operator_token_file", "quota_leaders", "quota_tokens", "quota_webhooks",                  \
        "quota_events_per_second"

static const char *const all_settings[] = {ALL_SETTINGS};
#define NALL (sizeof(all_settings) / sizeof(all_settings[0]))

static char tmpdir[64];

/* Renders the field called `name` as text, written here by hand so that a
 * wrong offsetof in the table shows up. Returns false for unknown names. */
static bool field_text(const config *c, const char *name, char *out, size_t outlen)
{
    const char *s = NULL;
    int64_t v = 0;
    if (strcmp(name, "http_listen") == 0)
        s = c->http_listen;
    else if (strcmp(name, "rpc_listen") == 0)
        s = c->rpc_listen;
    else if (strcmp(name, "redis") == 0)
        s = c->redis;
    else if (strcmp(name, "redis_server") == 0)
        s = c->redis_server;
    else if (strcmp(name, "data_dir") == 0)
        s = c->data_dir;
    else if (strcmp(name, "rules_file") == 0)
        s = c->rules_file;
    else if (strcmp(name, "admin_token_file") == 0)
        s = c->admin_token_file;
    else if (strcmp(name, "operator_token_file") == 0)
        s = c->operator_token_file;
    else if (strcmp(name, "log_level") == 0)
        s = c->log_level;
    else if (strcmp(name, "cors_origins") == 0)
        s = c->cors_origins;
    else if (strcmp(name, "embed_frame_ancestors") == 0)
        s = c->embed_frame_ancestors;
    else if (strcmp(name, "max_body") == 0)
        v = c->max_body;
    else if (strcmp(name, "max_headers") == 0)
        v = c->max_headers;
    else if (strcmp(name, "read_timeout") == 0)
        v = c->read_timeout;
    else if (strcmp(name, "batch_window") == 0)
        v = c->batch_window;
    else if (strcmp(name, "batch_events") == 0)
        v = c->batch_events;
    else if (strcmp(name, "idempotency_ttl") == 0)
        v = c->idempotency_ttl;
    else if (strcmp(name, "max_connections") == 0)
        v = c->max_connections;
    else if (strcmp(name, "sse_interval") == 0)
        v = c->sse_interval;
    else if (strcmp(name, "sse_heartbeat") == 0)
        v = c->sse_heartbeat;
    else if (strcmp(name, "sse_max_buffer") == 0)
        v = c->sse_max_buffer;
    else if (strcmp(name, "quota_leaders") == 0)
        v = c->quota_leaders;
    else if (strcmp(name, "quota_tokens") == 0)
        v = c->quota_tokens;
    else if (strcmp(name, "quota_webhooks") == 0)
        v = c->quota_webhooks;
    else if (strcmp(name, "quota_events_per_second") == 0)
        v = c->quota_events_per_second;
    else
        return false;
    if (s != NULL)
        snprintf(out, outlen, "%s", s);
    else
        snprintf(out, outlen, "%" PRId64, v);
    return true;
}

/* Asserts that two configs hold the same values in every field. */
static void assert_config_equal(const config *a, const config *b)
{
    for (size_t i = 0; i < NALL; i++) {
        char va[512], vb[512];
        assert_true(field_text(a, all_settings[i], va, sizeof(va)));
        assert_true(field_text(b, all_settings[i], vb, sizeof(vb)));
        assert_string_equal(va, vb);
    }
}

/* Loads text over the defaults into *c; returns config_load_buffer's result. */
static int load(config *c, const char *text, char *err, size_t errlen)
{
    config_defaults(c);
    return config_load_buffer(c, text, strlen(text), "t.conf", err, errlen);
}

/* Writes `len` bytes into tmpdir/name; the path goes to `path`. */
static void write_file(const char *name, const char *data, size_t len, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Reads a whole file of the source tree (found from __FILE__) into a new string. */
static char *read_source(const char *rel)
{
    const char *self = __FILE__, *tail = strstr(self, "tests/unit/test_config.c");
    if (self[0] != '/' || tail == NULL)
        return NULL;
    char path[4096];
    snprintf(path, sizeof(path), "%.*s%s", (int)(tail - self), self, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Creates the temporary directory of the group. */
static int group_setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

/* Removes the files the tests wrote, then the directory. */
static int group_teardown(void **state)
{
    static const char *const names[] = {"good.conf", "bad.conf", "long.conf", "big.conf"};
    char path[128];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    return rmdir(tmpdir);
}

/* Every default as the brief and the spec give it, and they pass the checks. */
static void test_defaults(void **state)
{
    config c;
    char err[512];
    config_defaults(&c);
    assert_string_equal(c.http_listen, "127.0.0.1:7420");
    assert_string_equal(c.rpc_listen, "127.0.0.1:7421");
    assert_string_equal(c.redis, "");
    assert_string_equal(c.redis_server, "redis-server");
    assert_string_equal(c.data_dir, "/var/lib/podium");
    assert_string_equal(c.rules_file, "");
    assert_string_equal(c.admin_token_file, "");
    assert_string_equal(c.log_level, "info");
    assert_string_equal(c.cors_origins, "");
    assert_string_equal(c.embed_frame_ancestors, "'none'");
    assert_int_equal(c.max_body, 1048576);
    assert_int_equal(c.max_headers, 16384);
    assert_int_equal(c.read_timeout, 10);
    assert_int_equal(c.batch_window, 0);
    assert_int_equal(c.batch_events, 500);
    assert_int_equal(c.idempotency_ttl, 8 * 86400);
    assert_int_equal(c.max_connections, 10000);
    assert_int_equal(c.sse_interval, 1000);
    assert_int_equal(c.sse_heartbeat, 15);
    assert_int_equal(c.sse_max_buffer, 262144);
    assert_int_equal(config_check(&c, err, sizeof(err)), 0);
    config_free(&c);
    assert_null(c.http_listen);
    config_free(&c); /* twice is harmless */
    config_free(NULL);
}

/* config_known answers for every setting and nothing else. */
static void test_known(void **state)
{
    for (size_t i = 0; i < NALL; i++)
        assert_true(config_known(all_settings[i]));
    assert_false(config_known("max-body"));
    assert_false(config_known("MAX_BODY"));
    assert_false(config_known(""));
    assert_false(config_known(NULL));
}

/* Each name sets its own field and no other (catches a wrong offsetof). */
static void test_each_setting_sets_its_field(void **state)
{
    static const struct {
        const char *name, *value, *want;
    } cases[] = {
        {"http_listen", "0.0.0.0:80", "0.0.0.0:80"},
        {"rpc_listen", "[::1]:9", "[::1]:9"},
        {"redis", "redis://r:6379", "redis://r:6379"},
        {"redis_server", "/opt/redis/bin/redis-server", "/opt/redis/bin/redis-server"},
        {"data_dir", "/srv/podium", "/srv/podium"},
        {"rules_file", "/etc/podium/rules.json", "/etc/podium/rules.json"},
        {"admin_token_file", "/etc/podium/admin.token", "/etc/podium/admin.token"},
        {"log_level", "debug", "debug"},
        {"cors_origins", "https://a.example", "https://a.example"},
        {"max_body", "2048", "2048"},
        {"max_headers", "4096", "4096"},
        {"read_timeout", "2m", "120"},
        {"batch_window", "250", "250"},
        {"batch_events", "1", "1"},
        {"idempotency_ttl", "30d", "2592000"},
        {"max_connections", "77", "77"},
        {"sse_interval", "250ms", "250"},
        {"sse_heartbeat", "1m", "60"},
        {"sse_max_buffer", "65536", "65536"},
        {"embed_frame_ancestors", "https://intra.example", "https://intra.example"},
        {"operator_token_file", "/etc/podium/operator.token", "/etc/podium/operator.token"},
        {"quota_leaders", "500", "500"},
        {"quota_tokens", "0", "0"},
        {"quota_webhooks", "3", "3"},
        {"quota_events_per_second", "250", "250"},
    };
    assert_int_equal(sizeof(cases) / sizeof(cases[0]), NALL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config before, after;
        char err[512], va[512], vb[512];
        config_defaults(&before);
        config_defaults(&after);
        assert_int_equal(config_set(&after, cases[i].name, cases[i].value, "--x", err, sizeof(err)),
                         0);
        for (size_t j = 0; j < NALL; j++) {
            field_text(&before, all_settings[j], va, sizeof(va));
            field_text(&after, all_settings[j], vb, sizeof(vb));
            if (strcmp(all_settings[j], cases[i].name) == 0) {
                assert_string_equal(vb, cases[i].want);
                assert_string_not_equal(va, vb);
            } else {
                assert_string_equal(va, vb);
            }
        }
        config_free(&before);
        config_free(&after);
    }
}

/* Accepted syntax: spacing, comments, quotes, escapes, CRLF, BOM. */
static void test_file_syntax(void **state)
{
    static const struct {
        const char *text, *name, *want;
    } cases[] = {
        {"max_body = 2048\n", "max_body", "2048"},
        {"max_body=2048", "max_body", "2048"},
        {"   max_body   =   2048   \n", "max_body", "2048"},
        {"\tmax_body\t=\t2048\t\n", "max_body", "2048"},
        {"max_body = 2048\r\n", "max_body", "2048"},
        {"max_body = 2048 # two KiB\n", "max_body", "2048"},
        {"max_body = 2048\t# two KiB\n", "max_body", "2048"},
        {"# a comment\n\n   \n  # indented comment\nmax_body = 2048", "max_body", "2048"},
        {"\xef\xbb\xbfmax_body = 2048\n", "max_body", "2048"},
        {"data_dir = /a#b\n", "data_dir", "/a#b"},
        {"data_dir = /a b/c \n", "data_dir", "/a b/c"},
        {"data_dir = \"/path with spaces/# not a comment\"\n", "data_dir",
         "/path with spaces/# not a comment"},
        {"data_dir = \"  padded  \"\n", "data_dir", "  padded  "},
        {"data_dir = \"a\\\"b\\\\c\"   # trailing comment\n", "data_dir", "a\"b\\c"},
        {"data_dir = \"x\"\r\n", "data_dir", "x"},
        {"data_dir = a\"b\n", "data_dir", "a\"b"},
        {"rpc_listen =\n", "rpc_listen", ""},
        {"rpc_listen = \"\"\n", "rpc_listen", ""},
        {"rpc_listen = # off\n", "rpc_listen", ""},
        {"http_listen = [::1]:0\n", "http_listen", "[::1]:0"},
        {"redis = redis://:s3cret@db.example:6380/2\n", "redis",
         "redis://:s3cret@db.example:6380/2"},
        {"redis = redis://db.example\n", "redis", "redis://db.example"},
        {"redis = redis://[::1]:6379/0\n", "redis", "redis://[::1]:6379/0"},
        {"redis = unix:/run/redis/redis.sock\n", "redis", "unix:/run/redis/redis.sock"},
        {"cors_origins = https://a.example, http://b.example:8080\n", "cors_origins",
         "https://a.example, http://b.example:8080"},
        {"cors_origins = *\n", "cors_origins", "*"},
        {"embed_frame_ancestors = 'self' https://intra.example:8443 https://*.sharepoint.com\n",
         "embed_frame_ancestors", "'self' https://intra.example:8443 https://*.sharepoint.com"},
        {"embed_frame_ancestors = https:\n", "embed_frame_ancestors", "https:"},
        {"log_level = warning\n", "log_level", "warning"},
        {"batch_window = 100000\n", "batch_window", "100000"},
        {"read_timeout = 90\n", "read_timeout", "90"},
        {"read_timeout = 90s\n", "read_timeout", "90"},
        {"read_timeout = 1h\n", "read_timeout", "3600"},
        {"idempotency_ttl = 8d\n", "idempotency_ttl", "691200"},
        {"idempotency_ttl = 365d\n", "idempotency_ttl", "31536000"},
        {"idempotency_ttl = 192h\n", "idempotency_ttl", "691200"},
        {"idempotency_ttl = \"9d\"\n", "idempotency_ttl", "777600"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config c;
        char err[512] = "", got[512];
        int rc = load(&c, cases[i].text, err, sizeof(err));
        if (rc != 0)
            fail_msg("case %zu \"%s\": %s", i, cases[i].text, err);
        assert_true(field_text(&c, cases[i].name, got, sizeof(got)));
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu \"%s\": got \"%s\", want \"%s\"", i, cases[i].text, got,
                     cases[i].want);
        assert_int_equal(config_check(&c, err, sizeof(err)), 0);
        config_free(&c);
    }
}

/* A file of several settings sets all of them; comments and blanks leave the rest. */
static void test_file_many(void **state)
{
    static const char text[] = "# Podium\n"
                               "http_listen = 0.0.0.0:8080\n"
                               "\n"
                               "rpc_listen = \"\"   # no RPC\n"
                               "max_connections = 500\n"
                               "log_level = \"debug\"";
    config c;
    char err[512];
    assert_int_equal(load(&c, text, err, sizeof(err)), 0);
    assert_string_equal(c.http_listen, "0.0.0.0:8080");
    assert_string_equal(c.rpc_listen, "");
    assert_int_equal(c.max_connections, 500);
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(c.max_body, 1048576);
    assert_string_equal(c.data_dir, "/var/lib/podium");
    config_free(&c);

    /* Nothing but comments and blanks: the defaults, untouched. */
    config d;
    config_defaults(&d);
    assert_int_equal(load(&c, "# nothing\n\n \t \n", err, sizeof(err)), 0);
    assert_config_equal(&c, &d);
    config_free(&c);
    assert_int_equal(load(&c, "", err, sizeof(err)), 0);
    assert_config_equal(&c, &d);
    config_free(&c);
    config_free(&d);
}

/* Every kind of refusal, with its exact "FILE:LINE: " message. */
static void test_file_errors(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"max_body = 5\n", "t.conf:1: max_body: 5 is below the minimum 1024"},
        {"\n# c\nmax_body = 99999999\n",
         "t.conf:3: max_body: 99999999 is above the maximum 67108864"},
        {"max_body = 1k\n", "t.conf:1: max_body: expected a whole number of bytes, got \"1k\""},
        {"max_body = 0x400\n",
         "t.conf:1: max_body: expected a whole number of bytes, got \"0x400\""},
        {"max_body = 1024.0\n",
         "t.conf:1: max_body: expected a whole number of bytes, got \"1024.0\""},
        {"max_body =\n", "t.conf:1: max_body: expected a whole number of bytes, got \"\""},
        {"max_body = \"1 024\"\n",
         "t.conf:1: max_body: expected a whole number of bytes, got \"1 024\""},
        {"max_body = 99999999999999999999\n",
         "t.conf:1: max_body: 99999999999999999999 is out of range (1024 to 67108864)"},
        {"batch_events = -1\n", "t.conf:1: batch_events: -1 is below the minimum 1"},
        {"max_connections = many\n",
         "t.conf:1: max_connections: expected a whole number of connections, got \"many\""},
        {"max_bdy = 5\n", "t.conf:1: unknown setting \"max_bdy\" (did you mean \"max_body\"?)"},
        {"Max_Body = 5\n", "t.conf:1: unknown setting \"Max_Body\" (did you mean \"max_body\"?)"},
        {"frobnicate = 1\n", "t.conf:1: unknown setting \"frobnicate\""},
        {"max_body 2048\n", "t.conf:1: expected \"name = value\", found no '=' after \"max_body\""},
        {"[podium]\n", "t.conf:1: expected \"name = value\", found no '=' after \"[podium]\""},
        {"= 5\n", "t.conf:1: expected a setting name before '='"},
        {"max_body = 2048\n\nmax_body = 4096\n", "t.conf:3: max_body: set twice (first on line 1)"},
        {"data_dir = \"/x\n", "t.conf:1: data_dir: missing closing '\"'"},
        {"data_dir = \"/x\" junk\n", "t.conf:1: data_dir: unexpected text after the closing '\"'"},
        {"data_dir = \"a\\nb\"\n", "t.conf:1: data_dir: unknown escape '\\n' in quoted value "
                                   "(only \\\" and \\\\ are allowed)"},
        {"data_dir = \"a\\\n", "t.conf:1: data_dir: unknown escape '\\ ' in quoted value "
                               "(only \\\" and \\\\ are allowed)"},
        {"data_dir = a\x01z\n", "t.conf:1: control character 0x01 in line"},
        {"data_dir = a\rz\n", "t.conf:1: control character 0x0d in line"},
        {"data_dir =\n", "t.conf:1: data_dir: must not be empty"},
        {"read_timeout = 0\n", "t.conf:1: read_timeout: 0 is below the minimum 1s"},
        {"read_timeout = 2h\n", "t.conf:1: read_timeout: 2h is above the maximum 1h"},
        {"read_timeout = 1.5h\n", "t.conf:1: read_timeout: expected a duration such as 90s, 2m, "
                                  "1h, 8d or plain seconds, got \"1.5h\""},
        {"read_timeout = 10 s\n", "t.conf:1: read_timeout: expected a duration such as 90s, 2m, "
                                  "1h, 8d or plain seconds, got \"10 s\""},
        {"read_timeout = -5\n", "t.conf:1: read_timeout: expected a duration such as 90s, 2m, "
                                "1h, 8d or plain seconds, got \"-5\""},
        {"idempotency_ttl = 7d\n", "t.conf:1: idempotency_ttl: 7d is below the minimum 8d"},
        {"idempotency_ttl = 366d\n", "t.conf:1: idempotency_ttl: 366d is above the maximum 365d"},
        {"idempotency_ttl = 99999999999999999999d\n",
         "t.conf:1: idempotency_ttl: 99999999999999999999d is above the maximum 365d"},
        {"log_level = verbose\n",
         "t.conf:1: log_level: expected error, warning, info or debug, got \"verbose\""},
        {"http_listen = 7420\n", "t.conf:1: http_listen: expected host:port, got \"7420\""},
        {"http_listen =\n", "t.conf:1: http_listen: expected host:port, got an empty value"},
        {"rpc_listen = ::1:7421\n", "t.conf:1: rpc_listen: IPv6 addresses go in brackets, as in "
                                    "[::1]:7420, got \"::1:7421\""},
        {"redis = sentinel://s1:26379/mymaster\n",
         "t.conf:1: redis: sentinel:// is not supported by this version; use redis://host:port or "
         "unix:/path"},
        {"redis = cluster://a:7000,b:7000\n",
         "t.conf:1: redis: cluster:// is not supported by this version; use redis://host:port or "
         "unix:/path"},
        {"redis = rediss://r:6380\n",
         "t.conf:1: redis: rediss:// is not supported by this version; use redis://host:port or "
         "unix:/path"},
        {"redis = localhost:6379\n", "t.conf:1: redis: expected \"\" (embedded Redis), "
                                     "redis://host[:port][/db] or unix:/path/to/redis.sock"},
        {"redis = unix:redis.sock\n",
         "t.conf:1: redis: expected unix:/absolute/path/to/redis.sock"},
        {"redis = redis://h:0\n", "t.conf:1: redis: redis:// URL: port 0 is not a Redis port"},
        {"redis = redis://h:6379/zero\n",
         "t.conf:1: redis: redis:// URL: the database after '/' must be a number"},
        {"redis = redis://\n",
         "t.conf:1: redis: redis:// URL: missing host, expected redis://host[:port][/db]"},
        {"cors_origins = https://a.example/\n",
         "t.conf:1: cors_origins: origin \"https://a.example/\" has a path; an origin is "
         "scheme://host[:port]"},
        {"cors_origins = a.example\n",
         "t.conf:1: cors_origins: origin \"a.example\": expected * or http(s)://host[:port]"},
        {"cors_origins = https://a.example,,https://b.example\n",
         "t.conf:1: cors_origins: empty origin in the list"},
        /* Nothing that could end the CSP directive or the header gets through. */
        {"embed_frame_ancestors = https://a.example; script-src *\n",
         "t.conf:1: embed_frame_ancestors: \"https://a.example;\" is not a frame source: use "
         "'self', 'none', https: or https://host[:port] (host may start with *.)"},
        {"embed_frame_ancestors = https://a.example,https://b.example\n",
         "t.conf:1: embed_frame_ancestors: \"https://a.example,https://b.example\" is not a frame "
         "source: use 'self', 'none', https: or https://host[:port] (host may start with *.)"},
        {"embed_frame_ancestors = https://a.example/page\n",
         "t.conf:1: embed_frame_ancestors: \"https://a.example/page\" is not a frame source: use "
         "'self', 'none', https: or https://host[:port] (host may start with *.)"},
        {"embed_frame_ancestors = 'none' https://a.example\n",
         "t.conf:1: embed_frame_ancestors: 'none' cannot be combined with other sources"},
        {"embed_frame_ancestors = \"\"\n",
         "t.conf:1: embed_frame_ancestors: empty: use 'none' to let no site frame the embed page"},
        /* The first bad line is the one reported, after good ones. */
        {"max_body = 2048\nlog_level = info\nbatch_events = 0\nmax_body = 1\n",
         "t.conf:3: batch_events: 0 is below the minimum 1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config c;
        char err[512] = "";
        int rc = load(&c, cases[i].text, err, sizeof(err));
        if (rc != -1)
            fail_msg("case %zu \"%s\" was accepted", i, cases[i].text);
        if (strcmp(err, cases[i].want) != 0)
            fail_msg("case %zu:\n got \"%s\"\nwant \"%s\"", i, err, cases[i].want);
        config_free(&c);
    }
}

/* Bytes the string functions cannot see: NUL, and lines at and over the limit. */
static void test_file_limits(void **state)
{
    config c;
    char err[512];
    static const char nul[] = "max_body = 2048\nlog_level = in\0fo\n";
    config_defaults(&c);
    assert_int_equal(config_load_buffer(&c, nul, sizeof(nul) - 1, "t.conf", err, sizeof(err)), -1);
    assert_string_equal(err, "t.conf:2: NUL byte in line (is this a text file?)");

    /* A comment of exactly 4096 bytes is fine; one byte more is refused. */
    char *buf = malloc(2 * 4097 + 1);
    assert_non_null(buf);
    memset(buf, 'x', 4096);
    buf[0] = '#';
    buf[4096] = '\n';
    memset(buf + 4097, 'y', 4097);
    buf[4097] = '#';
    buf[2 * 4097] = '\0';
    assert_int_equal(config_load_buffer(&c, buf, 4097, "t.conf", err, sizeof(err)), 0);
    assert_int_equal(config_load_buffer(&c, buf, 2 * 4097, "t.conf", err, sizeof(err)), -1);
    assert_string_equal(err, "t.conf:2: line longer than 4096 bytes");
    /* The same through a real file, whose path is the message's prefix. */
    char path[128];
    write_file("long.conf", buf, 2 * 4097, path, sizeof(path));
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -1);
    char want[256];
    snprintf(want, sizeof(want), "%s:2: line longer than 4096 bytes", path);
    assert_string_equal(err, want);
    free(buf);

    /* A file over 1 MiB is refused as a whole. */
    size_t big = (1 << 20) + 1;
    buf = malloc(big);
    assert_non_null(buf);
    memset(buf, '\n', big);
    write_file("big.conf", buf, big, path, sizeof(path));
    free(buf);
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: larger than 1048576 bytes; is this the right file?", path);
    assert_string_equal(err, want);
    config_free(&c);
}

/* Real files: good, bad with its path and line, missing, a directory. */
static void test_file_load(void **state)
{
    static const char good[] = "max_body = 4096\nredis = \"unix:/run/redis.sock\"\n";
    static const char bad[] = "max_body = 4096\n# fine so far\nmax_headers = 10\n";
    config c;
    char err[512], path[128], want[512];
    config_defaults(&c);
    write_file("good.conf", good, sizeof(good) - 1, path, sizeof(path));
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), 0);
    assert_int_equal(c.max_body, 4096);
    assert_string_equal(c.redis, "unix:/run/redis.sock");

    write_file("bad.conf", bad, sizeof(bad) - 1, path, sizeof(path));
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:3: max_headers: 10 is below the minimum 1024", path);
    assert_string_equal(err, want);

    snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
    assert_string_equal(err, want);

    assert_int_equal(config_load_file(&c, tmpdir, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: cannot read: Is a directory", tmpdir);
    assert_string_equal(err, want);

    /* err may be NULL or tiny: still -1, never an overflow. */
    assert_int_equal(config_load_file(&c, path, NULL, 0), -1);
    char tiny[8];
    assert_int_equal(config_load_file(&c, path, tiny, sizeof(tiny)), -1);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
    config_free(&c);
}

/* A refused file leaves the config exactly as it was (a failed reload keeps the old one). */
static void test_file_all_or_nothing(void **state)
{
    static const char text[] = "max_body = 2048\ndata_dir = /elsewhere\nlog_level = loud\n";
    config c, before;
    char err[512];
    config_defaults(&c);
    assert_int_equal(config_set(&c, "batch_events", "42", "--batch_events", err, sizeof(err)), 0);
    config_defaults(&before);
    before.batch_events = 42;
    assert_int_equal(config_load_buffer(&c, text, strlen(text), "t.conf", err, sizeof(err)), -1);
    assert_string_equal(
        err, "t.conf:3: log_level: expected error, warning, info or debug, got \"loud\"");
    assert_config_equal(&c, &before);
    config_free(&c);
    config_free(&before);
}

/* The command line wins over the file, and its messages name the flag. */
static void test_command_line(void **state)
{
    static const struct {
        const char *name, *value, *where, *want;
    } bad[] = {
        {"max_body", "5", "--max_body", "--max_body: 5 is below the minimum 1024"},
        {"read_timeout", "2d", "--read_timeout", "--read_timeout: 2d is above the maximum 1h"},
        {"max_bdy", "5", "--max_bdy",
         "--max_bdy: unknown setting \"max_bdy\" (did you mean "
         "\"max_body\"?)"},
        {"log_level", "trace", "--log_level",
         "--log_level: expected error, warning, info or debug, got \"trace\""},
        {"max_body", "5", NULL, "max_body: 5 is below the minimum 1024"},
        {"max_body", "5", "", "max_body: 5 is below the minimum 1024"},
        {"max_body", "5", "env", "env: max_body: 5 is below the minimum 1024"},
        {"nope", "1", NULL, "nope: unknown setting \"nope\""},
    };
    config c;
    char err[512];
    assert_int_equal(load(&c, "max_body = 2048\nlog_level = debug\n", err, sizeof(err)), 0);
    assert_int_equal(config_set(&c, "max_body", "4096", "--max_body", err, sizeof(err)), 0);
    assert_int_equal(c.max_body, 4096);
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(config_set(&c, "log_level", "error", "--log_level", err, sizeof(err)), 0);
    assert_string_equal(c.log_level, "error");
    /* Values with spaces or '#' pass through unchanged: no file syntax on the command line. */
    assert_int_equal(config_set(&c, "data_dir", " /a #b ", "--data_dir", err, sizeof(err)), 0);
    assert_string_equal(c.data_dir, " /a #b ");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(config_set(&c, bad[i].name, bad[i].value, bad[i].where, err, sizeof(err)),
                         -1);
        assert_string_equal(err, bad[i].want);
    }
    assert_int_equal(config_set(&c, "max_body", NULL, "--max_body", err, sizeof(err)), -1);
    assert_string_equal(err, "--max_body: no setting name or value");
    /* A refused value leaves the old one. */
    assert_int_equal(c.max_body, 4096);
    assert_string_equal(c.log_level, "error");
    config_free(&c);
}

/* Both ends of every bounded setting, and one step beyond. */
static void test_bounds(void **state)
{
    static const struct {
        const char *name, *value;
        bool ok;
        int64_t want;
    } cases[] = {
        {"max_body", "1024", true, 1024},
        {"max_body", "1023", false, 0},
        {"max_body", "67108864", true, 67108864},
        {"max_body", "67108865", false, 0},
        {"max_headers", "1024", true, 1024},
        {"max_headers", "1023", false, 0},
        {"max_headers", "1048576", true, 1048576},
        {"max_headers", "1048577", false, 0},
        {"read_timeout", "1", true, 1},
        {"read_timeout", "1s", true, 1},
        {"read_timeout", "0s", false, 0},
        {"read_timeout", "3600", true, 3600},
        {"read_timeout", "60m", true, 3600},
        {"read_timeout", "3601", false, 0},
        {"batch_window", "0", true, 0},
        {"batch_window", "-1", false, 0},
        {"batch_window", "100000", true, 100000},
        {"batch_window", "100001", false, 0},
        {"batch_events", "1", true, 1},
        {"batch_events", "0", false, 0},
        {"batch_events", "1000", true, 1000},
        {"batch_events", "1001", false, 0},
        {"idempotency_ttl", "691200", true, 691200},
        {"idempotency_ttl", "691199", false, 0},
        {"idempotency_ttl", "365d", true, 31536000},
        {"idempotency_ttl", "31536001", false, 0},
        {"max_connections", "1", true, 1},
        {"max_connections", "0", false, 0},
        {"max_connections", "1000000", true, 1000000},
        {"max_connections", "1000001", false, 0},
        {"max_connections", "-9223372036854775808", false, 0},
        {"max_connections", "9223372036854775808", false, 0},
        {"sse_interval", "50ms", true, 50},
        {"sse_interval", "49ms", false, 0},
        {"sse_interval", "1s", true, 1000},
        {"sse_interval", "2", true, 2000}, /* plain numbers are seconds, as in durations */
        {"sse_interval", "1m", true, 60000},
        {"sse_interval", "60001ms", false, 0},
        {"sse_interval", "2m", false, 0},
        {"sse_interval", "ms", false, 0},
        {"sse_interval", "-5ms", false, 0},
        {"sse_interval", "1.5s", false, 0},
        {"sse_heartbeat", "1s", true, 1},
        {"sse_heartbeat", "0", false, 0},
        {"sse_max_buffer", "4096", true, 4096},
        {"sse_max_buffer", "4095", false, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config c;
        char err[512] = "", got[64], want[64];
        config_defaults(&c);
        int rc = config_set(&c, cases[i].name, cases[i].value, "--x", err, sizeof(err));
        if (rc != (cases[i].ok ? 0 : -1))
            fail_msg("case %zu %s=%s: rc %d (%s)", i, cases[i].name, cases[i].value, rc, err);
        if (cases[i].ok) {
            field_text(&c, cases[i].name, got, sizeof(got));
            snprintf(want, sizeof(want), "%" PRId64, cases[i].want);
            assert_string_equal(got, want);
            assert_int_equal(config_check(&c, err, sizeof(err)), 0);
        } else {
            assert_non_null(strstr(err, cases[i].value));
        }
        config_free(&c);
    }
}

/* config_parse_hostport: IPv4, names, bracketed IPv6, and what it refuses. */
static void test_hostport(void **state)
{
    static const struct {
        const char *in, *host;
        int port;
    } good[] = {
        {"127.0.0.1:7420", "127.0.0.1", 7420},
        {"0.0.0.0:0", "0.0.0.0", 0},
        {"localhost:65535", "localhost", 65535},
        {"my-host.example_1:1", "my-host.example_1", 1},
        {"[::1]:7420", "::1", 7420},
        {"[::]:80", "::", 80},
        {"[2001:db8::17]:443", "2001:db8::17", 443},
        {"[::ffff:192.0.2.1]:8", "::ffff:192.0.2.1", 8},
        {"[fe80::1%eth0]:80", "fe80::1%eth0", 80},
        {"h:007", "h", 7},
    };
    static const char *const bad[] = {
        "",
        "7420",
        ":7420",
        "host:",
        "host:65536",
        "host:-1",
        "host:+80",
        "host:80x",
        "host:80 ",
        " host:80",
        "ho st:80",
        "::1:7420",
        "::1",
        "[::1]",
        "[::1]7420",
        "[::1:7420",
        "[zz]:80",
        "[]:80",
        "[1.2.3.4]:80",
        "[fe80::1%]:80",
        "[fe80::1%e/0]:80",
        "*:80",
        "host/x:80",
        "host:99999999999999999999",
    };
    char host[64];
    int port;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        port = -1;
        if (config_parse_hostport(good[i].in, host, sizeof(host), &port) != 0)
            fail_msg("\"%s\" refused", good[i].in);
        assert_string_equal(host, good[i].host);
        assert_int_equal(port, good[i].port);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (config_parse_hostport(bad[i], host, sizeof(host), &port) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
    }
    /* A host that does not fit the caller's buffer is refused, not cut. */
    assert_int_equal(config_parse_hostport("abcdefgh:1", host, 8, &port), -1);
    assert_int_equal(config_parse_hostport("abcdefgh:1", host, 9, &port), 0);
    assert_string_equal(host, "abcdefgh");
    char longname[300];
    memset(longname, 'a', 254);
    strcpy(longname + 254, ":80");
    char bighost[512];
    assert_int_equal(config_parse_hostport(longname, bighost, sizeof(bighost), &port), -1);
    assert_int_equal(config_parse_hostport(NULL, host, sizeof(host), &port), -1);
}

/* config_check on structs filled behind the parser's back, and cross-field rules. */
static void test_check(void **state)
{
    static const struct {
        const char *name, *value, *want; /* want NULL: accepted */
    } cases[] = {
        {"http_listen", "nope", "http_listen: expected host:port, got \"nope\""},
        {"http_listen", "", "http_listen: expected host:port, got an empty value"},
        {"rpc_listen", "", NULL},
        {"rpc_listen", "127.0.0.1:7420", "http_listen and rpc_listen are both 127.0.0.1:7420"},
        {"rpc_listen", "localhost:7420", NULL},
        {"rpc_listen", "[::1]:x", "rpc_listen: port \"x\" is not a number from 0 to 65535"},
        {"redis", "cluster://a:7000,b:7000",
         "redis: cluster:// is not supported by this version; use redis://host:port or unix:/path"},
        {"redis", "redis://h:0", "redis: redis:// URL: port 0 is not a Redis port"},
        {"redis", "redis://user:pw@h:99999",
         "redis: redis:// URL: port \"99999\" is not a number from 0 to 65535"},
        {"redis", "redis://[::1]", NULL},
        {"redis", "unix:/", "redis: expected unix:/absolute/path/to/redis.sock"},
        {"log_level", "loud", "log_level: expected error, warning, info or debug, got \"loud\""},
        {"data_dir", "", "data_dir: must not be empty"},
        {"redis_server", "",
         "redis_server: must name the redis-server binary when redis is empty (embedded Redis)"},
        {"cors_origins", "https://a.example, *", NULL},
        {"cors_origins", "https://a b", "cors_origins: origin \"https://a b\" contains a space"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config c;
        char err[512] = "";
        config_defaults(&c);
        char **f = strcmp(cases[i].name, "http_listen") == 0    ? &c.http_listen
                   : strcmp(cases[i].name, "rpc_listen") == 0   ? &c.rpc_listen
                   : strcmp(cases[i].name, "redis") == 0        ? &c.redis
                   : strcmp(cases[i].name, "log_level") == 0    ? &c.log_level
                   : strcmp(cases[i].name, "data_dir") == 0     ? &c.data_dir
                   : strcmp(cases[i].name, "redis_server") == 0 ? &c.redis_server
                                                                : &c.cors_origins;
        free(*f);
        *f = strdup(cases[i].value);
        int rc = config_check(&c, err, sizeof(err));
        if (cases[i].want == NULL) {
            if (rc != 0)
                fail_msg("case %zu %s=\"%s\": %s", i, cases[i].name, cases[i].value, err);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(err, cases[i].want);
        }
        config_free(&c);
    }

    config c;
    char err[512];
    /* A password in a redis URL never appears in a message. */
    config_defaults(&c);
    assert_int_equal(
        config_set(&c, "redis", "redis://u:hunter2@bad host:1", "--redis", err, sizeof(err)), -1);
    assert_null(strstr(err, "hunter2"));
    /* Without an embedded Redis, redis_server may be empty. */
    free(c.redis);
    c.redis = strdup("redis://r:6379");
    free(c.redis_server);
    c.redis_server = strdup("");
    assert_int_equal(config_check(&c, err, sizeof(err)), 0);
    /* Two listeners on port 0 of one host do not collide. */
    free(c.http_listen);
    c.http_listen = strdup("127.0.0.1:0");
    free(c.rpc_listen);
    c.rpc_listen = strdup("127.0.0.1:0");
    assert_int_equal(config_check(&c, err, sizeof(err)), 0);
    /* Numbers are checked against their bounds too. */
    c.max_body = 5;
    assert_int_equal(config_check(&c, err, sizeof(err)), -1);
    assert_string_equal(err, "max_body: 5 is out of range (1024 to 67108864)");
    c.max_body = 2048;
    c.idempotency_ttl = 86400;
    assert_int_equal(config_check(&c, err, sizeof(err)), -1);
    assert_string_equal(err, "idempotency_ttl: 86400 is out of range (691200 to 31536000)");
    config_free(&c);
    /* A struct missing its strings is refused, not dereferenced. */
    config_defaults(&c);
    free(c.rules_file);
    c.rules_file = NULL;
    assert_int_equal(config_check(&c, err, sizeof(err)), -1);
    assert_string_equal(err, "rules_file: not set");
    config_free(&c);
}

/* A reload keeps the running values of restart-only settings and names them. */
static void test_reload_fixed(void **state)
{
    config running, next;
    char err[512], names[256];
    config_defaults(&running);
    assert_int_equal(load(&next,
                          "http_listen = 0.0.0.0:1\nredis = redis://r:1\nlog_level = debug\n"
                          "max_body = 2048\ndata_dir = /x\n",
                          err, sizeof(err)),
                     0);
    assert_int_equal(config_reload_fixed(&next, &running, names, sizeof(names)), 3);
    assert_string_equal(names, "http_listen, redis, data_dir");
    assert_string_equal(next.http_listen, "127.0.0.1:7420");
    assert_string_equal(next.redis, "");
    assert_string_equal(next.data_dir, "/var/lib/podium");
    assert_string_equal(next.log_level, "debug"); /* reloadable: the new value stays */
    assert_int_equal(next.max_body, 2048);
    /* Now equal in every restart-only setting. */
    assert_int_equal(config_reload_fixed(&next, &running, names, sizeof(names)), 0);
    assert_string_equal(names, "");
    /* A short buffer is cut, the count is not. */
    free(next.rules_file);
    next.rules_file = strdup("/r.json");
    free(next.admin_token_file);
    next.admin_token_file = strdup("/t");
    char tiny[8];
    assert_int_equal(config_reload_fixed(&next, &running, tiny, sizeof(tiny)), 2);
    assert_string_equal(tiny, "rules_f");
    assert_int_equal(config_reload_fixed(&next, &running, NULL, 0), 0);
    config_free(&running);
    config_free(&next);
}

/* --help lists every setting with its default, bounds and help. */
static void test_help(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    config_print_help(f);
    assert_int_equal(fclose(f), 0);
    for (size_t i = 0; i < NALL; i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "%s = ", all_settings[i]);
        if (strstr(text, needle) == NULL)
            fail_msg("--help misses %s", all_settings[i]);
    }
    assert_non_null(strstr(text, "  http_listen = 127.0.0.1:7420\n"));
    assert_non_null(strstr(text, "  redis = \"\"\n"));
    assert_non_null(strstr(text, "  log_level = info\n"));
    assert_non_null(strstr(text, "  max_body = 1048576 bytes (1024 to 67108864)\n"));
    assert_non_null(strstr(text, "  read_timeout = 10s (1s to 1h)\n"));
    assert_non_null(strstr(text, "  idempotency_ttl = 8d (8d to 365d)\n"));
    assert_non_null(strstr(text, "  sse_interval = 1s (50ms to 1m)\n"));
    assert_non_null(strstr(text, "        largest request body accepted\n"));
    /* No reload marks before names while SIGHUP rereads only the rules. */
    assert_null(strstr(text, "  *"));
    free(text);
}

/* systemd/podiumd.conf names every setting once, commented out with its
 * default: uncommented, it loads and gives exactly the defaults. */
static void test_example_file(void **state)
{
    char *text = read_source("systemd/podiumd.conf");
    if (text == NULL)
        skip();
    size_t cap = strlen(text) + 1, used = 0;
    char *uncommented = calloc(1, cap);
    assert_non_null(uncommented);
    int count[NALL] = {0};
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (line[0] != '#')
            fail_msg("podiumd.conf sets something: \"%s\"", line);
        const char *p = line + 1;
        while (*p == ' ')
            p++;
        for (size_t i = 0; i < NALL; i++) {
            size_t n = strlen(all_settings[i]);
            if (strncmp(p, all_settings[i], n) == 0 && strncmp(p + n, " = ", 3) == 0) {
                count[i]++;
                used += (size_t)snprintf(uncommented + used, cap - used, "%s\n", p);
            }
        }
    }
    for (size_t i = 0; i < NALL; i++) {
        if (count[i] != 1)
            fail_msg("podiumd.conf shows %s %d times", all_settings[i], count[i]);
    }
    config c, d;
    char err[512];
    assert_int_equal(load(&c, uncommented, err, sizeof(err)), 0);
    config_defaults(&d);
    assert_config_equal(&c, &d);
    config_free(&c);
    config_free(&d);
    free(uncommented);
    free(text);
}

/* systemd/podiumd.8 documents every setting, each with its default. */
static void test_man_page(void **state)
{
    static const struct {
        const char *name, *def;
    } defs[] = {
        {"http_listen", "127.0.0.1:7420"},
        {"rpc_listen", "127.0.0.1:7421"},
        {"redis", "empty"},
        {"redis_server", "redis\\-server"},
        {"data_dir", "/var/lib/podium"},
        {"rules_file", "empty"},
        {"admin_token_file", "empty"},
        {"log_level", "info"},
        {"cors_origins", "empty"},
        {"max_body", "1048576"},
        {"max_headers", "16384"},
        {"read_timeout", "10s"},
        {"batch_window", "0"},
        {"batch_events", "500"},
        {"idempotency_ttl", "8d"},
        {"max_connections", "10000"},
        {"sse_interval", "1s"},
        {"sse_heartbeat", "15s"},
        {"sse_max_buffer", "262144"},
        {"embed_frame_ancestors", "\\(aqnone\\(aq"},
        {"operator_token_file", "empty"},
        {"quota_leaders", "10000"},
        {"quota_tokens", "20000"},
        {"quota_webhooks", "50"},
        {"quota_events_per_second", "0"},
    };
    assert_int_equal(sizeof(defs) / sizeof(defs[0]), NALL);
    char *man = read_source("systemd/podiumd.8");
    if (man == NULL)
        skip();
    for (size_t i = 0; i < NALL; i++) {
        char head[96], def[96];
        snprintf(head, sizeof(head), "\n.TP\n.B %s\n", defs[i].name);
        snprintf(def, sizeof(def), "Default: %s", defs[i].def);
        const char *at = strstr(man, head);
        if (at == NULL)
            fail_msg("podiumd.8 misses %s", defs[i].name);
        const char *next = strstr(at + 1, "\n.TP\n");
        const char *found = strstr(at, def);
        if (found == NULL || (next != NULL && found > next))
            fail_msg("podiumd.8: %s lacks \"%s\"", defs[i].name, def);
    }
    free(man);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_known),
        cmocka_unit_test(test_each_setting_sets_its_field),
        cmocka_unit_test(test_file_syntax),
        cmocka_unit_test(test_file_many),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_file_limits),
        cmocka_unit_test(test_file_load),
        cmocka_unit_test(test_file_all_or_nothing),
        cmocka_unit_test(test_command_line),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_reload_fixed),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_man_page),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
