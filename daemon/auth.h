/*
 * auth.h - bearer tokens: minting, hashing, lookup with a short cache.
 *
 * A token is "pdm_" and 43 base64url characters (256 random bits). Only its
 * SHA-256 is stored (podium:{org}:tokens). Lookups go to Redis once and are
 * then cached in memory for AUTH_CACHE_MS, so a token deleted through
 * another podiumd stops working within that time (at once on this one).
 * The bootstrap admin token of org "default" lives in admin_token_file and
 * is compared in memory only.
 */
#ifndef PODIUM_AUTH_H
#define PODIUM_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "event.h"

struct store;
typedef struct auth auth;

#define AUTH_CACHE_MS  5000
#define AUTH_TOKEN_LEN 47 /* "pdm_" + 43 */

typedef enum { ROLE_NONE, ROLE_LEADER, ROLE_READER, ROLE_INGEST, ROLE_ADMIN } auth_role;

typedef struct auth_identity {
    auth_role role;
    char org[EVENT_NAME_MAX + 1];
    char leader[EVENT_NAME_MAX + 1]; /* ROLE_LEADER only */
    char id[16];                     /* token id, "bootstrap" for the admin file's */
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
/* Looks a token up; may call cb before returning (cache hit, bad format). */
void auth_check(auth *a, const char *token, auth_cb *cb, void *arg);
/* Forgets a cached token by its SHA-256 hex (after a delete). */
void auth_forget(auth *a, const char *sha_hex);
/* Writes a new random token into out (AUTH_TOKEN_LEN + 1 bytes) and a new
 * token id into id (16 bytes). Returns -1 if no randomness is available. */
int auth_mint(char *out, char *id) __attribute__((warn_unused_result));
/* SHA-256 of a token as 64 hex digits and a NUL. */
void auth_hash(const char *token, char out[65]);
/* Parses "leader", "reader", "ingest", "admin"; ROLE_NONE otherwise. */
auth_role auth_role_parse(const char *s);
/* The name of a role. */
const char *auth_role_name(auth_role r);
/* Reads the bootstrap token from path, creating the file (mode 0600) with a
 * new token when it does not exist. Returns 0, or -1 with a message. */
int auth_bootstrap_file(const char *path, char *token, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
