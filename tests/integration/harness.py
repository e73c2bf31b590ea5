"""Integration test harness for podiumd: real redis-server, real podiumd.

Standard library only (Debian's python3). Every process runs on a free
loopback port chosen at start, every wait has a deadline of a few seconds,
and everything started here is stopped by the test's cleanups.

Environment (set by ctest; defaults work from a build in the source tree):
  PODIUMD        the daemon binary       (default: <repo>/build/podiumd)
  REDIS_SERVER   redis-server            (default: redis-server in PATH)
  PODIUM_SOURCE  the repository root     (default: two levels above this file)
  PODIUM_IT_KEEP set to 1 to keep the temporary directories of the tests
"""

import datetime
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import zoneinfo

HERE = os.path.dirname(os.path.abspath(__file__))
PODIUM_SOURCE = os.environ.get("PODIUM_SOURCE") or os.path.normpath(os.path.join(HERE, "..", ".."))
PODIUMD = os.environ.get("PODIUMD") or os.path.join(PODIUM_SOURCE, "build", "podiumd")
REDIS_SERVER = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"

ORG = "default"
K32 = 2 ** 32
LONDON = zoneinfo.ZoneInfo("Europe/London")

# The rule set most tests use: one weekly points challenge in London time and
# one monthly count challenge. "penalty" has negative points so that rounding
# of negative halves can be checked.
DEFAULT_RULES = {
    "activities": {
        "post": {"points": 10, "daily_cap": 3},
        "reply": {"points": 3},
        "stakeholder_interaction": {"points": 15},
        "penalty": {"points": -3},
    },
    "multipliers": {
        "channel": {"linkedin": 1.5, "intranet": 0.5, "video": 1.15},
        "stakeholder": {"customer": 2, "investor": 2},
    },
    "challenges": [
        {"id": "weekly", "name": "Weekly social", "period": "week",
         "timezone": "Europe/London", "week_starts": "monday", "grace": "15m",
         "activities": ["post", "reply", "stakeholder_interaction", "penalty"]},
        {"id": "meetings", "name": "Stakeholder count", "period": "month",
         "timezone": "Europe/London", "activities": ["stakeholder_interaction"],
         "scoring": "count"},
    ],
}


def wait_until(pred, timeout=5.0, interval=0.02, what="a condition"):
    """Calls pred until it returns something true; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL if the test process dies (a ctest
    timeout, a ^C), so that no redis-server or podiumd outlives a run."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; cleanups still stop the children
        pass


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


# ---------------------------------------------------------------- time helpers

def now_ms():
    return int(time.time() * 1000)


def rfc3339(ms):
    """Unix ms as an RFC 3339 UTC string with milliseconds."""
    dt = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def london(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, LONDON)


def week_id(ms=None):
    """The id of the Monday-start London week holding ms (default: now)."""
    d = london(now_ms() if ms is None else ms).date()
    y, w, _ = d.isocalendar()
    return "%04d-W%02d" % (y, w)


def month_id(ms=None):
    d = london(now_ms() if ms is None else ms).date()
    return "%04d-%02d" % (d.year, d.month)


def london_day_start_ms(ms):
    local = london(ms)
    start = datetime.datetime(local.year, local.month, local.day, tzinfo=LONDON)
    return int(start.timestamp() * 1000)


def times_today(n, spacing_s=1):
    """n increasing instants (Unix ms), `spacing_s` apart, all in the current
    London day (so in the current week and month too) and none more than 4
    minutes ahead of now, so that the daemon accepts them all."""
    span = (n - 1) * spacing_s * 1000
    assert span <= 200_000, "times_today: span too long to stay in the past"
    now = now_ms()
    start = max(london_day_start_ms(now) + 1000, now - span - 5000)
    start -= start % 1000  # whole seconds: boards rank by the second
    if start < london_day_start_ms(now):
        start += 1000
    return [start + i * spacing_s * 1000 for i in range(n)]


# ---------------------------------------------------------------- RESP client

class RespError(Exception):
    pass


class Resp:
    """A tiny blocking RESP2 client, for looking at Redis state."""

    def __init__(self, port=None, path=None, timeout=5.0):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass

    def __call__(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, int):
                a = str(a)
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.f.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise ConnectionError("bad RESP line %r" % line)


def snapshot(r):
    """Every key with its type and DUMP: compare two to prove nothing changed."""
    snap = {}
    for k in r("KEYS", "*"):
        snap[k] = (r("TYPE", k), r("DUMP", k))
    return snap


def all_values(r):
    """Every key and every value stored in Redis, as one list of bytes."""
    out = []
    for k in r("KEYS", "*"):
        out.append(k)
        t = r("TYPE", k)
        if t == b"string":
            out.append(r("GET", k))
        elif t == b"hash":
            out.extend(r("HGETALL", k))
        elif t == b"zset":
            out.extend(r("ZRANGE", k, 0, -1, "WITHSCORES"))
        elif t == b"set":
            out.extend(r("SMEMBERS", k))
        elif t == b"list":
            out.extend(r("LRANGE", k, 0, -1))
        elif t == b"stream":
            for _id, fields in r("XRANGE", k, "-", "+"):
                out.append(_id)
                out.extend(fields)
        out.append(r("DUMP", k))
    return out


def parse_rfc3339_ms(s):
    dt = datetime.datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    return int(round(dt.timestamp() * 1000))


def read_event_log(r, key="podium:{%s}:events" % ORG):
    out = []
    for _id, fields in r("XRANGE", key, "-", "+"):
        names = [fields[i].decode() for i in range(0, len(fields), 2)]
        values = [fields[i].decode() for i in range(1, len(fields), 2)]
        if names and names[0] == "e":
            for i in range(0, len(names) - 2, 3):  # e, r, p per event (score.lua)
                assert names[i:i + 3] == ["e", "r", "p"], names
                ev = json.loads(values[i])
                ev["result"] = values[i + 1]
                ev["link"] = values[i + 2]
                out.append(ev)
        else:
            out.append(dict(zip(names, values)))
    for ev in out:
        at = ev.get("at")
        if isinstance(at, str):
            ev["at"] = int(at) if at.lstrip("-").isdigit() else parse_rfc3339_ms(at)
    return out


# ---------------------------------------------------------------- processes

class RedisServer:
    """redis-server on 127.0.0.1:port (a free one unless given)."""

    def __init__(self, workdir, port=None, aof=False):
        self.workdir = workdir
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port
        self.aof = aof
        self.proc = None
        self._client = None

    def start(self, timeout=5.0):
        fixed = self.port is not None
        for _attempt in range(3):
            port = self.port if fixed else free_port()
            args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                    "--save", "", "--daemonize", "no", "--dir", self.dir,
                    "--logfile", "", "--loglevel", "warning"]
            if self.aof:
                args += ["--appendonly", "yes", "--appendfsync", "always"]
            else:
                args += ["--appendonly", "no"]
            log = open(os.path.join(self.workdir, "redis.log"), "ab")
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            log.close()
            self.port = port
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    r = Resp(port=port, timeout=1.0)
                    try:
                        if r("PING") == b"PONG":
                            return self
                    finally:
                        r.close()
                except (OSError, RespError):
                    pass
                time.sleep(0.02)
            self._reap()
            if fixed:
                break
            self.port = None
        raise AssertionError("redis-server did not start; see %s/redis.log" % self.workdir)

    def _reap(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def client(self):
        """A shared connection (reopened after a restart)."""
        if self._client is None:
            self._client = Resp(port=self.port)
        return self._client

    def drop_client(self):
        if self._client:
            self._client.close()
            self._client = None

    def kill(self):
        """SIGKILL: Redis vanishes at once."""
        self.drop_client()
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait(timeout=5)

    def stop(self):
        self.drop_client()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name)

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:500])


ADMIN = object()  # request(..., auth=ADMIN): the bootstrap admin token

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")


class Podiumd:
    """A podiumd process. `redis_url` None starts it in embedded mode."""

    def __init__(self, workdir, redis_url=None, rules=None, extra_args=(), data_dir=None,
                 name="podiumd"):
        self.workdir = workdir
        self.name = name
        self.data_dir = data_dir or os.path.join(workdir, "data")
        self.redis_url = redis_url
        self.extra_args = list(extra_args)
        self.rules_path = os.path.join(workdir, "rules.json")
        self.conf_path = os.path.join(workdir, "podiumd.conf")
        self.log_path = os.path.join(workdir, name + ".log")
        if rules is not None:
            self.write_rules(rules)
        if not os.path.exists(self.conf_path):
            with open(self.conf_path, "w") as f:
                f.write("# empty: the tests give every setting on the command line\n")
        self.proc = None
        self.port = None
        self._log_offset = 0

    def write_rules(self, rules):
        text = rules if isinstance(rules, str) else json.dumps(rules, indent=2)
        tmp = self.rules_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.rules_path)

    def argv(self):
        args = [PODIUMD, "-c", self.conf_path, "--http_listen", "127.0.0.1:0",
                "--rpc_listen", "", "--data_dir", self.data_dir, "--log_level", "debug"]
        if os.path.exists(self.rules_path):   # else the rules live in Redis
            args += ["--rules_file", self.rules_path]
        if self.redis_url:
            args += ["--redis", self.redis_url]
        else:
            args += ["--redis_server", REDIS_SERVER]
        return args + self.extra_args

    def start(self, wait_ready=True, timeout=8.0):
        if os.path.exists(self.log_path):
            self._log_offset = os.path.getsize(self.log_path)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + timeout
        marker = "http: listening on http://127.0.0.1:"
        while True:
            text = self.log()
            i = text.find(marker)
            if i >= 0:
                digits = ""
                for ch in text[i + len(marker):]:
                    if not ch.isdigit():
                        break
                    digits += ch
                if digits and text[i + len(marker) + len(digits):][:1] in ("\n", " ", "\r"):
                    self.port = int(digits)
                    break
            if self.proc.poll() is not None:
                raise AssertionError("podiumd exited with %s before listening:\n%s"
                                     % (self.proc.returncode, text[-3000:]))
            if time.monotonic() > deadline:
                raise AssertionError("podiumd did not listen in %.0f s:\n%s" % (timeout, text[-3000:]))
            time.sleep(0.01)
        if wait_ready:
            self.wait_ready(timeout=max(1.0, deadline - time.monotonic()))
        return self

    def log(self):
        """What this run of the daemon wrote to stderr so far."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, needle, timeout=5.0):
        return wait_until(lambda: needle in self.log(), timeout=timeout,
                          what="%r in the daemon's log" % needle)

    def ready_status(self):
        try:
            return self.request("GET", "/readyz", auth=None, timeout=2).status
        except OSError:
            return None

    def wait_ready(self, timeout=5.0):
        try:
            wait_until(lambda: self.ready_status() == 200, timeout=timeout, what="/readyz 200")
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.log()[-3000:]))

    @property
    def admin_token(self):
        with open(os.path.join(self.data_dir, "admin.token")) as f:
            return f.read().strip()

    @property
    def operator_token(self):
        """The bootstrap operator token (operator_token_file, default
        data_dir/operator.token): it manages orgs (/v1/orgs) and nothing else."""
        with open(os.path.join(self.data_dir, "operator.token")) as f:
            return f.read().strip()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig and waits; returns the exit code (SIGKILL after timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise AssertionError("podiumd did not stop within %.0f s of signal %d"
                                     % (timeout, sig))
        return self.proc.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    # ------------------------------------------------------------ HTTP

    def connection(self, timeout=5.0):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, auth=ADMIN, headers=None, json_body=None,
                form=None, timeout=5.0, conn=None):
        """One request; returns a Response. body may be str/bytes; json_body is
        serialised as JSON, form as application/x-www-form-urlencoded."""
        h = {}
        if auth is ADMIN:
            auth = self.admin_token
        if auth is not None:
            h["Authorization"] = "Bearer " + auth
        if json_body is not None:
            body = json.dumps(json_body)
            h["Content-Type"] = "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        if isinstance(body, str):
            body = body.encode("utf-8")
        if headers:
            h.update(headers)
        own = conn is None
        for attempt in range(3):
            c = conn or self.connection(timeout)
            try:
                c.request(method, path, body=body, headers=h)
                r = c.getresponse()
                data = r.read()
                return Response(r.status, r.reason, r.headers, data)
            except ConnectionRefusedError:
                # Refused at connect (nothing was sent). Loopback tests churn
                # through thousands of ports, and a SYN that meets an old
                # TIME_WAIT socket is now and then answered with a reset.
                # A daemon that really stopped listening refuses every time.
                if not own or attempt == 2 or not self.alive():
                    raise
                time.sleep(0.05)
            finally:
                if own:
                    c.close()


# ---------------------------------------------------------------- test base

class PodiumTestCase(unittest.TestCase):
    """Starts a redis-server and a podiumd for each test.

    Subclasses may set `rules` (dict or text), `podiumd_args` (extra flags),
    `redis_aof` (persist Redis to disk) or `start_podiumd = False`."""

    rules = DEFAULT_RULES
    podiumd_args = ()
    redis_aof = False
    start_podiumd = True
    leaders = ()  # ids created in setUp (name = id.title())

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="podium-it-")
        if not os.environ.get("PODIUM_IT_KEEP"):
            self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.addCleanup(self._dump_logs_on_failure)
        self.redis = RedisServer(self.tmp, aof=self.redis_aof).start()
        self.addCleanup(self.redis.stop)
        self.d = None
        if self.start_podiumd:
            # Without rules podiumd is never ready: wait for Redis only.
            self.d = self.start_daemon(wait_ready=self.rules is not None)
            if self.rules is None:
                wait_until(lambda: self.d.request("GET", "/readyz", auth=None).json()["redis"],
                           what="podiumd connected to Redis")
            for lid in self.leaders:
                self.put_leader(lid)

    def start_daemon(self, redis_url="default", rules="default", extra_args=None, name="podiumd",
                     wait_ready=True, data_dir=None, workdir=None):
        d = Podiumd(workdir or self.tmp,
                    redis_url=self.redis.url if redis_url == "default" else redis_url,
                    rules=self.rules if rules == "default" else rules,
                    extra_args=self.podiumd_args if extra_args is None else extra_args,
                    name=name, data_dir=data_dir)
        self.addCleanup(self._stop_checked, d)
        d.start(wait_ready=wait_ready)
        return d

    def _stop_checked(self, d):
        """Stops a daemon the test left running with SIGTERM, and fails the
        test if it does not exit 0 or if a sanitizer reported anything (the
        suite also runs against an ASan+UBSan build)."""
        killed = False
        if d.alive():
            try:
                rc = d.stop(signal.SIGTERM, timeout=10)
            except AssertionError:
                rc, killed = None, True
            if rc != 0 and not killed:
                self.fail("%s exited with %s after SIGTERM:\n%s" % (d.name, rc, d.log()[-3000:]))
            if killed:
                self.fail("%s did not stop within 10 s of SIGTERM" % d.name)
        log = d.log()
        for marker in SANITIZER_MARKERS:
            if marker in log:
                i = log.index(marker)
                self.fail("%s: sanitizer report:\n%s" % (d.name, log[max(0, i - 200):i + 4000]))

    def _dump_logs_on_failure(self):
        result = getattr(getattr(self, "_outcome", None), "result", None)
        bad = list(getattr(result, "errors", [])) + list(getattr(result, "failures", []))
        if not any(t is self or getattr(t, "test_case", None) is self for t, _ in bad):
            return
        for root, _dirs, files in os.walk(self.tmp):
            for name in sorted(files):
                if name.endswith(".log"):
                    path = os.path.join(root, name)
                    with open(path, "rb") as f:
                        tail = f.read()[-4000:].decode("utf-8", errors="replace")
                    sys.stderr.write("\n----- %s (tail) -----\n%s\n" % (os.path.relpath(path, self.tmp), tail))

    # ------------------------------------------------------------ Redis

    @property
    def r(self):
        return self.redis.client()

    def key(self, *parts):
        return "podium:{%s}:%s" % (ORG, ":".join(parts))

    def xlen(self):
        return self.r("XLEN", self.key("events"))

    def log_entries(self):
        """The events in the event log, in order, as dicts: id, leader, type,
        at (Unix ms), result, and channel, stakeholder, url, note when given.

        Reads both layouts the daemon has used: one stream entry per event
        (fields id, leader, type, at, result, ...) and one entry per call
        holding "e" (the event as JSON) and "r" (its result) per event."""
        return read_event_log(self.r)

    def idem_record(self, event_id):
        """(stored first result, TTL in s) of an event id, or (None, None).
        Reads a string key per id or hash buckets holding ids as fields."""
        for k in self.r("KEYS", self.key("idem", "*")):
            t = self.r("TYPE", k)
            if t == b"string" and k.decode() == self.key("idem", event_id):
                return self.r("GET", k).decode(), self.r("TTL", k)
            if t == b"hash":
                v = self.r("HGET", k, event_id)
                if v is not None:
                    return v.decode(), self.r("TTL", k)
        return None, None

    def zboard(self, challenge, period):
        """{leader: score} of a board, straight from Redis (composite decoded)."""
        raw = self.r("ZRANGE", self.key("board", challenge, period), 0, -1, "WITHSCORES")
        it = iter(raw)
        return {m.decode(): int(float(s) // K32) for m, s in zip(it, it)}

    def snapshot(self):
        return snapshot(self.r)

    def assertUnchanged(self, before, msg=None):
        after = self.snapshot()
        if before != after:
            added = sorted(set(after) - set(before))
            removed = sorted(set(before) - set(after))
            changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
            self.fail("%sRedis changed: added %r, removed %r, changed %r"
                      % (msg + ": " if msg else "", added, removed, changed))

    # ------------------------------------------------------------ API helpers

    def req(self, method, path, **kw):
        return self.d.request(method, path, **kw)

    def ok(self, resp, status=200):
        self.assertEqual(resp.status, status, resp)
        return resp.json() if resp.body else None

    def put_leader(self, lid, name=None, team=None, hidden=None, avatar=None):
        body = {"name": name or lid.title()}
        if team:
            body["team"] = team
        if hidden is not None:
            body["hidden"] = hidden
        if avatar:
            body["avatar"] = avatar
        r = self.req("PUT", "/v1/admin/leaders/" + lid, json_body=body)
        self.assertIn(r.status, (200, 201), r)
        return r.json()

    def put_team(self, tid, name=None):
        r = self.req("PUT", "/v1/admin/teams/" + tid, json_body={"name": name or tid.title()})
        self.assertIn(r.status, (200, 201), r)
        return r.json()

    def make_token(self, role, leader=None):
        body = {"role": role}
        if leader:
            body["leader"] = leader
        j = self.ok(self.req("POST", "/v1/admin/tokens", json_body=body), 201)
        self.assertEqual(j["role"], role)
        self.assertTrue(j["token"].startswith("pdm_") and len(j["token"]) == 47, j)
        return j["id"], j["token"]

    def post(self, leader=None, type="post", at=None, auth=ADMIN, headers=None, **fields):
        """POSTs one event as JSON and returns the Response."""
        ev = {"type": type}
        if leader is not None:
            ev["leader"] = leader
        if at is not None:
            ev["at"] = rfc3339(at) if isinstance(at, int) else at
        ev.update(fields)
        return self.req("POST", "/v1/events", json_body=ev, auth=auth, headers=headers)

    def event(self, leader=None, type="post", **kw):
        """POSTs one event, asserts 200 and returns the result object."""
        return self.ok(self.post(leader, type, **kw))

    def batch(self, events, auth=ADMIN, headers=None):
        evs = []
        for ev in events:
            ev = dict(ev)
            if isinstance(ev.get("at"), int):
                ev["at"] = rfc3339(ev["at"])
            evs.append(ev)
        return self.req("POST", "/v1/events", json_body={"events": evs}, auth=auth,
                        headers=headers)

    def board(self, challenge="weekly", period=None, auth=ADMIN, **query):
        q = dict(query)
        if period is not None:
            q["period"] = period
        path = "/v1/challenges/%s/leaderboard" % challenge
        if q:
            path += "?" + urllib.parse.urlencode(q)
        return self.ok(self.req("GET", path, auth=auth))

    def ranking(self, challenge="weekly", period=None, **query):
        """[(rank, leader, score), ...] of a board page."""
        return [(e["rank"], e["leader"], e["score"])
                for e in self.board(challenge, period, **query)["entries"]]

    def assertProblem(self, resp, status, pointers=None):
        """resp is an RFC 9457 problem with this status (and these error pointers)."""
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.header("Content-Type"), "application/problem+json", resp)
        p = resp.json()
        self.assertEqual(p["status"], status, p)
        self.assertIsInstance(p["type"], str)
        self.assertTrue(p["type"].startswith("/problems/"), p)
        self.assertIsInstance(p["title"], str)
        self.assertTrue(p["title"], p)
        self.assertIsInstance(p["detail"], str)
        self.assertTrue(p["detail"], p)
        if pointers is not None:
            got = [e["pointer"] for e in p.get("errors", [])]
            self.assertEqual(sorted(got), sorted(pointers), p)
            for e in p.get("errors", []):
                self.assertTrue(e["message"], p)
        return p


def sha256_hex(s):
    return hashlib.sha256(s.encode()).hexdigest()


# ---------------------------------------------------------------- rule sets in Redis

RULESET_KEY = "podium:{%s}:ruleset" % ORG
RULEHIST_KEY = "podium:{%s}:rulehist" % ORG

_STORE_RULES_LUA = """
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'applied_at', ARGV[2], 'source', ARGV[3])
redis.call('HSET', KEYS[2], v, ARGV[1])
return v
"""


def store_rules(r, rules, source="api"):
    """Stores a rule set of org default straight into Redis (the ruleset hash
    and its history), as rules.lua would but WITHOUT the PUBLISH that tells
    the daemons: they find it through their once-a-second version check.
    `rules` is a dict (serialised) or the exact text. Returns the version."""
    text = rules if isinstance(rules, str) else json.dumps(rules)
    return r("EVAL", _STORE_RULES_LUA, 2, RULESET_KEY, RULEHIST_KEY, text, now_ms(), source)


def stored_rules(r):
    """The ruleset hash of org default as {field: str}, {} when none."""
    raw = r("HGETALL", RULESET_KEY) or []
    return {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}
