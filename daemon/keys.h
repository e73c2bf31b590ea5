/*
 * keys.h - every Redis key name Podium uses, built in this one place.
 *
 * All keys of an org share the hash tag {org}, so that an org lives in one
 * Redis Cluster slot and its scripts may touch any of its keys. Builders
 * write into a caller's buffer and return the length (truncation cannot
 * happen for valid ids: KEYS_MAX covers the longest).
 *
 *   podium:{org}:leaders            hash  leader id -> profile JSON
 *   podium:{org}:teams              hash  team id -> profile JSON
 *   podium:{org}:tokens             hash  SHA-256 hex of token -> "id role leader"
 *   podium:{org}:tokenids           hash  token id -> SHA-256 hex
 *   podium:{org}:board:{ch}:{per}   zset  a challenge period's board (see score.lua)
 *   podium:{org}:bver               hash  "{ch}:{per}" -> board version
 *   podium:{org}:cap:{l}:{t}:{ch}:{date}  string  daily cap counter of a challenge
 *                                         (local date in its zone), 2 days TTL
 *   podium:{org}:idem:{w}           hash  event id -> first result, for events that
 *                                         arrived in window w (Unix time / ttl);
 *                                         expires idempotency_ttl after the window ends
 *   podium:{org}:events             stream  the event log with results
 *   podium:{org}:rules              string  the rule set JSON (when not from a file)
 */
#ifndef PODIUM_KEYS_H
#define PODIUM_KEYS_H

#include <inttypes.h>
#include <stdio.h>

#define KEYS_MAX 512

#define keys_org(buf, org, what) snprintf((buf), KEYS_MAX, "podium:{%s}:%s", (org), (what))
#define keys_board(buf, org, ch, per)                                                              \
    snprintf((buf), KEYS_MAX, "podium:{%s}:board:%s:%s", (org), (ch), (per))
#define keys_board_name(buf, ch, per) snprintf((buf), KEYS_MAX, "%s:%s", (ch), (per))
#define keys_cap(buf, org, l, t, ch, d)                                                            \
    snprintf((buf), KEYS_MAX, "podium:{%s}:cap:%s:%s:%s:%s", (org), (l), (t), (ch), (d))
#define keys_idem(buf, org, day)                                                                   \
    snprintf((buf), KEYS_MAX, "podium:{%s}:idem:%" PRId64, (org), (day))

#endif
