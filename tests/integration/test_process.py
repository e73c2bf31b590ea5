"""The podiumd process: signals, Redis going away, embedded Redis, command line."""

import copy
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (DEFAULT_RULES, PODIUMD, PodiumTestCase, Podiumd, Resp, pid_alive, rfc3339,
                     store_rules, times_today, wait_until, week_id)


def rules_with_article():
    r = copy.deepcopy(DEFAULT_RULES)
    r["activities"]["article"] = {"points": 25, "daily_cap": 1}
    r["challenges"][0]["activities"].append("article")
    return r


class SignalTest(PodiumTestCase):
    leaders = ("amy",)

    def test_sighup_reloads_the_rules_file(self):
        self.assertProblem(self.post("amy", "article"), 422, ["/type"])
        self.d.write_rules(rules_with_article())
        self.d.send_signal(signal.SIGHUP)
        wait_until(lambda: self.d.log().count("rules: applied") >= 2, what="the reload")
        res = self.event("amy", "article")
        self.assertEqual(res["points"], 25)
        self.assertEqual(res["standings"][0]["challenge"], "weekly")
        ch = self.ok(self.req("GET", "/v1/challenges"))["challenges"][0]
        self.assertIn("article", ch["activities"])
        # The daily cap of the new type works too.
        self.assertEqual(self.event("amy", "article")["reasons"], ["daily_cap"])
        # Removing the type again: refused again.
        self.d.write_rules(DEFAULT_RULES)
        self.d.send_signal(signal.SIGHUP)
        wait_until(lambda: self.d.log().count("rules: applied") >= 3, what="the second reload")
        self.assertProblem(self.post("amy", "article"), 422, ["/type"])
        self.assertEqual(self.zboard("weekly", week_id())["amy"], 25)

    def test_sighup_with_a_broken_rules_file_keeps_the_old_rules(self):
        self.d.write_rules(rules_with_article())
        self.d.send_signal(signal.SIGHUP)
        wait_until(lambda: self.d.log().count("rules: applied") >= 2, what="the reload")
        for n, broken in enumerate([
                '{"activities": {"post": {"points": 10}},\n "challenges": [',          # not JSON
                json.dumps({"activities": {"post": {"points": "ten"}}, "challenges": []}),  # invalid
                json.dumps({**DEFAULT_RULES, "activities": {**DEFAULT_RULES["activities"],
                                                            "reply": {"points": 3, "cooldown": "9d"}}}),
        ]):
            with self.subTest(n=n):
                self.d.write_rules(broken)
                self.d.send_signal(signal.SIGHUP)
                wait_until(lambda: self.d.log().count("reload failed") >= n + 1, what="the refusal")
                self.assertTrue(self.d.alive())
                self.assertEqual(self.d.ready_status(), 200)
                # Still the rules with "article".
                self.assertEqual(self.event("amy", "reply")["points"], 3)
                self.assertIn("article", self.ok(self.req("GET", "/v1/challenges"))["challenges"][0]["activities"])
        log = self.d.log()
        self.assertIn("/activities/reply/cooldown", log)
        self.assertIn("/activities/post/points", log)
        self.assertEqual(self.event("amy", "article")["points"], 25)

    def test_sigterm_answers_the_request_in_flight_and_exits_0(self):
        at = times_today(1)[0]
        # Hold Redis writes so that the next POST stays in flight: long enough
        # for the request to reach podiumd even on a loaded machine (an ASan
        # build beside other tests, or a headless Chromium), since SIGTERM
        # closes connections that have not sent a request yet. A CI run saw
        # the request still unread after 1 s, so: 2.5 s, within a 6 s pause.
        self.r("CLIENT", "PAUSE", "6000", "WRITE")
        out = {}

        def post():
            try:
                out["r"] = self.d.request("POST", "/v1/events", timeout=15, json_body={
                    "leader": "amy", "type": "stakeholder_interaction", "at": rfc3339(at),
                    "id": "inflight-1"})
            except Exception as e:  # noqa: BLE001 - checked below
                out["e"] = e

        t = threading.Thread(target=post)
        t.start()
        time.sleep(2.5)
        self.assertTrue(t.is_alive(), "the request should still be waiting for Redis")
        self.d.send_signal(signal.SIGTERM)
        self.d.wait_log("shutdown: SIGTERM received")
        # No new connections while draining.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.d.port), timeout=1).close()
        t.join(timeout=9)
        self.assertFalse(t.is_alive())
        self.assertNotIn("e", out)
        self.assertEqual(out["r"].status, 200, out["r"])
        self.assertEqual(out["r"].json()["points"], 15)
        self.d.proc.wait(timeout=5)
        self.assertEqual(self.d.proc.returncode, 0, self.d.log())
        self.assertIn("podiumd stopped", self.d.log())
        self.assertEqual(self.zboard("weekly", week_id()), {"amy": 15})
        self.assertEqual([e["id"] for e in self.log_entries()], ["inflight-1"])

    def test_sigterm_with_idle_connections_stops_promptly(self):
        conn = self.d.connection()
        self.assertEqual(self.d.request("GET", "/v1/challenges", conn=conn).status, 200)  # keep-alive
        raw = socket.create_connection(("127.0.0.1", self.d.port), timeout=2)
        raw.sendall(b"GET /v1/chall")   # half a request
        start = time.monotonic()
        self.assertEqual(self.d.stop(signal.SIGTERM, timeout=5), 0, self.d.log())
        self.assertLess(time.monotonic() - start, 3)
        conn.close()
        raw.close()

    def test_sigint_stops_too(self):
        self.assertEqual(self.d.stop(signal.SIGINT, timeout=5), 0)
        self.assertIn("SIGINT received", self.d.log())


class ConnectionLimitsTest(PodiumTestCase):
    leaders = ("amy",)
    podiumd_args = ("--max_connections", "2", "--read_timeout", "1")

    def test_read_timeout_closes_a_slow_client(self):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        start = time.monotonic()
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            self.fail("the half-sent request was not closed within 5 s")
        self.assertLess(time.monotonic() - start, 4)
        self.assertNotIn(b"200 OK", data)
        self.assertEqual(self.post("amy", "reply").status, 200)

    # max_connections: the first request on a connection beyond the limit is
    # answered 503 (problem+json, Connection: close), and a closed connection
    # frees its place.
    def test_max_connections_refuses_further_connections(self):
        conns = [self.d.connection() for _ in range(2)]
        for c in conns:
            self.addCleanup(c.close)
            self.assertEqual(self.d.request("GET", "/v1/challenges", conn=c).status, 200)
        try:
            r = self.d.request("GET", "/v1/challenges", timeout=3)
            status = r.status
        except (OSError, http.client.HTTPException):
            status = None   # refused or closed: what the setting promises
        self.assertEqual(status, 503, "a third connection was served")
        conns[0].close()
        wait_until(lambda: self.d.request("GET", "/v1/challenges", timeout=3).status == 200,
                   what="a place freed by a closed connection")


class RedisOutageTest(PodiumTestCase):
    leaders = ("amy",)
    redis_aof = True   # Redis keeps its data across the kill

    def test_readyz_and_writes_503_while_redis_is_down_then_recovery(self):
        W = week_id()
        _, self.reader = self.make_token("reader")
        self.event("amy", "post")
        self.assertEqual(self.zboard("weekly", W), {"amy": 10})
        port = self.redis.port
        self.redis.kill()
        wait_until(lambda: self.d.ready_status() == 503, what="/readyz 503")
        r = self.req("GET", "/readyz", auth=None)
        self.assertEqual(r.json(), {"ready": False, "redis": False, "rules": True, "stopping": False})
        self.assertEqual(self.req("GET", "/livez", auth=None).status, 200)
        for attempt in [lambda: self.post("amy", "reply"),
                        lambda: self.batch([{"leader": "amy", "type": "reply"}]),
                        lambda: self.req("PUT", "/v1/admin/leaders/bob", json_body={"name": "Bob"})]:
            r = attempt()
            self.assertProblem(r, 503)
            self.assertEqual(r.header("Retry-After"), "1")
        # A valid token that the daemon has not seen yet cannot be checked:
        # 503, never 401. The bootstrap admin token works without Redis.
        r = self.req("GET", "/v1/challenges", auth=self.reader)
        self.assertProblem(r, 503)
        self.assertEqual(r.header("Retry-After"), "1")
        self.assertEqual(self.req("GET", "/v1/challenges").status, 200)
        time.sleep(1.1)   # past the read cache: reads need Redis too
        r = self.req("GET", "/v1/challenges/weekly/leaderboard")
        self.assertProblem(r, 503)
        self.assertIsNotNone(r.header("Retry-After"))
        self.assertTrue(self.d.alive())
        # Redis comes back on the same port with its data.
        self.redis.port = port
        self.redis.start()
        start = time.monotonic()
        wait_until(lambda: self.d.ready_status() == 200, timeout=6, what="recovery")
        self.assertLess(time.monotonic() - start, 6)
        res = self.event("amy", "reply")
        self.assertEqual(res["standings"][0]["score"], 13)
        self.assertEqual(self.ranking(), [(1, "amy", 13)])
        self.assertEqual(len(self.log_entries()), 2, "refused writes left nothing behind")


class RulesInRedisTest(PodiumTestCase):
    """Without rules_file the rules of org default are read from Redis
    (podium:{default}:ruleset) when the connection is made."""
    rules = None
    leaders = ()

    def test_no_rules_means_not_ready_and_writes_503(self):
        self.assertNotIn("--rules_file", self.d.argv())
        r = self.req("GET", "/readyz", auth=None)
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json(), {"ready": False, "redis": True, "rules": False, "stopping": False})
        self.put_leader("amy")      # admin routes do not need rules
        before = self.snapshot()
        r = self.post("amy", "post")
        self.assertProblem(r, 503)
        self.assertIn("rules", r.json()["detail"])
        # Reads see an org with no challenges yet, not an outage.
        self.assertEqual(self.ok(self.req("GET", "/v1/challenges")), {"challenges": []})
        self.assertProblem(self.req("GET", "/v1/challenges/weekly/leaderboard"), 404)
        self.assertUnchanged(before)
        # Rules stored in Redis are picked up on the next connection.
        store_rules(self.r, DEFAULT_RULES)
        self.r("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        wait_until(lambda: self.d.ready_status() == 200, timeout=5, what="the rules from Redis")
        self.assertIn("rules: applied the rule set stored in Redis", self.d.log())
        self.assertEqual(self.event("amy", "post")["points"], 10)


class ScriptFlushTest(PodiumTestCase):
    leaders = ("amy",)

    def test_scripts_are_sent_again_after_script_flush(self):
        self.event("amy", "reply")
        self.r("SCRIPT", "FLUSH")
        self.assertEqual(self.event("amy", "reply")["standings"][0]["score"], 6)
        self.r("SCRIPT", "FLUSH")
        time.sleep(1.1)   # past the read cache, so that page.lua runs again
        self.assertEqual(self.ranking(), [(1, "amy", 6)])
        self.r("SCRIPT", "FLUSH")
        self.assertEqual(self.ok(self.req("GET", "/v1/leaders/amy"))["standings"][0]["score"], 6)


class StartFailureTest(PodiumTestCase):
    """Failures after the configuration is read: exit status 1 (podiumd.8)."""
    start_podiumd = False

    def test_http_port_in_use_exits_1(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            d = Podiumd(self.tmp, redis_url=self.redis.url, rules=DEFAULT_RULES,
                        extra_args=["--http_listen", "127.0.0.1:%d" % port])
            self.addCleanup(d.kill)
            with self.assertRaises(AssertionError):
                d.start(timeout=5)
            d.proc.wait(timeout=5)
            self.assertEqual(d.proc.returncode, 1, d.log())
            self.assertIn("cannot listen on 127.0.0.1:%d" % port, d.log())

    def test_data_dir_too_long_for_the_embedded_socket_exits_1(self):
        d = Podiumd(self.tmp, redis_url=None, rules=DEFAULT_RULES,
                    data_dir=os.path.join(self.tmp, "x" * 120))
        self.addCleanup(d.kill)
        with self.assertRaises(AssertionError):
            d.start(timeout=5)
        d.proc.wait(timeout=5)
        self.assertEqual(d.proc.returncode, 1, d.log())
        self.assertIn("too long for a unix socket path", d.log())

    def test_embedded_redis_that_cannot_run_exits_1(self):
        """podiumd.8: exit 1 when Redis could not be started; not a loop
        restarting a missing binary every second."""
        d = Podiumd(self.tmp, redis_url=None, rules=DEFAULT_RULES,
                    data_dir=os.path.join(self.tmp, "d"),
                    extra_args=["--redis_server", os.path.join(self.tmp, "no-such-redis-server")])
        self.addCleanup(d.kill)
        with open(d.log_path, "ab") as log:
            d.proc = subprocess.Popen(d.argv(), stdout=subprocess.DEVNULL, stderr=log,
                                      stdin=subprocess.DEVNULL)
        try:
            d.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        self.assertEqual(d.proc.poll(), 1, d.log()[-1500:])
        self.assertIn("no-such-redis-server", d.log())


class EmbeddedRedisTest(PodiumTestCase):
    """podiumd without --redis runs its own redis-server under data_dir."""
    start_podiumd = False

    def start_embedded(self, name="podiumd"):
        # A short data_dir: the unix socket path must stay under ~100 bytes.
        return self.start_daemon(redis_url=None, name=name, data_dir=os.path.join(self.tmp, "d"))

    def child_pid(self, d, nth=1):
        pids = re.findall(r"embedded redis: started .* \(pid (\d+)\)", d.log())
        self.assertGreaterEqual(len(pids), nth, d.log())
        return int(pids[nth - 1])

    def test_embedded_mode_serves_and_stops_its_redis(self):
        d = self.d = self.start_embedded()
        pid = self.child_pid(d)
        self.assertTrue(pid_alive(pid))
        with open("/proc/%d/stat" % pid) as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        self.assertEqual(ppid, d.proc.pid)
        sock = os.path.join(d.data_dir, "redis.sock")
        self.assertTrue(os.path.exists(sock))
        self.put_leader("amy")
        self.assertEqual(self.event("amy", "stakeholder_interaction", stakeholder="customer")["points"], 30)
        self.assertEqual(self.ranking(), [(1, "amy", 30)])
        r = Resp(path=sock)
        try:
            self.assertEqual(r("HEXISTS", self.key("leaders"), "amy"), 1)
            raw = r("ZRANGE", self.key("board", "weekly", week_id()), 0, -1, "WITHSCORES")
            self.assertEqual(int(float(raw[1]) // 2 ** 32), 30)
        finally:
            r.close()
        token = d.admin_token
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.log())
        wait_until(lambda: not pid_alive(pid), timeout=5, what="the embedded redis-server to stop")
        # A new start on the same data_dir finds the data and the admin token.
        d2 = self.d = self.start_embedded(name="podiumd2")
        self.assertEqual(d2.admin_token, token)
        self.assertNotEqual(self.child_pid(d2), pid)
        self.assertEqual(self.ranking(), [(1, "amy", 30)])
        self.assertEqual(self.event("amy", "reply")["standings"][0]["score"], 33)
        pid2 = self.child_pid(d2)
        self.assertEqual(d2.stop(signal.SIGTERM), 0)
        wait_until(lambda: not pid_alive(pid2), timeout=5, what="the second redis-server to stop")

    def test_embedded_redis_is_restarted_when_it_dies(self):
        d = self.d = self.start_embedded()
        pid = self.child_pid(d)
        os.kill(pid, signal.SIGKILL)
        d.wait_log("restarting in 1 s")
        wait_until(lambda: d.ready_status() == 200 and len(re.findall(r"\(pid \d+\)", d.log())) >= 2,
                   timeout=8, what="the restarted redis-server")
        pid2 = self.child_pid(d, 2)
        self.assertNotEqual(pid2, pid)
        self.assertTrue(pid_alive(pid2))
        self.put_leader("amy")
        self.assertEqual(self.event("amy", "post")["points"], 10)
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        wait_until(lambda: not pid_alive(pid2), timeout=5, what="redis-server to stop")

    def test_embedded_redis_dies_with_a_killed_podiumd(self):
        d = self.d = self.start_embedded()
        pid = self.child_pid(d)
        d.kill()   # SIGKILL: no chance to clean up
        wait_until(lambda: not pid_alive(pid), timeout=5, what="the orphaned redis-server to stop")


class CommandLineTest(unittest.TestCase):
    """podiumd --check-rules and refused configurations: no Redis needed."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="podium-it-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text if isinstance(text, str) else json.dumps(text, indent=2))
        return path

    def run_podiumd(self, *args):
        return subprocess.run([PODIUMD, *args], capture_output=True, text=True, timeout=10,
                              stdin=subprocess.DEVNULL)

    def test_check_rules_good_file(self):
        path = self.write("good.json", DEFAULT_RULES)
        p = self.run_podiumd("--check-rules", path)
        self.assertEqual(p.returncode, 0, p)
        self.assertEqual(p.stdout, "%s: ok (4 activities, 2 challenges)\n" % path)

    def test_check_rules_bad_files(self):
        cases = {
            "syntax.json": ('{"activities": {"post": {"points": 10}},\n "challenges": [}', ["/: invalid JSON at line 2, column "]),
            "invalid.json": ({"activities": {"post": {"points": "ten"}},
                              "challenges": [{"id": "w", "name": "W", "period": "fortnight",
                                              "activities": ["post", "dance"]}],
                              "colour": "red"},
                             ["/activities/post/points: ", "/challenges/0/period: ",
                              "/challenges/0/activities/1: ", "/colour: "]),
            "limits.json": ({**DEFAULT_RULES,
                             "activities": {**DEFAULT_RULES["activities"],
                                            "reply": {"points": 3, "cooldown": "8d"}},
                             "bonuses": {"streak": {"days": 1, "points": 5}}},
                            ["/activities/reply/cooldown: ", "/bonuses/streak/days: "]),
        }
        for name, (text, expected) in cases.items():
            with self.subTest(file=name):
                path = self.write(name, text)
                p = self.run_podiumd("--check-rules", path)
                self.assertEqual(p.returncode, 2, p)   # man page: 2 for invalid rules
                lines = p.stdout.splitlines()
                self.assertGreaterEqual(len(lines), len(expected), p.stdout)
                for line in lines:
                    self.assertTrue(line.startswith(path + ": /"), line)
                for want in expected:
                    self.assertTrue(any(line.startswith(path + ": " + want) for line in lines),
                                    (want, p.stdout))
                self.assertNotIn(": ok (", p.stdout)
        p = self.run_podiumd("--check-rules", os.path.join(self.tmp, "missing.json"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("cannot read", p.stdout)

    def test_bad_configuration_exits_2_with_a_clear_message(self):
        data = os.path.join(self.tmp, "data")
        conf = self.write("podiumd.conf", "log_level = debug\nmax_bodyy = 5\n")
        empty = self.write("empty.conf", "")
        cases = [
            (["-c", empty, "--no_such_setting", "1"], 'unknown setting "no_such_setting"'),
            (["-c", empty, "--max_bdy", "4096"], 'did you mean "max_body"'),
            (["-c", empty, "--max_body", "12"], "--max_body"),
            (["-c", empty, "--log_level", "loud"], "--log_level"),
            (["-c", empty, "--http_listen", "nowhere"], "--http_listen"),
            (["-c", empty, "--redis", "cluster://127.0.0.1:7000"], "cluster://"),
            (["-c", empty, "stray"], "unexpected argument 'stray'"),
            (["-c", empty, "--data_dir"], "unexpected argument '--data_dir'"),
            (["-c", conf], conf + ":2"),
            (["-c", os.path.join(self.tmp, "missing.conf")], "missing.conf"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                if args[-1] != "--data_dir":
                    args = args + ["--data_dir", data]
                p = self.run_podiumd(*args)
                self.assertEqual(p.returncode, 2, p)
                self.assertIn(message, p.stderr)
                self.assertTrue(p.stderr.startswith("podiumd: "), p.stderr)
                self.assertFalse(os.path.exists(data), "nothing is made before the config is good")

    def test_broken_rules_file_at_start_exits_2(self):
        rules = self.write("rules.json", {"activities": {}, "challenges": []})
        empty = self.write("empty.conf", "")
        p = self.run_podiumd("-c", empty, "--rules_file", rules, "--data_dir", os.path.join(self.tmp, "d"),
                             "--redis", "redis://127.0.0.1:1", "--http_listen", "127.0.0.1:0",
                             "--rpc_listen", "")
        self.assertEqual(p.returncode, 2, p)
        self.assertIn("/activities", p.stderr)

    def test_help_and_version(self):
        p = self.run_podiumd("--help")
        self.assertEqual(p.returncode, 0)
        for name in ("http_listen", "redis", "data_dir", "rules_file", "admin_token_file", "max_body"):
            self.assertIn(name, p.stdout)
        p = self.run_podiumd("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^podiumd \S+\n$")


if __name__ == "__main__":
    unittest.main()
