"""msgpack-RPC front end (proto/PROTOCOL.md) through a client that is not ours.

The client is Python's msgpack module (Debian's python3-msgpack) over a
plain socket: every method, auth, pipelining with answers out of order,
malformed frames (answered, connection closed, Redis untouched), the
connection limit, the same results as the HTTP API for the same input, and
subscriptions (live standings and closed periods as notifications).
"""

import json
import re
import signal
import socket
import time
import unittest

import msgpack

from harness import PodiumTestCase, now_ms, rfc3339, wait_until, week_id

MARKER = "rpc: listening on 127.0.0.1:"


class Rpc:
    """A blocking msgpack-RPC connection that keeps answers by msgid."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.next_id = 1
        self.early = {}
        self.notes = []   # notifications [2, method, params] not yet taken
        self.timeout = timeout

    def close(self):
        self.sock.close()

    def send(self, msgid, method, params=None):
        self.sock.sendall(msgpack.packb([0, msgid, method, {} if params is None else params]))

    def recv(self):
        """The next message, or None when the server closed the connection."""
        while True:
            for msg in self.unpacker:
                return msg
            data = self.sock.recv(65536)
            if not data:
                return None
            self.unpacker.feed(data)

    def call_raw(self, method, params=None):
        """(error, result) of one request."""
        msgid = self.next_id
        self.next_id += 1
        self.send(msgid, method, params)
        while msgid not in self.early:
            msg = self.recv()
            if msg is None:
                raise ConnectionError("closed before answering %s" % method)
            if msg[0] == 2:
                self.notes.append(msg)
            else:
                self.early[msg[1]] = msg
        kind, _, error, result = self.early.pop(msgid)
        assert kind == 1
        return error, result

    def call(self, method, params=None):
        error, result = self.call_raw(method, params)
        if error is not None:
            raise AssertionError("%s failed: %r" % (method, error))
        return result

    def note(self, timeout=5.0):
        """The next notification as (method, params), None if none comes
        within timeout s."""
        deadline = time.monotonic() + timeout
        while not self.notes:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                msg = self.recv()
            except socket.timeout:
                return None
            finally:
                self.sock.settimeout(self.timeout)
            if msg is None:
                raise ConnectionError("closed while waiting for a notification")
            if msg[0] == 2:
                self.notes.append(msg)
            else:
                self.early[msg[1]] = msg
        kind, method, params = self.notes.pop(0)
        return method, params

    def closed(self, timeout=5.0):
        """True if the server closes the connection within timeout s."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


class RpcTestCase(PodiumTestCase):
    leaders = ("alice", "bob", "carol")
    podiumd_args = ("--rpc_listen", "127.0.0.1:0")

    def setUp(self):
        super().setUp()
        text = wait_until(lambda: MARKER in self.d.log() and self.d.log(), what="rpc listener")
        rest = text[text.index(MARKER) + len(MARKER):]
        self.rpc_port = int(rest[:len(rest) - len(rest.lstrip("0123456789"))])

    def connect(self, token="admin"):
        c = Rpc(self.rpc_port)
        self.addCleanup(c.close)
        if token == "admin":
            token = self.d.admin_token
        if token:
            self.assertEqual(c.call("auth", {"token": token})["protocol"], 1)
        return c

    def ev(self, leader, **kw):
        e = {"leader": leader, "type": "post", "at": rfc3339(now_ms() - 1000)}
        e.update(kw)
        return e


class TestMethods(RpcTestCase):
    def test_ping_needs_no_token(self):
        c = self.connect(token=None)
        r = c.call("ping")
        self.assertEqual(r["protocol"], 1)
        self.assertTrue(r["server"].startswith("podiumd "))
        self.assertEqual(c.call("ping", []), r)  # params as msgpack-RPC libraries send them

    def test_auth_required_and_refused(self):
        c = self.connect(token=None)
        err, _ = c.call_raw("leaderboard", {"challenge": "weekly"})
        self.assertEqual((err["code"], err["status"]), ("unauthorized", 401))
        err, _ = c.call_raw("auth", {"token": "pdm_" + "x" * 43})
        self.assertEqual(err["code"], "unauthorized")
        err, _ = c.call_raw("auth", {"token": 5})
        self.assertEqual(err["code"], "invalid-params")
        self.assertEqual(err["errors"][0]["pointer"], "/token")
        err, _ = c.call_raw("post_events", self.ev("alice"))
        self.assertEqual(err["code"], "unauthorized")
        who = c.call("auth", [{"token": self.d.admin_token}])
        self.assertEqual((who["role"], who["org"], who["leader"]), ("admin", "default", None))
        c.call("leaderboard", {"challenge": "weekly"})
        # A failed auth leaves the connection unauthenticated again.
        c.call_raw("auth", {"token": "pdm_" + "y" * 43})
        err, _ = c.call_raw("challenges")
        self.assertEqual(err["code"], "unauthorized")
        self.assertEqual(self.xlen(), 0)

    def test_roles(self):
        _, reader = self.make_token("reader")
        _, leader = self.make_token("leader", "alice")
        r = self.connect(reader)
        err, _ = r.call_raw("post_events", self.ev("alice"))
        self.assertEqual((err["code"], err["status"]), ("forbidden", 403))
        self.assertIn("entries", r.call("leaderboard", {"challenge": "weekly"}))
        lc = self.connect(leader)
        who = lc.call("auth", {"token": leader})
        self.assertEqual((who["role"], who["leader"]), ("leader", "alice"))
        err, _ = lc.call_raw("post_events", {"events": [self.ev("alice"), self.ev("bob")]})
        self.assertEqual(err["code"], "forbidden")
        self.assertEqual(err["errors"][0]["pointer"], "/events/1/leader")
        res = lc.call("post_events", {"type": "post", "id": "own-1"})  # leader may be left out
        self.assertEqual(res["points"], 10)
        self.assertEqual(self.zboard("weekly", week_id()), {"alice": 10})

    def test_deleted_token_stops_working(self):
        tid, token = self.make_token("reader")
        c = self.connect(token)
        c.call("challenges")
        self.ok(self.req("DELETE", "/v1/admin/tokens/" + tid), 204)
        time.sleep(5.3)  # a connection's token is looked up again after AUTH_CACHE_MS
        err, _ = c.call_raw("challenges")
        self.assertEqual(err["code"], "unauthorized")

    def test_unknown_method_and_bad_params(self):
        c = self.connect()
        err, _ = c.call_raw("publish", {"challenge": "weekly"})
        self.assertEqual((err["code"], err["status"]), ("unknown-method", 404))
        err, _ = c.call_raw("leaderboard", {"challenge": "weekly", "limit": 101})
        self.assertEqual(err["code"], "invalid-params")
        self.assertEqual(err["errors"][0]["pointer"], "/limit")
        err, _ = c.call_raw("leaderboard", {"challenge": "weekly", "colour": "red"})
        self.assertEqual(err["code"], "invalid-params")
        err, _ = c.call_raw("leaderboard", {"challenge": "nope"})
        self.assertEqual((err["code"], err["status"]), ("not-found", 404))
        err, _ = c.call_raw("leaderboard", {"challenge": "weekly", "period": "1999-W01x"})
        self.assertEqual(err["errors"][0]["pointer"], "/period")
        err, _ = c.call_raw("leaderboard", "weekly")
        self.assertEqual(err["code"], "invalid-params")
        err, _ = c.call_raw("post_events", {"events": [{"leader": "alice", "type": "nope"}]})
        self.assertEqual((err["code"], err["status"]), ("invalid-event", 422))
        err, _ = c.call_raw("post_events", {"events": [{"leader": "alice", "type": "post",
                                                         "note": b"binary"}]})
        self.assertEqual(err["code"], "invalid-body")
        self.assertEqual(err["errors"][0]["pointer"], "/events/0/note")
        self.assertEqual(self.xlen(), 0)

    def test_reads_match_http(self):
        c = self.connect()
        self.assertEqual(c.call("challenges"), self.ok(self.req("GET", "/v1/challenges")))
        c.call("post_events", {"events": [self.ev("alice", id="a1"), self.ev("bob", id="b1"),
                                          self.ev("bob", id="b2", type="reply")]})
        http_board = self.board("weekly", limit=1)
        self.assertEqual(c.call("leaderboard", {"challenge": "weekly", "limit": 1}), http_board)
        self.assertEqual([e["leader"] for e in http_board["entries"]], ["bob"])
        page2 = c.call("leaderboard", {"challenge": "weekly", "limit": 1,
                                       "cursor": http_board["next_cursor"]})
        self.assertEqual(page2, self.board("weekly", limit=1, cursor=http_board["next_cursor"]))
        self.assertEqual(page2["entries"][0]["leader"], "alice")
        self.assertEqual(c.call("leaderboard", {"challenge": "weekly", "period": "all"}),
                         self.board("weekly", period="all"))
        around = c.call("around", {"challenge": "weekly", "leader": "alice", "n": 1})
        self.assertEqual(around, self.ok(self.req(
            "GET", "/v1/challenges/weekly/leaderboard/around/alice?n=1")))
        err, _ = c.call_raw("around", {"challenge": "weekly", "leader": "carol"})
        self.assertEqual(err["code"], "not-found")
        self.assertEqual(c.call("leader", {"leader": "bob"}),
                         self.ok(self.req("GET", "/v1/leaders/bob")))
        err, _ = c.call_raw("leader", {"leader": "nobody"})
        self.assertEqual(err["code"], "not-found")

    def test_post_same_results_as_http(self):
        """The same events through both front ends give the same answers:
        alice's through RPC, carol's through HTTP, both their first today."""
        c = self.connect()
        at = rfc3339(now_ms() - 2000)
        evs = [dict(type="post", channel="linkedin", at=at, id="x1"),
               dict(type="stakeholder_interaction", stakeholder="customer", at=at, id="x2"),
               dict(type="post", channel="intranet", at=at, id="x3")]
        rpc = c.call("post_events", {"events": [dict(e, leader="alice") for e in evs]})
        http = self.ok(self.batch([dict(e, leader="carol", id="h" + e["id"]) for e in evs]))

        def strip(results):
            out = []
            for r in results:
                r = dict(r)
                r.pop("id")
                r["standings"] = [dict(s, rank=None) for s in r["standings"]]
                out.append(r)
            return out
        self.assertEqual(strip(rpc["results"]), strip(http["results"]))
        self.assertEqual(rpc["results"][0]["id"], "x1")
        # A retry through the other front end is a duplicate with the first result.
        again = self.ok(self.batch([dict(evs[0], leader="alice")]))["results"][0]
        self.assertTrue(again["duplicate"])
        one = c.call("post_events", dict(evs[0], leader="carol", id="hx1"))  # one event: no list
        self.assertTrue(one["duplicate"])
        self.assertEqual(one["points"], http["results"][0]["points"])
        # Invalid input: the same pointers and messages as HTTP.
        bad = {"events": [{"leader": "alice", "type": "post", "at": "yesterday"}, {"type": 3}]}
        err, _ = c.call_raw("post_events", bad)
        problem = self.req("POST", "/v1/events", json_body=bad).json()
        self.assertEqual(err["errors"], problem["errors"])
        self.assertEqual(err["status"], problem["status"])
        # minimal: standings carry no rank, as with Prefer: return=minimal
        m = c.call("post_events", {"events": [self.ev("bob", id="m1")], "minimal": True})
        self.assertEqual(m["results"][0]["points"], 10)


class SubscribeCase(RpcTestCase):
    podiumd_args = ("--rpc_listen", "127.0.0.1:0", "--sse_interval", "100ms")

    def setUp(self):
        super().setUp()
        self.W = week_id()

    def standings(self, c, sub, timeout=5.0):
        note = c.note(timeout)
        self.assertIsNotNone(note, "no standings notification")
        method, params = note
        self.assertEqual((method, params["subscription"]), ("standings", sub), params)
        return params

    def top(self, board):
        return [(e["leader"], e["score"]) for e in board["entries"]]

    def close_period(self, period, archive, at=None):
        """Does what the closer does when it closes a period of weekly."""
        self.r("HSET", self.key("periods", "weekly"), period, json.dumps(archive))
        self.r("ZADD", self.key("closedp", "weekly"), at or int(time.time()), period)
        self.r("PUBLISH", self.key("push"), "closed weekly %s" % period)


class TestSubscribe(SubscribeCase):
    def test_standings_at_once_then_on_change_until_unsubscribed(self):
        self.event("alice", "stakeholder_interaction")                  # alice 15
        c = self.connect()
        sub = c.call("subscribe", {"challenge": "weekly", "limit": 1})["subscription"]
        self.assertIsInstance(sub, int)
        n = self.standings(c, sub)
        # The JSON of GET .../leaderboard as msgpack, with the SSE event id.
        self.assertEqual(n["data"], self.board("weekly", limit=1))
        self.assertEqual(n["id"], "%s.%d.-" % (self.W, n["data"]["version"]))
        self.assertEqual(self.top(n["data"]), [("alice", 15)])
        c.call("post_events", self.ev("bob", type="reply"))              # bob 3: same top 1
        self.assertIsNone(c.note(timeout=0.8))
        self.event("bob", "stakeholder_interaction")                     # bob 18, over HTTP
        self.assertEqual(self.top(self.standings(c, sub)["data"]), [("bob", 18)])
        c.call("post_events", {"events": [self.ev("carol", type="stakeholder_interaction"),
                                          self.ev("carol", type="reply", id="c2")]})  # carol 18
        c.call("post_events", self.ev("carol", type="reply"))            # carol 21, over RPC
        n = self.standings(c, sub)
        while self.top(n["data"]) != [("carol", 21)]:   # carol 18 may have gone out first
            n = self.standings(c, sub)
        # A second subscription on the connection gets its own id and events.
        sub2 = c.call("subscribe", [{"challenge": "weekly", "period": "current"}])["subscription"]
        self.assertNotEqual(sub2, sub)
        self.assertEqual(len(self.standings(c, sub2)["data"]["entries"]), 3)
        self.assertEqual(c.call("unsubscribe", {"subscription": sub}), {"unsubscribed": True})
        err, _ = c.call_raw("unsubscribe", {"subscription": sub})
        self.assertEqual((err["code"], err["status"]), ("not-found", 404))
        self.event("alice", "stakeholder_interaction")                   # alice 30: a new top
        n = self.standings(c, sub2)
        self.assertEqual(self.top(n["data"])[0], ("alice", 30))
        self.assertIsNone(c.note(timeout=0.8), "a notification after unsubscribe")
        c.call("unsubscribe", {"subscription": sub2})
        self.event("bob", "stakeholder_interaction")
        self.event("bob", "stakeholder_interaction")                     # bob 48
        self.assertIsNone(c.note(timeout=0.8), "a notification after unsubscribe")
        # A reader may subscribe (as it may open a stream); a leader token may not.
        _, reader = self.make_token("reader")
        _, leader = self.make_token("leader", "alice")
        r = self.connect(reader)
        self.standings(r, r.call("subscribe", {"challenge": "weekly"})["subscription"])
        err, _ = self.connect(leader).call_raw("subscribe", {"challenge": "weekly"})
        self.assertEqual((err["code"], err["status"]), ("forbidden", 403))

    def test_period_closed_live_and_on_resume(self):
        c = self.connect()
        sub = c.call("subscribe", {"challenge": "weekly"})["subscription"]
        first_id = self.standings(c, sub)["id"]
        self.close_period("2026-W01", {"period": "2026-W01", "winners": ["alice"]})
        method, n = c.note()
        self.assertEqual((method, n["subscription"], n["id"]),
                         ("period_closed", sub, "2026-W01.closed"))
        self.assertEqual(n["data"], {"period": "2026-W01", "winners": ["alice"]})
        last = self.standings(c, sub)["id"]   # the standings ids now carry the new mark
        self.assertTrue(last.endswith(".2026-W01"), last)
        c.close()
        # Two periods close while the client is away; it resumes from its last id.
        self.close_period("2026-W02", {"period": "2026-W02"}, at=int(time.time()) + 1)
        self.close_period("2026-W03", {"period": "2026-W03"}, at=int(time.time()) + 2)
        c = self.connect()
        sub = c.call("subscribe", {"challenge": "weekly", "last_event_id": last})["subscription"]
        got = [c.note() for _ in range(3)]
        self.assertEqual([(m, p["id"]) for m, p in got[:2]],
                         [("period_closed", "2026-W02.closed"),
                          ("period_closed", "2026-W03.closed")])
        self.assertEqual(got[1][1]["data"], {"period": "2026-W03"})
        self.assertEqual(got[2][0], "standings")
        self.assertTrue(got[2][1]["id"].endswith(".2026-W03"), got[2])
        # From the first id (before any close): all three.
        sub = c.call("subscribe", {"challenge": "weekly", "last_event_id": first_id})
        got = [c.note() for _ in range(4)]
        self.assertEqual([p["id"] for _, p in got[:3]],
                         ["2026-W01.closed", "2026-W02.closed", "2026-W03.closed"])
        self.assertEqual(got[3][0], "standings")
        self.assertEqual({p["subscription"] for _, p in got}, {sub["subscription"]})

    def test_bad_params_unknown_challenge_and_limits(self):
        c = self.connect(token=None)
        err, _ = c.call_raw("subscribe", {"challenge": "weekly"})
        self.assertEqual((err["code"], err["status"]), ("unauthorized", 401))
        self.assertIsNone(c.note(timeout=0.5))
        c.call("auth", {"token": self.d.admin_token})
        for params, pointer in [
                ({}, "/challenge"),
                ({"challenge": 5}, "/challenge"),
                ({"challenge": "weekly", "limit": 0}, "/limit"),
                ({"challenge": "weekly", "limit": 101}, "/limit"),
                ({"challenge": "weekly", "period": "1999-W01x"}, "/period"),
                ({"challenge": "weekly", "last_event_id": "yesterday"}, "/last_event_id"),
                ({"challenge": "weekly", "last_event_id": 7}, "/last_event_id"),
                ({"challenge": "weekly", "colour": "red"}, "")]:
            err, _ = c.call_raw("subscribe", params)
            self.assertEqual((err["code"], err["status"]), ("invalid-params", 400), params)
            self.assertEqual(err["errors"][0]["pointer"], pointer, params)
        err, _ = c.call_raw("subscribe", {"challenge": "nope"})
        self.assertEqual((err["code"], err["status"]), ("not-found", 404))
        for params in [{}, {"subscription": "x"}, {"subscription": 1, "more": 1}]:
            err, _ = c.call_raw("unsubscribe", params)
            self.assertEqual(err["code"], "invalid-params", params)
        err, _ = c.call_raw("unsubscribe", {"subscription": 1})
        self.assertEqual((err["code"], err["status"]), ("not-found", 404))
        self.assertIsNone(c.note(timeout=0.5))
        subs = [c.call("subscribe", {"challenge": "weekly", "limit": 1 + i % 3})["subscription"]
                for i in range(16)]
        self.assertEqual(len(set(subs)), 16)
        err, _ = c.call_raw("subscribe", {"challenge": "weekly"})
        self.assertEqual((err["code"], err["status"]), ("too-many-subscriptions", 409))
        # Freeing one makes room; ids are not reused.
        c.call("unsubscribe", {"subscription": subs[0]})
        again = c.call("subscribe", {"challenge": "weekly"})["subscription"]
        self.assertNotIn(again, subs)

    def test_closing_the_connection_frees_its_subscriptions(self):
        for _ in range(3):
            c = self.connect()
            for i in range(16):
                c.call("subscribe", {"challenge": "weekly", "limit": 1 + i % 2})
            c.close()
        c = self.connect()
        sub = c.call("subscribe", {"challenge": "weekly", "limit": 1})["subscription"]
        self.standings(c, sub)
        seen = len(self.d.log())
        self.event("alice", "stakeholder_interaction")
        self.assertEqual(self.top(self.standings(c, sub)["data"]), [("alice", 15)])
        # The feed's fan-out (logged at debug) counts this one subscriber only.
        line = wait_until(lambda: re.search(r"sse: standings of weekly:\S+ to \d+ of \d+ streams",
                                            self.d.log()[seen:]), what="the fan-out log line")
        self.assertTrue(line.group(0).endswith(" to 1 of 1 streams"), line.group(0))
        # SIGTERM closes a subscribed connection and the daemon stops at once.
        t0 = time.monotonic()
        self.d.send_signal(signal.SIGTERM)
        self.assertTrue(c.closed(timeout=3))
        self.assertEqual(self.d.proc.wait(timeout=5), 0)
        self.assertLess(time.monotonic() - t0, 2.0)


class TestSlowSubscriber(SubscribeCase):
    leaders = tuple("l%02d" % i for i in range(40))

    def test_a_connection_that_never_reads_is_cut_off(self):
        for lid in self.leaders:   # long profiles make big events
            self.put_leader(lid, name=(lid + " ") * 24, avatar="https://example.com/" + "a" * 200)
        stuck = socket.socket()
        self.addCleanup(stuck.close)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        stuck.connect(("127.0.0.1", self.rpc_port))
        stuck.sendall(msgpack.packb([0, 0, "auth", {"token": self.d.admin_token}]) + b"".join(
            msgpack.packb([0, i, "subscribe", {"challenge": "weekly", "limit": 100}])
            for i in range(1, 17)))
        good = self.connect()
        sub = good.call("subscribe", {"challenge": "weekly", "limit": 100})["subscription"]
        self.standings(good, sub)
        got, i = 0, 0
        deadline = time.monotonic() + 40
        while not re.search(r"rpc: \S+ cut off: over", self.d.log()):
            self.assertLess(time.monotonic(), deadline, "the stuck connection was never cut off")
            self.event(self.leaders[i % 40], "stakeholder_interaction")
            i += 1
            while good.note(timeout=0.02):
                got += 1
        self.assertGreater(got, 3)
        self.assertIn("sse: cut off a callback subscriber", self.d.log())
        # The other connection keeps getting notifications.
        self.event("l00", "stakeholder_interaction")
        self.event("l00", "stakeholder_interaction")
        while True:
            n = self.standings(good, sub, timeout=3)
            if n["data"]["entries"][0]["leader"] == "l00":
                break
        # The stuck one's connection is gone: reading what was buffered ends in EOF.
        stuck.settimeout(5)
        try:
            while stuck.recv(65536):
                pass
        except ConnectionResetError:
            pass


class TestPipelining(RpcTestCase):
    def test_1000_in_flight_answered_by_msgid(self):
        c = self.connect()
        frames, want = [], {}
        for i in range(1000):
            if i % 4 == 3:
                frames.append(msgpack.packb([0, i, "leaderboard", {"challenge": "weekly"}]))
                want[i] = "board"
            elif i % 4 == 2:
                frames.append(msgpack.packb([0, i, "ping", []]))
                want[i] = "ping"
            else:
                lid = ("alice", "bob")[i % 2]
                frames.append(msgpack.packb([0, i, "post_events", {
                    "leader": lid, "type": "reply", "id": "p%d" % i,
                    "at": rfc3339(now_ms() - 5000)}]))
                want[i] = "p%d" % i
        c.sock.sendall(b"".join(frames))
        order = []
        got = {}
        while len(got) < 1000:
            msg = c.recv()
            self.assertIsNotNone(msg, "closed after %d answers" % len(got))
            kind, msgid, error, result = msg
            self.assertEqual(kind, 1)
            self.assertIsNone(error, msg)
            self.assertNotIn(msgid, got)
            got[msgid] = result
            order.append(msgid)
        self.assertNotEqual(order, sorted(order), "answers came strictly in order")
        for msgid, what in want.items():
            if what == "board":
                self.assertIn("entries", got[msgid])
            elif what == "ping":
                self.assertEqual(got[msgid]["protocol"], 1)
            else:
                self.assertEqual(got[msgid]["id"], what)
                self.assertEqual(got[msgid]["points"], 3)
        self.assertEqual(len(self.log_entries()), 500)
        self.assertEqual(self.zboard("weekly", week_id()), {"alice": 750, "bob": 750})

    def test_past_the_in_flight_limit_reading_pauses(self):
        """2500 posts in one go: past 1024 in flight the daemon stops reading
        (back-pressure, not errors) and goes on as answers go out."""
        c = self.connect()
        c.sock.sendall(b"".join(msgpack.packb([0, i, "post_events", {
            "leader": "carol", "type": "reply", "id": "q%d" % i}]) for i in range(2500)))
        got = set()
        while len(got) < 2500:
            msg = c.recv()
            self.assertIsNotNone(msg)
            self.assertIsNone(msg[2], msg)
            got.add(msg[1])
        self.assertEqual(got, set(range(2500)))
        self.assertEqual(len(self.log_entries()), 2500)
        self.assertEqual(self.zboard("weekly", week_id()), {"carol": 7500})

    def test_sigterm_answers_what_is_in_flight(self):
        c = self.connect()
        frames = [msgpack.packb([0, i, "post_events", {"leader": "alice", "type": "reply",
                                                        "id": "t%d" % i}]) for i in range(300)]
        c.sock.sendall(b"".join(frames))
        first = c.recv()  # the daemon is at work on them
        self.d.send_signal(signal.SIGTERM)
        answered = {first[1]}
        while True:
            msg = c.recv()
            if msg is None:
                break
            answered.add(msg[1])
        self.assertEqual(answered, set(range(300)))
        wait_until(lambda: not self.d.alive(), what="podiumd to exit")
        self.assertEqual(self.d.proc.returncode, 0)
        self.assertEqual(len(self.log_entries()), 300)


class TestMalformed(RpcTestCase):
    def check_refused(self, data, msgid=None, code="malformed-message"):
        before = self.snapshot()
        c = self.connect()
        c.sock.sendall(data)
        msg = c.recv()
        self.assertIsNotNone(msg, "closed without an answer")
        self.assertEqual(msg[0], 1)
        self.assertEqual(msg[1], msgid)
        self.assertEqual(msg[2]["code"], code, msg)
        self.assertIsNone(msg[3])
        self.assertTrue(c.closed(), "the connection stayed open")
        self.assertUnchanged(before)
        # The daemon is fine: a new connection works.
        self.assertEqual(self.connect(None).call("ping")["protocol"], 1)
        return msg[2]

    def post(self, msgid, **extra):
        ev = {"leader": "alice", "type": "post"}
        ev.update(extra)
        return [0, msgid, "post_events", {"events": [ev]}]

    def test_garbage(self):
        self.check_refused(b"\xc1garbage")
        self.check_refused(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # an array? no: a fixint then str
        self.check_refused(msgpack.packb({"not": "an array"}))

    def test_not_a_request(self):
        self.check_refused(msgpack.packb([0, "one", "ping", []]))
        self.check_refused(msgpack.packb([0, 7, 42, []]), msgid=7)
        self.check_refused(msgpack.packb([1, 8, None, "a response"]), msgid=8)
        self.check_refused(msgpack.packb([0, 2 ** 32, "ping", []]))

    def test_over_limits(self):
        e = self.check_refused(msgpack.packb(self.post(1, note="x" * 70000)))
        self.assertIn("65536", e["message"])
        deep = [0]
        for _ in range(20):
            deep = [deep]
        self.check_refused(msgpack.packb(self.post(2, note=deep)))
        self.check_refused(msgpack.packb([0, 3, "post_events", {"events": list(range(5000))}]))
        # A frame above max_body (1 MiB): refused from the header of its
        # first big string, before the rest is sent.
        big = [0, 4, "post_events", {"events": ["y" * 60000] * 20}]
        self.check_refused(msgpack.packb(big))
        # A header that declares 4 GiB, with nothing after it.
        self.check_refused(b"\x94\x00\x05\xabpost_events\xdb\xff\xff\xff\xff")

    def test_requests_before_a_bad_frame_are_answered(self):
        c = self.connect()
        c.sock.sendall(msgpack.packb(self.post(1, id="ok-1")) + b"\xc1")
        msgs = [c.recv(), c.recv()]
        self.assertTrue(c.closed())
        by_id = {m[1]: m for m in msgs}
        self.assertIsNone(by_id[1][2])
        self.assertEqual(by_id[1][3]["results"][0]["id"], "ok-1")
        self.assertEqual(by_id[None][2]["code"], "malformed-message")
        self.assertEqual(len(self.log_entries()), 1)

    def test_half_a_frame_then_eof(self):
        before = self.snapshot()
        c = self.connect()
        c.sock.sendall(msgpack.packb(self.post(1))[:-3])
        c.sock.shutdown(socket.SHUT_WR)
        self.assertTrue(c.closed())
        self.assertUnchanged(before)


class TestReadTimeout(RpcTestCase):
    podiumd_args = ("--rpc_listen", "127.0.0.1:0", "--read_timeout", "1s")

    def test_a_frame_begun_must_end(self):
        c = self.connect()
        idle = self.connect()
        c.sock.sendall(msgpack.packb([0, 1, "ping", []])[:-1])
        t0 = time.monotonic()
        self.assertTrue(c.closed(timeout=5))
        self.assertGreater(time.monotonic() - t0, 0.5)
        # A connection with no frame begun is not timed out.
        time.sleep(0.6)
        self.assertEqual(idle.call("ping")["protocol"], 1)


class TestConnectionLimit(RpcTestCase):
    podiumd_args = ("--rpc_listen", "127.0.0.1:0", "--max_connections", "2")

    def test_one_too_many(self):
        a, b = self.connect(None), self.connect(None)
        self.assertEqual(a.call("ping")["protocol"], 1)
        self.assertEqual(b.call("ping")["protocol"], 1)
        c = Rpc(self.rpc_port)
        self.addCleanup(c.close)
        msg = c.recv()
        self.assertEqual((msg[1], msg[2]["code"]), (None, "too-many-connections"))
        self.assertTrue(c.closed())
        c.close()  # a refused connection counts until the client lets go (or 2 s)
        a.close()
        time.sleep(0.2)
        self.assertEqual(self.connect(None).call("ping")["protocol"], 1)


if __name__ == "__main__":
    unittest.main()
