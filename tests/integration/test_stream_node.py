"""A real EventSource client (Node.js, npm package `eventsource`) on a stream.

tests/run.sh installs tests/integration/node with `npm ci` when node is
present; without node or those modules the test is skipped.
"""

import json
import os
import select
import shutil
import subprocess
import time
import unittest

from harness import HERE, PodiumTestCase, week_id

NODE = shutil.which("node")
NODE_DIR = os.path.join(HERE, "node")
HAVE_MODULES = os.path.isdir(os.path.join(NODE_DIR, "node_modules", "eventsource"))


@unittest.skipUnless(NODE and HAVE_MODULES, "node or tests/integration/node/node_modules missing")
class EventSourceTest(PodiumTestCase):
    leaders = ("ada", "bob")
    podiumd_args = ("--sse_interval", "100ms")

    def read_line(self, proc, timeout=10.0):
        """The next JSON line of the client (read unbuffered: select() knows
        nothing of what a file object has buffered)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf and time.monotonic() < deadline:
            r, _, _ = select.select([proc.stdout], [], [], 0.1)
            if r:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                self.buf += chunk
        if b"\n" not in self.buf:
            self.fail("no line from the node client in %.0f s" % timeout)
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def next_event(self, proc):
        while True:
            msg = self.read_line(proc)
            self.assertNotIn("error", msg)
            if "event" in msg:
                return msg

    def test_eventsource_sees_an_update_and_a_closed_period(self):
        _, reader = self.make_token("reader")
        url = "http://127.0.0.1:%d/v1/challenges/weekly/stream?limit=5&token=%s" % (self.d.port, reader)
        self.buf = b""
        proc = subprocess.Popen([NODE, os.path.join(NODE_DIR, "stream.js"), url],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (proc.kill(), proc.wait(5), proc.stdout.close()))
        ev = self.next_event(proc)
        self.assertEqual(ev["event"], "standings")
        self.assertEqual(ev["data"]["entries"], [])
        self.assertTrue(ev["id"].startswith(week_id() + "."), ev)
        self.event("ada", "reply")
        ev = self.next_event(proc)
        self.assertEqual(ev["event"], "standings")
        self.assertEqual([(e["leader"], e["score"]) for e in ev["data"]["entries"]], [("ada", 3)])
        # What the closer does when it closes a period.
        self.r("HSET", self.key("periods", "weekly"), "2026-W01", json.dumps({"period": "2026-W01"}))
        self.r("ZADD", self.key("closedp", "weekly"), int(time.time()), "2026-W01")
        self.r("PUBLISH", self.key("push"), "closed weekly 2026-W01")
        ev = self.next_event(proc)
        self.assertEqual(ev, {"event": "period_closed", "id": "2026-W01.closed",
                              "data": {"period": "2026-W01"}})
        self.assertEqual(proc.wait(timeout=5), 0)


@unittest.skipUnless(NODE and HAVE_MODULES, "node or tests/integration/node/node_modules missing")
class EventSourceRealCloseTest(EventSourceTest):
    """The same client through a real period close (4-second periods)."""
    from test_close import RULES as rules

    def test_eventsource_sees_an_update_and_a_closed_period(self):
        from test_close import fresh_period
        _, reader = self.make_token("reader")
        url = "http://127.0.0.1:%d/v1/challenges/quick/stream?token=%s" % (self.d.port, reader)
        self.buf = b""
        proc = subprocess.Popen([NODE, os.path.join(NODE_DIR, "stream.js"), url],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (proc.kill(), proc.wait(5), proc.stdout.close()))
        self.assertEqual(self.next_event(proc)["event"], "standings")
        pid = fresh_period()
        self.event("ada", "post")
        self.event("bob", "reply")
        while True:
            ev = self.next_event(proc)
            if ev["event"] == "period_closed":
                break
            self.assertEqual(ev["event"], "standings")
        self.assertEqual(ev["id"], pid + ".closed")
        self.assertEqual(ev["data"]["period"], pid)
        self.assertEqual([(w["leader"], w["score"]) for w in ev["data"]["winners"]], [("ada", 10)])
        self.assertEqual([(s["rank"], s["leader"]) for s in ev["data"]["standings"]],
                         [(1, "ada"), (2, "bob")])
        self.assertEqual(proc.wait(timeout=5), 0)


if __name__ == "__main__":
    unittest.main()
