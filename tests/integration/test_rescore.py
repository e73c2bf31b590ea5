"""POST /v1/admin/challenges/{id}/rescore: a period's board rebuilt from the
event log under the rules in force gives the board live scoring gave, and
follows a rule change; the rebuilt board replaces the live one in one step
and leaves no keys behind."""

import copy
import json
import signal
import threading
import time
import unittest

from harness import PodiumTestCase, times_today, wait_until, week_id

RULES = {
    "activities": {
        "post": {"points": 10, "daily_cap": 3},
        "reply": {"points": 3, "cooldown": "1m"},
        "stakeholder_interaction": {"points": 15},
    },
    "multipliers": {"channel": {"linkedin": 1.5}},
    "bonuses": {"first_of_day": 2},
    "challenges": [
        {"id": "weekly", "name": "Weekly", "period": "week", "timezone": "Europe/London",
         "activities": ["post", "reply", "stakeholder_interaction"],
         "goals": [{"id": "connector", "activity": "stakeholder_interaction", "count": 2,
                    "bonus": 25, "badge": "Connector"}]},
    ],
}


class RescoreTest(PodiumTestCase):
    leaders = ("amy", "bob", "cat")
    rules = RULES

    def setUp(self):
        super().setUp()
        self.put_team("exec")
        self.put_leader("dan", team="exec")

    def raw_board(self, period):
        return self.r("ZRANGE", self.key("board", "weekly", period), 0, -1, "WITHSCORES")

    def post_some(self):
        t = times_today(12)
        self.event("amy", "post", at=t[0], channel="linkedin", url="https://example.com/a")
        self.event("amy", "post", at=t[1], url="https://example.com/a")  # duplicate URL
        for i in range(2, 6):
            self.event("bob", "post", at=t[i])  # the fourth is capped
        self.event("cat", "reply", at=t[6])
        self.event("cat", "reply", at=t[7])  # cooldown
        self.event("dan", "stakeholder_interaction", at=t[8])
        self.event("dan", "stakeholder_interaction", at=t[9])  # goal
        self.ok(self.batch([{"leader": "amy", "type": "reply", "at": t[10]},
                            {"leader": "cat", "type": "post", "at": t[11]}]))

    def rescore(self, period="current", status=200):
        r = self.req("POST", "/v1/admin/challenges/weekly/rescore?period=" + period)
        return self.ok(r, status) if status == 200 else r

    def test_rescore_gives_the_live_board(self):
        self.post_some()
        W = week_id()
        before = self.raw_board(W)
        teams = self.r("ZRANGE", self.key("tboard", "weekly", W), 0, -1, "WITHSCORES")
        etag = self.req("GET", "/v1/challenges/weekly/leaderboard").header("ETag")
        j = self.rescore()
        self.assertEqual((j["challenge"], j["period"], j["events"], j["adjustments"]),
                         ("weekly", W, 12, 0))
        # Same members, same composite scores (so the same ties), same team board.
        self.assertEqual(self.raw_board(W), before)
        self.assertEqual(self.r("ZRANGE", self.key("tboard", "weekly", W), 0, -1, "WITHSCORES"),
                         teams)
        # The version moved, so pages change ETag; nothing is left aside.
        self.assertNotEqual(self.req("GET", "/v1/challenges/weekly/leaderboard").header("ETag"),
                            etag)
        self.assertEqual(self.r("KEYS", self.key("rs:*")), [])
        self.assertEqual(self.r("KEYS", self.key("lock:*")), [])
        self.assertEqual(self.ranking(), [(1, "dan", 57), (2, "bob", 32), (3, "amy", 20),
                                          (4, "cat", 15)])

    def test_rescore_follows_a_rule_change_and_keeps_the_all_time_board(self):
        self.post_some()
        W = week_id()
        all_before = self.raw_board("all")
        rules = copy.deepcopy(RULES)
        rules["activities"]["post"]["points"] = 20
        self.d.write_rules(rules)
        self.d.send_signal(signal.SIGHUP)
        wait_until(lambda: self.d.log().count("rules: applied") >= 2, what="the reload")
        self.rescore()
        self.assertEqual(self.ranking(), [(1, "bob", 62), (2, "dan", 57), (3, "amy", 35),
                                          (4, "cat", 25)])
        # Only the period board is rebuilt.
        self.assertEqual(self.raw_board("all"), all_before)

    def test_rescore_of_an_empty_period_and_bad_requests(self):
        j = self.rescore()
        self.assertEqual(j["events"], 0)
        self.assertEqual(self.ranking(), [])
        before = self.snapshot()
        self.assertProblem(self.rescore("2999-W01", 400), 400, ["/period"])
        self.assertProblem(self.rescore("soon", 400), 400, ["/period"])
        self.assertProblem(self.req("POST", "/v1/admin/challenges/nope/rescore"), 404)
        _, reader = self.make_token("reader")
        before = self.snapshot()
        self.assertProblem(self.req("POST", "/v1/admin/challenges/weekly/rescore", auth=reader),
                           403)
        self.assertUnchanged(before)

    def test_adjustments_survive_a_rescore_even_after_the_period_closed(self):
        self.post_some()
        W = week_id()
        self.ok(self.req("POST", "/v1/admin/adjustments", json_body={
            "leader": "cat", "challenge": "weekly", "points": 50, "reason": "Keynote"}), 201)
        before = self.raw_board(W)
        j = self.rescore()
        self.assertEqual(j["adjustments"], 1)
        self.assertEqual(self.raw_board(W), before)
        self.assertEqual(self.ranking()[0], (1, "cat", 65))
        # Last week had no events: an adjustment made to it now is kept by a rescore too.
        self.ok(self.req("POST", "/v1/admin/adjustments", json_body={
            "leader": "amy", "challenge": "weekly", "points": 7, "reason": "Late fix",
            "period": "previous"}), 201)
        j = self.rescore("previous")
        self.assertEqual((j["events"], j["adjustments"]), (0, 1))
        self.assertEqual(self.ranking(period="previous"), [(1, "amy", 7)])

    def test_hidden_leaders_stay_hidden_after_a_rescore(self):
        self.post_some()
        self.put_leader("dan", team="exec", hidden=True)
        W = week_id()
        before = (self.raw_board(W), self.r("ZRANGE", self.key("hboard", "weekly", W), 0, -1,
                                            "WITHSCORES"))
        self.rescore()
        self.assertEqual((self.raw_board(W), self.r("ZRANGE", self.key("hboard", "weekly", W),
                                                    0, -1, "WITHSCORES")), before)
        self.assertNotIn("dan", [lid for _, lid, _ in self.ranking()])

    def test_events_arriving_during_a_rescore_are_not_lost(self):
        """Posts keep arriving while the board is rebuilt: the swap waits
        until the replay has read them, so the rebuilt board is the live one."""
        self.post_some()
        t = times_today(1)[0]
        stop, sent = threading.Event(), []

        def post():
            i = 0
            while not stop.is_set() and i < 400:
                r = self.post("bob" if i % 2 else "cat", "stakeholder_interaction", at=t,
                              id="during-%d" % i)
                if r.status == 200:
                    sent.append(i)
                i += 1

        th = threading.Thread(target=post)
        th.start()
        try:
            time.sleep(0.05)
            self.rescore()
        finally:
            stop.set()
            th.join()
        W = week_id()
        live = self.raw_board(W)
        self.rescore()  # quiet now: the replay must give exactly the live board
        self.assertEqual(self.raw_board(W), live)
        self.assertGreater(len(sent), 0)

    def test_one_rescore_per_board_at_a_time(self):
        self.r("SET", self.key("lock", "rescore", "weekly", week_id()), "1", "EX", "60")
        self.assertProblem(self.rescore("current", 409), 409)
        self.r("DEL", self.key("lock", "rescore", "weekly", week_id()))
        self.rescore()


class DryRunBoardsTest(PodiumTestCase):
    """PUT /v1/rules?dry_run=1 replays this and last week's boards from the
    log under today's rules and the proposed ones, and changes nothing."""
    rules = None  # rules live in Redis, as PUT /v1/rules needs
    leaders = ("amy", "bob")

    def put_rules(self, rules, query=""):
        return self.req("PUT", "/v1/rules" + query, body=json.dumps(rules),
                        headers={"Content-Type": "application/json"})

    def test_dry_run_shows_boards_under_both_rule_sets(self):
        self.ok(self.put_rules(RULES))
        t = times_today(4)
        self.event("amy", "post", at=t[0])
        self.event("amy", "reply", at=t[1])
        self.event("bob", "stakeholder_interaction", at=t[2])
        live = self.ranking()
        proposed = copy.deepcopy(RULES)
        proposed["activities"]["post"]["points"] = 30
        before = self.snapshot()
        j = self.ok(self.put_rules(proposed, "?dry_run=1"))
        self.assertUnchanged(before, "a dry run")
        W = week_id()
        boards = {(b["challenge"], b["period"]): b for b in j["boards"]}
        cur = boards[("weekly", W)]
        # Under today's rules the replay gives the live board.
        self.assertEqual([(e["rank"], e["leader"], e["score"]) for e in cur["today"]], live)
        self.assertEqual([(e["rank"], e["leader"], e["score"]) for e in cur["proposed"]],
                         [(1, "amy", 35), (2, "bob", 17)])
        prev = [b for b in j["boards"] if b["period"] != W]
        self.assertEqual(len(prev), 1)
        self.assertEqual((prev[0]["today"], prev[0]["proposed"]), ([], []))


if __name__ == "__main__":
    unittest.main()
