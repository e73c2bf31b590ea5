"""Background work of many orgs at once: two podiumd on one Redis serving 50
orgs made through the operator API, each with its own rule set, time zones
and week starts. Period closes, midway digests, webhook deliveries and SSE
pushes happen per org, exactly once, and never cross from one org to another;
and an idle daemon's Redis traffic does not grow with the number of orgs.

Real weeks cannot close within a test: most orgs have an "interval"
challenge of a few seconds with no grace (as test_close.py does), with
lengths and anchors that differ per org, next to a weekly challenge whose
current bounds are checked against Python's zoneinfo. Webhooks of every org
go to one local receiver, each org to its own path (/hook/<org>).
"""

import base64
import calendar
import datetime
import hashlib
import hmac
import json
import os
import random
import re
import socket
import threading
import time
import zoneinfo

from harness import (DEFAULT_RULES, K32, PodiumTestCase, Resp, now_ms, parse_rfc3339_ms,
                     wait_until)
from test_stream import Stream
from test_webhooks import Receiver

FAST = ("--webhook_allow_http", "true", "--webhook_retry_base", "200")
N_ORGS = 50
LEADERS = ("amy", "bob", "cat")
LEADER_WEIGHTS = (5, 3, 2)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
BASE_ANCHOR = 1767225600  # 2026-01-01T00:00:00Z
POST_SECONDS = 9.0        # how long events are posted, in every org, round after round

# (time zone, first day of the week) of the weekly challenges; none of these
# zones skips a local midnight, so a week starts at 00:00 local everywhere.
WEEK_ZONES = [
    ("America/Los_Angeles", "sunday"), ("Asia/Tokyo", "monday"),
    ("Australia/Lord_Howe", "monday"), ("Europe/London", "monday"),
    ("Asia/Kolkata", "wednesday"), ("Pacific/Chatham", "friday"),
    ("America/St_Johns", "sunday"), ("Asia/Kathmandu", "tuesday"),
    ("Pacific/Kiritimati", "thursday"), ("Pacific/Pago_Pago", "saturday"),
    ("UTC", "monday"), ("Australia/Lord_Howe", "saturday"),
    ("America/Sao_Paulo", "sunday"), ("Europe/Berlin", "sunday"),
]


def interval_id(start):
    return time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime(start))


def interval_start(pid):
    return calendar.timegm(time.strptime(pid, "%Y-%m-%dT%H%M%SZ"))


def rfc3339_s(s):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(s))


def week_bounds(zone, week_starts, now_s):
    """(id, start, end) of the week holding Unix second now_s: 7 days from
    local midnight of its first day; its id is the ISO week for Monday
    weeks, else the local start date."""
    z = zoneinfo.ZoneInfo(zone)
    local = datetime.datetime.fromtimestamp(now_s, z)
    back = (local.weekday() - WEEKDAYS.index(week_starts)) % 7
    d0 = local.date() - datetime.timedelta(days=back)
    d1 = d0 + datetime.timedelta(days=7)
    start = datetime.datetime(d0.year, d0.month, d0.day, tzinfo=z)
    end = datetime.datetime(d1.year, d1.month, d1.day, tzinfo=z)
    if week_starts == "monday":
        y, w, _ = d0.isocalendar()
        pid = "%04d-W%02d" % (y, w)
    else:
        pid = d0.isoformat()
    return pid, int(start.timestamp()), int(end.timestamp())


def org_id(i):
    """Org ids in every shape the pattern allows: dots, dashes, underscores
    (an underscore also separates the org from the secret in a token)."""
    if i % 9 == 4:
        return "t.%02d-x" % i
    if i % 9 == 7:
        return "co_%02d" % i
    if i % 13 == 6:
        return "%02d-org" % i
    return "org%02d" % i


def competition_ranks(scores):
    """{leader: score} -> sorted [(rank, leader, score)], ties sharing a rank."""
    out = []
    for leader, score in scores.items():
        rank = 1 + sum(1 for s in scores.values() if s > score)
        out.append((rank, leader, score))
    return sorted(out)


class Org:
    """One org of the test: its rule set, tokens and the ledger of what the
    daemons acknowledged in it."""

    def __init__(self, i):
        self.i = i
        self.id = org_id(i)
        self.interval = i % 10 != 9          # 5 orgs have weekly challenges only
        self.length = (3, 4, 5)[i % 3]
        # anchors days in the past, in every phase modulo the length
        self.anchor = BASE_ANCHOR - 86400 * (i + 1) + 60 * (i % 7) + i // 3
        # midway digests in 7 orgs of 4 s and 5 s periods, 3 s before the end
        # (SameInstantOrgsTest is about how soon they come under load)
        self.digest_at = None
        if self.interval and i % 4 == 1 and self.length > 3:
            self.digest_at = self.length - 3
        z1 = WEEK_ZONES[i % len(WEEK_ZONES)]
        z2 = WEEK_ZONES[(i + 5) % len(WEEK_ZONES)]
        self.weeks = [("week",) + z1] + ([] if self.interval else [("week2",) + z2])
        self.post_pts = 100 + i                # every org scores differently
        self.reply_pts = 1 + i % 7
        self.token = self.reader = self.secret = self.webhook = None
        # the ledger: what the daemons acknowledged
        self.acked = []          # event ids
        self.sprint = {}         # period id -> {leader: score}
        self.sprint_scores = {}  # (period id, leader) -> every running score acknowledged
        self.first_ack = {}      # (period id, leader) -> wall time of the first acknowledgement
        self.week = {}           # (challenge, period id) -> {leader: score}
        self.seen_midway = []    # midway digests seen through GET /v1/leaders/{id}

    @property
    def path(self):
        return "/hook/" + self.id

    def name(self, leader):
        return "%s of %s" % (leader.title(), self.id)

    def anchor_text(self):
        if self.i % 5 == 2:  # the same instant, written with a zone offset
            tz = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
            return datetime.datetime.fromtimestamp(self.anchor, tz).strftime(
                "%Y-%m-%dT%H:%M:%S+05:30")
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.anchor))

    def rules(self):
        chs = []
        if self.interval:
            ch = {"id": "sprint", "name": "Sprint of %s" % self.id, "period": "interval",
                  "length": "%ds" % self.length, "starts": self.anchor_text(), "grace": "0s",
                  "activities": ["post", "reply"]}
            if self.digest_at is not None:
                ch["digest_at"] = "%ds" % self.digest_at
            chs.append(ch)
        for cid, zone, ws in self.weeks:
            chs.append({"id": cid, "name": "%s of %s" % (cid.title(), self.id), "period": "week",
                        "timezone": zone, "week_starts": ws, "activities": ["post"]})
        return {"activities": {"post": {"points": self.post_pts},
                               "reply": {"points": self.reply_pts}},
                "challenges": chs}

    def sprint_of(self, t):
        """(id, start, end) of the sprint period holding Unix second t."""
        start = t - (t - self.anchor) % self.length
        return interval_id(start), start, start + self.length


class StreamReader(threading.Thread):
    """Reads an SSE stream in the background (so that the daemon never finds
    it slow) and keeps every event."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.s = stream
        self.events = []
        self.lock = threading.Lock()
        self.halt = False

    def run(self):
        while not self.halt:
            try:
                ev = self.s.next(timeout=0.5)
            except AssertionError:
                continue
            except OSError:
                return
            if ev is None:
                return
            with self.lock:
                self.events.append(ev)

    def got(self):
        with self.lock:
            return list(self.events)

    def stop(self):
        self.halt = True
        self.join(timeout=5)
        self.s.close()


def verify_signature(secret, headers, body):
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id, ts = headers.get("webhook-id"), headers.get("webhook-timestamp")
    if not msg_id or not ts:
        return False
    want = base64.b64encode(hmac.new(key, b"%s.%s.%s" % (msg_id.encode(), ts.encode(), body),
                                     hashlib.sha256).digest()).decode()
    return any(s == "v1," + want for s in headers.get("webhook-signature", "").split())


class OrgsCase(PodiumTestCase):
    rules = DEFAULT_RULES  # org default: a rules file, so that the daemons are ready
    podiumd_args = FAST

    def operator_token(self, d):
        with open(os.path.join(d.data_dir, "operator.token")) as f:
            return f.read().strip()

    def create_org(self, d, o):
        j = self.ok(d.request("POST", "/v1/orgs", auth=self.operator_token(d),
                              json_body={"id": o.id, "name": "Org %s" % o.id}), 201)
        self.assertEqual((j["id"], j["state"]), (o.id, "active"), j)
        self.assertTrue(j["admin_token"].startswith("pdm_%s_" % o.id), j)
        o.token = j["admin_token"]
        return j


class ManyOrgsCase(OrgsCase):
    """Two podiumd on one Redis, a webhook receiver, and the orgs that
    make_orgs gives."""

    def make_orgs(self):
        return [Org(i) for i in range(N_ORGS)]

    def setUp(self):
        super().setUp()
        self.d2 = self.start_daemon(name="podiumd2", data_dir=os.path.join(self.tmp, "data2"))
        self.daemons = (self.d, self.d2)
        self.rx = Receiver()
        self.addCleanup(self.rx.close)
        self.rng = random.Random(20261204)
        self.orgs = self.make_orgs()
        self.by_id = {o.id: o for o in self.orgs}
        self.assertEqual(len(self.by_id), len(self.orgs))

    # ------------------------------------------------------------ setup of the orgs

    def setup_org(self, o):
        d = self.daemons[o.i % 2]
        other = self.daemons[(o.i + 1) % 2]
        self.create_org(d, o)
        applied = self.ok(other.request("PUT", "/v1/rules", auth=o.token, json_body=o.rules()))
        self.assertEqual(applied["version"], 1, applied)
        for lid in LEADERS:
            r = d.request("PUT", "/v1/admin/leaders/" + lid, auth=o.token,
                          json_body={"name": o.name(lid)})
            self.assertEqual(r.status, 201, r)
        hook = self.ok(other.request("POST", "/v1/admin/webhooks", auth=o.token, json_body={
            "url": "http://127.0.0.1:%d%s" % (self.rx.server.server_address[1], o.path),
            "format": "json", "events": ["period_closed", "digest"]}), 201)
        o.webhook, o.secret = hook["id"], hook["secret"]
        o.reader = self.ok(d.request("POST", "/v1/admin/tokens", auth=o.token,
                                     json_body={"role": "reader"}), 201)["token"]
        self.assertTrue(o.reader.startswith("pdm_%s_" % o.id), o.reader)

    def check_current_periods(self, o):
        """GET /v1/challenges (on both daemons) shows the org's own challenges
        with the current period's bounds for its zone and week start."""
        for d in self.daemons:
            t0 = int(time.time())
            got = self.ok(d.request("GET", "/v1/challenges", auth=o.reader))["challenges"]
            t1 = int(time.time())
            want_ids = (["sprint"] if o.interval else []) + [w[0] for w in o.weeks]
            self.assertEqual([c["id"] for c in got], want_ids, (o.id, got))
            for c in got:
                cur = (c["current"]["id"], c["current"]["starts"], c["current"]["ends"])
                if c["id"] == "sprint":
                    self.assertEqual(c["period"], "interval")
                    options = [o.sprint_of(t) for t in (t0, t1)]
                else:
                    _cid, zone, ws = next(w for w in o.weeks if w[0] == c["id"])
                    self.assertEqual((c["period"], c["timezone"]), ("week", zone), c)
                    options = [week_bounds(zone, ws, t) for t in (t0, t1)]
                want = [(p, rfc3339_s(s), rfc3339_s(e)) for p, s, e in options]
                self.assertIn(cur, want, (o.id, c))
                self.assertEqual(c["next_reset"], cur[2], c)

    # ------------------------------------------------------------ traffic

    def post_round(self, rnd):
        for o in self.orgs:
            d = self.daemons[(rnd + o.i) % 2]   # both daemons, alternating
            evs = []
            for k in range(1 + (self.rng.random() < 0.3)):
                leader = self.rng.choices(LEADERS, weights=LEADER_WEIGHTS)[0]
                kind = "reply" if o.interval and self.rng.random() < 0.3 else "post"
                evs.append({"id": "%s-%d-%d" % (o.id, rnd, k), "leader": leader, "type": kind})
            t0 = time.time()
            resp = d.request("POST", "/v1/events", auth=o.token, json_body={"events": evs})
            t1 = time.time()
            self.assertEqual(resp.status, 200, (o.id, resp))
            results = resp.json()["results"]
            self.assertEqual(len(results), len(evs), results)
            for ev, res in zip(evs, results):
                self.assertEqual((res["id"], res["duplicate"], res["reasons"]),
                                 (ev["id"], False, []), res)
                o.acked.append(ev["id"])
                pts = o.post_pts if ev["type"] == "post" else o.reply_pts
                self.assertEqual(res["points"], pts, (o.id, res))
                for st in res["standings"]:
                    if st["period"] == "all":
                        continue
                    self.assertEqual(st["points"], pts, (o.id, st))
                    if st["challenge"] == "sprint":
                        self.assertIn(st["period"],
                                      {o.sprint_of(int(t))[0] for t in (t0, t1)}, (o.id, st))
                        board = o.sprint.setdefault(st["period"], {})
                        board[ev["leader"]] = board.get(ev["leader"], 0) + pts
                        self.assertEqual(st["score"], board[ev["leader"]], (o.id, st))
                        key = (st["period"], ev["leader"])
                        o.sprint_scores.setdefault(key, set()).add(st["score"])
                        o.first_ack.setdefault(key, t1)
                    else:
                        board = o.week.setdefault((st["challenge"], st["period"]), {})
                        board[ev["leader"]] = board.get(ev["leader"], 0) + pts
                        self.assertEqual(st["score"], board[ev["leader"]], (o.id, st))
                want = {"sprint"} if o.interval else set()
                if ev["type"] == "post":
                    want |= {w[0] for w in o.weeks}
                self.assertEqual({s["challenge"] for s in res["standings"]}, want, res)

    def look_for_midway(self):
        """A midway digest shows on the leader's page between its sending and
        the period's close: look at amy's page in every org that has them."""
        for o in self.orgs:
            if o.digest_at is None:
                continue
            page = self.ok(self.daemons[o.i % 2].request("GET", "/v1/leaders/amy", auth=o.reader))
            ch = next(c for c in page["challenges"] if c["challenge"] == "sprint")
            dg = ch["digest"]
            if dg and dg["type"] == "midway" and dg not in o.seen_midway:
                o.seen_midway.append(dg)

    def midway_lags(self):
        """How long after its digest_at each midway digest was made (s), by org."""
        out = {}
        for q in self.rx.got():
            b = json.loads(q["body"])
            if b["type"] == "digest" and b["data"]["type"] == "midway":
                o = self.by_id[q["path"][len("/hook/"):]]
                lag = (parse_rfc3339_ms(b["data"]["at"]) / 1000
                       - interval_start(b["data"]["period"]) - o.digest_at)
                out.setdefault(o.id, set()).add(round(lag, 2))
        return {k: sorted(v) for k, v in out.items()}

    def post_for(self, seconds, look_for_midway=False):
        """Rounds of events in every org for `seconds`; returns the number of rounds."""
        t0 = time.monotonic()
        rnd = 0
        while time.monotonic() - t0 < seconds:
            self.post_round(rnd)
            if look_for_midway:
                self.look_for_midway()
            rnd += 1
        return rnd

    def wait_closed(self, orgs, timeout=45):
        """Until every period of these orgs that got events is listed as
        closed; returns {org id: GET .../periods page}."""
        listed = {}

        def all_closed():
            for o in orgs:
                if o.id in listed:
                    continue
                page = self.ok(self.daemons[o.i % 2].request(
                    "GET", "/v1/challenges/sprint/periods?limit=100", auth=o.reader))
                if set(o.sprint) <= {p["period"] for p in page["periods"]}:
                    listed[o.id] = page
            return len(listed) == len(orgs)
        wait_until(all_closed, timeout=timeout, interval=0.25,
                   what="every period with events closed in every org")
        return listed

    def close_lags(self, listed):
        """How long after its end each period was closed (s), sorted."""
        return sorted(parse_rfc3339_ms(rec["closed_at"]) / 1000
                      - interval_start(rec["period"]) - self.by_id[oid].length
                      for oid, page in listed.items() for rec in page["periods"])

    def missing_midway(self, orgs):
        """(org, period) of the periods that had a leader on the board before
        their digest_at and no midway digests (the digested hash)."""
        missing = []
        for o in orgs:
            raw = self.r("HGETALL", "podium:{%s}:digested:sprint" % o.id)
            done = {raw[k].decode() for k in range(0, len(raw), 2)}
            for pid, board in sorted(o.sprint.items()):
                mid = interval_start(pid) + o.digest_at
                if any(o.first_ack[(pid, lid)] < mid - 0.05 for lid in board) and pid not in done:
                    missing.append((o.id, pid))
        return missing


class OrgsBackgroundTest(ManyOrgsCase):

    def test_fifty_orgs_close_digest_push_and_stay_apart(self):
        t_start = time.monotonic()
        for o in self.orgs:
            self.setup_org(o)
        for o in self.orgs:
            self.check_current_periods(o)
        # the operator token reads no org's challenges or boards
        self.assertProblem(self.d.request("GET", "/v1/challenges",
                                          auth=self.operator_token(self.d)), 403)
        t_setup = time.monotonic() - t_start

        # SSE: one stream per org for a few orgs, on both daemons
        stream_orgs = [o for o in self.orgs if o.interval][:4]
        readers = {}
        for k, o in enumerate(stream_orgs):
            d = self.daemons[k % 2]
            s = Stream(d.port, "/v1/challenges/sprint/stream?token=" + o.reader).start()
            self.assertEqual(s.status, 200, s.body)
            rd = StreamReader(s)
            rd.start()
            self.addCleanup(rd.stop)
            readers[o.id] = rd

        # events in every org, through both daemons, round after round
        t0 = time.monotonic()
        rnd = self.post_for(POST_SECONDS, look_for_midway=True)
        t_post = time.monotonic() - t0
        self.assertGreaterEqual(rnd, 4, "too few rounds of events in %.1f s" % POST_SECONDS)
        interval_orgs = [o for o in self.orgs if o.interval]
        for o in interval_orgs:
            self.assertGreaterEqual(len(o.sprint), 2, (o.id, sorted(o.sprint)))

        # every period that got events closes, in every org
        listed = self.wait_closed(interval_orgs)

        # how late the closes came (reported; the deadlines above are generous)
        lags = self.close_lags(listed)
        print("\n[orgs] closes after the period end (s): median %.2f, max %.2f"
              % (lags[len(lags) // 2], lags[-1]))

        # the deliveries that must come: period_closed and final digests of
        # every closed period, midway digests of the leaders on the board
        # before the midway time
        def must_deliver():
            want = set()
            for o in interval_orgs:
                for pid, board in o.sprint.items():
                    want.add((o.path, "period_closed", pid, None))
                    for leader in board:
                        want.add((o.path, "final", pid, leader))
                    if o.digest_at is not None:
                        mid = interval_start(pid) + o.digest_at
                        for leader in board:
                            if o.first_ack[(pid, leader)] < mid - 0.05:
                                want.add((o.path, "midway", pid, leader))
            return want

        def delivered():
            got = set()
            for q in self.rx.got():
                b = json.loads(q["body"])
                kind = b["type"] if b["type"] == "period_closed" else b["data"].get("type")
                got.add((q["path"], kind, b["data"].get("period"), b["data"].get("leader")))
            return got
        want = must_deliver()
        try:
            wait_until(lambda: want <= delivered(), timeout=40, interval=0.25,
                       what="the webhook deliveries of every closed period")
        except AssertionError:
            self.fail("deliveries missing: %r; midway digests sent after digest_at (s): %r"
                      % (sorted(want - delivered())[:30], self.midway_lags()))
        time.sleep(2.0)  # anything sent twice, or late, arrives by now
        reqs = self.rx.got()
        t_wait = time.monotonic() - t0 - t_post

        # ---- closed periods: each once, with the right winners
        for o in interval_orgs:
            page = self.ok(self.daemons[(o.i + 1) % 2].request(
                "GET", "/v1/challenges/sprint/periods?limit=100", auth=o.reader))
            ids = [p["period"] for p in page["periods"]]
            self.assertEqual(len(ids), len(set(ids)), (o.id, ids))
            self.assertEqual(sorted(ids), sorted(o.sprint), (o.id, page))
            self.assertEqual(page["total"], len(o.sprint), page)
            self.assertEqual(ids, sorted(ids, reverse=True), "newest first")
            for rec in page["periods"]:
                pid = rec["period"]
                want_st = competition_ranks(o.sprint[pid])
                got_st = sorted((e["rank"], e["leader"], e["score"]) for e in rec["standings"])
                self.assertEqual(got_st, want_st, (o.id, rec))
                self.assertEqual(rec["leaders"], len(want_st), rec)
                self.assertEqual(sorted((w["rank"], w["leader"], w["score"])
                                        for w in rec["winners"]),
                                 [s for s in want_st if s[0] == 1], (o.id, rec))
                for e in rec["standings"] + rec["winners"]:
                    self.assertEqual(e["name"], o.name(e["leader"]), rec)
                start = interval_start(pid)
                self.assertEqual((rec["starts"], rec["ends"]),
                                 (rfc3339_s(start), rfc3339_s(start + o.length)), rec)
                self.assertEqual(rec["challenge_name"], "Sprint of " + o.id)

        # ---- webhooks: each delivery once, at its own org's path, signed by it
        ids = [q["headers"].get("webhook-id") for q in reqs]
        self.assertEqual(len(ids), len(set(ids)), "a webhook-id delivered twice")
        per_path = {}
        for q in reqs:
            self.assertIn(q["path"], {o.path for o in self.orgs}, q["path"])
            per_path.setdefault(q["path"], []).append(q)
        for o in self.orgs:
            got = per_path.get(o.path, [])
            for q in got:
                self.assertTrue(verify_signature(o.secret, q["headers"], q["body"]),
                                (o.id, "delivery not signed with the org's own secret", q))
                self.assertTrue(q["headers"]["webhook-id"].startswith("msg_%s_" % o.webhook),
                                (o.id, q["headers"]))
            bodies = [json.loads(q["body"]) for q in got]
            if not o.interval:
                self.assertEqual(bodies, [], "%s has no period that can close" % o.id)
                continue
            closed = [b["data"] for b in bodies if b["type"] == "period_closed"]
            self.assertEqual(sorted(c["period"] for c in closed), sorted(o.sprint),
                             (o.id, "one period_closed per closed period"))
            recs = {r["period"]: r for r in listed[o.id]["periods"]}
            for c in closed:  # the archived record of the org's own period
                self.assertEqual(c, recs[c["period"]], o.id)
            digests = [b["data"] for b in bodies if b["type"] == "digest"]
            self.assertEqual(len(digests) + len(closed), len(bodies), bodies)
            finals = [(g["period"], g["leader"]) for g in digests if g["type"] == "final"]
            self.assertEqual(sorted(finals),
                             sorted((pid, lid) for pid, b in o.sprint.items() for lid in b),
                             (o.id, "one final digest per leader and closed period"))
            for g in digests:
                self.assertEqual((g["challenge"], g["name"]), ("sprint", o.name(g["leader"])), g)
                self.assertIn(g["period"], o.sprint, (o.id, g))
                if g["type"] == "final":
                    ranks = {lid: (rank, score)
                             for rank, lid, score in competition_ranks(o.sprint[g["period"]])}
                    self.assertEqual((g["rank"], g["score"]), ranks[g["leader"]], (o.id, g))
                else:
                    self.assertIn(g["score"], o.sprint_scores[(g["period"], g["leader"])], g)
            mids = [(g["period"], g["leader"]) for g in digests if g["type"] == "midway"]
            self.assertEqual(len(mids), len(set(mids)), (o.id, "a midway digest twice", mids))
            if o.digest_at is None:
                self.assertEqual(mids, [], o.id)

        # ---- midway digests: once per period, seen on the leaders' pages too
        r = self.r
        for o in interval_orgs:
            if o.digest_at is None:
                self.assertEqual(r("EXISTS", "podium:{%s}:digested:sprint" % o.id), 0, o.id)
                continue
            self.assertEqual(self.missing_midway([o]), [], "periods without midway digests")
            self.assertTrue(o.seen_midway, (o.id, "no midway digest seen on amy's page"))
            mids = {(json.loads(q["body"])["data"]["period"]): json.loads(q["body"])["data"]
                    for q in per_path[o.path]
                    if json.loads(q["body"])["data"].get("type") == "midway"
                    and json.loads(q["body"])["data"]["leader"] == "amy"}
            for seen in o.seen_midway:
                self.assertIn(seen["period"], mids, (o.id, seen))
                for k in ("rank", "score", "text", "tied", "period"):
                    self.assertEqual(seen[k], mids[seen["period"]][k], (o.id, k, seen))

        # ---- SSE: each stream got its own org's closes and standings only
        for oid, rd in readers.items():
            o = self.by_id[oid]
            evs = rd.got()
            closes = [json.loads(e["data"]) for e in evs if e.get("event") == "period_closed"]
            self.assertEqual(sorted(c["period"] for c in closes), sorted(o.sprint),
                             (oid, "period_closed on its stream"))
            recs = {rec["period"]: rec for rec in listed[oid]["periods"]}
            for c in closes:
                self.assertEqual(c, recs[c["period"]], oid)
            boards = [json.loads(e["data"]) for e in evs if e.get("event") == "standings"]
            self.assertTrue(any(b["entries"] for b in boards), (oid, evs[:5]))
            for b in boards:
                for e in b["entries"]:
                    self.assertEqual(e["name"], o.name(e["leader"]), (oid, b))
                    self.assertIn(e["score"], o.sprint_scores.get((b["period"], e["leader"]), ()),
                                  (oid, "a score this org never had", b))
            self.assertEqual(len(evs), len(boards) + len(closes),
                             [e.get("event") for e in evs])

        # ---- Redis: every org's keys hold its own traffic only
        keys = [k.decode() for k in r("KEYS", "*")]
        tags = set()
        for k in keys:
            m = re.match(r"^podium:\{([^}]*)\}:", k)
            self.assertIsNotNone(m, k)
            tags.add(m.group(1))
        self.assertLessEqual(tags, set(self.by_id) | {"#", "default"}, sorted(tags))
        self.assertEqual([k for k in keys if k.startswith("podium:{default}:")
                          and re.match(r"^podium:\{default\}:(events|board:|leaders|idem)", k)],
                         [], "org default got another org's traffic")
        for o in self.orgs:
            evlog = r("XRANGE", "podium:{%s}:events" % o.id, "-", "+")
            ids = []
            for _id, fields in evlog:
                for n in range(0, len(fields), 2):
                    if fields[n] == b"e":
                        ids.append(json.loads(fields[n + 1])["id"])
                    elif fields[n] == b"id":
                        ids.append(fields[n + 1].decode())
            self.assertEqual(sorted(ids), sorted(o.acked), (o.id, "event log"))
            prof = r("HGETALL", "podium:{%s}:leaders" % o.id)
            names = {prof[k].decode(): json.loads(prof[k + 1])["name"]
                     for k in range(0, len(prof), 2)}
            self.assertEqual(names, {lid: o.name(lid) for lid in LEADERS}, o.id)
            boards = {k for k in keys if k.startswith("podium:{%s}:board:" % o.id)}
            want_boards = {"podium:{%s}:board:sprint:%s" % (o.id, p) for p in o.sprint}
            want_boards |= {"podium:{%s}:board:%s:%s" % (o.id, c, p) for c, p in o.week}
            want_boards |= {"podium:{%s}:board:%s:all" % (o.id, c)
                            for c in (["sprint"] if o.interval else []) + [w[0] for w in o.weeks]}
            self.assertEqual(boards, want_boards, o.id)
            for (c, p), want_board in list(o.week.items()) + [
                    (("sprint", p), b) for p, b in o.sprint.items()]:
                raw = r("ZRANGE", "podium:{%s}:board:%s:%s" % (o.id, c, p), 0, -1, "WITHSCORES")
                it = iter(raw)
                got = {m.decode(): int(float(s) // K32) for m, s in zip(it, it)}
                self.assertEqual(got, want_board, (o.id, c, p))
        # the weekly boards, through the API of the other daemon
        for o in self.orgs:
            for (c, p), want_board in o.week.items():
                page = self.ok(self.daemons[(o.i + 1) % 2].request(
                    "GET", "/v1/challenges/%s/leaderboard?limit=100" % c, auth=o.reader))
                self.assertEqual(page["period"], p, page)
                self.assertEqual({e["leader"]: e["score"] for e in page["entries"]}, want_board)

        # one close per org and period, however many daemons: the logs
        logs = self.d.log() + self.d2.log()
        for o in interval_orgs:
            for pid in o.sprint:
                self.assertEqual(
                    logs.count("closed sprint period %s: %d leaders" % (pid, len(o.sprint[pid]))),
                    sum(1 for x in interval_orgs
                        if pid in x.sprint and len(x.sprint[pid]) == len(o.sprint[pid])),
                    (o.id, pid))
        mid_lags = sorted(x for v in self.midway_lags().values() for x in v)
        print("[orgs] midway digests after digest_at (s): median %.2f, max %.2f"
              % (mid_lags[len(mid_lags) // 2], mid_lags[-1]))
        kinds = {}
        for q in reqs:
            b = json.loads(q["body"])
            k = b["type"] if b["type"] == "period_closed" else b["data"]["type"]
            kinds[k] = kinds.get(k, 0) + 1
        print("\n[orgs] setup %.1f s, %d rounds of events in %.1f s, closes and deliveries "
              "in %.1f s; %d closed periods with events, deliveries %r, SSE events %r"
              % (t_setup, rnd, t_post, t_wait, sum(len(o.sprint) for o in interval_orgs), kinds,
                 [len(rd.got()) for rd in readers.values()]))


class SameInstantOrgsTest(ManyOrgsCase):
    """Orgs whose periods end, and whose midway digests fall due, at the same
    instant: each org's background work is done in time however many other
    orgs share its schedule."""

    N = 24

    def make_orgs(self):
        orgs = []
        for i in range(self.N):
            o = Org(i)
            o.interval, o.length, o.digest_at = True, 3, 1
            o.anchor = BASE_ANCHOR - 86400 * (i + 1)  # one phase for all
            o.weeks = o.weeks[:1]
            orgs.append(o)
        return orgs

    def test_midway_digests_are_not_lost_when_many_orgs_are_due_at_once(self):
        for o in self.orgs:
            self.setup_org(o)
        self.post_for(7.0)
        listed = self.wait_closed(self.orgs)
        for o in self.orgs:
            got = sorted(p["period"] for p in listed[o.id]["periods"])
            self.assertEqual(got, sorted(o.sprint), o.id)
        lags = self.close_lags(listed)
        print("\n[same instant] %d orgs; closes after the period end (s): %s"
              % (len(self.orgs), sorted(set(round(x, 1) for x in lags))))
        missing = self.missing_midway(self.orgs)
        self.assertEqual(missing, [], "%d of %d periods with leaders before digest_at got no "
                         "midway digests; closes came %.2f to %.2f s after the period end"
                         % (len(missing), sum(len(o.sprint) for o in self.orgs),
                            lags[0], lags[-1]))


class IdleOrgsTest(OrgsCase):
    podiumd_args = ()

    def make_idle_org(self, i):
        o = Org(i)
        self.create_org(self.d, o)
        zone, ws = WEEK_ZONES[i % len(WEEK_ZONES)]
        rules = {"activities": {"post": {"points": 10 + i}},
                 "challenges": [
                     {"id": "week", "name": "Week", "period": "week", "timezone": zone,
                      "week_starts": ws, "activities": ["post"]},
                     {"id": "month", "name": "Month", "period": "month", "timezone": zone,
                      "activities": ["post"], "scoring": "count"}]}
        self.ok(self.d.request("PUT", "/v1/rules", auth=o.token, json_body=rules))
        self.assertEqual(self.d.request("PUT", "/v1/admin/leaders/amy", auth=o.token,
                                        json_body={"name": "Amy"}).status, 201)
        self.ok(self.d.request("POST", "/v1/events", auth=o.token,
                               json_body={"leader": "amy", "type": "post"}))
        self.ok(self.d.request("POST", "/v1/admin/webhooks", auth=o.token, json_body={
            "url": "https://hooks.example.com/%s" % o.id, "events": ["period_closed"]}), 201)
        return o

    def watch_push(self):
        """A connection subscribed to every org's push channel."""
        watch = Resp(port=self.redis.port, timeout=10.0)
        self.addCleanup(watch.close)
        watch("PSUBSCRIBE", "podium:{*}:push")
        return watch

    def wait_announced(self, watch, orgs):
        """Until each org's push channel carried the announcement of its
        month:all board: its event's last write (a daemon announces board
        changes up to 50 ms after them)."""
        want = {("podium:{%s}:push" % o.id).encode() for o in orgs}
        deadline = time.monotonic() + 10
        while want:
            self.assertLess(time.monotonic(), deadline, "no announcement on %r" % sorted(want))
            kind, _pattern, channel, data = watch._read()
            if kind == b"pmessage" and b"board month:all " in data:
                want.discard(channel)

    def wait_idle(self):
        """Until no org has background work due within the next 10 s."""
        def idle():
            horizon = now_ms() + 10000
            for kind in "cwd":
                raw = self.r("ZRANGE", "podium:{#}:due:" + kind, 0, -1, "WITHSCORES")
                for n in range(1, len(raw), 2):
                    if int(float(raw[n])) < horizon:
                        return False
            return True
        wait_until(idle, timeout=15, interval=0.2, what="no background work due")

    def calls_in(self, seconds):
        """Redis commands run over `seconds`: ({command: calls} from INFO
        commandstats, leaving out this test's own INFO and CONFIG; the
        commands as MONITOR showed them)."""
        mon = socket.create_connection(("127.0.0.1", self.redis.port), timeout=0.2)
        self.addCleanup(mon.close)
        mon.sendall(b"MONITOR\r\n")
        seen = []

        def read():
            while not stop.is_set():
                try:
                    seen.append(mon.recv(65536))
                except socket.timeout:
                    continue
                except OSError:
                    return
        stop = threading.Event()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        self.r("CONFIG", "RESETSTAT")
        time.sleep(seconds)  # the measurement window
        text = self.r("INFO", "commandstats").decode()
        stop.set()
        reader.join(timeout=5)
        calls = {}
        for line in text.splitlines():
            m = re.match(r"^cmdstat_([^:]+):calls=(\d+)", line)
            if m and not m.group(1).startswith(("info", "config")):
                calls[m.group(1)] = int(m.group(2))
        lines = b"".join(seen).decode(errors="replace").split("\r\n")
        return calls, [ln for ln in lines if ln.startswith("+") and ln != "+OK"]

    def test_idle_orgs_make_no_redis_calls(self):
        watch = self.watch_push()
        orgs = [self.make_idle_org(i) for i in range(5)]
        self.wait_announced(watch, orgs)
        self.wait_idle()
        few, few_seen = self.calls_in(5.0)
        orgs += [self.make_idle_org(i) for i in range(5, N_ORGS)]
        self.wait_announced(watch, orgs[5:])
        self.wait_idle()
        many, many_seen = self.calls_in(5.0)
        n_few, n_many = sum(few.values()), sum(many.values())
        msg = "5 orgs: %d calls %r; 50 orgs: %d calls %r" % (n_few, few, n_many, many)
        print("\n[idle] " + msg)
        self.assertLessEqual(n_few, 60, msg)
        self.assertLessEqual(n_many, 60, msg)
        self.assertLessEqual(n_many - n_few, 5, msg)
        # no command of the idle daemon names a key (or channel) of an org
        tags = tuple("{%s}" % o.id for o in orgs)
        for seen in (few_seen, many_seen):
            self.assertTrue(any("podium:{#}:due:c" in ln for ln in seen), seen[:5])
            self.assertEqual([ln for ln in seen if any(t in ln for t in tags)], [], msg)
        # the orgs are still there and answer
        for o in orgs[::10]:
            self.ok(self.d.request("GET", "/v1/challenges", auth=o.token))


if __name__ == "__main__":
    import unittest
    unittest.main()
