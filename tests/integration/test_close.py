"""Period close: exactly once with two daemons, after a restart across the
boundary, after a dead daemon's half-done close; the archive, the digests,
the place badges, GET /v1/challenges/{id}/periods and retention.

Challenges here have interval periods of a few seconds and no grace, so
that a period ends, and closes, within each test."""

import json
import time

from harness import K32, PodiumTestCase, wait_until

LENGTH = 4  # seconds per period
ANCHOR = "2026-01-01T00:00:00Z"
ANCHOR_S = 1767225600

RULES = {
    "activities": {
        "post": {"points": 10},
        "reply": {"points": 3},
        "stakeholder_interaction": {"points": 15},
    },
    "multipliers": {"stakeholder": {"customer": 2}},
    "challenges": [
        {"id": "quick", "name": "Quick sprint", "period": "interval", "length": "%ds" % LENGTH,
         "starts": ANCHOR, "grace": "0s",
         "activities": ["post", "reply", "stakeholder_interaction"]},
        {"id": "meetings", "name": "Meetings", "period": "interval", "length": "%ds" % LENGTH,
         "starts": ANCHOR, "grace": "0s", "activities": ["stakeholder_interaction"],
         "scoring": "count"},
    ],
}


def period_id(t):
    """The id of the quick period that holds Unix second t."""
    start = t - (t - ANCHOR_S) % LENGTH
    return time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime(start))


def period_end(pid):
    return int(time.mktime(time.strptime(pid, "%Y-%m-%dT%H%M%SZ"))) - time.timezone + LENGTH


def fresh_period():
    """Waits for the start of a period, so that a few posts land in one; returns its id."""
    while (time.time() - ANCHOR_S) % LENGTH > 0.5:
        time.sleep(0.05)
    return period_id(int(time.time()))


class CloseTestCase(PodiumTestCase):
    rules = RULES
    leaders = ("amy", "bob", "cat")

    def periods(self, challenge="quick", d=None, **query):
        q = "&".join("%s=%s" % kv for kv in query.items())
        return self.ok((d or self.d).request(
            "GET", "/v1/challenges/%s/periods%s" % (challenge, "?" + q if q else "")))

    def record(self, pid, challenge="quick", timeout=LENGTH + 6):
        """Waits for the archive record of a period (listed or, when nobody
        scored, not) and returns it."""
        def find():
            rec = self.r("HGET", self.key("periods", challenge), pid)
            return rec and json.loads(rec)
        return wait_until(find, timeout=timeout, interval=0.1, what="period %s closed" % pid)

    def challenge_of(self, leader, challenge="quick"):
        page = self.ok(self.req("GET", "/v1/leaders/" + leader))
        return next(c for c in page["challenges"] if c["challenge"] == challenge)

    def play(self):
        """Posts into a fresh period: amy 30 (+ a customer meeting: 60), bob 10, cat 10."""
        pid = fresh_period()
        for _ in range(3):
            self.event("amy", "post")
        self.event("amy", "stakeholder_interaction", stakeholder="customer")
        self.event("bob", "post")
        got = self.event("cat", "post")
        self.assertEqual(got["standings"][0]["period"], pid, got)
        return pid


class CloseOnceTest(CloseTestCase):
    def test_two_daemons_close_each_period_once(self):
        d2 = self.start_daemon(name="podiumd2")
        pid = fresh_period()
        for _ in range(3):
            self.event("amy", "post")
        self.ok(d2.request("POST", "/v1/events", json_body={
            "leader": "amy", "type": "stakeholder_interaction", "stakeholder": "customer"}))
        self.ok(d2.request("POST", "/v1/events", json_body={"leader": "bob", "type": "post"}))
        self.event("cat", "post")
        rec = self.record(pid)
        # Let the next period close too, so that both daemons had their chance.
        self.record(period_id(period_end(pid)), timeout=LENGTH + 6)
        closed = "closed quick period " + pid
        self.assertEqual(self.d.log().count(closed) + d2.log().count(closed), 1,
                         (self.d.log()[-2000:], d2.log()[-2000:]))
        self.assertEqual(self.r("EXISTS", self.key("job:close", "quick", pid)), 0)

        # The record: the final standings with ranks, and the winners.
        self.assertEqual(rec["challenge_name"], "Quick sprint")
        self.assertEqual(rec["leaders"], 3)
        self.assertEqual(rec["winners"], [{"rank": 1, "leader": "amy", "name": "Amy",
                                           "score": 60}])
        # (bob and cat scored in the same second: either may be listed first)
        self.assertEqual(sorted((e["rank"], e["leader"], e["score"]) for e in rec["standings"]),
                         [(1, "amy", 60), (2, "bob", 10), (2, "cat", 10)])
        self.assertEqual(rec["ends"][:19], time.strftime(
            "%Y-%m-%dT%H:%M:%S", time.gmtime(period_end(pid))))

        # The board of the closed period stays readable; its events are refused.
        self.assertEqual(sorted(self.ranking("quick", pid)), [(1, "amy", 60), (2, "bob", 10),
                                                              (2, "cat", 10)])
        late = self.post("bob", at=(period_end(pid) - 1) * 1000)
        self.assertProblem(late, 422)

        # Digests: rank, gap to the place above, the activity worth most.
        amy, bob = self.challenge_of("amy"), self.challenge_of("bob")
        self.assertEqual(bob["digest"]["period"], pid)
        self.assertEqual(bob["digest"]["rank"], 2)
        self.assertTrue(bob["digest"]["tied"])
        self.assertEqual(bob["digest"]["next"], {"rank": 1, "score": 60, "gap": 50})
        self.assertEqual(bob["digest"]["suggestion"],
                         {"activity": "stakeholder_interaction", "points": 30})
        self.assertEqual(bob["digest"]["text"],
                         "You shared 2nd place in Quick sprint, 50 points behind 1st. "
                         "Next time, a stakeholder interaction is worth 30 points.")
        self.assertEqual(amy["digest"]["text"],
                         "You finished 1st in Quick sprint with 60 points. "
                         "Next time, a stakeholder interaction is worth 30 points.")
        self.assertIsNone(amy["digest"]["next"])
        # A count challenge: events, no suggestion.
        meet = self.challenge_of("amy", "meetings")["digest"]
        self.assertEqual(meet["text"], "You finished 1st in Meetings with 1 event.")
        self.assertIsNone(meet["suggestion"])

        # Place badges, and the history of closed periods.
        places = [(b["place"], b["badge"]) for b in amy["badges"] if b.get("place")]
        self.assertEqual(places, [(1, "1st place")])
        self.assertEqual([(b["place"], b["period"]) for b in bob["badges"]], [(2, pid)])
        hist = {h["period"]: h for h in bob["history"]}
        self.assertEqual(hist[pid], {"period": pid, "score": 10, "rank": 2})

        # Listed newest first, with paging; the empty periods around it are
        # closed (recorded) but not listed.
        self.assertEqual(self.periods()["periods"], [rec])
        nxt = self.r("HGET", self.key("periods", "quick"), period_id(period_end(pid)))
        self.assertEqual(json.loads(nxt)["leaders"], 0)
        self.play()
        wait_until(lambda: self.periods()["total"] == 2, timeout=LENGTH + 6, interval=0.1,
                   what="a second period listed")
        listed = self.periods(limit=1)
        self.assertEqual(len(listed["periods"]), 1)
        self.assertEqual(listed["next_cursor"], "1")
        self.assertEqual(self.periods(limit=1, cursor=1)["periods"], [rec])

    def test_periods_bad_input(self):
        self.assertProblem(self.req("GET", "/v1/challenges/nope/periods"), 404)
        self.assertProblem(self.req("GET", "/v1/challenges/quick/periods?limit=0"), 400,
                           ["/limit"])
        self.assertProblem(self.req("GET", "/v1/challenges/quick/periods?cursor=-1"), 400,
                           ["/cursor"])
        self.assertProblem(self.req("GET", "/v1/challenges/quick/periods", auth=None), 401)


class MidwayDigestTest(CloseTestCase):
    rules = {**RULES, "challenges": [dict(RULES["challenges"][0], digest_at="2s")]}

    def test_midway_digests_once_per_period_then_final_ones(self):
        pid = self.play()
        d = wait_until(lambda: (self.challenge_of("bob")["digest"] or {}).get("type") == "midway"
                       and self.challenge_of("bob")["digest"], timeout=LENGTH, interval=0.1,
                       what="midway digest")
        self.assertEqual(d["period"], pid)
        self.assertEqual(d["text"], "You share 2nd place in Quick sprint, 50 points behind 1st; "
                                    "a stakeholder interaction is worth 30 points.")
        self.assertIsNotNone(self.r("HGET", self.key("digested", "quick"), pid))
        self.assertIn("midway digests of quick period " + pid, self.d.log())
        self.record(pid)
        final = self.challenge_of("bob")["digest"]
        self.assertEqual((final["type"], final["period"]), ("final", pid))
        self.assertEqual(self.d.log().count("midway digests of quick period %s:" % pid), 1)
        # No place badges from a midway digest: only the close's.
        self.assertEqual([b["period"] for b in self.challenge_of("amy")["badges"]], [pid])


class CloseAfterRestartTest(CloseTestCase):
    def test_a_daemon_down_at_the_boundary_closes_when_back(self):
        pid = self.play()
        self.assertEqual(self.d.stop(), 0)
        end = period_end(pid)
        time.sleep(max(0, end + 2.5 - time.time()))
        self.assertIsNone(self.r("HGET", self.key("periods", "quick"), pid))
        self.d.start()
        rec = self.record(pid)
        self.assertEqual(rec["winners"][0]["leader"], "amy")
        self.assertIn("closed quick period " + pid, self.d.log())

    def test_a_dead_daemons_close_is_taken_over_when_its_lease_ends(self):
        pid = self.play()
        self.assertEqual(self.d.stop(), 0)
        # A daemon that claimed the close, wrote its archive step and died.
        lease_ms = (period_end(pid) + 4) * 1000
        self.r("HSET", self.key("job:close", "quick", pid), "owner", "ghost:1:00",
               "lease", str(lease_ms), "step", "archive", "cursor", "0")
        self.d.start()
        rec = self.record(pid, timeout=LENGTH + 10)
        closed_ms = int(time.mktime(time.strptime(rec["closed_at"][:19], "%Y-%m-%dT%H:%M:%S"))
                        - time.timezone) * 1000
        self.assertGreaterEqual(closed_ms + 1000, lease_ms, rec)
        self.assertEqual(rec["leaders"], 3)
        self.assertEqual(self.challenge_of("cat")["digest"]["rank"], 2)


class CloseBigBoardTest(CloseTestCase):
    leaders = ()

    def test_chunks_of_a_big_board_rank_and_gap_like_one(self):
        n = 2600
        pid = fresh_period()
        r = self.r
        prof = []
        for i in range(n):
            prof += ["l%d" % i, '{"name":"L%d"}' % i]
        r("HSET", self.key("leaders"), *prof)
        # Scores fall by one every 7 leaders, so ties straddle chunk bounds.
        zadd = []
        for i in range(n):
            score = 5000 - i // 7
            zadd += [str(score * K32 + (K32 - 1 - i)), "l%d" % i]
        r("ZADD", self.key("board", "quick", pid), *zadd)
        self.record(pid, timeout=LENGTH + 10)
        rank = {}
        for i in range(n):
            rank[i] = (i // 7) * 7 + 1
        for i in (0, 6, 7, 994, 998, 999, 1000, 1001, 1999, 2000, n - 1):
            d = self.r("HGET", self.key("digest", "l%d" % i), "quick")
            self.assertIsNotNone(d, i)
            d = json.loads(d)
            self.assertEqual(d["rank"], rank[i], (i, d))
            self.assertEqual(d["score"], 5000 - i // 7, (i, d))
            self.assertTrue(d["tied"], (i, d))
            if rank[i] == 1:
                self.assertIsNone(d["next"])
            else:
                self.assertEqual(d["next"], {"rank": rank[i] - 7, "score": 5000 - i // 7 + 1,
                                             "gap": 1}, (i, d))
        # Every leader got a digest, and ranks 1 to 3 (7 leaders tied first) a badge.
        missing = [i for i in range(n) if not r("HEXISTS", self.key("digest", "l%d" % i), "quick")]
        self.assertEqual(missing, [])
        self.assertEqual(r("HGET", self.key("badges", "l6"), "quick:%s:@1" % pid)[:9], b"1st place")
        self.assertEqual(r("EXISTS", self.key("badges", "l7")), 0)


class RetentionTest(CloseTestCase):
    podiumd_args = ("--retention", "3s")

    def test_boards_of_closed_periods_go_after_retention(self):
        pid = self.play()
        self.record(pid)
        board = self.key("board", "quick", pid)
        self.assertEqual(self.r("EXISTS", board), 1)
        wait_until(lambda: self.r("EXISTS", board) == 0, timeout=8, what="board unlinked")
        wait_until(lambda: self.r("HGET", self.key("periods", "quick"), pid) is None, timeout=5,
                   what="record removed")
        self.assertNotIn(pid, [p["period"] for p in self.periods(limit=100)["periods"]])
        self.assertIsNone(self.r("ZSCORE", self.key("closedp", "quick"), pid))


class CloseWebhooksTest(CloseTestCase):
    podiumd_args = ("--webhook_allow_http", "true", "--webhook_retry_base", "200")

    def test_a_close_pushes_period_closed_and_digests_once(self):
        from test_webhooks import Receiver
        rx = Receiver()
        self.addCleanup(rx.close)
        hook = self.ok(self.req("POST", "/v1/admin/webhooks", json_body={
            "url": rx.url, "format": "json", "events": ["period_closed", "digest"]}), 201)
        rx.secret = hook["secret"]
        d2 = self.start_daemon(name="podiumd2")  # two closers, one close
        pid = self.play()
        self.record(pid)
        # quick: period_closed + 3 digests; meetings: period_closed + 1 digest
        got = rx.wait(6, timeout=10)
        time.sleep(1.5)  # anything sent twice would arrive by now
        got = rx.got()
        self.assertTrue(all(g["valid"] for g in got), got)
        bodies = [json.loads(g["body"]) for g in got]
        ids = [g["headers"]["webhook-id"] for g in got]
        self.assertEqual(len(ids), len(set(ids)), ids)
        closed = [b["data"] for b in bodies if b["type"] == "period_closed"]
        self.assertEqual(sorted((c["challenge"], c["period"]) for c in closed),
                         [("meetings", pid), ("quick", pid)])
        quick = next(c for c in closed if c["challenge"] == "quick")
        self.assertEqual(quick["winners"][0]["leader"], "amy")
        digests = sorted((b["data"]["challenge"], b["data"]["leader"], b["data"]["rank"])
                         for b in bodies if b["type"] == "digest")
        self.assertEqual(digests, [("meetings", "amy", 1), ("quick", "amy", 1),
                                   ("quick", "bob", 2), ("quick", "cat", 2)])
        self.assertEqual(len(bodies), 6, bodies)
        # Periods in which nobody scored close without a push.
        self.record(period_id(period_end(pid)))
        time.sleep(1.5)
        self.assertEqual(len(rx.got()), 6)
        self.assertNotIn(rx.url.split("?")[0].split("/hooks")[1], self.d.log() + d2.log())


class CloseStreamTest(CloseTestCase):
    def test_streams_on_both_daemons_get_the_real_close_once(self):
        from test_stream import Stream
        d2 = self.start_daemon(name="podiumd2")
        streams = [Stream(d.port, "/v1/challenges/quick/stream", token=d.admin_token).start()
                   for d in (self.d, d2)]
        for s in streams:
            self.addCleanup(s.close)
            self.assertEqual(s.status, 200)
        pid = self.play()
        rec = self.record(pid)
        for s in streams:
            closes = []
            deadline = time.monotonic() + LENGTH + 4
            while time.monotonic() < deadline:
                ev = s.next(timeout=LENGTH + 4)
                if ev is None:
                    break
                if ev.get("event") == "period_closed":
                    closes.append(json.loads(ev["data"]))
                    if ev["id"] == pid + ".closed":
                        break
            self.assertEqual([c["period"] for c in closes], [pid], closes)
            self.assertEqual(closes[0], rec)
        # The next period, in which nobody scored, closes without an event.
        self.record(period_id(period_end(pid)))
        for s in streams:
            evs = [e for e in s.events_for(1.5) if e.get("event") == "period_closed"]
            self.assertEqual(evs, [])
