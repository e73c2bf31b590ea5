"""Leaderboards: competition ranking, tie order, pages, around, ETag, leaders."""

import time
import unittest

from harness import PodiumTestCase, month_id, rfc3339, times_today, week_id


class RankingTest(PodiumTestCase):
    leaders = ("amy", "bob", "cat", "dan", "eve", "fay", "gus")

    def setUp(self):
        super().setUp()
        self.W = week_id()

    def give(self, leader, points, at):
        """Gives a leader `points` (a multiple of 3 made of replies, or 15s)."""
        evs = []
        while points >= 15:
            evs.append({"leader": leader, "type": "stakeholder_interaction", "at": at})
            points -= 15
        while points >= 3:
            evs.append({"leader": leader, "type": "reply", "at": at})
            points -= 3
        assert points == 0
        self.ok(self.batch(evs))

    def test_competition_ranking_1224(self):
        t = times_today(4)
        self.give("amy", 30, t[0])
        self.give("bob", 21, t[1])
        self.give("cat", 21, t[2])
        self.give("dan", 9, t[3])
        self.assertEqual(self.ranking(), [(1, "amy", 30), (2, "bob", 21), (2, "cat", 21), (4, "dan", 9)])
        self.assertEqual(self.ranking("weekly", "all"),
                         [(1, "amy", 30), (2, "bob", 21), (2, "cat", 21), (4, "dan", 9)])
        # The rank in a POST answer and on the leader's page follows the same rule.
        res = self.event("eve", "reply", at=t[3])
        self.assertEqual(res["standings"][0]["rank"], 5)
        res = self.event("eve", "reply", at=t[3], channel="linkedin")   # eve 3 + 5 = 8
        self.assertEqual(res["standings"][0]["rank"], 5)
        res = self.event("eve", "reply", at=t[3])                       # eve 11: passes dan
        self.assertEqual(res["standings"][0]["rank"], 4)
        lj = self.ok(self.req("GET", "/v1/leaders/cat"))
        self.assertEqual(lj["standings"][0], {"challenge": "weekly", "period": self.W, "score": 21, "rank": 2})
        lj = self.ok(self.req("GET", "/v1/leaders/dan"))
        self.assertEqual(lj["standings"][0]["rank"], 5)
        # Three-way tie at the top.
        self.give("bob", 9, t[3])
        self.give("cat", 9, t[3])
        self.assertEqual([e[0] for e in self.ranking()], [1, 1, 1, 4, 5])

    def test_equal_scores_listed_in_order_reached(self):
        t = times_today(10)
        # Posted out of order: the `at` of the event decides, not arrival.
        self.give("fay", 15, t[2])
        self.give("amy", 15, t[3])
        self.give("gus", 15, t[1])
        # gus reached 15 first, then fay, then amy: neither id order nor its reverse.
        self.assertEqual(self.ranking(), [(1, "gus", 15), (1, "fay", 15), (1, "amy", 15)])
        self.assertEqual(self.ranking("weekly", "all"), [(1, "gus", 15), (1, "fay", 15), (1, "amy", 15)])
        # Reaching a new score later moves you behind whoever was there first.
        self.give("amy", 3, t[5])   # amy 18 at t5
        self.give("gus", 3, t[6])   # gus 18 at t6
        self.give("fay", 3, t[4])   # fay 18 at t4 (sent last, reached first)
        self.assertEqual(self.ranking(), [(1, "fay", 18), (1, "amy", 18), (1, "gus", 18)])
        # Around a leader keeps the same order.
        around = self.ok(self.req("GET", "/v1/challenges/weekly/leaderboard/around/amy?n=1"))
        self.assertEqual([(e["rank"], e["leader"]) for e in around["entries"]],
                         [(1, "fay"), (1, "amy"), (1, "gus")])

    def test_pagination_with_limit_and_cursor(self):
        t = times_today(7)
        scores = [("amy", 51), ("bob", 42), ("cat", 30), ("dan", 30), ("eve", 30), ("fay", 21), ("gus", 9)]
        for i, (lid, pts) in enumerate(scores):
            self.give(lid, pts, t[i])
        p1 = self.board(limit=3)
        self.assertEqual(p1["total"], 7)
        self.assertEqual(p1["period"], self.W)
        self.assertEqual([(e["rank"], e["leader"], e["score"]) for e in p1["entries"]],
                         [(1, "amy", 51), (2, "bob", 42), (3, "cat", 30)])
        self.assertEqual(p1["next_cursor"], "3")
        p2 = self.board(limit=3, cursor=p1["next_cursor"])
        # The tie at 30 straddles the pages: dan and eve keep rank 3.
        self.assertEqual([(e["rank"], e["leader"], e["score"]) for e in p2["entries"]],
                         [(3, "dan", 30), (3, "eve", 30), (6, "fay", 21)])
        self.assertEqual(p2["next_cursor"], "6")
        p3 = self.board(limit=3, cursor=p2["next_cursor"])
        self.assertEqual([(e["rank"], e["leader"], e["score"]) for e in p3["entries"]], [(7, "gus", 9)])
        self.assertIsNone(p3["next_cursor"])
        p4 = self.board(limit=3, cursor=7)
        self.assertEqual(p4["entries"], [])
        self.assertIsNone(p4["next_cursor"])
        # Pages agree with one big page, and the default limit is 10.
        full = self.board()
        self.assertEqual(full["entries"], p1["entries"] + p2["entries"] + p3["entries"])
        self.assertIsNone(full["next_cursor"])
        self.assertEqual(len(self.board(limit=100)["entries"]), 7)
        # Names come from the profiles; movement is null without a previous board.
        self.assertEqual([e["name"] for e in p1["entries"]], ["Amy", "Bob", "Cat"])
        self.assertTrue(all(e["movement"] is None for e in full["entries"]))

    def test_around_a_leader(self):
        t = times_today(7)
        scores = [("amy", 51), ("bob", 42), ("cat", 30), ("dan", 30), ("eve", 30), ("fay", 21), ("gus", 9)]
        for i, (lid, pts) in enumerate(scores):
            self.give(lid, pts, t[i])

        def around(leader, n=None, period=None):
            q = []
            if n is not None:
                q.append("n=%d" % n)
            if period:
                q.append("period=" + period)
            path = "/v1/challenges/weekly/leaderboard/around/%s%s" % (leader, "?" + "&".join(q) if q else "")
            j = self.ok(self.req("GET", path))
            return [(e["rank"], e["leader"], e["score"]) for e in j["entries"]]

        self.assertEqual(around("eve", 1), [(3, "dan", 30), (3, "eve", 30), (6, "fay", 21)])
        self.assertEqual(around("dan", 2), [(2, "bob", 42), (3, "cat", 30), (3, "dan", 30),
                                            (3, "eve", 30), (6, "fay", 21)])
        self.assertEqual(around("amy", 2), [(1, "amy", 51), (2, "bob", 42), (3, "cat", 30)])
        self.assertEqual(around("gus", 1), [(6, "fay", 21), (7, "gus", 9)])
        self.assertEqual(around("cat", 0), [(3, "cat", 30)])
        self.assertEqual(around("fay", 1, "all"), [(3, "eve", 30), (6, "fay", 21), (7, "gus", 9)])
        # The default n is 5 on each side.
        self.assertEqual(len(around("dan")), 7)
        # A leader who is not on the board: 404.
        self.put_leader("hal")
        r = self.req("GET", "/v1/challenges/weekly/leaderboard/around/hal")
        self.assertProblem(r, 404)

    def test_etag_and_if_none_match(self):
        t = times_today(3)
        self.give("amy", 15, t[0])
        r1 = self.req("GET", "/v1/challenges/weekly/leaderboard")
        self.assertEqual(r1.status, 200)
        etag = r1.header("ETag")
        self.assertTrue(etag and etag.startswith('"') and etag.endswith('"'), etag)
        r2 = self.req("GET", "/v1/challenges/weekly/leaderboard", headers={"If-None-Match": etag})
        self.assertEqual(r2.status, 304)
        self.assertEqual(r2.body, b"")
        self.assertEqual(r2.header("ETag"), etag)
        r3 = self.req("GET", "/v1/challenges/weekly/leaderboard", headers={"If-None-Match": '"nope"'})
        self.assertEqual(r3.status, 200)
        self.assertEqual(r3.body, r1.body)
        # A change to the board: a new ETag, and the old one no longer matches.
        self.give("bob", 3, t[1])
        r4 = self.req("GET", "/v1/challenges/weekly/leaderboard", headers={"If-None-Match": etag})
        self.assertEqual(r4.status, 200)
        self.assertNotEqual(r4.header("ETag"), etag)
        self.assertEqual([e["leader"] for e in r4.json()["entries"]], ["amy", "bob"])
        r5 = self.req("GET", "/v1/challenges/weekly/leaderboard",
                      headers={"If-None-Match": r4.header("ETag")})
        self.assertEqual(r5.status, 304)
        # The all-time board has its own ETag.
        ra = self.req("GET", "/v1/challenges/weekly/leaderboard?period=all")
        self.assertEqual(ra.status, 200)
        self.assertNotEqual(ra.header("ETag"), r4.header("ETag"))

    def test_etag_changes_when_a_name_on_the_page_changes(self):
        """A strong ETag changes with the representation (RFC 9110 8.8.3):
        renaming a leader on the page gives a new tag, so widgets that
        revalidate see the new name."""
        self.give("amy", 15, times_today(1)[0])
        r1 = self.req("GET", "/v1/challenges/weekly/leaderboard")
        self.assertEqual(r1.json()["entries"][0]["name"], "Amy")
        self.put_leader("amy", name="Amy Pond")
        time.sleep(1.1)   # past the read cache's lifetime (BOARDS_TTL_MS)
        r2 = self.req("GET", "/v1/challenges/weekly/leaderboard")
        self.assertEqual(r2.json()["entries"][0]["name"], "Amy Pond")
        r3 = self.req("GET", "/v1/challenges/weekly/leaderboard", headers={"If-None-Match": r1.header("ETag")})
        self.assertEqual(r3.status, 200, "a stale ETag must not give 304 for a changed page")

    def test_negative_scores_rank_below_zero(self):
        t = times_today(4)
        self.give("amy", 9, t[0])
        self.event("bob", "penalty", at=t[1], channel="linkedin")   # -5
        self.event("cat", "penalty", at=t[2], channel="linkedin")   # -5, later
        self.event("dan", "penalty", at=t[3])                        # -3
        self.assertEqual(self.ranking(), [(1, "amy", 9), (2, "dan", -3), (3, "bob", -5), (3, "cat", -5)])
        self.assertEqual(self.ranking(limit=1, cursor=3), [(3, "cat", -5)])
        res = self.event("cat", "reply", at=t[3])   # -2: passes dan
        self.assertEqual(res["standings"][0]["score"], -2)
        self.assertEqual(res["standings"][0]["rank"], 2)

    def test_movement_since_the_previous_period(self):
        """movement = rank on the previous period's board - rank now. The
        previous week cannot take events any more, so its board is written
        straight into Redis, in score.lua's composite form."""
        t = times_today(3)
        prev = week_id(t[0] - 7 * 86400 * 1000)
        K = 2 ** 32
        key = self.key("board", "weekly", prev)
        # previous week: cat 1st, amy 2nd, bob 3rd
        for leader, score, reached in (("cat", 30, 10), ("amy", 20, 20), ("bob", 10, 30)):
            self.r("ZADD", key, str(score * K + (K - 1 - reached)), leader)
        self.give("amy", 30, t[0])
        self.give("bob", 15, t[1])
        self.give("dan", 3, t[2])
        e = self.board()["entries"]
        self.assertEqual([(x["leader"], x["rank"], x["movement"]) for x in e],
                         [("amy", 1, 1), ("bob", 2, 1), ("dan", 3, None)])
        # The previous board itself, by alias and by id.
        for period in ("previous", prev):
            with self.subTest(period=period):
                b = self.board(period=period)
                self.assertEqual(b["period"], prev)
                self.assertEqual([(x["rank"], x["leader"], x["score"]) for x in b["entries"]],
                                 [(1, "cat", 30), (2, "amy", 20), (3, "bob", 10)])

    def test_get_leader(self):
        t = times_today(3)
        self.put_team("comms", "Comms")
        self.put_leader("amy", name="Amy Pond", team="comms", avatar="https://img.example/amy.png")
        self.event("amy", "stakeholder_interaction", at=t[0], stakeholder="customer")   # 30
        self.event("bob", "stakeholder_interaction", at=t[1], channel="linkedin", stakeholder="customer")  # 45
        self.event("cat", "stakeholder_interaction", at=t[2])   # 15
        j = self.ok(self.req("GET", "/v1/leaders/amy"))
        self.assertEqual(j["id"], "amy")
        self.assertEqual(j["profile"]["name"], "Amy Pond")
        self.assertEqual(j["profile"]["team"], "comms")
        self.assertEqual(j["profile"]["avatar"], "https://img.example/amy.png")
        M = month_id()
        self.assertEqual(j["standings"], [
            {"challenge": "weekly", "period": self.W, "score": 30, "rank": 2},
            {"challenge": "weekly", "period": "all", "score": 30, "rank": 2},
            {"challenge": "meetings", "period": M, "score": 1, "rank": 1},
            {"challenge": "meetings", "period": "all", "score": 1, "rank": 1}])
        # A leader with nothing logged: zero and no rank.
        j = self.ok(self.req("GET", "/v1/leaders/dan"))
        self.assertEqual([(s["score"], s["rank"]) for s in j["standings"]], [(0, None)] * 4)
        self.assertProblem(self.req("GET", "/v1/leaders/nobody"), 404)
        # The board shows the profile too.
        e = self.board()["entries"]
        self.assertEqual(e[1], {"rank": 2, "leader": "amy", "name": "Amy Pond", "team": "comms",
                                "avatar": "https://img.example/amy.png", "score": 30, "movement": None})

    def test_challenges_list(self):
        j = self.ok(self.req("GET", "/v1/challenges"))
        ch = {c["id"]: c for c in j["challenges"]}
        self.assertEqual(list(ch), ["weekly", "meetings"])
        self.assertEqual(ch["weekly"]["current"]["id"], self.W)
        self.assertEqual(ch["weekly"]["scoring"], "points")
        self.assertEqual(ch["weekly"]["timezone"], "Europe/London")
        self.assertEqual(ch["meetings"]["scoring"], "count")
        self.assertEqual(ch["meetings"]["current"]["id"], month_id())
        self.assertEqual(ch["weekly"]["next_reset"], ch["weekly"]["current"]["ends"])
        self.assertEqual(ch["weekly"]["activities"], ["post", "reply", "stakeholder_interaction", "penalty"])

    def test_hidden_leader_leaves_boards_and_ranks_and_comes_back(self):
        """SPEC 3.6: an admin hides a leader who opted out. Hidden, amy is on
        no board page, does not count in others' ranks or in her team's
        board, and keeps scoring; shown again, she is back with every point."""
        self.put_team("comms")
        self.put_leader("amy", team="comms")
        t = times_today(4)
        self.give("amy", 15, t[0])
        self.give("bob", 9, t[1])
        W = week_id()
        prof = self.put_leader("amy", hidden=True, team="comms")
        self.assertIs(prof["profile"]["hidden"], True)
        self.assertEqual(self.ranking(), [(1, "bob", 9)])  # the version moved: no stale page
        self.assertEqual(self.ranking(period="all"), [(1, "bob", 9)])
        self.assertEqual(self.r("ZSCORE", self.key("tboard", "weekly", W), "comms"), b"0")
        # Hidden, she still scores, with no rank, and bob ranks as if she were not there.
        r = self.event("amy", "stakeholder_interaction", at=t[2])
        self.assertEqual((r["standings"][0]["score"], r["standings"][0]["rank"]), (30, None))
        self.assertEqual(self.event("bob", "reply", at=t[3])["standings"][0]["rank"], 1)
        # Hiding again changes nothing.
        self.put_leader("amy", hidden=True, team="comms")
        self.assertEqual(self.ranking(), [(1, "bob", 12)])
        # Shown again: every point is back, on boards and team board.
        self.put_leader("amy", hidden=False, team="comms")
        self.assertEqual(self.ranking(), [(1, "amy", 30), (2, "bob", 12)])
        self.assertEqual(self.ranking(period="all"), [(1, "amy", 30), (2, "bob", 12)])
        self.assertEqual(self.r("ZSCORE", self.key("tboard", "weekly", W), "comms"), b"30")
        self.assertEqual(self.r("ZCARD", self.key("hboard", "weekly", W)), 0)


class FixedAndAllTimeChallengesTest(PodiumTestCase):
    """A fixed-span count challenge and an all-time challenge."""
    leaders = ("amy", "bob")

    def setUp(self):
        now = int(time.time())
        self.starts = rfc3339((now - 10 * 86400) * 1000).replace(".000Z", "Z")
        self.ends = rfc3339((now + 10 * 86400) * 1000).replace(".000Z", "Z")
        self.rules = {
            "activities": {"post": {"points": 10}, "stakeholder_interaction": {"points": 15}},
            "challenges": [
                {"id": "sprint", "name": "Stakeholder sprint", "period": "fixed",
                 "starts": self.starts, "ends": self.ends,
                 "activities": ["stakeholder_interaction"], "scoring": "count"},
                {"id": "hall", "name": "Hall of fame", "period": "all",
                 "activities": ["post", "stakeholder_interaction"]},
            ],
        }
        super().setUp()

    def test_fixed_and_all_boards(self):
        t = times_today(3)
        r = self.event("amy", "stakeholder_interaction", at=t[0])
        self.assertEqual([(s["challenge"], s["period"], s["points"], s["score"]) for s in r["standings"]],
                         [("sprint", "fixed", 1, 1), ("sprint", "all", 1, 1), ("hall", "all", 15, 15)])
        r = self.event("bob", "post", at=t[1])
        self.assertEqual([(s["challenge"], s["period"]) for s in r["standings"]], [("hall", "all")])
        self.event("bob", "stakeholder_interaction", at=t[2])
        self.assertEqual(self.ranking("sprint"), [(1, "amy", 1), (1, "bob", 1)])
        self.assertEqual(self.ranking("sprint", "fixed"), [(1, "amy", 1), (1, "bob", 1)])
        self.assertEqual(self.ranking("hall"), [(1, "bob", 25), (2, "amy", 15)])
        self.assertEqual(self.board("hall")["period"], "all")
        self.assertEqual(self.board("hall", "current")["period"], "all")
        self.assertProblem(self.req("GET", "/v1/challenges/hall/leaderboard?period=previous"), 400)
        self.assertProblem(self.req("GET", "/v1/challenges/hall/leaderboard?period=2026-W48"), 400)
        ch = {c["id"]: c for c in self.ok(self.req("GET", "/v1/challenges"))["challenges"]}
        self.assertEqual(ch["sprint"]["current"]["id"], "fixed")
        self.assertEqual(ch["sprint"]["current"]["starts"], self.starts.replace("Z", ".000Z"))
        self.assertEqual(ch["sprint"]["current"]["ends"], self.ends.replace("Z", ".000Z"))
        self.assertIsNone(ch["sprint"]["next_reset"])  # a fixed span ends, it never resets
        self.assertEqual(ch["hall"]["current"], {"id": "all", "starts": None, "ends": None})
        self.assertIsNone(ch["hall"]["next_reset"])
        lj = self.ok(self.req("GET", "/v1/leaders/amy"))
        self.assertEqual([(s["challenge"], s["period"], s["score"], s["rank"]) for s in lj["standings"]],
                         [("sprint", "fixed", 1, 1), ("sprint", "all", 1, 1), ("hall", "all", 15, 2)])
        # Only these boards exist in Redis: no second "all" board for "hall".
        keys = sorted(k.decode() for k in self.r("KEYS", self.key("board", "*")))
        self.assertEqual(keys, [self.key("board", "hall", "all"), self.key("board", "sprint", "all"),
                                self.key("board", "sprint", "fixed")])
        # Before the fixed span: the sprint does not count it, the hall does.
        before = rfc3339((int(time.time()) - 11 * 86400) * 1000)
        r = self.event("amy", "stakeholder_interaction", at=before)
        self.assertEqual([(s["challenge"], s["period"], s["score"]) for s in r["standings"]],
                         [("hall", "all", 30)])
        self.assertEqual(self.ranking("sprint"), [(1, "amy", 1), (1, "bob", 1)])


if __name__ == "__main__":
    unittest.main()
