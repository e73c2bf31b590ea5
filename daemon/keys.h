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
 *   podium:{org}:cap:{ch}:{date}    hash  "{l}|{t}" -> events of type t that l scored in
 *                                         ch on that local date (daily cap), 2 days TTL
 *   podium:{org}:idem:{w}           hash  event id -> first result, for events that
 *                                         arrived in window w (Unix time / ttl);
 *                                         expires idempotency_ttl after the window ends
 *   podium:{org}:tboard:{ch}:{per}  zset  team board: team -> sum of its members' points
 *   podium:{org}:tcount:{ch}:{per}  hash  team -> members who scored on that board
 *   podium:{org}:hboard:{ch}:{per}  zset  the board's hidden leaders (opted out), same scores
 *   podium:{org}:hidden             set   ids of hidden leaders (visibility.c)
 *   podium:{org}:erasing:audit:{l}, podium:{org}:erasing:events:{l}  streams  the audit
 *                                         stream and the log rewritten without l (erase.c)
 *   podium:{org}:last:{t}           hash  l -> `at` of l's last scored event of type t
 *                                         (cooldown)
 *   podium:{org}:days:{ch}          hash  l -> "day:mask:streak", l's active days in ch
 *                                         (see score.lua)
 *   podium:{org}:goal:{ch}:{per}    hash  "{l}|{goal}" -> l's count toward the goal, kept
 *                                         40 days after the period's grace
 *   podium:{org}:badges:{l}         hash  "{ch}:{per}:{goal}" -> "badge|at"; "{ch}:{per}:@{n}"
 *                                         for place n (1-3) when the period closed
 *   podium:{org}:urls               hash  "{l}|{url key}" -> id of the event that scored it
 *   podium:{org}:lastev             hash  l -> "<events entry id> <n>": l's latest event, the
 *                                         n-th of that entry; each event's "p" field in the
 *                                         log links to the one before (see score.lua)
 *   podium:{org}:lock:rescore:{ch}:{per}  string  a rescore of that board runs (15 min TTL)
 *   podium:{org}:rs:{job}:...       the keys a rescore builds aside, then renames or unlinks
 *   podium:{org}:events             stream  the event log: per call one entry, per event
 *                                         fields e (event JSON), r (result), p (link)
 *                                         (score.lua), or per admin adjustment one field a
 *                                         (the adjustment JSON, adjust.lua)
 *   podium:{org}:audit              stream  admin adjustments, one entry each: at, by (token
 *                                         id), leader, challenge, period, points, reason,
 *                                         score_after (adjust.lua; never trimmed)
 *   podium:{org}:badj:{ch}:{per}    list  adjustments of that board, "leader|points|reached",
 *                                         which a rescore applies again (swap.lua)
 *   podium:{org}:adj:{l}            list  l's newest 50 adjustments as JSON, newest first
 *   podium:{org}:ruleset            hash  the rule set in force: version (1, 2, ...), doc (the
 *                                         JSON as given), applied_at (Unix ms), source
 *                                         ("api" or "file"); written only by rules.lua
 *   podium:{org}:rulehist           hash  version -> doc, the newest 50 versions
 *   podium:{org}:periods:{ch}       hash  period -> record of the closed period (JSON: final
 *                                         top 10, winners; closer.c)
 *   podium:{org}:closedp:{ch}       zset  period -> Unix s it closed, to list them in order
 *   podium:{org}:job:close:{ch}:{per}  hash  a close in progress: owner, lease, step, cursor,
 *                                         archive (close.lua)
 *   podium:{org}:retain             zset  keys (and "period {ch} {per}" records) -> Unix s
 *                                         after which the closer deletes them
 *   podium:{org}:job:digest:{ch}:{per}  hash  midway digests in progress, as job:close
 *   podium:{org}:digested:{ch}      hash  period -> Unix s its midway digests were done
 *   podium:{org}:digest:{l}         hash  ch -> l's latest digest in ch (JSON, closer.c)
 *   podium:{org}:push               channel  live changes, one per line: "board {ch}:{per}
 *                                         {version}" from the daemon that wrote the board
 *                                         (push.c, coalesced), "closed {ch} {per}" from
 *                                         the closer once the period's record is written
 *   podium:{org}:rules:changed      channel  rules.lua PUBLISHes each new version here
 *   podium:{org}:webhooks           hash  webhook endpoint id -> JSON: url, format, events,
 *                                         key (base64 of the signing key), created (Unix ms),
 *                                         disabled, disabled_at (http_webhooks.c, outbox.lua)
 *   podium:{org}:wh:due             zset  webhook delivery id ("msg_{endpoint}_{n}") -> due
 *                                         time, Unix ms; a claimed one's lease end (outbox.lua)
 *   podium:{org}:wh:out             hash  delivery id -> "type created attempts codes\n"
 *                                         and the event's payload JSON (outbox.lua)
 *   podium:{org}:wh:seq             string  counter of delivery ids
 *   podium:{org}:wh:key:{k}         string  dedupe key k of an enqueued payload (as
 *                                         "closed:weekly:2026-W48"), 4 days TTL
 *   podium:{org}:wh:hist:{e}        list  endpoint e's newest 100 finished deliveries, JSON
 *   podium:{org}:usage              hash  w:{ISO week, UTC} -> events logged that week: an
 *                                         operator's view of the org, whose sum is all events
 *                                         logged (score.lua)
 *
 * Keys of the deployment, not of one org, share the hash tag {#} ('#' is in
 * no org id, so no org's key has it):
 *
 *   podium:{#}:org:{id}             hash  the registry entry of org id: name, state ("creating",
 *                                         "active", "suspended", "deleting"), created and updated
 *                                         (Unix ms), quota overrides q_leaders, q_tokens,
 *                                         q_webhooks, q_eps, and a deletion's progress (orgs.lua)
 *   podium:{#}:orgids               zset  every org id with score 0: the registry in id order
 *   podium:{#}:due:{kind}           zset  org id -> Unix ms when background work of that kind is
 *                                         due in the org, or a claim's lease end (due.lua): kind
 *                                         c periods to close, digests and retention (closer.c),
 *                                         w the webhook outbox (webhook.c), d deletion (orgs.c)
 */
#ifndef PODIUM_KEYS_H
#define PODIUM_KEYS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define KEYS_MAX 512

#define keys_org(buf, org, what) snprintf((buf), KEYS_MAX, "podium:{%s}:%s", (org), (what))
#define keys_board(buf, org, ch, per)                                                              \
    snprintf((buf), KEYS_MAX, "podium:{%s}:board:%s:%s", (org), (ch), (per))
#define keys_board_name(buf, ch, per) snprintf((buf), KEYS_MAX, "%s:%s", (ch), (per))
#define keys_cap(buf, org, ch, d)                                                                  \
    snprintf((buf), KEYS_MAX, "podium:{%s}:cap:%s:%s", (org), (ch), (d))
#define keys_leader(buf, org, what, l)                                                             \
    snprintf((buf), KEYS_MAX, "podium:{%s}:%s:%s", (org), (what), (l))
#define keys_team_board(buf, org, what, ch, per)                                                   \
    snprintf((buf), KEYS_MAX, "podium:{%s}:%s:%s:%s", (org), (what), (ch), (per))
#define keys_last(buf, org, t)  snprintf((buf), KEYS_MAX, "podium:{%s}:last:%s", (org), (t))
#define keys_days(buf, org, ch) snprintf((buf), KEYS_MAX, "podium:{%s}:days:%s", (org), (ch))
#define keys_goal(buf, org, ch, per)                                                               \
    snprintf((buf), KEYS_MAX, "podium:{%s}:goal:%s:%s", (org), (ch), (per))
#define keys_ruleset(buf, org)       keys_org((buf), (org), "ruleset")
#define keys_rulehist(buf, org)      keys_org((buf), (org), "rulehist")
#define keys_rules_channel(buf, org) keys_org((buf), (org), "rules:changed")
#define keys_push_channel(buf, org)  keys_org((buf), (org), "push")
#define keys_periods(buf, org, ch)   snprintf((buf), KEYS_MAX, "podium:{%s}:periods:%s", (org), (ch))
#define keys_closedp(buf, org, ch)   snprintf((buf), KEYS_MAX, "podium:{%s}:closedp:%s", (org), (ch))
#define keys_lock(buf, org, what, id)                                                              \
    snprintf((buf), KEYS_MAX, "podium:{%s}:lock:%s:%s", (org), (what), (id))
#define keys_registry(buf, org) snprintf((buf), KEYS_MAX, "podium:{#}:org:%s", (org))
#define keys_orgids             "podium:{#}:orgids"
#define keys_due(buf, kind)     snprintf((buf), KEYS_MAX, "podium:{#}:due:%c", (kind))
/* Before due.c: the orgs whose outbox the daemons polled; read once to move them over. */
#define keys_webhook_orgs_v1 "podium:webhook-orgs"
#define keys_idem(buf, org, day)                                                                   \
    snprintf((buf), KEYS_MAX, "podium:{%s}:idem:%" PRId64, (org), (day))

/* Splits a board key of any kind ("podium:{org}:<kind>:{ch}:{per}", as
 * walked by SCAN) into its challenge and period; false if it is not one. */
static inline bool keys_split_board(const char *key, char *ch, size_t chlen, char *per,
                                    size_t perlen)
{
    const char *tag = strstr(key, "}:");
    const char *kind_end = tag ? strchr(tag + 2, ':') : NULL;
    const char *colon = kind_end ? strrchr(kind_end + 1, ':') : NULL;
    if (colon == NULL)
        return false;
    snprintf(ch, chlen, "%.*s", (int)(colon - kind_end - 1), kind_end + 1);
    snprintf(per, perlen, "%s", colon + 1);
    return true;
}

#endif
