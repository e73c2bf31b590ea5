/*
 * auth.c - token hashing, minting, bootstrap file and a lookup cache.
 *
 * The cache is a fixed-size table keyed by the token's SHA-256, in sets of
 * CACHE_WAYS entries (a token may sit in any entry of its set, so that the
 * tokens of many orgs in use do not keep evicting each other); an entry
 * holds the identity (or "unknown") and the time it was fetched, and a new
 * one takes the set's oldest. Entries older than AUTH_CACHE_MS are looked
 * up again. Negative
 * answers are cached too, so a client hammering with a bad token costs one
 * Redis lookup per AUTH_CACHE_MS.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define CACHE_SLOTS 4096
#define CACHE_WAYS  4

struct entry {
    char sha[65]; /* "" = empty slot */
    bool known;
    int64_t fetched;
    auth_identity who;
};

struct auth {
    store *st;
    char bootstrap[65]; /* SHA-256 hex of the bootstrap token, "" = none */
    char operator_[65]; /* SHA-256 hex of the operator token, "" = none */
    struct entry cache[CACHE_SLOTS];
};

/* A lookup waiting for Redis. */
struct lookup {
    auth *a;
    char sha[65];
    char org[EVENT_NAME_MAX + 1];
    auth_cb *cb;
    void *arg;
};

auth *auth_new(store *st)
{
    auth *a = calloc(1, sizeof(*a));
    if (a)
        a->st = st;
    return a;
}

void auth_free(auth *a)
{
    free(a);
}

void auth_hash(const char *token, char out[65])
{
    util_sha256_hex(token, strlen(token), out);
}

void auth_set_bootstrap(auth *a, const char *token)
{
    auth_hash(token, a->bootstrap);
}

void auth_set_operator(auth *a, const char *token)
{
    auth_hash(token, a->operator_);
}

/* The cache entry of a hash, or, when `take`, the one it is to go into
 * (its set is picked by the first hex digits): itself if there, else an
 * empty one, else the set's oldest. NULL when not there and not `take`. */
static struct entry *slot(auth *a, const char *sha, bool take)
{
    unsigned long h = strtoul(
        (char[9]){sha[0], sha[1], sha[2], sha[3], sha[4], sha[5], sha[6], sha[7], 0}, NULL, 16);
    struct entry *set = &a->cache[h % (CACHE_SLOTS / CACHE_WAYS) * CACHE_WAYS], *pick = NULL;
    for (int i = 0; i < CACHE_WAYS; i++) {
        if (strcmp(set[i].sha, sha) == 0)
            return &set[i];
        if (pick == NULL || (pick->sha[0] && (!set[i].sha[0] || set[i].fetched < pick->fetched)))
            pick = &set[i];
    }
    return take ? pick : NULL;
}

void auth_forget(auth *a, const char *sha)
{
    struct entry *e = slot(a, sha, false);
    if (e)
        e->sha[0] = '\0';
}

const char *auth_role_name(auth_role r)
{
    static const char *names[] = {"none", "leader", "reader", "ingest", "admin", "operator"};
    return names[r];
}

auth_role auth_role_parse(const char *s)
{
    for (auth_role r = ROLE_LEADER; r <= ROLE_ADMIN; r++)
        if (strcmp(s, auth_role_name(r)) == 0)
            return r;
    return ROLE_NONE;
}

/* Redis answer to HGET tokens sha: "id role leader" or nil. */
static void on_lookup(void *arg, const store_reply *r)
{
    struct lookup *l = arg;
    if (r == NULL || store_reply_is_error(r)) {
        l->cb(l->arg, NULL, true);
        free(l);
        return;
    }
    struct entry *e = slot(l->a, l->sha, true);
    memset(e, 0, sizeof(*e));
    snprintf(e->sha, sizeof(e->sha), "%s", l->sha);
    e->fetched = util_now_ms();
    size_t len;
    const char *s = store_reply_str(r, &len);
    char id[16] = "", role[16] = "", leader[EVENT_NAME_MAX + 1] = "";
    long long incarnation = 0;
    if (s && len < 200 && sscanf(s, "%15s %15s %64s %lld", id, role, leader, &incarnation) >= 2 &&
        auth_role_parse(role) != ROLE_NONE) {
        e->known = true;
        e->who.incarnation = incarnation;
        e->who.role = auth_role_parse(role);
        snprintf(e->who.org, sizeof(e->who.org), "%s", l->org);
        snprintf(e->who.id, sizeof(e->who.id), "%s", id);
        if (strcmp(leader, "-") != 0)
            snprintf(e->who.leader, sizeof(e->who.leader), "%s", leader);
    }
    l->cb(l->arg, e->known ? &e->who : NULL, false);
    free(l);
}

bool auth_token_org(const char *token, char *org, size_t orglen)
{
    size_t n = token ? strlen(token) : 0;
    if (n < AUTH_TOKEN_LEN || n > AUTH_TOKEN_MAX || strncmp(token, "pdm_", 4) != 0)
        return false;
    for (const char *p = token + n - AUTH_SECRET_LEN; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    if (n == AUTH_TOKEN_LEN) {
        snprintf(org, orglen, "default");
        return true;
    }
    /* "pdm_{org}_{secret}" */
    size_t olen = n - AUTH_TOKEN_LEN - 1;
    if (token[4 + olen] != '_' || olen + 1 > orglen)
        return false;
    memcpy(org, token + 4, olen);
    org[olen] = '\0';
    return util_valid_id(org) && strcmp(org, "default") != 0;
}

void auth_check(auth *a, const char *token, auth_cb *cb, void *arg)
{
    static const auth_identity boot = {ROLE_ADMIN, "default", "", "bootstrap", 0};
    static const auth_identity op = {ROLE_OPERATOR, "", "", "operator", 0};
    char org[EVENT_NAME_MAX + 1];
    if (!auth_token_org(token, org, sizeof(org))) {
        cb(arg, NULL, false);
        return;
    }
    char sha[65];
    auth_hash(token, sha);
    if (a->bootstrap[0] && strcmp(sha, a->bootstrap) == 0) {
        cb(arg, &boot, false);
        return;
    }
    if (a->operator_[0] && strcmp(sha, a->operator_) == 0) {
        cb(arg, &op, false);
        return;
    }
    struct entry *e = slot(a, sha, false);
    if (e && util_now_ms() - e->fetched < AUTH_CACHE_MS) {
        cb(arg, e->known ? &e->who : NULL, false);
        return;
    }
    struct lookup *l = malloc(sizeof(*l));
    if (l == NULL)
        abort();
    *l = (struct lookup){.a = a, .cb = cb, .arg = arg};
    memcpy(l->sha, sha, sizeof(sha));
    memcpy(l->org, org, sizeof(org));
    char key[KEYS_MAX];
    keys_org(key, org, "tokens");
    const char *argv[] = {"HGET", key, sha};
    size_t lens[] = {4, strlen(key), 64};
    if (store_command(a->st, on_lookup, l, 3, argv, lens) < 0) {
        free(l);
        cb(arg, NULL, true);
    }
}

int auth_mint(const char *org, char *out, char *id)
{
    unsigned char rnd[32], rid[6];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1 || RAND_bytes(rid, sizeof(rid)) != 1)
        return -1;
    unsigned char b64[48];
    EVP_EncodeBlock(b64, rnd, sizeof(rnd)); /* 44 chars with one '=' */
    for (int i = 0; i < AUTH_SECRET_LEN; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    b64[AUTH_SECRET_LEN] = '\0';
    if (org == NULL || strcmp(org, "default") == 0)
        snprintf(out, AUTH_TOKEN_MAX + 1, "pdm_%s", b64);
    else
        snprintf(out, AUTH_TOKEN_MAX + 1, "pdm_%s_%s", org, b64);
    for (int i = 0; i < 6; i++)
        snprintf(id + 2 * i, 3, "%02x", rid[i]);
    return 0;
}

int auth_bootstrap_file(const char *path, char *token, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f) {
        char buf[128] = "";
        if (fgets(buf, sizeof(buf), f) == NULL)
            buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, " \t\r\n")] = '\0';
        if (strlen(buf) != AUTH_TOKEN_LEN || strncmp(buf, "pdm_", 4) != 0) {
            snprintf(err, errlen,
                     "%s: expected one token of the form pdm_ and 43 characters "
                     "(delete the file to have a new one made)",
                     path);
            return -1;
        }
        memcpy(token, buf, AUTH_TOKEN_LEN + 1);
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char id[16];
    if (auth_mint(NULL, token, id) < 0) {
        snprintf(err, errlen, "no randomness available to make a token");
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    char line[AUTH_TOKEN_LEN + 2];
    snprintf(line, sizeof(line), "%s\n", token);
    bool ok = write(fd, line, strlen(line)) == (ssize_t)strlen(line);
    close(fd);
    if (!ok) {
        snprintf(err, errlen, "%s: cannot write the token", path);
        unlink(path);
        return -1;
    }
    log_info("auth: wrote a new token to %s", path);
    return 0;
}
