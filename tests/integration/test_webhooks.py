"""Webhooks: the admin API, signed deliveries to a local receiver, retries,
Retry-After, 410, the three body formats, and the outbox's guarantees: no
delivery lost or sent twice across a daemon restart or between two daemons.

The receiver is Python's http.server on 127.0.0.1 (a free port), in a
thread of the test; it checks every request's Standard Webhooks signature
and answers as the test tells it. Events other than `test` come from the
period closer in production; here they are queued by running the daemon's
own outbox.lua (its enqueue operation, what webhook_enqueue sends), so the
script under test is the real one.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import signal
import threading
import time
import unittest

from harness import ORG, PODIUM_SOURCE, PodiumTestCase, now_ms, wait_until

SECRET_PATH = "/hooks/T0SECRET/B0PATH/xyzzy-do-not-log"
FAST = ("--webhook_allow_http", "true", "--webhook_retry_base", "200",
        "--webhook_timeout", "5s")

with open(os.path.join(PODIUM_SOURCE, "daemon", "scripts", "outbox.lua")) as f:
    OUTBOX_LUA = f.read()

CLOSED = {
    "challenge": "weekly", "challenge_name": "Weekly <social> & co", "period": "2026-W48",
    "starts": "2026-11-23T00:00:00Z", "ends": "2026-11-30T00:00:00Z",
    "closed_at": "2026-11-30T00:15:00Z", "leaders": 2,
    "winners": [{"rank": 1, "leader": "amy", "name": "Amy", "score": 120}],
    "standings": [{"rank": 1, "leader": "amy", "name": "Amy", "score": 120, "movement": 1},
                  {"rank": 2, "leader": "bob", "name": "Bob <&>", "score": 90, "movement": None}],
}

DIGEST = {
    "challenge": "weekly", "challenge_name": "Weekly social", "period": "2026-W48",
    "leader": "ceo", "name": "The CEO", "rank": 4, "score": 40,
    "next": {"rank": 3, "score": 52, "gap": 12}, "streak": 3,
    "suggestion": {"activity": "stakeholder_interaction", "points": 30},
    "text": "You are 4th, 12 points behind 3rd; a stakeholder interaction is worth 30 points.",
}


class Receiver:
    """A threaded HTTP receiver that records each request and checks its
    signature. `plan` holds answers to give in order, as (status, headers,
    delay s); when it is empty, `default` is used."""

    def __init__(self, default=(200, {}, 0.0)):
        self.requests = []
        self.plan = []
        self.default = default
        self.secret = None
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with rec.lock:
                    status, headers, delay = rec.plan.pop(0) if rec.plan else rec.default
                    rec.requests.append({"at": time.monotonic(), "path": self.path,
                                         "headers": {k.lower(): v for k, v in self.headers.items()},
                                         "body": body, "valid": rec.verify(self.headers, body)})
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that gave up (a timeout, a stopping daemon) is expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d%s?token=q1" % (self.server.server_address[1], SECRET_PATH)

    def verify(self, headers, body):
        """The Standard Webhooks check a receiver makes."""
        if self.secret is None:
            return None
        key = base64.b64decode(self.secret[len("whsec_"):])
        msg_id, ts = headers.get("webhook-id"), headers.get("webhook-timestamp")
        if not msg_id or not ts or abs(int(ts) - time.time()) > 300:
            return False
        want = base64.b64encode(hmac.new(key, b"%s.%s.%s" % (msg_id.encode(), ts.encode(), body),
                                         hashlib.sha256).digest()).decode()
        return any(s == "v1," + want for s in headers.get("webhook-signature", "").split())

    def got(self):
        with self.lock:
            return list(self.requests)

    def wait(self, n, timeout=10.0):
        return wait_until(lambda: len(self.got()) >= n and self.got(), timeout=timeout,
                          what="%d requests at the receiver" % n)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class WebhookCase(PodiumTestCase):
    podiumd_args = FAST

    def setUp(self):
        super().setUp()
        self.rx = Receiver()
        self.addCleanup(self.rx.close)
        self.addCleanup(self.assertNoUrlInLogs)

    def assertNoUrlInLogs(self):
        for name in os.listdir(self.tmp):
            if name.endswith(".log"):
                with open(os.path.join(self.tmp, name), errors="replace") as f:
                    text = f.read()
                self.assertNotIn("T0SECRET", text, name)
                self.assertNotIn("xyzzy", text, name)

    def register(self, fmt="json", events=("period_closed", "digest"), url=None, d=None):
        body = {"url": url or self.rx.url, "format": fmt, "events": list(events)}
        r = (d or self.d).request("POST", "/v1/admin/webhooks", json_body=body)
        j = self.ok(r, 201)
        self.rx.secret = j["secret"]
        return j

    def enqueue(self, type, payloads, keys=None, only="", at=None):
        """Runs outbox.lua's enqueue as webhook_enqueue does (at Unix ms `at`,
        default now); returns its answer."""
        k = ["podium:{%s}:%s" % (ORG, s) for s in ("webhooks", "wh:due", "wh:out", "wh:seq")]
        if keys:
            k += ["podium:{%s}:wh:key:%s" % (ORG, key) for key in keys]
        args = ["enqueue", type, at or now_ms(), 345600, only] + [json.dumps(p) for p in payloads]
        got = self.r("EVAL", OUTBOX_LUA, len(k), *k, *args)
        # as webhook_enqueue does: the org's outbox is due now (the due index)
        self.r("ZADD", "podium:{#}:due:w", "LT", 0, ORG)
        return got

    def deliveries(self, wid):
        return self.ok(self.req("GET", "/v1/admin/webhooks/%s/deliveries" % wid))

    def wait_finished(self, wid, n, timeout=10.0):
        return wait_until(lambda: len(self.deliveries(wid)["deliveries"]) >= n
                          and self.deliveries(wid), timeout=timeout,
                          what="%d finished deliveries" % n)


class AdminApiTest(WebhookCase):

    def test_register_list_get_delete(self):
        j = self.register(fmt="slack", events=["period_closed"])
        wid = j["id"]
        self.assertRegex(wid, r"^[0-9a-f]{12}$")
        self.assertTrue(j["secret"].startswith("whsec_"), j)
        self.assertEqual(len(base64.b64decode(j["secret"][6:])), 32)
        port = self.rx.server.server_address[1]
        shown = "http://127.0.0.1:%d" % port
        self.assertEqual(j["url"], shown)
        self.assertEqual((j["format"], j["events"], j["disabled"]), ("slack", ["period_closed"], False))
        listed = self.ok(self.req("GET", "/v1/admin/webhooks"))["webhooks"]
        self.assertEqual([w["id"] for w in listed], [wid])
        self.assertEqual(listed[0]["url"], shown)
        self.assertNotIn("secret", listed[0])
        got = self.ok(self.req("GET", "/v1/admin/webhooks/" + wid))
        self.assertEqual(got["url"], shown)
        self.assertNotIn("secret", got)
        for resp in (self.req("GET", "/v1/admin/webhooks"), self.req("GET", "/v1/admin/webhooks/" + wid)):
            self.assertNotIn(b"T0SECRET", resp.body)
            self.assertNotIn(b"token=q1", resp.body)
        # The secret is stored only as the key needed to sign, never as shown.
        stored = json.loads(self.r("HGET", self.key("webhooks"), wid))
        self.assertEqual(stored["key"], j["secret"][6:])
        self.assertNotIn("whsec_", json.dumps(stored))
        # the org's outbox is in the due index before its first endpoint exists
        self.assertIsNotNone(self.r("ZSCORE", "podium:{#}:due:w", ORG))
        # A second one, then delete the first.
        j2 = self.register(events=["digest"])
        self.assertEqual(self.req("DELETE", "/v1/admin/webhooks/" + wid).status, 204)
        self.assertProblem(self.req("GET", "/v1/admin/webhooks/" + wid), 404)
        self.assertProblem(self.req("DELETE", "/v1/admin/webhooks/" + wid), 404)
        listed = self.ok(self.req("GET", "/v1/admin/webhooks"))["webhooks"]
        self.assertEqual([w["id"] for w in listed], [j2["id"]])

    def test_bad_input_stores_nothing(self):
        before = self.snapshot()
        cases = [
            ({}, ["/url", "/events"]),
            ({"url": "ftp://example.com/x", "events": ["digest"]}, ["/url"]),
            ({"url": "https://", "events": ["digest"]}, ["/url"]),
            ({"url": "https://exa mple.com/", "events": ["digest"]}, ["/url"]),
            ({"url": 5, "events": ["digest"]}, ["/url"]),
            ({"url": "https://example.com/" + "a" * 3000, "events": ["digest"]}, ["/url"]),
            ({"url": "https://example.com/x", "events": []}, ["/events"]),
            ({"url": "https://example.com/x", "events": "digest"}, ["/events"]),
            ({"url": "https://example.com/x", "events": ["digest", "nope", "digest"]},
             ["/events/1", "/events/2"]),
            ({"url": "https://example.com/x", "events": ["test"]}, ["/events/0"]),
            ({"url": "https://example.com/x", "events": ["digest"], "format": "xml"}, ["/format"]),
            ({"url": "https://example.com/x", "events": ["digest"], "secret": "mine"}, ["/secret"]),
        ]
        for body, pointers in cases:
            with self.subTest(body=str(body)[:80]):
                p = self.assertProblem(self.req("POST", "/v1/admin/webhooks", json_body=body),
                                       422, pointers)
                self.assertNotIn("example.com", json.dumps(p))
        self.assertProblem(self.req("POST", "/v1/admin/webhooks", body="{nope"), 400)
        self.assertProblem(self.req("POST", "/v1/admin/webhooks", body="[]"), 400)
        for path in ("/v1/admin/webhooks/0123456789ab", "/v1/admin/webhooks/NOT-AN-ID",
                     "/v1/admin/webhooks/0123456789ab/deliveries"):
            self.assertProblem(self.req("GET", path), 404)
        for path in ("/v1/admin/webhooks/0123456789ab/test", "/v1/admin/webhooks/0123456789ab/enable"):
            self.assertProblem(self.req("POST", path), 404)
        self.assertProblem(self.req("DELETE", "/v1/admin/webhooks/0123456789ab"), 404)
        self.assertUnchanged(before)

    def test_at_most_50_per_org(self):
        for _ in range(50):
            self.register(events=["digest"])
        before = self.snapshot()
        r = self.req("POST", "/v1/admin/webhooks", json_body={"url": self.rx.url, "events": ["digest"]})
        self.assertProblem(r, 409)
        self.assertUnchanged(before)
        self.assertEqual(len(self.ok(self.req("GET", "/v1/admin/webhooks"))["webhooks"]), 50)

    def test_admin_only(self):
        _id, reader = self.make_token("reader")
        before = self.snapshot()
        r = self.req("POST", "/v1/admin/webhooks", auth=reader,
                     json_body={"url": self.rx.url, "events": ["digest"]})
        self.assertProblem(r, 403)
        self.assertProblem(self.req("GET", "/v1/admin/webhooks", auth=reader), 403)
        self.assertUnchanged(before)

    def test_test_event_is_signed_and_recorded(self):
        wid = self.register()["id"]
        r = self.ok(self.req("POST", "/v1/admin/webhooks/%s/test" % wid), 202)
        self.assertTrue(r["delivery"].startswith("msg_" + wid + "_"), r)
        req = self.rx.wait(1)[0]
        self.assertTrue(req["valid"], req)
        self.assertEqual(req["path"], SECRET_PATH + "?token=q1")
        self.assertEqual(req["headers"]["webhook-id"], r["delivery"])
        self.assertEqual(req["headers"]["content-type"], "application/json")
        body = json.loads(req["body"])
        self.assertEqual(set(body), {"type", "timestamp", "data"})
        self.assertEqual(body["type"], "test")
        self.assertEqual(body["data"]["webhook"], wid)
        hist = self.wait_finished(wid, 1)
        self.assertEqual(hist["pending"], [])
        d = hist["deliveries"][0]
        self.assertEqual((d["id"], d["type"], d["attempts"], d["statuses"], d["outcome"]),
                         (r["delivery"], "test", 1, [200], "delivered"))
        self.assertRegex(d["created"], r"^\d{4}-\d\d-\d\dT")
        self.assertRegex(d["finished"], r"^\d{4}-\d\d-\d\dT")
        # Delivered means gone from the outbox.
        self.assertEqual(self.r("ZCARD", self.key("wh", "due")), 0)
        self.assertEqual(self.r("HLEN", self.key("wh", "out")), 0)


class HttpsOnlyTest(WebhookCase):
    podiumd_args = ()

    def test_http_urls_are_refused_by_default(self):
        before = self.snapshot()
        p = self.assertProblem(self.req("POST", "/v1/admin/webhooks",
                                        json_body={"url": self.rx.url, "events": ["digest"]}),
                               422, ["/url"])
        self.assertNotIn("T0SECRET", json.dumps(p))
        self.assertUnchanged(before)
        j = self.ok(self.req("POST", "/v1/admin/webhooks",
                             json_body={"url": "https://hooks.example.com/services/T0SECRET",
                                        "events": ["digest"]}), 201)
        self.assertEqual(j["url"], "https://hooks.example.com")


class DeliveryTest(WebhookCase):

    def test_retries_after_500_with_growing_bounds(self):
        self.rx.plan = [(500, {}, 0), (500, {}, 0), (502, {}, 0)]
        wid = self.register()["id"]
        self.assertEqual(self.enqueue("digest", [DIGEST], ["digest:weekly:2026-W48:ceo"])[0], 1)
        reqs = self.rx.wait(4, timeout=15)
        self.assertEqual(len({q["headers"]["webhook-id"] for q in reqs}), 1)
        self.assertTrue(all(q["valid"] for q in reqs))
        # Full jitter: the delay before retry k is below 200 ms * 2^(k-1); the
        # daemon wakes for it on time (slack for a loaded machine).
        for k in range(1, 4):
            gap = reqs[k]["at"] - reqs[k - 1]["at"]
            self.assertLess(gap, 0.2 * 2 ** (k - 1) + 0.6, (k, gap))
        d = self.wait_finished(wid, 1)["deliveries"][0]
        self.assertEqual((d["attempts"], d["statuses"], d["outcome"]),
                         (4, [500, 500, 502, 200], "delivered"))
        self.assertEqual(json.loads(reqs[-1]["body"])["data"], DIGEST)

    def test_retry_after_is_honoured(self):
        self.rx.plan = [(503, {"Retry-After": "2"}, 0)]
        wid = self.register()["id"]
        self.enqueue("period_closed", [CLOSED], ["closed:weekly:2026-W48"])
        reqs = self.rx.wait(2, timeout=10)
        gap = reqs[1]["at"] - reqs[0]["at"]
        self.assertGreaterEqual(gap, 1.9)  # retry_base 200 ms alone would retry far sooner
        self.assertLess(gap, 3.5)
        self.assertEqual(self.wait_finished(wid, 1)["deliveries"][0]["statuses"], [503, 200])

    def test_timeout_is_retried(self):
        self.rx.plan = [(200, {}, 2.5)]
        self.d.stop(signal.SIGTERM)
        d = self.start_daemon(extra_args=FAST[:4] + ("--webhook_timeout", "1s"), name="short")
        self.d = d
        wid = self.register(d=d)["id"]
        self.enqueue("digest", [DIGEST], ["digest:x"])
        reqs = self.rx.wait(2, timeout=10)
        self.assertEqual(reqs[0]["headers"]["webhook-id"], reqs[1]["headers"]["webhook-id"])
        hist = self.wait_finished(wid, 1)["deliveries"][0]
        self.assertEqual(hist["statuses"][0], "timeout")
        self.assertEqual(hist["outcome"], "delivered")

    def test_failed_for_good_after_three_days(self):
        self.rx.default = (500, {}, 0)
        wid = self.register()["id"]
        self.enqueue("digest", [DIGEST], ["digest:old"], at=now_ms() - 3 * 86400 * 1000 - 1000)
        done = self.wait_finished(wid, 1)["deliveries"][0]
        self.assertEqual((done["attempts"], done["statuses"], done["outcome"]), (1, [500], "failed"))
        self.assertEqual(self.deliveries(wid)["pending"], [])
        self.assertEqual(self.r("ZCARD", self.key("wh", "due")), 0)
        self.assertEqual(self.r("HLEN", self.key("wh", "out")), 0)

    def test_pending_deliveries_are_listed_and_deleted_with_the_endpoint(self):
        self.rx.default = (500, {}, 0)
        self.d.stop(signal.SIGTERM)
        d = self.start_daemon(extra_args=FAST[:2] + ("--webhook_retry_base", "600000"), name="slow")
        self.d = d
        wid = self.register()["id"]
        self.enqueue("digest", [DIGEST], ["digest:p"])
        pend = wait_until(lambda: self.deliveries(wid)["pending"] and
                          self.deliveries(wid)["pending"][0]["attempts"] >= 1 and
                          self.deliveries(wid)["pending"], what="a pending retry")
        self.assertEqual((pend[0]["type"], set(pend[0]["statuses"]), pend[0]["outcome"]),
                         ("digest", {500}, "pending"))
        self.assertRegex(pend[0]["next_attempt"], r"^\d{4}-")
        self.assertEqual(self.req("DELETE", "/v1/admin/webhooks/" + wid).status, 204)
        self.assertEqual(self.r("ZCARD", self.key("wh", "due")), 0)
        self.assertEqual(self.r("HLEN", self.key("wh", "out")), 0)
        self.assertEqual(self.r("EXISTS", self.key("wh", "hist", wid)), 0)

    def test_410_disables_the_endpoint(self):
        self.rx.default = (410, {}, 0)
        wid = self.register()["id"]
        self.enqueue("digest", [dict(DIGEST, leader="l%d" % i) for i in range(3)],
                     ["digest:w:%d" % i for i in range(3)])
        wait_until(lambda: self.ok(self.req("GET", "/v1/admin/webhooks/" + wid))["disabled"],
                   what="the endpoint disabled")
        got = self.ok(self.req("GET", "/v1/admin/webhooks/" + wid))
        self.assertRegex(got["disabled_at"], r"^\d{4}-")
        hist = wait_until(lambda: len(self.deliveries(wid)["deliveries"]) == 3
                          and self.deliveries(wid), what="three finished deliveries")
        self.assertEqual(hist["pending"], [])
        outcomes = sorted(d["outcome"] for d in hist["deliveries"])
        self.assertIn("disabled", outcomes)
        self.assertTrue(set(outcomes) <= {"disabled", "dropped"}, outcomes)
        self.assertEqual(self.r("ZCARD", self.key("wh", "due")), 0)
        # Nothing more goes to it: new events skip it, a test is refused.
        n = len(self.rx.got())
        self.assertEqual(self.enqueue("digest", [DIGEST], ["digest:later"])[0], 0)
        self.assertProblem(self.req("POST", "/v1/admin/webhooks/%s/test" % wid), 409)
        time.sleep(1.5)
        self.assertEqual(len(self.rx.got()), n)
        # Enabled again, it takes deliveries.
        self.rx.default = (200, {}, 0)
        self.assertFalse(self.ok(self.req("POST", "/v1/admin/webhooks/%s/enable" % wid))["disabled"])
        self.ok(self.req("POST", "/v1/admin/webhooks/%s/test" % wid), 202)
        self.rx.wait(n + 1)

    def test_subscriptions_and_dedupe(self):
        closed = self.register(events=["period_closed"])["id"]
        both = self.register(events=["digest", "period_closed"])["id"]
        self.assertEqual(self.enqueue("period_closed", [CLOSED], ["closed:weekly:2026-W48"])[:2], [2, 0])
        self.assertEqual(self.enqueue("period_closed", [CLOSED], ["closed:weekly:2026-W48"])[:2], [0, 1])
        self.assertEqual(self.enqueue("digest", [DIGEST, DIGEST], ["d:1", "d:2"])[:2], [2, 0])
        self.assertGreater(self.r("TTL", self.key("wh", "key", "d:1")), 3 * 86400)
        reqs = self.rx.wait(4)
        time.sleep(1.2)
        self.assertEqual(len(self.rx.got()), 4)
        self.assertEqual(len(self.wait_finished(closed, 1)["deliveries"]), 1)
        self.assertEqual(len(self.wait_finished(both, 3)["deliveries"]), 3)
        self.assertEqual(len({q["headers"]["webhook-id"] for q in reqs}), 4)

    def test_slack_and_teams_bodies(self):
        self.register(fmt="slack", events=["period_closed"])
        self.register(fmt="teams", events=["period_closed"])
        self.enqueue("period_closed", [CLOSED], ["closed:weekly:2026-W48"])
        reqs = self.rx.wait(2)
        bodies = [json.loads(q["body"]) for q in reqs]
        slack = next(b for b in bodies if "blocks" in b)
        teams = next(b for b in bodies if b.get("type") == "message")
        self.assertIn("Amy", slack["text"])
        self.assertEqual([b["type"] for b in slack["blocks"]], ["header", "section", "context"])
        self.assertEqual(slack["blocks"][0]["text"]["type"], "plain_text")
        self.assertEqual(slack["blocks"][1]["text"]["type"], "mrkdwn")
        self.assertIn("Bob &lt;&amp;&gt;", slack["blocks"][1]["text"]["text"])
        self.assertNotIn("<&>", slack["blocks"][1]["text"]["text"])
        att = teams["attachments"]
        self.assertEqual(len(att), 1)
        self.assertEqual(att[0]["contentType"], "application/vnd.microsoft.card.adaptive")
        card = att[0]["content"]
        self.assertEqual((card["type"], card["version"]), ("AdaptiveCard", "1.4"))
        self.assertEqual(card["body"][0]["type"], "TextBlock")
        self.assertIn("FactSet", [b["type"] for b in card["body"]])


class OutboxTest(WebhookCase):

    def test_restart_loses_nothing_and_sends_nothing_twice(self):
        self.rx.default = (200, {}, 0.8)
        args = FAST + ("--webhook_concurrency", "2")
        d = self.start_daemon(extra_args=args, name="first")
        self.d.stop(signal.SIGTERM)
        self.d = d
        self.register()
        n = 8
        self.enqueue("digest", [dict(DIGEST, leader="l%d" % i) for i in range(n)],
                     ["digest:l%d" % i for i in range(n)])
        self.rx.wait(1)
        self.assertEqual(d.stop(signal.SIGTERM), 0)  # waits for the attempts in flight
        sent_before = len(self.rx.got())
        self.assertLess(sent_before, n)
        self.start_daemon(extra_args=args, name="second")
        reqs = self.rx.wait(n, timeout=20)
        time.sleep(1.5)
        ids = [q["headers"]["webhook-id"] for q in self.rx.got()]
        self.assertEqual(len(ids), n, ids)
        self.assertEqual(len(set(ids)), n, ids)
        self.assertEqual(sorted(json.loads(q["body"])["data"]["leader"] for q in reqs),
                         sorted("l%d" % i for i in range(n)))
        self.assertTrue(all(q["valid"] for q in reqs))

    def test_attempts_running_at_the_drain_end_are_given_back(self):
        self.rx.plan = [(200, {}, 11.0)]
        args = FAST[:4] + ("--webhook_timeout", "30s")  # a lease of 65 s
        self.d.stop(signal.SIGTERM)
        d = self.start_daemon(extra_args=args, name="first")
        self.d = d
        wid = self.register()["id"]
        self.enqueue("digest", [DIGEST], ["digest:slow"])
        first = self.rx.wait(1)[0]
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM, timeout=15), 0)
        self.assertLess(time.monotonic() - t0, 10.8)
        self.assertIn("given back", d.log())
        self.d = self.start_daemon(extra_args=args, name="second")
        reqs = self.rx.wait(2, timeout=5)  # at once, not when the lease ends
        self.assertEqual(reqs[1]["headers"]["webhook-id"], first["headers"]["webhook-id"])
        done = self.wait_finished(wid, 1)["deliveries"][0]
        self.assertEqual((done["attempts"], done["statuses"], done["outcome"]), (1, [200], "delivered"))

    def test_two_daemons_share_the_outbox(self):
        self.rx.default = (200, {}, 0.1)
        other = self.start_daemon(name="second")
        self.register()
        n = 40
        self.enqueue("digest", [dict(DIGEST, leader="l%d" % i) for i in range(n)],
                     ["digest:l%d" % i for i in range(n)])
        self.rx.wait(n, timeout=20)
        time.sleep(1.5)
        ids = [q["headers"]["webhook-id"] for q in self.rx.got()]
        self.assertEqual(len(ids), n)
        self.assertEqual(len(set(ids)), n)
        logs = self.d.log() + other.log()
        self.assertEqual(logs.count(" delivered (status 200"), n)


if __name__ == "__main__":
    unittest.main()
