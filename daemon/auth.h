/*
 * auth.h - bearer tokens: minting, hashing, lookup with a short cache.
 *
 * A token of org "default" is "pdm_" and 43 base64url characters (256
 * random bits); a token of another org names it: "pdm_{org}_" and the 43
 * characters (org ids are 1 to 64 of [a-z0-9._-]; the secret's fixed length
 * tells where the org ends). So a lookup goes straight to the org's tokens
 * (podium:{org}:tokens), in the org's own Redis slot, with no index across
 * orgs. Only a token's SHA-256 is stored. Lookups go to Redis once and are
 * then cached in memory for AUTH_CACHE_MS, so a token deleted through
 * another podiumd stops working within that time (at once on this one).
 *
 * A token's record is "id role leader incarnation" ("-" for no leader): the
 * incarnation is its org's creation time (Unix ms, from the registry) when
 * the token was made, so that a token of a deleted org never opens a new
 * org of the same id, whatever a cache still holds (org_refusal); tokens of
 * org default, which is never deleted, have none.
 *
 * Two tokens live in files and are compared in memory only: the bootstrap
 * admin token of org "default" (admin_token_file) and the operator token
 * (operator_token_file), which belongs to no org.
 */
#ifndef PODIUM_AUTH_H
#define PODIUM_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct store;
typedef struct auth auth;

#define AUTH_CACHE_MS   5000
#define AUTH_SECRET_LEN 43                        /* base64url characters of 256 bits */
#define AUTH_TOKEN_LEN  (4 + AUTH_SECRET_LEN)     /* "pdm_" + secret: org default */
#define AUTH_TOKEN_MAX  (AUTH_TOKEN_LEN + 64 + 1) /* "pdm_{org}_" + secret */

/* Roles, weakest first; an operator manages orgs and reads none. */
typedef enum {
    ROLE_NONE,
    ROLE_LEADER,
    ROLE_READER,
    ROLE_INGEST,
    ROLE_ADMIN,
    ROLE_OPERATOR
} auth_role;

typedef struct auth_identity {
    auth_role role;
    char org[EVENT_NAME_MAX + 1];    /* "" for the operator */
    char leader[EVENT_NAME_MAX + 1]; /* ROLE_LEADER only */
    char id[16];                     /* token id; "bootstrap" or "operator" for the files' */
    int64_t incarnation; /* its org's created time when it was made (0: org default's) */
} auth_identity;

/* Called once with the identity, or with NULL when the token is unknown;
 * `unavailable` is true when Redis could not be asked. */
typedef void auth_cb(void *arg, const auth_identity *who, bool unavailable);

/* Creates the token checker; the store is borrowed. */
auth *auth_new(struct store *st);
/* Frees it; NULL is allowed. */
void auth_free(auth *a);
/* Installs the bootstrap admin token (copied). */
void auth_set_bootstrap(auth *a, const char *token);
/* Installs the operator token (copied). */
void auth_set_operator(auth *a, const char *token);
/* Looks a token up; may call cb before returning (cache hit, bad format). */
void auth_check(auth *a, const char *token, auth_cb *cb, void *arg);
/* Forgets a cached token by its SHA-256 hex (after a delete). */
void auth_forget(auth *a, const char *sha_hex);
/* Writes a new random token of org into out (AUTH_TOKEN_MAX + 1 bytes; org
 * "default" or NULL: the short form) and a new token id into id (16
 * bytes). Returns -1 if no randomness is available. */
int auth_mint(const char *org, char *out, char *id) __attribute__((warn_unused_result));
/* The org a token names, into org (ORG_ID_MAX + 1 bytes): "default" for the
 * short form. False when the token has neither form. */
bool auth_token_org(const char *token, char *org, size_t orglen)
    __attribute__((warn_unused_result));
/* SHA-256 of a token as 64 hex digits and a NUL. */
void auth_hash(const char *token, char out[65]);
/* Parses "leader", "reader", "ingest", "admin" (the roles a token of an org
 * may have); ROLE_NONE otherwise. */
auth_role auth_role_parse(const char *s);
/* The name of a role. */
const char *auth_role_name(auth_role r);
/* Reads a bootstrap token (admin or operator) from path, creating the file
 * (mode 0600) with a new token when it does not exist. Returns 0, or -1
 * with a message. */
int auth_bootstrap_file(const char *path, char *token, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
