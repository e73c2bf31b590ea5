"""The rules language through HTTP (docs/rules.md): limits (cooldown, one
score per URL, daily caps), bonuses (first of the day, streaks, goals),
campaigns, eligibility by leader and team, team boards, and the explanation
every result carries. Each rule is checked against a real podiumd and Redis,
including what it leaves in Redis, and the stateful ones under concurrency.
"""

import threading
import time
import unittest

from harness import PodiumTestCase, now_ms, rfc3339, times_today, week_id

DAY = 86400 * 1000


def iso(ms):
    return rfc3339(ms).replace(".000Z", "Z")


def bonuses(std):
    return [(b["kind"], b["points"]) for b in std["bonuses"]]


class Case(PodiumTestCase):
    def rs(self, *args):
        """A Redis command, with bulk strings decoded."""
        v = self.r(*args)
        if isinstance(v, list):
            return [x.decode() if isinstance(x, bytes) else x for x in v]
        return v.decode() if isinstance(v, bytes) else v


class LimitsTest(Case):
    leaders = ("amy", "bob")
    rules = {
        "activities": {
            "post": {"points": 10, "daily_cap": 3},
            "reply": {"points": 3, "cooldown": "1m"},
        },
        "challenges": [
            {"id": "weekly", "name": "Weekly", "period": "week", "timezone": "Europe/London",
             "activities": ["post", "reply"]},
        ],
    }

    def test_cooldown_between_scored_events_of_a_type(self):
        t = times_today(4, spacing_s=40)
        got = [self.event("amy", "reply", at=t[i]) for i in range(4)]
        # 0 s scores; 40 s later is too soon; 80 s after the first scores; 40 s after that is too soon.
        self.assertEqual([g["points"] for g in got], [3, 0, 3, 0])
        self.assertEqual([g["reasons"] for g in got], [[], ["cooldown"], [], ["cooldown"]])
        self.assertEqual(got[1]["standings"][0]["limits"], ["cooldown"])
        self.assertEqual(got[1]["standings"][0]["points"], 0)
        self.assertEqual(got[3]["standings"][0]["score"], 6)
        # Another leader has a cooldown of their own.
        self.assertEqual(self.event("bob", "reply", at=t[1])["points"], 3)
        # The last scored `at` per leader is kept for the cooldown.
        self.assertEqual(self.rs("HGETALL", self.key("last", "reply")),
                         ["amy", str(t[2] // 1000), "bob", str(t[1] // 1000)])

    def test_cooldown_is_exact_under_concurrency(self):
        """Twenty requests for one leader at once: one scores, whatever the
        order in which Redis sees them."""
        at = times_today(1)[0]
        out = []

        def send(i):
            out.append(self.event("amy", "reply", at=at + i, id="cc-%d" % i))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(sorted(o["points"] for o in out), [0] * 19 + [3])
        self.assertEqual(self.ranking(), [(1, "amy", 3)])

    def test_one_score_per_url_per_leader(self):
        t = times_today(5)
        a = self.event("amy", "post", at=t[0],
                       url="https://www.LinkedIn.com/feed/update/123/?utm_source=share&utm_medium=x")
        self.assertEqual(a["points"], 10)
        # The same post written differently: scheme, host case, www, slash, tracking.
        b = self.event("amy", "post", at=t[1], url="http://linkedin.com/feed/update/123#comments")
        self.assertEqual((b["points"], b["reasons"]), (0, ["duplicate_url"]))
        self.assertEqual(b["standings"][0]["limits"], ["duplicate_url"])
        # Another leader may score the same link, and amy another link.
        self.assertEqual(self.event("bob", "post", at=t[2],
                                    url="https://linkedin.com/feed/update/123")["points"], 10)
        self.assertEqual(self.event("amy", "post", at=t[3],
                                    url="https://linkedin.com/feed/update/124")["points"], 10)
        self.assertEqual(self.ranking(), [(1, "amy", 20), (2, "bob", 10)])
        # A duplicate link does not use up the daily cap: amy's third scored post still scores.
        self.assertEqual(self.event("amy", "post", at=t[4])["points"], 10)
        # The URL hash names the event that scored it.
        urls = self.rs("HGETALL", self.key("urls"))
        self.assertEqual(len(urls), 6)  # three leader|key fields and their event ids
        self.assertIn(a["id"], urls)

    def test_duplicate_urls_in_one_batch_and_concurrently(self):
        t = times_today(2)
        r = self.ok(self.batch([
            {"leader": "amy", "type": "post", "at": t[0], "url": "https://example.com/a"},
            {"leader": "amy", "type": "post", "at": t[1], "url": "https://EXAMPLE.com/a/"}]))
        self.assertEqual([x["points"] for x in r["results"]], [10, 0])
        out = []

        def send(i):
            out.append(self.event("bob", "post", at=t[0], id="u-%d" % i, url="https://example.com/b"))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(10)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(sorted(o["points"] for o in out), [0] * 9 + [10])

    def test_a_url_that_is_not_http_is_refused(self):
        before = self.snapshot()
        r = self.post("amy", "post", url="ftp://example.com/x")
        self.assertProblem(r, 422, ["/url"])
        self.assertUnchanged(before)


class BonusesTest(Case):
    """First-of-day and streak bonuses, on an all-time challenge so that
    events of earlier days are accepted, in UTC days."""
    leaders = ("amy", "bob")
    rules = {
        "activities": {"post": {"points": 10}, "reply": {"points": 3}},
        "bonuses": {"first_of_day": 2, "streak": {"days": 3, "points": 20}},
        "challenges": [
            {"id": "hall", "name": "Hall of fame", "period": "all", "activities": ["post", "reply"]},
            {"id": "count", "name": "Posts", "period": "all", "activities": ["post"],
             "scoring": "count"},
        ],
    }

    def test_first_of_day_and_streak(self):
        now = now_ms() - 60_000
        d0 = self.event("amy", "post", at=now - 2 * DAY)
        self.assertEqual(d0["points"], 10)  # the activity's own points
        self.assertEqual(d0["standings"][0]["points"], 12)  # with the day's first bonus
        self.assertEqual(bonuses(d0["standings"][0]), [("first_of_day", 2)])
        # Count challenges count events: no bonus there.
        self.assertEqual(d0["standings"][1]["points"], 1)
        self.assertEqual(bonuses(d0["standings"][1]), [])
        again = self.event("amy", "reply", at=now - 2 * DAY + 1000)
        self.assertEqual(bonuses(again["standings"][0]), [])
        self.assertEqual(again["standings"][0]["points"], 3)
        d1 = self.event("amy", "post", at=now - DAY)
        self.assertEqual(bonuses(d1["standings"][0]), [("first_of_day", 2)])
        d2 = self.event("amy", "post", at=now)
        self.assertEqual(bonuses(d2["standings"][0]), [("first_of_day", 2), ("streak", 20)])
        self.assertEqual(d2["standings"][0]["bonuses"][1]["days"], 3)
        self.assertEqual(d2["standings"][0]["points"], 32)
        self.assertEqual(d2["standings"][0]["score"], 12 + 3 + 12 + 32)
        # A late event for a day without activity earns the day's bonus, not a streak.
        late = self.event("amy", "reply", at=now - 5 * DAY)
        self.assertEqual(bonuses(late["standings"][0]), [("first_of_day", 2)])
        # bob's days are his own.
        self.assertEqual(bonuses(self.event("bob", "reply", at=now)["standings"][0]),
                         [("first_of_day", 2)])
        page = self.ok(self.req("GET", "/v1/leaders/amy"))
        self.assertEqual([(c["challenge"], c["streak"]) for c in page["challenges"]],
                         [("hall", 3), ("count", 0)])
        self.assertEqual(len(page["recent"]), 5)
        self.assertEqual(page["recent"][1]["result"]["standings"][0]["points"], 32)  # newest first

    def test_text_answer_names_the_bonus(self):
        r = self.post("amy", "post", at=now_ms() - 1000, headers={"Accept": "text/plain"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.text, "+12 points (first today), #1 overall (12 points).\n")


class RecentEventsTest(Case):
    leaders = ("amy", "bob")
    rules = {
        "activities": {"post": {"points": 10}, "reply": {"points": 3}},
        "challenges": [{"id": "hall", "name": "Hall", "period": "all",
                        "activities": ["post", "reply"]}],
    }

    def test_recent_events_link_across_calls_and_within_one(self):
        t = times_today(6)
        self.event("amy", "post", at=t[0], id="r0")
        self.ok(self.batch([{"leader": "amy", "type": "reply", "at": t[1], "id": "r1"},
                            {"leader": "bob", "type": "post", "at": t[2], "id": "b1"},
                            {"leader": "amy", "type": "post", "at": t[3], "id": "r2"}]))
        self.event("amy", "reply", at=t[4], id="r3")
        self.event("amy", "reply", at=t[4], id="r3")  # a duplicate is not a new event
        page = self.ok(self.req("GET", "/v1/leaders/amy"))
        self.assertEqual([x["event"]["id"] for x in page["recent"]], ["r3", "r2", "r1", "r0"])
        self.assertEqual([x["result"]["standings"][0]["score"] for x in page["recent"]],
                         [26, 23, 13, 10])
        bob = self.ok(self.req("GET", "/v1/leaders/bob"))
        self.assertEqual([x["event"]["id"] for x in bob["recent"]], ["b1"])
        # Only the 20 newest are shown.
        self.ok(self.batch([{"leader": "amy", "type": "reply", "at": t[5], "id": "m%d" % i}
                            for i in range(25)]))
        page = self.ok(self.req("GET", "/v1/leaders/amy"))
        self.assertEqual(len(page["recent"]), 20)
        self.assertEqual(page["recent"][0]["event"]["id"], "m24")


class CampaignTest(Case):
    leaders = ("amy",)

    def setUp(self):
        now = now_ms()
        self.rules = {
            "activities": {"post": {"points": 10}},
            "multipliers": {"channel": {"linkedin": 1.5}},
            "campaigns": [
                {"name": "Results | week", "starts": iso(now - 3_600_000 - now % 1000),
                 "ends": iso(now + DAY - now % 1000), "multiplier": 2},
                {"name": "Later", "starts": iso(now + 2 * DAY - now % 1000),
                 "ends": iso(now + 3 * DAY - now % 1000), "multiplier": 5},
            ],
            "challenges": [{"id": "hall", "name": "Hall", "period": "all", "activities": ["post"]}],
        }
        super().setUp()

    def test_campaign_multiplies_points_inside_its_window(self):
        inside = self.event("amy", "post", channel="linkedin", at=now_ms() - 1000)
        self.assertEqual(inside["points"], 30)
        self.assertEqual(inside["explain"], {"base": 10, "multipliers": [
            {"kind": "channel", "name": "linkedin", "factor": 1.5},
            {"kind": "campaign", "name": "Results | week", "factor": 2}]})
        before = self.event("amy", "post", at=now_ms() - 2 * 3_600_000)
        self.assertEqual(before["points"], 10)
        self.assertEqual(before["explain"], {"base": 10, "multipliers": []})
        # The explanation is stored with the result, for the leader's page.
        log = self.log_entries()
        self.assertIn('"name":"Results \\u007c week"', log[0]["result"])


class GoalsTest(Case):
    leaders = ("amy",)
    rules = {
        "activities": {"stakeholder_interaction": {"points": 15}, "post": {"points": 10}},
        "challenges": [
            {"id": "weekly", "name": "Weekly", "period": "week", "timezone": "Europe/London",
             "activities": ["stakeholder_interaction", "post"],
             "goals": [{"id": "connector", "activity": "stakeholder_interaction", "count": 3,
                        "bonus": 25, "badge": "Connector"}]},
        ],
    }

    def test_goal_awards_bonus_and_badge_once_per_period(self):
        t = times_today(5)
        got = [self.event("amy", "stakeholder_interaction", at=t[i]) for i in range(4)]
        got.append(self.event("amy", "post", at=t[4]))
        self.assertEqual([g["standings"][0]["points"] for g in got], [15, 15, 40, 15, 10])
        goal = got[2]["standings"][0]["bonuses"]
        self.assertEqual(goal, [{"kind": "goal", "goal": "connector", "badge": "Connector",
                                 "points": 25}])
        # The all-time board gets the bonus too.
        self.assertEqual(got[2]["standings"][1]["points"], 40)
        self.assertEqual(self.ranking(), [(1, "amy", 95)])
        badges = self.rs("HGETALL", self.key("badges", "amy"))
        self.assertEqual(badges[0], "weekly:%s:connector" % week_id())
        self.assertTrue(badges[1].startswith("Connector|"), badges)
        r = self.post("amy", "stakeholder_interaction", at=t[4] + 1000,
                      headers={"Accept": "text/plain"})
        self.assertEqual(r.text, "+15 points, #1 this week (110 points).\n")
        # The leader's page shows the badge and explains recent events.
        page = self.ok(self.req("GET", "/v1/leaders/amy"))
        self.assertEqual(page["challenges"][0]["challenge"], "weekly")
        b = page["challenges"][0]["badges"]
        self.assertEqual([(x["goal"], x["badge"], x["period"]) for x in b],
                         [("connector", "Connector", week_id())])
        recent = page["recent"]
        self.assertEqual(len(recent), 6)
        self.assertEqual(recent[0]["event"]["type"], "stakeholder_interaction")
        third = recent[3]
        self.assertEqual(third["event"]["id"], got[2]["id"])
        self.assertEqual(third["result"]["standings"][0]["bonuses"], goal)
        self.assertEqual(third["result"]["explain"], {"base": 15, "multipliers": []})


class EligibilityTest(Case):
    leaders = ()
    rules = {
        "activities": {"post": {"points": 10}},
        "challenges": [
            {"id": "weekly", "name": "Weekly", "period": "week", "timezone": "Europe/London",
             "activities": ["post"]},
            {"id": "execs", "name": "Exec sprint", "period": "week", "timezone": "Europe/London",
             "activities": ["post"], "teams": ["exec"]},
            {"id": "pair", "name": "Pair", "period": "all", "activities": ["post"],
             "leaders": ["amy"]},
        ],
    }

    def setUp(self):
        super().setUp()
        self.put_team("exec")
        self.put_team("comms")
        self.put_leader("amy", team="exec")
        self.put_leader("bob", team="comms")
        self.put_leader("cat")

    def test_teams_and_leaders_lists(self):
        t = times_today(3)
        amy = self.event("amy", "post", at=t[0])
        self.assertEqual([(s["challenge"], s["period"]) for s in amy["standings"]], [
            ("weekly", week_id()), ("weekly", "all"), ("execs", week_id()), ("execs", "all"),
            ("pair", "all")])
        bob = self.event("bob", "post", at=t[1])
        self.assertEqual([s["challenge"] for s in bob["standings"]], ["weekly", "weekly"])
        cat = self.event("cat", "post", at=t[2])
        self.assertEqual([s["challenge"] for s in cat["standings"]], ["weekly", "weekly"])
        self.assertEqual(self.ranking("execs"), [(1, "amy", 10)])
        self.assertEqual(self.ranking("pair", "all"), [(1, "amy", 10)])

    def test_team_boards_sum_members_points(self):
        t = times_today(4)
        self.put_leader("dan", team="exec")
        self.event("amy", "post", at=t[0])
        self.event("dan", "post", at=t[1])
        self.event("dan", "post", at=t[2])
        self.event("bob", "post", at=t[3])
        W = week_id()
        tb = self.rs("ZREVRANGE", self.key("tboard", "weekly", W), 0, -1, "WITHSCORES")
        self.assertEqual(tb, ["exec", "30", "comms", "10"])
        self.assertEqual(self.rs("HGETALL", self.key("tcount", "weekly", W)),
                         ["exec", "2", "comms", "1"])
        self.assertEqual(self.rs("ZSCORE", self.key("tboard", "weekly", "all"), "exec"), "30")
        j = self.ok(self.req("GET", "/v1/challenges/weekly/teams"))
        self.assertEqual((j["challenge"], j["period"], j["ranking"]), ("weekly", W, "total"))
        self.assertEqual([(e["rank"], e["team"], e["score"], e["members"]) for e in j["entries"]],
                         [(1, "exec", 30, 2), (2, "comms", 10, 1)])
        self.assertEqual(j["entries"][0]["profile"], {"name": "Exec"})
        j = self.ok(self.req("GET", "/v1/challenges/weekly/teams?period=all"))
        self.assertEqual(j["entries"][0]["score"], 30)
        self.assertProblem(self.req("GET", "/v1/challenges/nope/teams"), 404)
        self.assertProblem(self.req("GET", "/v1/challenges/weekly/teams?period=2026-13"), 400)


class TeamAverageTest(Case):
    rules = {
        "activities": {"post": {"points": 10}},
        "challenges": [
            {"id": "weekly", "name": "Weekly", "period": "week", "timezone": "Europe/London",
             "activities": ["post"], "team_ranking": "average"},
        ],
    }

    def test_average_per_member_who_scored(self):
        self.put_team("big")
        self.put_team("small")
        for lid, team in (("amy", "big"), ("bob", "big"), ("cat", "big"), ("dan", "small")):
            self.put_leader(lid, team=team)
        t = times_today(4)
        for i, lid in enumerate(("amy", "bob", "cat", "dan")):
            self.event(lid, "post", at=t[i])
        self.event("dan", "post", at=t[3] + 1000)
        j = self.ok(self.req("GET", "/v1/challenges/weekly/teams"))
        self.assertEqual(j["ranking"], "average")
        self.assertEqual([(e["rank"], e["team"], e["score"], e["members"], e["average"])
                          for e in j["entries"]],
                         [(1, "small", 20, 1, 20.0), (2, "big", 30, 3, 10.0)])


if __name__ == "__main__":
    unittest.main()
