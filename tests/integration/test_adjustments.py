"""Admin score adjustments (POST and GET /v1/admin/adjustments): points
added or taken by hand with a reason, on the period and all-time boards and
the team boards, with the board versions raised (new ETags), an audit
entry, an event-log entry that a rescore can replay, and the leader's page
showing them. Every refused request leaves Redis as it was.
"""

import datetime
import json
import unittest

from harness import (K32, LONDON, PodiumTestCase, month_id, now_ms, parse_rfc3339_ms,
                     read_event_log, times_today, week_id)

RULES = {
    "activities": {"post": {"points": 10}, "reply": {"points": 3}},
    "challenges": [
        {"id": "weekly", "name": "Weekly", "period": "week", "timezone": "Europe/London",
         "activities": ["post", "reply"]},
        {"id": "execs", "name": "Execs", "period": "month", "timezone": "Europe/London",
         "activities": ["post"], "teams": ["exec"]},
        {"id": "pair", "name": "Pair", "period": "all", "activities": ["post"],
         "leaders": ["amy"]},
        {"id": "later", "name": "Later", "period": "fixed", "starts": "2090-01-01T00:00:00Z",
         "ends": "2091-01-01T00:00:00Z", "activities": ["post"]},
    ],
}

AUDIT_FIELDS = ["at", "by", "leader", "challenge", "period", "points", "reason", "score_after"]
LOG_FIELDS = ["at", "by", "leader", "challenge", "period", "points", "reason"]


def week_start_ms(ms):
    """Start of the Monday-start London week holding ms."""
    d = datetime.datetime.fromtimestamp(ms / 1000, LONDON).date()
    monday = d - datetime.timedelta(days=d.weekday())
    return int(datetime.datetime(monday.year, monday.month, monday.day,
                                 tzinfo=LONDON).timestamp() * 1000)


def previous_week_id():
    start = week_start_ms(now_ms())
    return week_id(start - 86400 * 1000)


class Case(PodiumTestCase):
    rules = RULES

    def setUp(self):
        super().setUp()
        self.put_team("exec")
        self.put_team("comms")
        self.put_leader("amy", team="exec")
        self.put_leader("bob", team="comms")
        self.put_leader("dan", team="comms")
        self.put_leader("cat")

    def adjust(self, auth=None, **body):
        kw = {} if auth is None else {"auth": auth}
        return self.req("POST", "/v1/admin/adjustments", json_body=body, **kw)

    def adjusted(self, leader, points, reason="A correction", challenge="weekly", auth=None,
                 **more):
        r = self.adjust(auth=auth, leader=leader, challenge=challenge, points=points,
                        reason=reason, **more)
        return self.ok(r, 201)

    def composite(self, challenge, period, leader):
        v = self.r("ZSCORE", self.key("board", challenge, period), leader)
        return None if v is None else int(float(v))

    def audit(self):
        out = []
        for _id, f in self.r("XRANGE", self.key("audit"), "-", "+"):
            names = [f[i].decode() for i in range(0, len(f), 2)]
            self.assertEqual(names, AUDIT_FIELDS)
            out.append({names[i // 2]: f[i + 1].decode() for i in range(0, len(f), 2)})
        return out

    def etag(self, challenge="weekly", period=None):
        path = "/v1/challenges/%s/leaderboard" % challenge
        if period:
            path += "?period=" + period
        r = self.req("GET", path)
        self.assertEqual(r.status, 200, r)
        return r.header("ETag")

    def version(self, challenge, period):
        v = self.r("HGET", self.key("bver"), "%s:%s" % (challenge, period))
        return int(v) if v is not None else 0


class AdjustTest(Case):
    def test_an_adjustment_moves_every_board_and_is_recorded(self):
        W = week_id()
        t = times_today(3)
        self.event("bob", "post", at=t[0])
        self.event("bob", "post", at=t[1])
        self.event("amy", "post", at=t[2])
        self.assertEqual(self.ranking(), [(1, "bob", 20), (2, "amy", 10)])
        etag, etag_all = self.etag(), self.etag(period="all")
        versions = (self.version("weekly", W), self.version("weekly", "all"))

        j = self.adjusted("amy", 15, "Keynote at the all-hands")
        at = parse_rfc3339_ms(j["at"])
        self.assertLess(abs(at - now_ms()), 5000)
        self.assertRegex(j["id"], r"^\d+-\d+$")
        self.assertEqual({k: v for k, v in j.items() if k not in ("id", "at")},
                         {"leader": "amy", "challenge": "weekly", "period": W, "points": 15,
                          "reason": "Keynote at the all-hands", "by": "bootstrap",
                          "score": 25, "rank": 1})

        # Both leader boards, with the composite encoding of score.lua.
        self.assertEqual(self.ranking(), [(1, "amy", 25), (2, "bob", 20)])
        self.assertEqual(self.ranking(period="all"), [(1, "amy", 25), (2, "bob", 20)])
        c = self.composite("weekly", W, "amy")
        self.assertEqual(c // K32, 25)
        reached = K32 - 1 - c % K32
        self.assertEqual(reached, at // 1000 - week_start_ms(at) // 1000)
        c = self.composite("weekly", "all", "amy")
        self.assertEqual((c // K32, K32 - 1 - c % K32), (25, at // 1000))
        # Team boards: amy was on them already, so exec keeps one member.
        self.assertEqual(self.r("ZSCORE", self.key("tboard", "weekly", W), "exec"), b"25")
        self.assertEqual(self.r("ZSCORE", self.key("tboard", "weekly", "all"), "exec"), b"25")
        self.assertEqual(self.r("HGET", self.key("tcount", "weekly", W), "exec"), b"1")
        teams = self.ok(self.req("GET", "/v1/challenges/weekly/teams"))
        self.assertEqual([(e["team"], e["score"], e["members"]) for e in teams["entries"]],
                         [("exec", 25, 1), ("comms", 20, 1)])

        # Versions raised: the pages change ETag at once on this daemon.
        self.assertEqual((self.version("weekly", W), self.version("weekly", "all")),
                         (versions[0] + 1, versions[1] + 1))
        self.assertNotEqual(self.etag(), etag)
        self.assertNotEqual(self.etag(period="all"), etag_all)
        r = self.req("GET", "/v1/challenges/weekly/leaderboard", headers={"If-None-Match": etag})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["entries"][0]["score"], 25)

        # The audit entry, with the reason and who made it.
        self.assertEqual(self.audit(), [{
            "at": j["at"], "by": "bootstrap", "leader": "amy", "challenge": "weekly",
            "period": W, "points": "15", "reason": "Keynote at the all-hands",
            "score_after": "25"}])
        # The event log: one entry with the single field "a".
        last = self.r("XREVRANGE", self.key("events"), "+", "-", "COUNT", 1)[0]
        self.assertEqual(last[1][0], b"a")
        self.assertEqual(len(last[1]), 2)
        a = json.loads(last[1][1])
        self.assertEqual(list(a), LOG_FIELDS)
        self.assertEqual(a, {"at": j["at"], "by": "bootstrap", "leader": "amy",
                             "challenge": "weekly", "period": W, "points": 15,
                             "reason": "Keynote at the all-hands"})
        log = read_event_log(self.r)
        self.assertEqual(len(log), 4)
        self.assertEqual([e.get("leader") for e in log[:3]], ["bob", "bob", "amy"])
        self.assertEqual(json.loads(log[3]["a"]), a)

        # The leader's page shows it, and the new standings.
        page = self.ok(self.req("GET", "/v1/leaders/amy"))
        self.assertEqual(page["adjustments"], [dict(a, score_after=25)])
        # Who made it is for admins: other roles read the page without `by`.
        _, reader = self.make_token("reader")
        page = self.ok(self.req("GET", "/v1/leaders/amy", auth=reader))
        without = dict(a, score_after=25)
        del without["by"]
        self.assertEqual(page["adjustments"], [without])
        self.assertIn({"challenge": "weekly", "period": W, "score": 25, "rank": 1},
                      page["standings"])
        self.assertEqual(len(page["recent"]), 1)
        self.assertEqual(self.ok(self.req("GET", "/v1/leaders/bob"))["adjustments"], [])

        # Events keep scoring on top of the adjusted score.
        self.assertEqual(self.event("amy", "reply")["standings"][0]["score"], 28)

    def test_a_leader_new_on_the_boards_and_the_token_that_did_it(self):
        W = week_id()
        self.event("bob", "post")
        tid, token = self.make_token("admin")
        j = self.adjusted("dan", 7, "Ran the webinar", auth=token)
        self.assertEqual((j["by"], j["score"], j["rank"]), (tid, 7, 2))
        self.assertEqual(self.ranking(), [(1, "bob", 10), (2, "dan", 7)])
        # dan joins comms on the team boards: one more member.
        for per in (W, "all"):
            self.assertEqual(self.r("ZSCORE", self.key("tboard", "weekly", per), "comms"), b"17")
            self.assertEqual(self.r("HGET", self.key("tcount", "weekly", per), "comms"), b"2")
        # A leader without a team: leader boards only.
        self.adjusted("cat", 4)
        self.assertEqual(self.ranking(), [(1, "bob", 10), (2, "dan", 7), (3, "cat", 4)])
        self.assertEqual(self.r("ZRANGE", self.key("tboard", "weekly", W), 0, -1, "WITHSCORES"),
                         [b"comms", b"17"])
        self.assertEqual([e["by"] for e in self.audit()], [tid, "bootstrap"])

    def test_negative_points_may_take_a_score_below_zero(self):
        W = week_id()
        self.event("bob", "post")
        self.event("amy", "reply")
        j = self.adjusted("bob", -30, "Posted for someone else")
        self.assertEqual((j["points"], j["score"], j["rank"]), (-30, -20, 2))
        self.assertEqual(self.ranking(), [(1, "amy", 3), (2, "bob", -20)])
        self.assertEqual(self.zboard("weekly", "all"), {"amy": 3, "bob": -20})
        self.assertEqual(self.r("ZSCORE", self.key("tboard", "weekly", W), "comms"), b"-20")
        j = self.adjusted("cat", -5)  # not on the board before: starts from 0
        self.assertEqual((j["score"], j["rank"]), (-5, 2))
        self.assertEqual(self.ranking(), [(1, "amy", 3), (2, "cat", -5), (3, "bob", -20)])
        page = self.ok(self.req("GET", "/v1/leaders/bob"))
        self.assertIn({"challenge": "weekly", "period": W, "score": -20, "rank": 3},
                      page["standings"])
        # An event scores on top of a negative score.
        self.assertEqual(self.event("bob", "post")["standings"][0]["score"], -10)
        self.assertEqual(self.audit()[0]["score_after"], "-20")

    def test_past_periods_and_the_all_time_board_alone(self):
        W, P = week_id(), previous_week_id()
        self.event("amy", "post")
        etag_prev = self.etag(period=P)
        j = self.adjusted("amy", 4, "Missed last week", period="previous")
        self.assertEqual((j["period"], j["score"], j["rank"]), (P, 4, 1))
        self.assertEqual(self.zboard("weekly", P), {"amy": 4})
        self.assertEqual(self.zboard("weekly", W), {"amy": 10})
        self.assertEqual(self.zboard("weekly", "all"), {"amy": 14})
        self.assertNotEqual(self.etag(period=P), etag_prev)
        # The tie-break second counts from that period's start, clamped to nothing.
        c = self.composite("weekly", P, "amy")
        at = parse_rfc3339_ms(j["at"]) // 1000
        self.assertEqual(K32 - 1 - c % K32, at - week_start_ms(now_ms() - 7 * 86400 * 1000) // 1000)
        # A period by its id.
        j = self.adjusted("amy", 1, period=P)
        self.assertEqual((j["period"], j["score"]), (P, 5))
        # "all": the all-time board only.
        j = self.adjusted("amy", 100, "Lifetime achievement", period="all")
        self.assertEqual((j["period"], j["score"]), ("all", 115))
        self.assertEqual(self.zboard("weekly", W), {"amy": 10})
        self.assertEqual(self.zboard("weekly", "all"), {"amy": 115})
        # A month challenge by its id, and an all-time-only challenge (amy's
        # post counted in both).
        j = self.adjusted("amy", 2, challenge="execs", period=month_id())
        self.assertEqual((j["period"], j["score"]), (month_id(), 12))
        self.assertEqual(self.zboard("execs", "all"), {"amy": 12})
        j = self.adjusted("amy", 3, challenge="pair")
        self.assertEqual((j["period"], j["score"]), ("all", 13))
        self.assertEqual(self.zboard("pair", "all"), {"amy": 13})
        log = [json.loads(e["a"]) for e in read_event_log(self.r) if "a" in e]
        self.assertEqual([(a["challenge"], a["period"], a["points"]) for a in log],
                         [("weekly", P, 4), ("weekly", P, 1), ("weekly", "all", 100),
                          ("execs", month_id(), 2), ("pair", "all", 3)])

    def test_a_rescore_of_the_period_replays_its_adjustments(self):
        W = week_id()
        self.event("amy", "post")
        self.adjusted("amy", 15)
        self.adjusted("bob", -4)
        self.adjusted("cat", 9, period="all")  # not on the period board
        board = self.r("ZRANGE", self.key("board", "weekly", W), 0, -1, "WITHSCORES")
        j = self.ok(self.req("POST", "/v1/admin/challenges/weekly/rescore?period=current"))
        self.assertEqual((j["events"], j["adjustments"]), (1, 2))
        self.assertEqual(self.zboard("weekly", W), {"amy": 25, "bob": -4})
        # The same composites: the tie-break second is the adjustment's time.
        self.assertEqual(self.r("ZRANGE", self.key("board", "weekly", W), 0, -1, "WITHSCORES"),
                         board)

    def test_limits_of_points_and_reason_are_inclusive(self):
        self.assertEqual(self.adjusted("amy", 100000)["score"], 100000)
        self.assertEqual(self.adjusted("amy", -100000)["score"], 0)
        reason = "é" * 500  # characters, not bytes
        j = self.adjusted("amy", 1, reason)
        self.assertEqual(j["reason"], reason)
        self.assertEqual(self.audit()[-1]["reason"], reason)
        odd = 'Line one\nsaid "hi" \\ \u263a'
        self.assertEqual(self.adjusted("amy", 1, odd)["reason"], odd)
        self.assertEqual(self.ok(self.req("GET", "/v1/leaders/amy"))["adjustments"][0]["reason"],
                         odd)

    def test_the_leader_page_shows_the_newest_twenty_and_redis_keeps_fifty(self):
        for i in range(52):
            self.adjusted("amy", 1, "r%d" % i)
        page = self.ok(self.req("GET", "/v1/leaders/amy"))
        self.assertEqual([a["reason"] for a in page["adjustments"]],
                         ["r%d" % i for i in range(51, 31, -1)])
        self.assertEqual([a["score_after"] for a in page["adjustments"][:2]], [52, 51])
        self.assertEqual(self.r("LLEN", self.key("adj", "amy")), 50)
        self.assertEqual(self.r("XLEN", self.key("audit")), 52)


class RefusedTest(Case):
    def check(self, body, status, pointers, raw=None):
        before = self.snapshot()
        if raw is not None:
            r = self.req("POST", "/v1/admin/adjustments", body=raw,
                         headers={"Content-Type": "application/json"})
        else:
            r = self.req("POST", "/v1/admin/adjustments", json_body=body)
        p = self.assertProblem(r, status, pointers)
        self.assertUnchanged(before, "%r" % (raw if raw is not None else body))
        return p

    def test_every_invalid_body_is_refused_with_its_pointer(self):
        self.event("amy", "post")
        ok = {"leader": "amy", "challenge": "weekly", "points": 5, "reason": "Why"}

        def but(**kw):
            b = dict(ok)
            for k, v in kw.items():
                if v is KeyError:
                    del b[k]
                else:
                    b[k] = v
            return b

        self.check(None, 400, [""], raw="{leader: amy}")
        self.check(None, 400, [""], raw='["amy"]')
        self.check(None, 400, [""], raw="")
        self.check(None, 400, [""], raw='{"leader": "amy", "leader": "bob"}')
        self.check(None, 400, [""], raw=json.dumps(dict(ok, reason="a\u0000b")))
        cases = [
            ({}, ["/leader", "/challenge", "/points", "/reason"]),
            (but(colour="red"), ["/colour"]),
            (but(**{"a/b": 1}), ["/a~1b"]),
            (but(leader=KeyError), ["/leader"]),
            (but(leader=None), ["/leader"]),
            (but(leader=5), ["/leader"]),
            (but(leader="Amy!"), ["/leader"]),
            (but(leader=""), ["/leader"]),
            (but(challenge=KeyError), ["/challenge"]),
            (but(challenge=["weekly"]), ["/challenge"]),
            (but(challenge="Weekly"), ["/challenge"]),
            (but(challenge="nope"), ["/challenge"]),
            (but(points=KeyError), ["/points"]),
            (but(points=0), ["/points"]),
            (but(points=100001), ["/points"]),
            (but(points=-100001), ["/points"]),
            (but(points=1.5), ["/points"]),
            (but(points=5.0), ["/points"]),
            (but(points="5"), ["/points"]),
            (but(points=True), ["/points"]),
            (but(points=10 ** 18), ["/points"]),
            (but(reason=KeyError), ["/reason"]),
            (but(reason=""), ["/reason"]),
            (but(reason=" \t\n "), ["/reason"]),
            (but(reason="x" * 501), ["/reason"]),
            (but(reason="é" * 501), ["/reason"]),
            (but(reason=7), ["/reason"]),
            (but(period=5), ["/period"]),
            (but(period="nonsense"), ["/period"]),
            (but(period="2026-11"), ["/period"]),        # a month on a week challenge
            (but(period="2099-W01"), ["/period"]),       # has not begun
            (but(challenge="pair", period="previous"), ["/period"]),  # all-time only
            (but(challenge="later"), ["/period"]),       # no current period
            (but(challenge="later", period="fixed"), ["/period"]),    # has not begun
            (but(challenge="pair", leader="bob"), ["/leader"]),       # not on its list
            (but(leader="Amy", points=0, reason="", period=1, x=1),
             ["/leader", "/points", "/reason", "/period", "/x"]),
        ]
        for body, pointers in cases:
            with self.subTest(body=body):
                self.check(body, 422, pointers)

    def test_an_unknown_leader_or_challenge_is_422(self):
        p = self.check({"leader": "ghost", "challenge": "weekly", "points": 5, "reason": "Why"},
                       422, ["/leader"])
        self.assertIn("no leader has this id", p["errors"][0]["message"])
        p = self.check({"leader": "amy", "challenge": "nope", "points": 5, "reason": "Why"},
                       422, ["/challenge"])
        self.assertIn("GET /v1/challenges", p["errors"][0]["message"])

    def test_a_challenge_limited_to_teams(self):
        for leader in ("cat", "bob"):  # no team; a team that does not take part
            self.check({"leader": leader, "challenge": "execs", "points": 5, "reason": "Why"},
                       422, ["/leader"])
        self.assertEqual(self.adjusted("amy", 5, challenge="execs")["score"], 5)

    def test_scores_stay_in_the_exact_range(self):
        W = week_id()
        # 2^21 - 1 is the highest exact score; put amy just under it.
        self.r("ZADD", self.key("board", "weekly", W), str(2097100 * K32 + K32 - 1), "amy")
        p = self.check({"leader": "amy", "challenge": "weekly", "points": 100, "reason": "Why"},
                       422, ["/points"])
        self.assertIn("2097151", p["errors"][0]["message"])
        self.assertEqual(self.adjusted("amy", 51)["score"], 2097151)

    def test_not_while_a_rescore_of_the_board_runs(self):
        lock = self.key("lock", "rescore", "weekly", week_id())
        self.r("SET", lock, "1", "EX", "60")
        self.check({"leader": "amy", "challenge": "weekly", "points": 5, "reason": "Why"},
                   409, None)
        self.r("DEL", lock)
        self.adjusted("amy", 5)

    def test_other_roles_get_403(self):
        _, reader = self.make_token("reader")
        _, ingest = self.make_token("ingest")
        _, leader = self.make_token("leader", "amy")
        body = {"leader": "amy", "challenge": "weekly", "points": 5, "reason": "Why"}
        before = self.snapshot()
        for token in (reader, ingest, leader):
            self.assertProblem(self.adjust(auth=token, **body), 403)
            self.assertProblem(self.req("GET", "/v1/admin/adjustments", auth=token), 403)
        self.assertProblem(self.req("POST", "/v1/admin/adjustments", json_body=body, auth=None),
                           401)
        self.assertUnchanged(before)
        r = self.req("DELETE", "/v1/admin/adjustments")
        self.assertProblem(r, 405)
        self.assertEqual(r.header("Allow"), "POST, GET")


class ListTest(Case):
    def listing(self, query="", status=200):
        r = self.req("GET", "/v1/admin/adjustments" + query)
        if status != 200:
            return r
        return self.ok(r)["adjustments"]

    def test_newest_first_with_filters(self):
        self.assertEqual(self.listing(), [])
        made = [
            self.adjusted("amy", 1, "one"),
            self.adjusted("bob", 2, "two"),
            self.adjusted("amy", 3, "three", challenge="execs"),
            self.adjusted("amy", -1, "four"),
            self.adjusted("cat", 5, "five", period="all"),
        ]
        got = self.listing()
        self.assertEqual([a["reason"] for a in got], ["five", "four", "three", "two", "one"])
        first = got[-1]
        self.assertEqual(first, {"id": made[0]["id"], "at": made[0]["at"], "by": "bootstrap",
                                 "leader": "amy", "challenge": "weekly", "period": week_id(),
                                 "points": 1, "reason": "one", "score_after": 1})
        self.assertEqual(got[1]["score_after"], 0)
        self.assertEqual([a["reason"] for a in self.listing("?leader=amy")],
                         ["four", "three", "one"])
        self.assertEqual([a["reason"] for a in self.listing("?challenge=execs")], ["three"])
        self.assertEqual([a["reason"] for a in self.listing("?leader=amy&challenge=weekly")],
                         ["four", "one"])
        self.assertEqual([a["reason"] for a in self.listing("?leader=amy&limit=2")],
                         ["four", "three"])
        self.assertEqual([a["reason"] for a in self.listing("?limit=1")], ["five"])
        self.assertEqual(self.listing("?leader=dan"), [])
        self.assertEqual(self.listing("?challenge=gone"), [])

    def test_filters_read_past_many_other_entries(self):
        self.adjusted("amy", 1, "old")
        # 1,200 entries of somebody else after it: the reader pages through them.
        self.r("EVAL", "for i = 1, 1200 do redis.call('XADD', KEYS[1], '*', 'at', 'x', 'by', "
               "'y', 'leader', 'zed', 'challenge', 'weekly', 'period', 'p', 'points', '1', "
               "'reason', 'bulk ' .. i, 'score_after', i) end", 1, self.key("audit"))
        self.adjusted("amy", 2, "new")
        self.assertEqual([a["reason"] for a in self.listing("?leader=amy")], ["new", "old"])
        self.assertEqual(len(self.listing("?limit=500")), 500)
        self.assertEqual(len(self.listing()), 50)
        self.assertEqual(self.listing("?leader=zed&limit=3")[0]["reason"], "bulk 1200")

    def test_bad_queries(self):
        self.adjusted("amy", 1)
        before = self.snapshot()
        for query, pointers in [("?limit=0", ["/limit"]), ("?limit=501", ["/limit"]),
                                ("?limit=x", ["/limit"]), ("?leader=Amy!", ["/leader"]),
                                ("?leader=", ["/leader"]), ("?challenge=A%20B", ["/challenge"]),
                                ("?leader=A&challenge=B&limit=-1",
                                 ["/leader", "/challenge", "/limit"])]:
            with self.subTest(query=query):
                r = self.listing(query, status=400)
                self.assertProblem(r, 400, pointers)
        self.assertUnchanged(before)


if __name__ == "__main__":
    unittest.main()
