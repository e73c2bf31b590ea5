/*
 * webhook_body.h - what a webhook delivery sends: the body in the endpoint's
 * format, and its Standard Webhooks signature.
 *
 * Pure functions of their input (no I/O, no clock, no Redis), so that the
 * unit tests pin every format and the signature against a known vector.
 * The outbox stores an event's payload once, as JSON; the body is rendered
 * from it at each attempt (webhook.c), in one of three formats:
 *
 *   json   the Standard Webhooks envelope {"type", "timestamp", "data"}
 *   slack  a Slack incoming-webhook message: "text" (the notification
 *          line) and "blocks" (a header, a mrkdwn section, a context line)
 *   teams  the body a Microsoft Teams Workflows "when a webhook request is
 *          received" flow posts: a message with one Adaptive Card 1.4
 *
 * User text (challenge and leader names) is JSON-escaped everywhere, and in
 * Slack's mrkdwn (the text, the section and the context, not the plain-text
 * header) its control characters &, < and > are written as entities.
 */
#ifndef PODIUM_WEBHOOK_BODY_H
#define PODIUM_WEBHOOK_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    WEBHOOK_FORMAT_JSON,
    WEBHOOK_FORMAT_SLACK,
    WEBHOOK_FORMAT_TEAMS,
} webhook_format;

#define WEBHOOK_KEY_LEN    32  /* bytes of a secret we mint */
#define WEBHOOK_KEY_MAX    64  /* bytes of a secret we accept to decode */
#define WEBHOOK_SECRET_MAX 100 /* "whsec_" + base64 of WEBHOOK_KEY_MAX bytes, NUL */
#define WEBHOOK_SIG_MAX    64  /* "v1," + 44 base64 characters, NUL */

/* Parses "json", "slack" or "teams"; false on anything else. */
bool webhook_body_format_parse(const char *s, webhook_format *out);
/* The name of a format ("json", "slack", "teams"). */
const char *webhook_body_format_name(webhook_format f);
/* True for the event types a webhook can carry: period_closed, digest, test. */
bool webhook_body_type_known(const char *type);

/* Renders the body of an event of `type` whose payload is the JSON object
 * payload[0..len), created at `created_ms` (the envelope's timestamp), in
 * format f. Returns a malloc'd NUL-terminated string (caller frees) with its
 * length in *outlen, or NULL when the payload is not a JSON object. */
char *webhook_body_render(webhook_format f, const char *type, int64_t created_ms,
                          const char *payload, size_t len, size_t *outlen)
    __attribute__((warn_unused_result));

/* Writes the webhook-signature value "v1,<base64 HMAC-SHA256 of
 * id.timestamp.body>" for key[0..keylen) into out (WEBHOOK_SIG_MAX bytes).
 * Returns 0, or -1 when HMAC is not available. */
int webhook_body_sign(const unsigned char *key, size_t keylen, const char *id, int64_t timestamp,
                      const char *body, size_t len, char out[WEBHOOK_SIG_MAX])
    __attribute__((warn_unused_result));

/* Decodes a secret, "whsec_<base64>" or bare base64, into key (at least
 * WEBHOOK_KEY_MAX bytes); returns its length, or -1 if it is not one. */
int webhook_body_secret_decode(const char *secret, unsigned char *key)
    __attribute__((warn_unused_result));
/* Writes "whsec_" and the base64 of key[0..keylen) (at most WEBHOOK_KEY_MAX)
 * into out (WEBHOOK_SECRET_MAX bytes). */
void webhook_body_secret_encode(const unsigned char *key, size_t keylen,
                                char out[WEBHOOK_SECRET_MAX]);

#endif
