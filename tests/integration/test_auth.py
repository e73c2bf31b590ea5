"""Bearer tokens and roles: who may read, post and administer."""

import base64
import os
import stat
import unittest

from harness import PodiumTestCase, all_values, sha256_hex, times_today, week_id

FAKE = "pdm_" + "A" * 43   # well-formed, never minted


class AuthTest(PodiumTestCase):
    leaders = ("amy", "bob")

    def setUp(self):
        super().setUp()
        self.W = week_id()

    def assert401(self, r):
        self.assertProblem(r, 401)
        self.assertEqual(r.header("WWW-Authenticate"), 'Bearer realm="podium"')

    def test_missing_or_bad_token_is_401(self):
        paths = [("GET", "/v1/challenges"), ("GET", "/v1/challenges/weekly/leaderboard"),
                 ("GET", "/v1/leaders/amy"), ("POST", "/v1/events"),
                 ("PUT", "/v1/admin/leaders/amy"), ("POST", "/v1/admin/tokens")]
        bad = [None, FAKE, "pdm_short", "not-a-token", self.d.admin_token + "x",
               self.d.admin_token[:-1] + ("A" if self.d.admin_token[-1] != "A" else "B")]
        before = self.snapshot()
        for method, path in paths:
            for tok in bad:
                with self.subTest(method=method, path=path, token=tok):
                    body = '{"leader": "amy", "type": "post"}' if method != "GET" else None
                    r = self.req(method, path, auth=tok, body=body,
                                 headers={"Content-Type": "application/json"})
                    self.assert401(r)
        # Other schemes are not bearer tokens.
        tok = self.d.admin_token
        for h in ["Basic " + base64.b64encode(b"admin:" + tok.encode()).decode(), tok, "Token " + tok]:
            with self.subTest(authorization=h):
                r = self.req("GET", "/v1/challenges", auth=None, headers={"Authorization": h})
                self.assert401(r)
        self.assertUnchanged(before, "refused requests")
        # The scheme name is case-insensitive (RFC 9110 11.1).
        r = self.req("GET", "/v1/challenges", auth=None, headers={"Authorization": "bearer " + tok})
        self.assertEqual(r.status, 200, r)

    def test_health_needs_no_token(self):
        for path in ("/livez", "/healthz", "/readyz"):
            r = self.req("GET", path, auth=None)
            self.assertEqual(r.status, 200, (path, r))
        self.assertEqual(self.req("GET", "/readyz", auth=None).json(),
                         {"ready": True, "redis": True, "rules": True, "stopping": False})

    def test_reader_reads_but_cannot_post_or_administer(self):
        t = times_today(1)[0]
        self.event("amy", "post", at=t)
        _, reader = self.make_token("reader")
        self.assertEqual(self.board(auth=reader)["entries"][0]["leader"], "amy")
        self.assertEqual(self.req("GET", "/v1/challenges", auth=reader).status, 200)
        self.assertEqual(self.req("GET", "/v1/leaders/amy", auth=reader).status, 200)
        self.assertEqual(self.req("GET", "/v1/challenges/weekly/leaderboard/around/amy", auth=reader).status, 200)
        before = self.snapshot()
        r = self.post("amy", "post", at=t, auth=reader)
        p = self.assertProblem(r, 403)
        self.assertIn("reader", p["detail"])
        r = self.req("POST", "/v1/events", auth=reader, form={"leader": "amy", "type": "reply"})
        self.assertProblem(r, 403)
        for method, path, body in [("PUT", "/v1/admin/leaders/cat", {"name": "Cat"}),
                                   ("GET", "/v1/admin/leaders/amy", None),
                                   ("PUT", "/v1/admin/teams/comms", {"name": "Comms"}),
                                   ("POST", "/v1/admin/tokens", {"role": "admin"}),
                                   ("DELETE", "/v1/admin/tokens/000000000000", None)]:
            with self.subTest(method=method, path=path):
                self.assertProblem(self.req(method, path, auth=reader, json_body=body), 403)
        self.assertUnchanged(before, "refused reader requests")

    def test_leader_token_posts_only_for_its_leader(self):
        t = times_today(4)
        _, amy = self.make_token("leader", "amy")
        # May leave `leader` out, or name itself.
        r1 = self.ok(self.post(None, "post", at=t[0], auth=amy))
        self.assertEqual(r1["points"], 10)
        r2 = self.ok(self.post("amy", "reply", at=t[1], auth=amy))
        self.assertEqual(r2["standings"][0]["score"], 13)
        r3 = self.ok(self.req("POST", "/v1/events", auth=amy, form={"type": "reply", "channel": "linkedin"}))
        self.assertEqual(r3["standings"][0]["score"], 18)
        r4 = self.ok(self.batch([{"type": "reply", "at": t[2]}, {"leader": "amy", "type": "reply"}], auth=amy))
        self.assertEqual([x["standings"][0]["score"] for x in r4["results"]], [21, 24])
        self.assertEqual(self.zboard("weekly", self.W), {"amy": 24})
        self.assertEqual({e["leader"] for e in self.log_entries()}, {"amy"})
        # Not for somebody else, not even inside a batch: nothing is stored.
        before = self.snapshot()
        p = self.assertProblem(self.post("bob", "post", at=t[3], auth=amy), 403, ["/leader"])
        self.assertIn("amy", p["errors"][0]["message"])
        self.assertProblem(self.batch([{"type": "reply"}, {"leader": "bob", "type": "reply"}], auth=amy),
                           403, ["/events/1/leader"])
        self.assertProblem(self.req("POST", "/v1/events", auth=amy, form={"leader": "bob", "type": "reply"}),
                           403, ["/leader"])
        self.assertUnchanged(before, "a leader token posting for another leader")
        # Reads are fine, admin routes are not.
        self.assertEqual(self.board(auth=amy)["entries"][0]["leader"], "amy")
        self.assertEqual(self.req("GET", "/v1/leaders/bob", auth=amy).status, 200)
        self.assertProblem(self.req("PUT", "/v1/admin/leaders/amy", auth=amy, json_body={"name": "Me"}), 403)
        self.assertProblem(self.req("POST", "/v1/admin/tokens", auth=amy, json_body={"role": "admin"}), 403)
        self.assertUnchanged(before)

    def test_ingest_token_posts_for_anyone_but_cannot_administer(self):
        t = times_today(2)
        _, ing = self.make_token("ingest")
        self.ok(self.post("amy", "post", at=t[0], auth=ing))
        self.ok(self.post("bob", "reply", at=t[1], auth=ing))
        j = self.ok(self.batch([{"leader": "amy", "type": "reply"}, {"leader": "bob", "type": "reply"}], auth=ing))
        self.assertEqual(len(j["results"]), 2)
        self.assertEqual(self.zboard("weekly", self.W), {"amy": 13, "bob": 6})
        # An ingest token must name the leader.
        self.assertProblem(self.post(None, "post", auth=ing), 422, ["/leader"])
        before = self.snapshot()
        for method, path, body in [("PUT", "/v1/admin/leaders/cat", {"name": "Cat"}),
                                   ("GET", "/v1/admin/leaders/amy", None),
                                   ("PUT", "/v1/admin/teams/comms", {"name": "Comms"}),
                                   ("GET", "/v1/admin/teams/comms", None),
                                   ("POST", "/v1/admin/tokens", {"role": "reader"})]:
            with self.subTest(method=method, path=path):
                p = self.assertProblem(self.req(method, path, auth=ing, json_body=body), 403)
                self.assertIn("admin", p["detail"])
        self.assertUnchanged(before, "refused ingest requests")
        self.assertEqual(self.board(auth=ing)["total"], 2)

    def test_admin_token_can_do_everything(self):
        _, adm = self.make_token("admin")
        self.assertEqual(self.req("PUT", "/v1/admin/teams/comms", auth=adm, json_body={"name": "Comms"}).status, 201)
        self.assertEqual(self.req("PUT", "/v1/admin/leaders/cat", auth=adm,
                                  json_body={"name": "Cat", "team": "comms"}).status, 201)
        self.assertEqual(self.req("PUT", "/v1/admin/leaders/cat", auth=adm, json_body={"name": "Cat C"}).status, 200)
        self.assertEqual(self.ok(self.req("GET", "/v1/admin/leaders/cat", auth=adm))["profile"]["name"], "Cat C")
        self.assertEqual(self.ok(self.req("GET", "/v1/admin/teams/comms", auth=adm))["profile"], {"name": "Comms"})
        self.assertEqual(self.ok(self.post("cat", "post", auth=adm))["points"], 10)
        j = self.ok(self.req("POST", "/v1/admin/tokens", auth=adm, json_body={"role": "leader", "leader": "cat"}), 201)
        self.assertEqual(j["leader"], "cat")
        self.assertEqual(self.ok(self.post(None, "reply", auth=j["token"]))["standings"][0]["score"], 13)
        self.assertEqual(self.board(auth=adm)["entries"][0]["leader"], "cat")
        self.assertEqual(self.req("DELETE", "/v1/admin/tokens/" + j["id"], auth=adm).status, 204)

    def test_deleted_token_stops_working(self):
        tid, tok = self.make_token("ingest")
        lid, ltok = self.make_token("leader", "bob")
        self.assertEqual(self.post("amy", "reply", auth=tok).status, 200)   # now in the auth cache
        self.assertEqual(self.post(None, "reply", auth=ltok).status, 200)
        r = self.req("DELETE", "/v1/admin/tokens/" + tid)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assert401(self.post("amy", "reply", auth=tok))
        self.assert401(self.req("GET", "/v1/challenges", auth=tok))
        self.assertEqual(self.post(None, "reply", auth=ltok).status, 200, "other tokens keep working")
        self.assertProblem(self.req("DELETE", "/v1/admin/tokens/" + tid), 404)
        self.assertProblem(self.req("DELETE", "/v1/admin/tokens/0123456789ab"), 404)
        self.assertProblem(self.req("DELETE", "/v1/admin/tokens/nope"), 404)
        self.assertEqual(self.req("DELETE", "/v1/admin/tokens/" + lid).status, 204)
        self.assert401(self.post(None, "reply", auth=ltok))
        # Nothing is left of either token in Redis.
        self.assertEqual(self.r("HLEN", self.key("tokens")), 0)
        self.assertEqual(self.r("HLEN", self.key("tokenids")), 0)

    def test_tokens_are_stored_only_hashed(self):
        minted = [self.make_token("reader"), self.make_token("ingest"), self.make_token("admin"),
                  self.make_token("leader", "amy")]
        for _, tok in minted:   # use each once, so lookups and caches have seen them
            self.assertEqual(self.req("GET", "/v1/challenges", auth=tok).status, 200)
        self.ok(self.post("amy", "reply", auth=minted[3][1]))
        values = all_values(self.r)
        blob = b"\x00".join(v for v in values if isinstance(v, bytes))
        admin = self.d.admin_token
        for tid, tok in minted + [("bootstrap", admin)]:
            with self.subTest(token_id=tid):
                self.assertNotIn(tok.encode(), blob)
                self.assertNotIn(tok[4:].encode(), blob)          # the secret part alone
                self.assertNotIn(tok[4:24].encode(), blob)        # nor a piece of it
        for tid, tok in minted:
            self.assertEqual(self.r("HGET", self.key("tokenids"), tid).decode(), sha256_hex(tok))
            self.assertIsNotNone(self.r("HGET", self.key("tokens"), sha256_hex(tok)))
        self.assertIsNone(self.r("HGET", self.key("tokens"), sha256_hex(admin)),
                          "the bootstrap token lives in its file only")
        # Nor does the daemon log them (it runs at debug level here).
        log = self.d.log()
        for _, tok in minted + [("bootstrap", admin)]:
            self.assertNotIn(tok[4:], log)
        # The bootstrap token file is private.
        mode = os.stat(os.path.join(self.d.data_dir, "admin.token")).st_mode
        self.assertEqual(stat.S_IMODE(mode), 0o600)

    def test_minted_token_shown_once_with_role(self):
        r = self.req("POST", "/v1/admin/tokens", json_body={"role": "leader", "leader": "amy"})
        j = self.ok(r, 201)
        self.assertEqual(set(j), {"id", "token", "role", "leader"})
        self.assertRegex(j["id"], r"^[0-9a-f]{12}$")
        self.assertRegex(j["token"], r"^pdm_[A-Za-z0-9_-]{43}$")
        j2 = self.ok(self.req("POST", "/v1/admin/tokens", json_body={"role": "reader"}), 201)
        self.assertIsNone(j2["leader"])
        self.assertNotEqual(j["token"], j2["token"])
        self.assertNotEqual(j["id"], j2["id"])


if __name__ == "__main__":
    unittest.main()


class CorsTest(PodiumTestCase):
    """cors_origins: listed origins get CORS headers, others none; OPTIONS is a preflight."""
    leaders = ("amy",)
    podiumd_args = ("--cors_origins", "https://intra.example.com, http://localhost:8080")

    def test_allowed_origin_gets_cors_headers(self):
        for origin in ("https://intra.example.com", "http://localhost:8080"):
            with self.subTest(origin=origin):
                r = self.req("GET", "/v1/challenges", headers={"Origin": origin})
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("Access-Control-Allow-Origin"), origin)
                self.assertEqual(r.header("Vary"), "Origin")
                self.assertIn("ETag", r.header("Access-Control-Expose-Headers"))
        # Errors carry them too, so that a page can read the problem.
        r = self.req("GET", "/v1/challenges", auth=None,
                     headers={"Origin": "https://intra.example.com"})
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://intra.example.com")

    def test_other_origin_gets_none(self):
        for origin in ("https://evil.example.com", "https://intra.example.com.evil.net", "null"):
            with self.subTest(origin=origin):
                r = self.req("GET", "/v1/challenges", headers={"Origin": origin})
                self.assertEqual(r.status, 200)
                self.assertIsNone(r.header("Access-Control-Allow-Origin"))

    def test_preflight(self):
        r = self.req("OPTIONS", "/v1/events", auth=None, headers={
            "Origin": "https://intra.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://intra.example.com")
        self.assertEqual(r.header("Access-Control-Allow-Methods"), "POST")
        allowed = r.header("Access-Control-Allow-Headers").lower()
        for h in ("authorization", "content-type", "idempotency-key", "prefer"):
            self.assertIn(h, allowed)
        self.assertEqual(self.req("OPTIONS", "/v1/nothing", auth=None).status, 404)
