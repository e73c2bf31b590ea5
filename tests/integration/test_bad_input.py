"""Bad requests: each gets the right status and an RFC 9457 problem, and
NOTHING changes in Redis (every key's DUMP compared before and after)."""

import json
import socket
import time
import unittest

from harness import PodiumTestCase, now_ms, rfc3339, times_today

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def ev(**kw):
    e = {"leader": "amy", "type": "post"}
    e.update(kw)
    return {k: v for k, v in e.items() if v is not None}


def batch(*events):
    return json.dumps({"events": list(events)})


class BadInputTest(PodiumTestCase):
    leaders = ("amy", "bob")

    def setUp(self):
        super().setUp()
        # Some state to protect: a team, a score, a token.
        self.put_team("comms")
        self.event("amy", "post", at=times_today(1)[0], id="seed-1")
        self.make_token("reader")

    def check_cases(self, cases):
        for case in cases:
            name, method, path, headers, body, status, pointers = case
            with self.subTest(case=name):
                before = self.snapshot()
                if isinstance(body, (dict, list)):
                    body = json.dumps(body)
                r = self.req(method, path, body=body, headers=headers)
                p = self.assertProblem(r, status, pointers)
                self.assertUnchanged(before, name)
                yield name, p

    def test_bad_events(self):
        now = now_ms()
        good = ev()
        cases = [
            # name, method, path, headers, body, status, pointers
            ("malformed JSON", "POST", "/v1/events", JSON, '{"leader": "amy",\n "type": }', 400, [""]),
            ("truncated JSON", "POST", "/v1/events", JSON, '{"leader": "amy", "type": "po', 400, [""]),
            ("empty body", "POST", "/v1/events", JSON, "", 400, [""]),
            ("not an object", "POST", "/v1/events", JSON, "[1, 2]", 400, [""]),
            ("duplicate member", "POST", "/v1/events", JSON, '{"leader": "amy", "type": "post", "type": "reply"}', 400, [""]),
            ("missing type", "POST", "/v1/events", JSON, ev(type=None), 422, ["/type"]),
            ("missing leader", "POST", "/v1/events", JSON, ev(leader=None), 422, ["/leader"]),
            ("bad leader id", "POST", "/v1/events", JSON, ev(leader="Amy!"), 422, ["/leader"]),
            ("leader not a string", "POST", "/v1/events", JSON, ev(leader=7), 422, ["/leader"]),
            ("unknown member", "POST", "/v1/events", JSON, ev(colour="red"), 422, ["/colour"]),
            ("several problems", "POST", "/v1/events", JSON, ev(leader="", type="", at="soon"), 422,
             ["/leader", "/type", "/at"]),
            ("unknown leader", "POST", "/v1/events", JSON, ev(leader="ghost"), 422, ["/leader"]),
            ("unknown activity type", "POST", "/v1/events", JSON, ev(type="dance"), 422, ["/type"]),
            ("at in the future", "POST", "/v1/events", JSON, ev(at=rfc3339(now + 10 * 60 * 1000)), 422, ["/at"]),
            ("at not RFC 3339", "POST", "/v1/events", JSON, ev(at="27/11/2026 10:00"), 422, ["/at"]),
            ("at not a string", "POST", "/v1/events", JSON, ev(at=1764230400), 422, ["/at"]),
            ("at in a closed period", "POST", "/v1/events", JSON,
             ev(at=rfc3339(now - 40 * 86400 * 1000)), 422, ["/at"]),
            ("at in a closed period, id never seen", "POST", "/v1/events", JSON,
             ev(at=rfc3339(now - 40 * 86400 * 1000), id="never-seen-1"), 422, ["/at"]),
            ("id too long", "POST", "/v1/events", JSON, ev(id="x" * 129), 422, ["/id"]),
            ("id with a space", "POST", "/v1/events", JSON, ev(id="a b"), 422, ["/id"]),
            ("url not http", "POST", "/v1/events", JSON, ev(url="javascript:alert(1)"), 422, ["/url"]),
            ("note too long", "POST", "/v1/events", JSON, ev(note="n" * 1001), 422, ["/note"]),
            ("channel not an id", "POST", "/v1/events", JSON, ev(channel="Linked In"), 422, ["/channel"]),
            # batches
            ("batch: bad type in event 2", "POST", "/v1/events", JSON,
             batch(good, good, ev(type="Not A Type")), 422, ["/events/2/type"]),
            ("batch: unknown type in event 2", "POST", "/v1/events", JSON,
             batch(good, good, ev(type="dance")), 422, ["/events/2/type"]),
            ("batch: unknown leader in event 1", "POST", "/v1/events", JSON,
             batch(good, ev(leader="ghost"), good), 422, ["/events/1/leader"]),
            ("batch: two bad events", "POST", "/v1/events", JSON,
             batch(ev(at="x"), good, ev(leader=None)), 422, ["/events/0/at", "/events/2/leader"]),
            ("batch: not an object", "POST", "/v1/events", JSON, batch(good, "post"), 422, ["/events/1"]),
            ("batch: empty", "POST", "/v1/events", JSON, batch(), 422, ["/events"]),
            ("batch: 1001 events", "POST", "/v1/events", JSON, batch(*([good] * 1001)), 422, ["/events"]),
            ("batch: events not an array", "POST", "/v1/events", JSON, '{"events": {"a": 1}}', 422, ["/events"]),
            ("batch: member beside events", "POST", "/v1/events", JSON,
             '{"events": [%s], "leader": "amy"}' % json.dumps(good), 422, ["/leader"]),
            # form bodies
            ("form: unknown field", "POST", "/v1/events", FORM, "leader=amy&type=post&colour=red", 422, ["/colour"]),
            ("form: bad percent-encoding", "POST", "/v1/events", FORM, "leader=amy&type=po%zzst", 422, ["/type"]),
            ("form: field twice", "POST", "/v1/events", FORM, "leader=amy&type=post&type=reply", 422, ["/type"]),
            ("form: unknown leader", "POST", "/v1/events", FORM, "leader=ghost&type=post", 422, ["/leader"]),
            ("form: malformed field name", "POST", "/v1/events", FORM, "leader=amy&type=post&x%zz=1", 400, [""]),
            ("form: '+' in at not encoded", "POST", "/v1/events", FORM,
             "leader=amy&type=post&at=2026-11-27T10:00:00+00:00", 422, ["/at"]),
            # headers
            ("Idempotency-Key with a space", "POST", "/v1/events", {**JSON, "Idempotency-Key": "a b"},
             json.dumps(good), 400, [""]),
            ("Idempotency-Key too long", "POST", "/v1/events", {**JSON, "Idempotency-Key": "k" * 123},
             json.dumps(good), 400, [""]),
            ("unsupported content type", "POST", "/v1/events", {"Content-Type": "text/plain"},
             "amy posted", 415, None),
            ("unsupported content type (xml)", "POST", "/v1/events", {"Content-Type": "application/xml"},
             "<event/>", 415, None),
        ]
        for name, p in self.check_cases(cases):
            if name == "malformed JSON":
                self.assertRegex(p["errors"][0]["message"], r"line 2, column \d+")
            if name == "unknown leader":
                self.assertIn("ghost", p["errors"][0]["message"])
            if name == "at in the future":
                self.assertIn("5 minutes", p["errors"][0]["message"])
        # The seed event is still the only one.
        self.assertEqual(len(self.log_entries()), 1)
        self.assertEqual(self.zboard("weekly", "all"), {"amy": 10})

    def test_at_up_to_five_minutes_ahead_is_fine(self):
        r = self.post("bob", "reply", at=rfc3339(now_ms() + 4 * 60 * 1000))
        self.assertEqual(r.status, 200, r)

    def test_batch_of_1000_is_fine(self):
        j = self.ok(self.batch([{"leader": "bob", "type": "reply"}] * 1000))
        self.assertEqual(len(j["results"]), 1000)
        self.assertEqual(self.zboard("weekly", "all")["bob"], 3000)

    def test_routes_methods_and_queries(self):
        cases = [
            ("unknown route", "GET", "/v2/events", None, None, 404, None),
            ("unknown route under /v1", "GET", "/v1/nothing", None, None, 404, None),
            ("too deep", "GET", "/v1/leaders/amy/extra", None, None, 404, None),
            ("empty segment", "GET", "/v1/leaders/", None, None, 404, None),
            ("long path", "GET", "/v1/" + "x" * 600, None, None, 404, None),
            ("unknown challenge", "GET", "/v1/challenges/nope/leaderboard", None, None, 404, None),
            ("unknown leader", "GET", "/v1/leaders/ghost", None, None, 404, None),
            ("invalid leader id", "GET", "/v1/leaders/Amy", None, None, 404, None),
            ("around a leader not on the board", "GET", "/v1/challenges/weekly/leaderboard/around/bob", None, None, 404, None),
            ("around an invalid id", "GET", "/v1/challenges/weekly/leaderboard/around/BOB", None, None, 404, None),
            ("GET events", "GET", "/v1/events", None, None, 405, None),
            ("DELETE events", "DELETE", "/v1/events", None, None, 405, None),
            ("POST challenges", "POST", "/v1/challenges", JSON, "{}", 405, None),
            ("POST leader", "POST", "/v1/leaders/amy", JSON, "{}", 405, None),
            ("POST admin leader", "POST", "/v1/admin/leaders/amy", JSON, "{}", 405, None),
            ("GET tokens", "GET", "/v1/admin/tokens", None, None, 405, None),
            ("limit 0", "GET", "/v1/challenges/weekly/leaderboard?limit=0", None, None, 400, ["/limit"]),
            ("limit 101", "GET", "/v1/challenges/weekly/leaderboard?limit=101", None, None, 400, ["/limit"]),
            ("limit abc", "GET", "/v1/challenges/weekly/leaderboard?limit=abc", None, None, 400, ["/limit"]),
            ("limit empty", "GET", "/v1/challenges/weekly/leaderboard?limit=", None, None, 400, ["/limit"]),
            ("limit 1.5", "GET", "/v1/challenges/weekly/leaderboard?limit=1.5", None, None, 400, ["/limit"]),
            ("cursor -1", "GET", "/v1/challenges/weekly/leaderboard?cursor=-1", None, None, 400, ["/cursor"]),
            ("cursor x", "GET", "/v1/challenges/weekly/leaderboard?cursor=x", None, None, 400, ["/cursor"]),
            ("period nonsense", "GET", "/v1/challenges/weekly/leaderboard?period=nonsense", None, None, 400, ["/period"]),
            ("period week 99", "GET", "/v1/challenges/weekly/leaderboard?period=2026-W99", None, None, 400, ["/period"]),
            ("period a month on a week board", "GET", "/v1/challenges/weekly/leaderboard?period=2026-11", None, None, 400, ["/period"]),
            ("n 51", "GET", "/v1/challenges/weekly/leaderboard/around/amy?n=51", None, None, 400, ["/n"]),
            ("n -1", "GET", "/v1/challenges/weekly/leaderboard/around/amy?n=-1", None, None, 400, ["/n"]),
        ]
        list(self.check_cases(cases))

    def test_bad_admin_bodies(self):
        cases = [
            ("leader: not JSON", "PUT", "/v1/admin/leaders/cat", JSON, "{name: Cat}", 400, [""]),
            ("leader: not an object", "PUT", "/v1/admin/leaders/cat", JSON, '["Cat"]', 400, [""]),
            ("leader: empty body", "PUT", "/v1/admin/leaders/cat", JSON, "", 400, [""]),
            ("leader: invalid id", "PUT", "/v1/admin/leaders/Cat!", JSON, {"name": "Cat"}, 400, None),
            ("leader: name missing", "PUT", "/v1/admin/leaders/cat", JSON, {}, 422, ["/name"]),
            ("leader: name not a string", "PUT", "/v1/admin/leaders/cat", JSON, {"name": 5}, 422, ["/name"]),
            ("leader: name empty", "PUT", "/v1/admin/leaders/cat", JSON, {"name": ""}, 422, ["/name"]),
            ("leader: name too long", "PUT", "/v1/admin/leaders/cat", JSON, {"name": "n" * 101}, 422, ["/name"]),
            ("leader: unknown team", "PUT", "/v1/admin/leaders/cat", JSON, {"name": "Cat", "team": "ghosts"}, 422, ["/team"]),
            ("leader: invalid team id", "PUT", "/v1/admin/leaders/cat", JSON, {"name": "Cat", "team": "Comms!"}, 422, ["/team"]),
            ("leader: avatar not http", "PUT", "/v1/admin/leaders/cat", JSON, {"name": "Cat", "avatar": "ftp://x/y.png"}, 422, ["/avatar"]),
            ("leader: hidden not boolean", "PUT", "/v1/admin/leaders/cat", JSON, {"name": "Cat", "hidden": "yes"}, 422, ["/hidden"]),
            ("leader: several problems", "PUT", "/v1/admin/leaders/cat", JSON,
             {"name": 1, "hidden": 1, "avatar": "x"}, 422, ["/name", "/hidden", "/avatar"]),
            ("leader: changing an existing one badly", "PUT", "/v1/admin/leaders/amy", JSON, {"name": ""}, 422, ["/name"]),
            ("team: name missing", "PUT", "/v1/admin/teams/sales", JSON, {"title": "Sales"}, 422, None),
            ("team: name not a string", "PUT", "/v1/admin/teams/sales", JSON, {"name": ["Sales"]}, 422, ["/name"]),
            ("team: invalid id", "PUT", "/v1/admin/teams/Sales", JSON, {"name": "Sales"}, 400, None),
            ("token: role missing", "POST", "/v1/admin/tokens", JSON, {}, 422, ["/role"]),
            ("token: unknown role", "POST", "/v1/admin/tokens", JSON, {"role": "boss"}, 422, ["/role"]),
            ("token: leader token without leader", "POST", "/v1/admin/tokens", JSON, {"role": "leader"}, 422, ["/leader"]),
            ("token: leader for a reader", "POST", "/v1/admin/tokens", JSON, {"role": "reader", "leader": "amy"}, 422, ["/leader"]),
            ("token: unknown leader", "POST", "/v1/admin/tokens", JSON, {"role": "leader", "leader": "ghost"}, 422, ["/leader"]),
            ("token: invalid leader id", "POST", "/v1/admin/tokens", JSON, {"role": "leader", "leader": "A B"}, 422, ["/leader"]),
            ("token: not JSON", "POST", "/v1/admin/tokens", JSON, "role=admin", 400, [""]),
            ("token: delete unknown id", "DELETE", "/v1/admin/tokens/abcdefabcdef", None, None, 404, None),
            ("leader: get unknown", "GET", "/v1/admin/leaders/ghost", None, None, 404, None),
            ("team: get unknown", "GET", "/v1/admin/teams/ghosts", None, None, 404, None),
        ]
        for name, p in self.check_cases(cases):
            if name == "leader: not JSON":
                self.assertRegex(p["errors"][0]["message"], r"line 1, column \d+")

    def test_unknown_admin_member_is_pointed_at(self):
        """Admin bodies point at an unknown member itself, as events do."""
        before = self.snapshot()
        r = self.req("PUT", "/v1/admin/leaders/cat", json_body={"name": "Cat", "colour": "red"})
        self.assertProblem(r, 422, ["/colour"])
        r = self.req("POST", "/v1/admin/tokens", json_body={"role": "reader", "scope": "all"})
        self.assertProblem(r, 422, ["/scope"])
        self.assertUnchanged(before)

    def test_405_lists_allowed_methods(self):
        """RFC 9110 15.5.6: a 405 carries Allow with the supported methods."""
        for method, path, allow in [("GET", "/v1/events", {"POST"}),
                                    ("POST", "/v1/challenges", {"GET"}),
                                    ("POST", "/v1/admin/leaders/amy", {"GET", "PUT", "DELETE"}),
                                    ("GET", "/v1/admin/tokens/abcdefabcdef", {"DELETE"}),
                                    ("HEAD", "/v1/leaders/amy", {"GET"})]:
            with self.subTest(method=method, path=path):
                r = self.req(method, path)
                self.assertEqual(r.status, 405, r)
                got = {m.strip() for m in (r.header("Allow") or "").split(",") if m.strip()}
                self.assertEqual(got, allow)

    def test_routing_comes_before_authentication(self):
        for method, path, status in [("GET", "/v2/events", 404), ("GET", "/v1/nothing", 404),
                                     ("GET", "/v1/events", 405), ("PUT", "/v1/challenges", 405),
                                     ("GET", "/v1/challenges/", 404), ("GET", "/v1/leaders/amy/", 404)]:
            for auth in (None, "pdm_" + "Q" * 43):
                with self.subTest(method=method, path=path, auth=auth):
                    self.assertProblem(self.req(method, path, auth=auth), status)

    def test_head_options_and_unknown_methods(self):
        # HEAD reaches podiumd and is not supported by any route; OPTIONS is
        # a CORS preflight, answered 204 with the allowed methods.
        r = self.req("HEAD", "/v1/challenges")
        self.assertEqual(r.status, 405, r)
        r = self.req("OPTIONS", "/v1/challenges")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header("Allow"), "GET")
        # Every method libevent knows reaches the router: 405 with Allow.
        for method in ("PATCH", "TRACE"):
            with self.subTest(method=method):
                r = self.req(method, "/v1/challenges")
                self.assertProblem(r, 405)
                self.assertEqual(r.header("Allow"), "GET")
        # A method it does not know is refused by libevent itself, still as
        # problem+json (see evhttp_send_error in http_server.c).
        r = self.req("BREW", "/v1/challenges")
        self.assertProblem(r, 501)
        self.assertIn("GET, POST, PUT, PATCH, DELETE and OPTIONS", r.json()["detail"])

    def test_headers_over_the_limit(self):
        """max_headers is 16 KiB by default; libevent refuses the request
        itself, and podiumd's evhttp_send_error makes that problem+json."""
        before = self.snapshot()
        r = self.req("POST", "/v1/events", json_body=ev(), headers={"X-Filler": "f" * 20000})
        self.assertIn(r.status, (400, 431), r)
        self.assertProblem(r, r.status)
        self.assertIn("max_headers (16384 bytes)", r.json()["detail"])
        self.assertUnchanged(before)
        self.assertEqual(self.post("bob", "reply").status, 200)

    def test_body_over_the_limit(self):
        """max_body is 1 MiB by default: a bigger body is refused (413) before
        it is read, as problem+json although libevent answers it itself."""
        before = self.snapshot()
        tok = self.d.admin_token
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=5) as s:
            s.sendall(("POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                       "Content-Length: %d\r\n\r\n" % (tok, 2 * 1024 * 1024)).encode())
            s.sendall(b"{" + b" " * 65536)
            data = b""
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the server closes after answering
                try:
                    chunk = s.recv(4096)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 413"), data[:200])
        self.assertIn(b"Content-Type: application/problem+json", data)
        self.assertIn(b"Connection: close", data)
        body = json.loads(data.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(body["status"], 413)
        self.assertIn("max_body, 1048576 bytes", body["detail"])
        self.assertUnchanged(before, "an oversized body")
        # The daemon is fine afterwards.
        self.assertEqual(self.post("bob", "reply").status, 200)

    def test_body_just_under_the_limit_is_read(self):
        # A valid event padded with whitespace to just under 1 MiB.
        body = json.dumps(ev(leader="bob", type="reply"))
        body = body + " " * (1024 * 1024 - len(body) - 16)
        r = self.req("POST", "/v1/events", body=body, headers=JSON)
        self.assertEqual(r.status, 200, r)

    def test_read_endpoints_do_not_write(self):
        """Reads (also with tokens that miss the auth cache) change nothing."""
        _, reader = self.make_token("reader")
        before = self.snapshot()
        for tok in (reader, "pdm_" + "Z" * 43, None):
            for path in ("/v1/challenges", "/v1/challenges/weekly/leaderboard",
                         "/v1/challenges/weekly/leaderboard?period=all&limit=5",
                         "/v1/challenges/meetings/leaderboard?period=previous",
                         "/v1/challenges/weekly/leaderboard/around/amy?n=2",
                         "/v1/leaders/amy", "/readyz", "/livez"):
                self.req("GET", path, auth=tok)
        self.assertUnchanged(before, "reads")


if __name__ == "__main__":
    unittest.main()
