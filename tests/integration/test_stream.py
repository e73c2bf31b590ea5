"""Server-Sent Events: GET /v1/challenges/{id}/stream.

Streams are read with a raw socket client (HTTP/1.1, chunked framing
decoded here) so that tests see every byte: event ids, heartbeats, the end
of a stream, and can also be a client that never reads.
"""

import json
import signal
import socket
import time
import unittest
import urllib.parse

from harness import PodiumTestCase, Resp, week_id, wait_until

ORG = "default"


class Stream:
    """One SSE stream over its own socket. `rcvbuf` shrinks the socket's
    receive buffer (a client that never reads fills it at once)."""

    def __init__(self, port, path, token=None, headers=None, rcvbuf=None, timeout=5.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        h = {"Host": "127.0.0.1", "Accept": "text/event-stream"}
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        req = "GET %s HTTP/1.1\r\n%s\r\n" % (path, "".join("%s: %s\r\n" % kv for kv in h.items()))
        self.sock.sendall(req.encode())
        self.raw = b""
        self.data = b""
        self.ended = False   # the last chunk came (a clean end)
        self.closed = False  # the server closed the connection
        self.status = None
        self.headers = {}
        self.body = b""

    def start(self, timeout=5.0):
        """Reads the status line and headers; for an error, the body too."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            self._recv(deadline)
            if self.closed and b"\r\n\r\n" not in self.raw:
                raise AssertionError("connection closed before the headers: %r" % self.raw)
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(self.raw) < n:
                self._recv(deadline)
            self.body = self.raw[:n]
        return self

    def json(self):
        return json.loads(self.body)

    def _recv(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            b = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("no data from the stream in time")
        except ConnectionResetError:
            b = b""
        if not b:
            self.closed = True
        self.raw += b
        return b

    def _dechunk(self):
        while True:
            i = self.raw.find(b"\r\n")
            if i < 0:
                return
            n = int(self.raw[:i], 16)
            if n == 0:
                self.ended = True
                self.raw = self.raw[i + 2:]
                return
            if len(self.raw) < i + 2 + n + 2:
                return
            self.data += self.raw[i + 2:i + 2 + n]
            self.raw = self.raw[i + 2 + n + 2:]

    def next(self, timeout=5.0, comments=False):
        """The next event as a dict (id, event, data), or a comment ({"comment":
        text}) when `comments`; None when the stream ended or closed."""
        deadline = time.monotonic() + timeout
        while True:
            self._dechunk()
            while b"\n\n" in self.data:
                block, self.data = self.data.split(b"\n\n", 1)
                ev = {"data": []}
                comment = None
                for line in block.decode().split("\n"):
                    if line.startswith(":"):
                        comment = line[1:].strip()
                        continue
                    k, _, v = line.partition(":")
                    v = v[1:] if v.startswith(" ") else v
                    if k == "data":
                        ev["data"].append(v)
                    else:
                        ev[k] = v
                if comment is not None and len(ev) == 1 and not ev["data"]:
                    if comments:
                        return {"comment": comment}
                    continue
                ev["data"] = "\n".join(ev["data"])
                return ev
            if self.ended or self.closed:
                return None
            if time.monotonic() > deadline:
                raise AssertionError("no event in %.1f s; have %r" % (timeout, self.data[-300:]))
            self._recv(deadline)

    def events_for(self, seconds):
        """Every event that arrives within `seconds`."""
        out = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                ev = self.next(timeout=left)
            except AssertionError:
                return out
            if ev is None:
                return out
            out.append(ev)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class StreamCase(PodiumTestCase):
    leaders = ("ada", "bob", "cy")
    podiumd_args = ("--sse_interval", "100ms")

    def setUp(self):
        super().setUp()
        self.W = week_id()
        self.streams = []
        self.addCleanup(lambda: [s.close() for s in self.streams])

    def open(self, path="/v1/challenges/weekly/stream", token="admin", d=None, **kw):
        d = d or self.d
        if token == "admin":
            token = d.admin_token
        s = Stream(d.port, path, token=token, **kw)
        self.streams.append(s)
        return s.start()

    def standings(self, s, timeout=5.0):
        ev = s.next(timeout=timeout)
        self.assertIsNotNone(ev, "the stream ended")
        self.assertEqual(ev.get("event"), "standings", ev)
        return ev, json.loads(ev["data"])

    def top(self, board):
        return [(e["leader"], e["score"]) for e in board["entries"]]


class StreamTest(StreamCase):
    def test_standings_on_connect_match_the_leaderboard(self):
        self.event("ada", "reply")
        s = self.open("/v1/challenges/weekly/stream?limit=2")
        self.assertEqual(s.headers["content-type"], "text/event-stream; charset=utf-8")
        self.assertEqual(s.headers["cache-control"], "no-cache")
        ev, board = self.standings(s)
        # The same JSON GET .../leaderboard answers, rendered by the same code.
        self.assertEqual(board, self.board("weekly", limit=2))
        self.assertEqual(ev["id"], "%s.%d.-" % (self.W, board["version"]))
        self.assertEqual(self.top(board), [("ada", 3)])

    def test_update_after_a_post_and_nothing_when_the_top_is_unchanged(self):
        self.event("ada", "stakeholder_interaction")   # ada 15
        s = self.open("/v1/challenges/weekly/stream?limit=1")
        _, board = self.standings(s)
        self.assertEqual(self.top(board), [("ada", 15)])
        self.event("bob", "reply")                     # bob 3: the top 1 does not change
        self.assertEqual(s.events_for(0.8), [])
        self.event("bob", "stakeholder_interaction")   # bob 18: a new leader
        ev, board = self.standings(s)
        self.assertEqual(self.top(board), [("bob", 18)])
        self.assertTrue(ev["id"].startswith(self.W + "."), ev)

    def test_heartbeats_and_no_read_timeout(self):
        d = self.start_daemon(name="hb", extra_args=("--sse_heartbeat", "1", "--read_timeout", "1"))
        s = self.open(d=d)
        self.standings(s)
        # A stream reads nothing after its request: read_timeout does not end it.
        for _ in range(3):
            self.assertEqual(s.next(timeout=3, comments=True), {"comment": "hb"})
        self.assertFalse(s.closed)

    def test_token_in_query_and_errors(self):
        _, reader = self.make_token("reader")
        _, leader = self.make_token("leader", "ada")
        s = self.open("/v1/challenges/weekly/stream?token=" + reader, token=None,
                      headers={"Origin": "https://intra.example.com"})
        self.assertEqual(s.status, 200)
        self.standings(s)
        for path, token, status in [
                ("/v1/challenges/weekly/stream", None, 401),
                ("/v1/challenges/weekly/stream?token=pdm_" + "x" * 43, None, 401),
                ("/v1/challenges/weekly/stream?token=" + leader, None, 403),
                ("/v1/challenges/weekly/stream", leader, 403),
                ("/v1/challenges/nope/stream?token=" + reader, None, 404),
                ("/v1/challenges/weekly/stream?limit=101&token=" + reader, None, 400),
                ("/v1/challenges/weekly/stream?period=2001-W99&token=" + reader, None, 400)]:
            e = self.open(path, token=token)
            self.assertEqual(e.status, status, (path, e.body))
            self.assertEqual(e.headers["content-type"], "application/problem+json")
            self.assertEqual(e.json()["status"], status)
        # The token is a credential: never in the log, even at debug level.
        self.assertNotIn(reader, self.d.log())
        self.assertNotIn(reader[4:], self.d.log())

    def test_cors_allowlist(self):
        d = self.start_daemon(name="cors", extra_args=(
            "--sse_interval", "100ms", "--cors_origins", "https://intra.example.com"))
        s = self.open(d=d, headers={"Origin": "https://intra.example.com"})
        self.assertEqual(s.headers.get("access-control-allow-origin"), "https://intra.example.com")
        s = self.open(d=d, headers={"Origin": "https://evil.example.com"})
        self.assertNotIn("access-control-allow-origin", s.headers)
        r = d.request("OPTIONS", "/v1/challenges/weekly/stream", auth=None,
                      headers={"Origin": "https://intra.example.com",
                               "Access-Control-Request-Method": "GET",
                               "Access-Control-Request-Headers": "last-event-id"})
        self.assertEqual(r.status, 204)
        self.assertIn("Last-Event-ID", r.header("Access-Control-Allow-Headers"))

    def close_period(self, period, archive, at=None):
        """Does what the closer does when it closes a period of weekly."""
        self.r("HSET", self.key("periods", "weekly"), period, json.dumps(archive))
        self.r("ZADD", self.key("closedp", "weekly"), at or int(time.time()), period)
        self.r("PUBLISH", self.key("push"), "closed weekly %s" % period)

    def test_period_closed_live_and_on_resume(self):
        s = self.open()
        ev, _ = self.standings(s)
        first_id = ev["id"]
        self.close_period("2026-W01", {"period": "2026-W01", "winners": ["ada"]})
        ev = s.next()
        self.assertEqual((ev["event"], ev["id"]), ("period_closed", "2026-W01.closed"))
        self.assertEqual(json.loads(ev["data"]), {"period": "2026-W01", "winners": ["ada"]})
        ev, _ = self.standings(s)   # the standings ids now carry the new mark
        self.assertTrue(ev["id"].endswith(".2026-W01"), ev)
        s.close()
        # Two periods close while the client is away.
        self.close_period("2026-W02", {"period": "2026-W02"}, at=int(time.time()) + 1)
        self.close_period("2026-W03", {"period": "2026-W03"}, at=int(time.time()) + 2)
        s = self.open(headers={"Last-Event-ID": ev["id"]})
        got = [s.next() for _ in range(3)]
        self.assertEqual([(e["event"], e["id"]) for e in got[:2]],
                         [("period_closed", "2026-W02.closed"), ("period_closed", "2026-W03.closed")])
        self.assertEqual(got[2]["event"], "standings")
        self.assertTrue(got[2]["id"].endswith(".2026-W03"), got[2])
        # From the first id (before any close): all three, as a query parameter too.
        s = self.open("/v1/challenges/weekly/stream?last_event_id=" + urllib.parse.quote(first_id))
        got = [s.next() for _ in range(4)]
        self.assertEqual([e["id"] for e in got[:3]],
                         ["2026-W01.closed", "2026-W02.closed", "2026-W03.closed"])
        self.assertEqual(got[3]["event"], "standings")
        # Resuming from a period_closed id: only what came after it.
        s = self.open(headers={"Last-Event-ID": "2026-W02.closed"})
        got = [s.next() for _ in range(2)]
        self.assertEqual([e["event"] for e in got], ["period_closed", "standings"])
        self.assertEqual(got[0]["id"], "2026-W03.closed")
        # Nothing missed: standings only.
        s = self.open(headers={"Last-Event-ID": got[1]["id"]})
        self.assertEqual(self.standings(s)[0]["id"], got[1]["id"])

    def test_sigterm_ends_streams_at_once(self):
        d = self.start_daemon(name="term")
        s = self.open(d=d)
        self.standings(s)
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        self.assertIsNone(s.next(timeout=3))
        self.assertTrue(s.ended, "the stream was cut, not ended")
        self.assertEqual(d.proc.wait(timeout=5), 0)
        self.assertLess(time.monotonic() - t0, 2.0)

    def test_a_client_that_sends_on_its_stream_is_bounded_and_cut_off(self):
        d = self.start_daemon(name="talk", extra_args=("--sse_heartbeat", "1"))
        s = self.open(d=d)
        self.standings(s)
        def rss():
            with open("/proc/%d/status" % d.proc.pid) as f:
                return int(f.read().split("VmRSS:")[1].split()[0])
        before = rss()
        s.sock.settimeout(0.5)
        sent = 0
        try:
            while sent < 20_000_000:
                sent += s.sock.send(b"x" * 65536)
        except (socket.timeout, BlockingIOError):
            pass
        self.assertLess(sent, 20_000_000, "the daemon took everything it was sent")
        self.assertLess(rss() - before, 4096, "kB")
        d.wait_log("sent data after its request", timeout=3)

    def test_streams_count_toward_max_connections(self):
        d = self.start_daemon(name="max", extra_args=("--max_connections", "2"))
        a, b = self.open(d=d), self.open(d=d)
        self.standings(a)
        self.standings(b)
        c = self.open(d=d)
        self.assertEqual(c.status, 503)
        a.close()
        wait_until(lambda: self.open(d=d).status == 200, what="a freed slot")


class CoalescingTest(StreamCase):
    podiumd_args = ("--sse_interval", "1s")

    def test_a_burst_of_posts_gives_few_events(self):
        s = self.open()
        self.standings(s)
        t0 = time.monotonic()
        for i in range(30):   # each post changes the top
            self.event(("ada", "bob")[i % 2], "stakeholder_interaction")
        burst = time.monotonic() - t0
        evs = s.events_for(burst + 2.5)
        self.assertGreaterEqual(len(evs), 1)
        # At most one per second (sse_interval), plus the one at the start of the burst.
        self.assertLessEqual(len(evs), int(burst + 2.5) + 2, [e["id"] for e in evs])
        last = json.loads(evs[-1]["data"])
        self.assertEqual(sorted(self.top(last)), [("ada", 225), ("bob", 225)])


class SeveralDaemonsTest(StreamCase):
    def test_post_on_one_daemon_reaches_a_stream_on_another(self):
        b = self.start_daemon(name="b")
        sub = Resp(port=self.redis.port)
        self.addCleanup(sub.close)
        sub("SUBSCRIBE", self.key("push"))
        s = self.open(d=b)
        self.standings(s)
        t0 = time.monotonic()
        self.event("cy", "reply")   # through daemon A
        _, board = self.standings(s, timeout=3)
        self.assertEqual(self.top(board), [("cy", 3)])
        self.assertLess(time.monotonic() - t0, 1.0)
        # A announced it on the push channel, coalesced into one message.
        msg = sub._read()
        self.assertEqual(msg[0], b"message")
        self.assertRegex(msg[2].decode(), r"^board weekly:%s \d+(\nboard weekly:all \d+)?$" % self.W)

    def test_an_adjustment_on_one_daemon_reaches_a_stream_on_another(self):
        b = self.start_daemon(name="b")
        self.event("ada", "reply")
        s = self.open(d=b)
        _, board = self.standings(s)
        self.assertEqual(self.top(board), [("ada", 3)])
        self.ok(self.req("POST", "/v1/admin/adjustments", json_body={
            "leader": "bob", "challenge": "weekly", "points": 50, "reason": "keynote"}), 201)
        _, board = self.standings(s, timeout=3)
        self.assertEqual(self.top(board), [("bob", 50), ("ada", 3)])


class StuckSubscriberTest(StreamCase):
    podiumd_args = ("--sse_interval", "50ms", "--sse_max_buffer", "4096")
    leaders = tuple("l%02d" % i for i in range(40))

    def test_a_subscriber_that_never_reads_is_cut_off(self):
        for lid in self.leaders:   # long profiles make big events
            self.put_leader(lid, name=(lid + " ") * 24, avatar="https://example.com/" + "a" * 200)
        stuck = self.open("/v1/challenges/weekly/stream?limit=100", rcvbuf=1024)
        good = self.open("/v1/challenges/weekly/stream?limit=100")
        self.standings(good)
        got = 0
        deadline = time.monotonic() + 30
        i = 0
        while "cut off a subscriber" not in self.d.log():
            self.assertLess(time.monotonic(), deadline, "the stuck subscriber was never cut off")
            self.event(self.leaders[i % 40], "stakeholder_interaction")
            i += 1
            got += len(good.events_for(0.02))
        self.assertGreater(got, 3)
        # The other stream keeps getting events.
        self.event("l00", "stakeholder_interaction")
        self.event("l00", "stakeholder_interaction")
        self.standings(good, timeout=3)
        # The stuck one's connection is gone: reading what was buffered ends in EOF.
        stuck.sock.settimeout(5)
        try:
            while stuck.sock.recv(65536):
                pass
        except ConnectionResetError:
            pass


if __name__ == "__main__":
    unittest.main()
