/*
 * config.h - podiumd's settings: one table, loaded from a file and --flags.
 *
 * Every setting is a row of the table in config.c (name, type, bounds,
 * default, whether SIGHUP may change it, help). Loading goes: defaults, then
 * the file, then `--name value` from the command line, then cross-checks.
 * The validated struct is the daemon's only global state besides logging.
 */
#ifndef PODIUM_CONFIG_H
#define PODIUM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct config {
    char *http_listen;         /* host:port, "[::1]:port" for IPv6 */
    char *rpc_listen;          /* host:port of the msgpack-RPC listener ("" = off) */
    char *redis;               /* "" = embedded; redis://host:port[/db]; unix:/path */
    char *redis_server;        /* redis-server binary used for the embedded Redis */
    char *data_dir;            /* embedded Redis, spool; created if missing */
    char *rules_file;          /* "" = rules live in Redis (PUT /v1/rules) */
    char *admin_token_file;    /* bootstrap admin token of org "default" */
    char *operator_token_file; /* bootstrap operator token */
    char *log_level;           /* error, warning, info, debug */
    char *cors_origins;        /* comma-separated allowlist, "" = none */
    int64_t max_body;          /* bytes */
    int64_t max_headers;       /* bytes */
    int64_t read_timeout;      /* seconds */
    int64_t batch_window;      /* microseconds of gathering before a script call */
    int64_t batch_events;      /* events per script call at most */
    int64_t idempotency_ttl;   /* seconds */
    int64_t retention;         /* seconds a closed period's board stays; 0 = forever */
    int64_t max_connections;   /* open HTTP connections at most */

    /* Webhooks (webhook.c) */
    int64_t webhook_timeout;     /* seconds: connect and whole-attempt limit */
    int64_t webhook_concurrency; /* deliveries in flight at most, per daemon */
    int64_t webhook_retry_base;  /* milliseconds: the first retry's delay bound */
    bool webhook_allow_http;     /* accept http:// URLs (tests, local receivers) */
    int64_t sse_interval;        /* ms between two standings events of a stream, at least */
    int64_t sse_heartbeat;       /* seconds between heartbeat comments */
    int64_t sse_max_buffer;      /* bytes of unsent output before a subscriber is cut off */

    /* Per-org quota defaults (orgs.h); 0 = no limit */
    int64_t quota_leaders, quota_tokens, quota_webhooks, quota_events_per_second;

    /* The embed page (http_widget.c) */
    char *embed_frame_ancestors; /* CSP frame-ancestors: the sites that may frame it */
} config;

/* Fills cfg with the defaults. Strings are owned by cfg (config_free). */
void config_defaults(config *cfg);
/* Reads `path` over cfg. Returns 0, or -1 with "path:line: message" in err.
 * All or nothing: on error cfg is left exactly as it was. */
int config_load_file(config *cfg, const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Reads `len` bytes of config text over cfg, as config_load_file does; `name`
 * is the file name used in messages. Exposed for tests and the fuzzer. */
int config_load_buffer(config *cfg, const char *buf, size_t len, const char *name, char *err,
                       size_t errlen) __attribute__((warn_unused_result));
/* Applies one setting by name from text (file or command line); `where` is
 * prefixed to the message ("podiumd.conf:12" or "--http_listen"). */
int config_set(config *cfg, const char *name, const char *value, const char *where, char *err,
               size_t errlen) __attribute__((warn_unused_result));
/* Cross-checks after loading (addresses parse, log level known, ...). */
int config_check(const config *cfg, char *err, size_t errlen) __attribute__((warn_unused_result));
/* True if a setting of this name exists. */
bool config_known(const char *name);
/* Prints every setting with its default and help, for --help and the man page. */
void config_print_help(FILE *out);
/* For a SIGHUP reload: copies into `next` the running values of the settings
 * that need a restart, and lists the names of those that differed,
 * comma-separated, in `names` (for a warning). Returns how many differed. */
int config_reload_fixed(config *next, const config *running, char *names, size_t nameslen);
/* Frees the strings; the struct itself may be reused. */
void config_free(config *cfg);
/* Splits "host:port" / "[v6]:port" into host (hostlen bytes) and port. */
int config_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
    __attribute__((warn_unused_result));

#endif
