"""DELETE /v1/admin/leaders/{id}: a leader's personal data and events are
gone from every key and value in Redis, the boards are recomputed, and the
other leaders' events, links and boards are untouched."""

import unittest

from harness import PodiumTestCase, all_values, read_event_log, times_today, week_id

RULES = {
    "activities": {"post": {"points": 10, "daily_cap": 5, "cooldown": "10s"},
                   "reply": {"points": 3}},
    "bonuses": {"first_of_day": 2},
    "challenges": [
        {"id": "weekly", "name": "Weekly", "period": "week", "timezone": "Europe/London",
         "activities": ["post", "reply"],
         "goals": [{"id": "g", "activity": "reply", "count": 1, "bonus": 1, "badge": "B"}]},
    ],
}


class EraseTest(PodiumTestCase):
    leaders = ("bob",)
    rules = RULES

    def setUp(self):
        super().setUp()
        self.put_team("comms")
        self.put_leader("zed", name="Zed Zimmerman", team="comms",
                        avatar="https://intra.example.com/zed.png")
        self.put_leader("bob", team="comms")

    def test_erase_leaves_no_trace_and_recomputes_boards(self):
        t = times_today(5, spacing_s=20)
        _, zed_token = self.make_token("leader", leader="zed")
        self.event("zed", "post", at=t[0], id="e1", url="https://example.com/zed-post",
                   note="Met Zed's customer")
        self.event("bob", "post", at=t[0], id="e2")
        # One request, one log entry holding both leaders' events.
        self.ok(self.batch([{"leader": "bob", "type": "reply", "at": t[1], "id": "e3"},
                            {"leader": "zed", "type": "reply", "at": t[1], "id": "e4"},
                            {"leader": "bob", "type": "post", "at": t[2], "id": "e5"}]))
        self.ok(self.req("POST", "/v1/admin/adjustments", json_body={
            "leader": "zed", "challenge": "weekly", "points": 5, "reason": "Zed keynote"}), 201)
        self.ok(self.req("POST", "/v1/admin/adjustments", json_body={
            "leader": "bob", "challenge": "weekly", "points": 1, "reason": "Bob fix"}), 201)
        self.event("bob", "reply", at=t[3], id="e6")
        W = week_id()
        bob_page = self.ok(self.req("GET", "/v1/leaders/bob"))
        bob_before = [(e["rank"], e["leader"], e["score"]) for e in self.board()["entries"]
                      if e["leader"] == "bob"]
        self.assertEqual(bob_before[0][2], 12 + 3 + 1 + 10 + 1 + 3)

        r = self.ok(self.req("DELETE", "/v1/admin/leaders/zed"))
        self.assertEqual((r["leader"], r["erased"], r["events"], r["tokens"]),
                         ("zed", True, 3, 1))
        self.assertGreaterEqual(r["boards"], 2)

        # Nothing in Redis names zed or holds his data any more.
        for needle in (b"zed", b"Zimmerman", b"zed-post", b"Zed keynote", b"Met Zed"):
            hits = [v for v in all_values(self.r) if v and needle in v]
            self.assertEqual(hits, [], needle)
        # bob's standing, events, links and page are as they were, ranked alone.
        self.assertEqual(self.ranking(), [(1, "bob", 30)])
        self.assertEqual(self.r("ZSCORE", self.key("tboard", "weekly", W), "comms"), b"30")
        self.assertEqual(self.r("HGET", self.key("tcount", "weekly", W), "comms"), b"1")
        page = self.ok(self.req("GET", "/v1/leaders/bob"))
        self.assertEqual([x["event"]["id"] for x in page["recent"]],
                         [x["event"]["id"] for x in bob_page["recent"]])
        self.assertEqual([x["event"]["id"] for x in page["recent"]], ["e6", "e5", "e3", "e2"])
        log = read_event_log(self.r)
        self.assertEqual([e.get("id") for e in log if "id" in e], ["e2", "e3", "e5", "e6"])
        self.assertEqual(sum(1 for e in log if e.get("erased")), 1)  # a place kept in the batch
        # zed is unknown now: events for him are refused, a second erase says so.
        self.assertProblem(self.post("zed", "post"), 422, ["/leader"])
        self.assertProblem(self.req("DELETE", "/v1/admin/leaders/zed"), 404)
        # A rescore gives the same board: the erased events are not replayed.
        self.ok(self.req("POST", "/v1/admin/challenges/weekly/rescore"))
        self.assertEqual(self.ranking(), [(1, "bob", 30)])

    def test_erase_of_a_hidden_leader_and_bad_requests(self):
        t = times_today(1)
        self.event("zed", "post", at=t[0])
        self.put_leader("zed", name="Zed Zimmerman", team="comms", hidden=True)
        self.ok(self.req("DELETE", "/v1/admin/leaders/zed"))
        self.assertEqual([v for v in all_values(self.r) if v and b"zed" in v], [])
        self.assertProblem(self.req("DELETE", "/v1/admin/leaders/nobody"), 404)
        self.assertProblem(self.req("DELETE", "/v1/admin/leaders/Not%20an%20id"), 400)
        _, reader = self.make_token("reader")
        before = self.snapshot()
        self.assertProblem(self.req("DELETE", "/v1/admin/leaders/bob", auth=reader), 403)
        self.assertUnchanged(before)


if __name__ == "__main__":
    unittest.main()
