"""GET and PUT /v1/rules: versioned rule sets in Redis, picked up by every podiumd."""

import copy
import json
import os
import signal
import time

from harness import (DEFAULT_RULES, RULEHIST_KEY, RULESET_KEY, PodiumTestCase, now_ms,
                     parse_rfc3339_ms, store_rules, stored_rules, wait_until)

JSON = {"Content-Type": "application/json"}


def with_article(rules=DEFAULT_RULES, points=25):
    """The rules plus an activity type "article" that the weekly challenge counts."""
    r = copy.deepcopy(rules)
    r["activities"]["article"] = {"points": points, "daily_cap": 1}
    r["challenges"][0]["activities"].append("article")
    return r


# A rule set with many mistakes, and the pointer of each.
BAD_RULES = {
    "activities": {
        "post": {"points": "ten"},
        "reply": {"points": 3, "daly_cap": 2},
        "Bad Id": {"points": 1},
    },
    "multipliers": {"channel": {"linkedin": 0}},
    "challenges": [
        {"id": "weekly", "name": "W", "period": "fortnight", "activities": ["post", "nope"]},
        {"id": "weekly", "name": "W2", "period": "week", "timezone": "Europe/Londn",
         "activities": ["reply"]},
    ],
    "colour": "red",
}
BAD_POINTERS = ["/activities/post/points", "/activities/reply/daly_cap", "/activities/Bad Id",
                "/multipliers/channel/linkedin", "/challenges/0/period",
                "/challenges/0/activities/1", "/challenges/1/id", "/challenges/1/timezone",
                "/colour"]


class RulesTestCase(PodiumTestCase):
    """Base: podiumd without rules_file, so rules live in Redis."""
    rules = None
    leaders = ()

    def put_rules(self, rules, d=None, headers=None, query="", **kw):
        text = rules if isinstance(rules, (str, bytes)) else json.dumps(rules)
        h = dict(JSON)
        h.update(headers or {})
        return (d or self.d).request("PUT", "/v1/rules" + query, body=text, headers=h, **kw)

    def get_rules(self, d=None, query="", **kw):
        return (d or self.d).request("GET", "/v1/rules" + query, **kw)

    def assertVersion(self, resp, version, changed):
        j = self.ok(resp)
        self.assertEqual(j["version"], version, j)
        self.assertEqual(j["changed"], changed, j)
        self.assertLess(abs(parse_rfc3339_ms(j["applied_at"]) - now_ms()), 60_000, j)
        self.assertEqual(resp.header("ETag"), '"rules-%d"' % version)
        return j


class RulesApiTest(RulesTestCase):

    def test_get_without_rules_is_404(self):
        before = self.snapshot()
        p = self.assertProblem(self.get_rules(), 404)
        self.assertEqual(p["type"], "/problems/no-rules")
        self.assertProblem(self.get_rules(query="?version=1"), 404)
        self.assertUnchanged(before)

    def test_put_stores_version_1_and_applies_at_once(self):
        self.put_leader("amy")
        text = json.dumps(with_article(), indent=2) + "\n"
        self.assertVersion(self.put_rules(text), 1, True)
        # The daemon that took the PUT applies the rules before answering.
        self.assertEqual(self.event("amy", "article")["points"], 25)
        self.assertEqual(self.d.ready_status(), 200)
        # Stored byte for byte, with its history entry.
        s = stored_rules(self.r)
        self.assertEqual(s["version"], "1")
        self.assertEqual(s["doc"], text)
        self.assertEqual(s["source"], "api")
        self.assertEqual(self.r("HGET", RULEHIST_KEY, "1").decode(), text)
        r = self.get_rules()
        j = self.ok(r)
        self.assertEqual(j["version"], 1)
        self.assertEqual(j["source"], "api")
        self.assertEqual(j["rules"], with_article())
        self.assertEqual(parse_rfc3339_ms(j["applied_at"]), int(s["applied_at"]))
        self.assertEqual(r.header("ETag"), '"rules-1"')
        r = self.get_rules(headers={"If-None-Match": '"rules-1"'})
        self.assertEqual(r.status, 304, r)
        self.assertEqual(r.body, b"")
        self.assertEqual(self.get_rules(headers={"If-None-Match": '"rules-2"'}).status, 200)
        self.assertIn("rules: applied version 1 from PUT /v1/rules", self.d.log())

    def test_identical_put_does_not_bump_the_version(self):
        text = json.dumps(DEFAULT_RULES)
        self.assertVersion(self.put_rules(text), 1, True)
        before = self.snapshot()
        j = self.assertVersion(self.put_rules(text), 1, False)
        self.assertEqual(parse_rfc3339_ms(j["applied_at"]), int(stored_rules(self.r)["applied_at"]))
        self.assertUnchanged(before, "an identical PUT")
        # The same JSON with other bytes is a new version.
        self.assertVersion(self.put_rules(json.dumps(DEFAULT_RULES, indent=1)), 2, True)
        self.assertVersion(self.put_rules(with_article()), 3, True)
        self.assertEqual(sorted(int(v) for v in self.r("HKEYS", RULEHIST_KEY)), [1, 2, 3])
        # Older versions from the history; applied_at and source are not kept for them.
        j = self.ok(self.get_rules(query="?version=1"))
        self.assertEqual((j["version"], j["rules"], j["applied_at"], j["source"]),
                         (1, DEFAULT_RULES, None, None))
        self.assertEqual(self.ok(self.get_rules(query="?version=3"))["rules"], with_article())
        self.assertEqual(self.get_rules(query="?version=2").header("ETag"), '"rules-2"')
        self.assertProblem(self.get_rules(query="?version=4"), 404)
        for bad in ("0", "-1", "x", "1.5", ""):
            with self.subTest(version=bad):
                self.assertProblem(self.get_rules(query="?version=" + bad), 400, ["/version"])

    def test_history_keeps_the_newest_50(self):
        for i in range(1, 53):
            self.assertVersion(self.put_rules(with_article(points=i)), i, True)
        self.assertEqual(sorted(int(v) for v in self.r("HKEYS", RULEHIST_KEY)), list(range(3, 53)))
        self.assertProblem(self.get_rules(query="?version=2"), 404)
        self.assertEqual(self.ok(self.get_rules(query="?version=3"))["rules"], with_article(points=3))
        self.assertEqual(self.ok(self.get_rules())["version"], 52)

    def test_invalid_puts_change_nothing(self):
        self.put_leader("amy")
        self.assertVersion(self.put_rules(DEFAULT_RULES), 1, True)
        before = self.snapshot()
        # Not JSON: 400 with the line and column.
        for body in ('{"activities": {"post": {"points": 10}},\n "challenges": [', "",
                     '{"activities": {}, "activities": {}}', b"\xff{"):
            with self.subTest(body=body):
                p = self.assertProblem(self.put_rules(body), 400, [""])
                self.assertEqual(p["type"], "/problems/invalid-rules")
                self.assertRegex(p["errors"][0]["message"], r"line \d+, column \d+")
        p = self.assertProblem(self.put_rules('{"activities": 1,\n  "challenges": ]'), 400, [""])
        self.assertIn("line 2, column 17", p["errors"][0]["message"])
        # JSON but not a rule set: 422 with every error.
        p = self.assertProblem(self.put_rules(BAD_RULES), 422, BAD_POINTERS)
        self.assertEqual(p["type"], "/problems/invalid-rules")
        self.assertProblem(self.put_rules("[]"), 422, [""])
        self.assertProblem(self.put_rules({"activities": {"post": {"points": 1}}}), 422,
                           ["/challenges"])
        # The same for a dry run.
        self.assertProblem(self.put_rules(BAD_RULES, query="?dry_run=1"), 422, BAD_POINTERS)
        self.assertProblem(self.put_rules("{", query="?dry_run=1"), 400, [""])
        # Media types and query.
        for ctype in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data"):
            with self.subTest(content_type=ctype):
                p = self.assertProblem(self.put_rules(DEFAULT_RULES, headers={"Content-Type": ctype}),
                                       415)
                self.assertIn("application/json", p["detail"])
        self.assertProblem(self.put_rules(DEFAULT_RULES, query="?dry_run=yes"), 400, ["/dry_run"])
        self.assertUnchanged(before, "refused PUTs")
        # The rules in force are still version 1.
        self.assertEqual(self.event("amy", "post")["points"], 10)
        self.assertProblem(self.post("amy", "article"), 422, ["/type"])

    def test_if_match(self):
        self.assertVersion(self.put_rules(DEFAULT_RULES), 1, True)
        before = self.snapshot()
        for tag in ('"rules-2"', 'W/"rules-1"', '"rules-1', "rules-1", '"v1"', '"rules-01x"'):
            with self.subTest(if_match=tag):
                r = self.put_rules(with_article(), headers={"If-Match": tag})
                p = self.assertProblem(r, 412)
                self.assertEqual(p["type"], "/problems/version-conflict")
                self.assertIn('"rules-1"', p["detail"])
                self.assertEqual(r.header("ETag"), '"rules-1"')
                self.assertProblem(self.put_rules(with_article(), headers={"If-Match": tag},
                                                  query="?dry_run=1"), 412)
        self.assertUnchanged(before, "PUTs with a stale If-Match")
        self.assertVersion(self.put_rules(with_article(), headers={"If-Match": '"rules-1"'}), 2, True)
        self.assertVersion(self.put_rules(DEFAULT_RULES, headers={"If-Match": "*"}), 3, True)
        # An identical document with a stale tag is still a conflict.
        self.assertProblem(self.put_rules(DEFAULT_RULES, headers={"If-Match": '"rules-2"'}), 412)

    def test_if_match_star_needs_a_stored_rule_set(self):
        before = self.snapshot()
        self.assertProblem(self.put_rules(DEFAULT_RULES, headers={"If-Match": "*"}), 412)
        self.assertProblem(self.put_rules(DEFAULT_RULES, headers={"If-Match": '"rules-1"'}), 412)
        self.assertUnchanged(before)

    def test_only_admins_put(self):
        self.assertVersion(self.put_rules(DEFAULT_RULES), 1, True)
        self.put_leader("amy")
        tokens = {"reader": self.make_token("reader")[1], "leader": self.make_token("leader", "amy")[1],
                  "ingest": self.make_token("ingest")[1], "admin": self.make_token("admin")[1]}
        before = self.snapshot()
        for role in ("reader", "leader", "ingest"):
            with self.subTest(role=role):
                for q in ("", "?dry_run=1"):
                    p = self.assertProblem(self.put_rules(with_article(), auth=tokens[role], query=q), 403)
                    self.assertIn("admin", p["detail"])
                self.assertEqual(self.ok(self.get_rules(auth=tokens[role]))["version"], 1)
        self.assertProblem(self.put_rules(with_article(), auth=None), 401)
        self.assertProblem(self.get_rules(auth=None), 401)
        self.assertUnchanged(before, "PUTs by other roles")
        self.assertVersion(self.put_rules(with_article(), auth=tokens["admin"]), 2, True)

    def test_dry_run_lists_changes_and_changes_nothing(self):
        # Without a stored rule set everything is added.
        j = self.ok(self.put_rules(DEFAULT_RULES, query="?dry_run=1"))
        self.assertEqual(j["valid"], True)
        self.assertIsNone(j["version"])
        self.assertEqual(j["changes"]["activities"],
                         {"added": list(DEFAULT_RULES["activities"]), "removed": [], "changed": []})
        self.assertEqual(j["changes"]["challenges"],
                         {"added": ["weekly", "meetings"], "removed": [], "changed": []})
        self.assertEqual(self.r("EXISTS", RULESET_KEY), 0)
        self.assertVersion(self.put_rules(DEFAULT_RULES), 1, True)
        before = self.snapshot()
        new = with_article()
        new["activities"]["post"] = {"points": 12, "daily_cap": 3}       # points changed
        new["activities"]["reply"] = {"points": 3, "daily_cap": 5}       # cap added
        new["activities"]["stakeholder_interaction"] = {"points": 15.0}  # same value
        del new["activities"]["penalty"]
        new["challenges"][0]["activities"].remove("penalty")
        del new["challenges"][1]
        new["challenges"].append({"id": "monthly", "name": "Monthly", "period": "month",
                                  "activities": ["post"]})
        new["multipliers"]["channel"]["video"] = 1.2
        r = self.put_rules(new, query="?dry_run=1")
        j = self.ok(r)
        self.assertEqual(r.header("ETag"), '"rules-1"')
        # The replayed boards are checked in test_rescore.py; nothing is logged here.
        self.assertEqual({(b["challenge"], b["today"] is None) for b in j.pop("boards")},
                         {("weekly", False), ("monthly", True)})
        self.assertEqual(j, {
            "valid": True, "version": 1,
            "changes": {
                "activities": {
                    "added": ["article"], "removed": ["penalty"],
                    "changed": [
                        {"id": "post", "before": {"points": 10, "daily_cap": 3, "cooldown": 0},
                         "after": {"points": 12, "daily_cap": 3, "cooldown": 0}},
                        {"id": "reply", "before": {"points": 3, "daily_cap": 0, "cooldown": 0},
                         "after": {"points": 3, "daily_cap": 5, "cooldown": 0}}]},
                "challenges": {"added": ["monthly"], "removed": ["meetings"], "changed": ["weekly"]},
                "other": ["multipliers"]}})
        # No change at all.
        j = self.ok(self.put_rules(json.dumps(DEFAULT_RULES, indent=4), query="?dry_run=true"))
        self.assertEqual(j["changes"], {"activities": {"added": [], "removed": [], "changed": []},
                                        "challenges": {"added": [], "removed": [], "changed": []},
                                        "other": []})
        self.assertVersion(self.put_rules(DEFAULT_RULES, query="?dry_run=0"), 1, False)
        self.assertUnchanged(before, "dry runs")


class RulesFileModeTest(RulesTestCase):
    """With rules_file the file wins: PUT answers 409, SIGHUP applies edits."""
    rules = DEFAULT_RULES
    leaders = ("amy",)

    def wait_version(self, version, d=None):
        return wait_until(lambda: self.get_rules(d=d).status == 200 and
                          self.get_rules(d=d).json()["version"] == version,
                          what="rule set version %d" % version)

    def test_the_file_is_stored_in_redis_once(self):
        self.wait_version(1)
        j = self.ok(self.get_rules())
        self.assertEqual((j["source"], j["rules"]), ("file", DEFAULT_RULES))
        with open(self.d.rules_path) as f:
            self.assertEqual(stored_rules(self.r)["doc"], f.read())
        self.d.wait_log("rules: stored %s in Redis as version 1" % self.d.rules_path)
        # A restart with the same file makes no new version.
        self.assertEqual(self.d.stop(), 0)
        before = self.snapshot()
        self.d.start()
        self.d.wait_log("is version 1 in Redis already")
        self.assertEqual(self.ok(self.get_rules())["version"], 1)
        self.assertEqual(self.r("HKEYS", RULEHIST_KEY), [b"1"])
        self.assertEqual(before[RULESET_KEY.encode()], self.snapshot()[RULESET_KEY.encode()])

    def test_put_answers_409(self):
        self.wait_version(1)
        before = self.snapshot()
        for body, q in ((with_article(), ""), ("{not json", ""), (BAD_RULES, ""),
                        (with_article(), "?dry_run=1")):
            with self.subTest(body=body, query=q):
                p = self.assertProblem(self.put_rules(body, query=q), 409)
                self.assertEqual(p["type"], "/problems/rules-from-file")
                self.assertIn("SIGHUP", p["detail"])
                self.assertIn(self.d.rules_path, p["detail"])
        self.assertUnchanged(before, "PUTs in rules_file mode")

    def test_sighup_stores_and_applies_the_edited_file(self):
        self.wait_version(1)
        self.assertProblem(self.post("amy", "article"), 422, ["/type"])
        self.d.write_rules(with_article())
        self.d.send_signal(signal.SIGHUP)
        self.wait_version(2)
        j = self.ok(self.get_rules())
        self.assertEqual((j["source"], j["rules"]), ("file", with_article()))
        self.assertEqual(self.event("amy", "article")["points"], 25)
        # SIGHUP with the file unchanged: applied again, no new version.
        self.d.send_signal(signal.SIGHUP)
        self.d.wait_log("is version 2 in Redis already")
        self.assertEqual(self.ok(self.get_rules())["version"], 2)
        # A broken file changes nothing, in Redis or in force.
        before = self.snapshot()
        self.d.write_rules(BAD_RULES)
        self.d.send_signal(signal.SIGHUP)
        self.d.wait_log("reload failed")
        self.assertEqual(self.ok(self.get_rules())["version"], 2)
        self.assertEqual(before[RULESET_KEY.encode()], self.snapshot()[RULESET_KEY.encode()])
        self.assertEqual(self.event("amy", "article")["reasons"], ["daily_cap"])

    def test_rules_put_through_another_daemon_do_not_replace_the_file(self):
        self.wait_version(1)
        b = self.start_daemon(name="b", rules=None, workdir=self.mkdir("b"))
        b.request("PUT", "/v1/admin/leaders/amy", json_body={"name": "Amy"})
        self.assertVersion(self.put_rules(with_article(), d=b), 2, True)
        self.assertEqual(b.request("POST", "/v1/events", json_body={"leader": "amy", "type": "article"}).status, 200)
        self.d.wait_log("rules: version 2 was stored through PUT /v1/rules, but this podiumd "
                        "takes its rules from %s and keeps them" % self.d.rules_path, timeout=3)
        self.assertProblem(self.post("amy", "article"), 422, ["/type"])
        self.assertEqual(self.d.log().count("version 2 was stored through PUT"), 1)

    def mkdir(self, name):
        path = os.path.join(self.tmp, name)
        os.makedirs(path, exist_ok=True)
        return path


class TwoDaemonsTest(RulesTestCase):
    """Two podiumd on one Redis: a rule set stored through one is in force on
    the other within a second."""
    leaders = ("amy",)

    def setUp(self):
        super().setUp()
        self.assertVersion(self.put_rules(DEFAULT_RULES), 1, True)
        workdir = os.path.join(self.tmp, "b")
        os.makedirs(workdir)
        self.b = self.start_daemon(name="b", rules=None, workdir=workdir)
        self.b.wait_log("rules: applied the rule set stored in Redis (version 1")

    def post_b(self, type):
        return self.b.request("POST", "/v1/events", json_body={"leader": "amy", "type": type})

    def test_a_put_on_one_daemon_applies_on_the_other_within_a_second(self):
        self.assertProblem(self.post_b("article"), 422, ["/type"])
        self.assertVersion(self.put_rules(with_article()), 2, True)
        start = time.monotonic()
        wait_until(lambda: self.post_b("article").status == 200, timeout=1.0, interval=0.01,
                   what="daemon b to apply version 2")
        self.assertLess(time.monotonic() - start, 1.0)
        self.b.wait_log("Redis announces version 2")
        self.b.wait_log("rules: applied the rule set stored in Redis (version 2")
        # And back: a type removed through b is refused by a.
        self.assertVersion(self.put_rules(DEFAULT_RULES, d=self.b), 3, True)
        wait_until(lambda: self.post("amy", "article").status == 422, timeout=1.0, interval=0.01,
                   what="daemon a to apply version 3")

    def test_a_lost_message_is_made_up_for_by_the_version_check(self):
        self.assertProblem(self.post_b("article"), 422, ["/type"])
        self.assertEqual(store_rules(self.r, with_article()), 2)   # no PUBLISH
        start = time.monotonic()
        wait_until(lambda: self.post_b("article").status == 200 and
                   self.post("amy", "article").status == 200, timeout=2.5, interval=0.02,
                   what="both daemons to find version 2")
        self.assertLess(time.monotonic() - start, 2.5)
        for d in (self.d, self.b):
            self.assertIn("rules: the stored version is 2, not 1; reading it", d.log())
            self.assertNotIn("Redis announces version 2", d.log())

    def test_the_subscription_comes_back_after_a_lost_connection(self):
        self.assertEqual(self.b.log().count("subscribed to podium:{default}:rules:changed"), 1)
        self.r("CLIENT", "KILL", "TYPE", "pubsub")
        wait_until(lambda: self.b.log().count("subscribed to podium:{default}:rules:changed") == 2,
                   what="daemon b to subscribe again")
        self.assertVersion(self.put_rules(with_article()), 2, True)
        self.b.wait_log("Redis announces version 2", timeout=1.0)
        wait_until(lambda: self.post_b("article").status == 200, timeout=1.0,
                   what="daemon b to apply version 2")

    def test_a_stored_rule_set_that_does_not_validate_keeps_the_running_rules(self):
        bad = dict(DEFAULT_RULES, colour="red")
        bad["activities"] = dict(DEFAULT_RULES["activities"], post={"points": "ten"})
        self.assertEqual(store_rules(self.r, bad), 2)
        self.b.wait_log("rules (version 2 in Redis): /activities/post/points: ", timeout=3)
        self.b.wait_log("rules (version 2 in Redis): /colour: ")
        self.b.wait_log("rules: version 2 stored in Redis is not valid for this podiumd; the "
                        "running rules (version 1) stay in force")
        self.assertEqual(self.b.ready_status(), 200)
        self.assertEqual(self.post_b("post").json()["points"], 10)
        # Said once, not every second.
        time.sleep(1.2)
        self.assertEqual(self.b.log().count("version 2 stored in Redis is not valid"), 1)
        # The next valid version is applied.
        self.assertVersion(self.put_rules(with_article()), 3, True)
        wait_until(lambda: self.post_b("article").status == 200, timeout=1.0,
                   what="daemon b to apply version 3")
