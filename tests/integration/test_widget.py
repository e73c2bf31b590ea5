"""The web widget and the embed page, in headless Chromium.

Debian's /usr/bin/chromium is driven by playwright-core from npm
(tests/integration/node/widget.js, installed by tests/run.sh with `npm ci`);
without node, the modules or chromium the browser test is skipped, the
header checks still run.

The challenge shown has periods of LENGTH seconds, so that periods close
during the test and the leaders get a history (the sparkline) and a
movement since the previous period. A screenshot of the embed page is kept
under $PODIUM_ARTIFACTS (default: artifacts/ beside the podiumd binary).
"""

import json
import os
import select
import shutil
import subprocess
import time
import unittest

from harness import HERE, PODIUM_SOURCE, PODIUMD, PodiumTestCase, wait_until

NODE = shutil.which("node")
NODE_DIR = os.path.join(HERE, "node")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_BROWSER = bool(NODE) and os.path.isdir(os.path.join(NODE_DIR, "node_modules", "playwright-core")) \
    and os.path.exists(CHROMIUM)

LENGTH = 10  # seconds per period
ANCHOR_S = 1767225600  # 2026-01-01T00:00:00Z
INTRA = "http://intra.podium.test"
EVIL = "http://evil.podium.test"
AVATARS = "https://avatars.podium.test/"

RULES = {
    "activities": {"post": {"points": 10}, "reply": {"points": 3}},
    "challenges": [
        {"id": "quick", "name": "Quick sprint", "period": "interval", "length": "%ds" % LENGTH,
         "starts": "2026-01-01T00:00:00Z", "grace": "0s", "activities": ["post", "reply"]},
    ],
}


def period_id(t):
    start = t - (t - ANCHOR_S) % LENGTH
    return time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime(start))


def fresh_period():
    """Waits for the start of a period; returns its id."""
    while (time.time() - ANCHOR_S) % LENGTH > 0.5:
        time.sleep(0.05)
    return period_id(int(time.time()))


def last_ranks(row):
    """The last two ranks of a row's sparkline label, oldest first."""
    if not row["spark"]:
        return None
    return row["spark"]["label"].split(": ", 1)[1].split(", ")[-2:]


def artifacts_dir():
    d = os.environ.get("PODIUM_ARTIFACTS") or os.path.join(os.path.dirname(os.path.abspath(PODIUMD)),
                                                           "artifacts")
    os.makedirs(d, exist_ok=True)
    return d


class WidgetTestCase(PodiumTestCase):
    rules = RULES
    podiumd_args = ("--sse_interval", "100ms", "--embed_frame_ancestors", INTRA,
                    "--cors_origins", INTRA)

    def setUp(self):
        super().setUp()
        for team in ("comms", "sales", "exec"):
            self.put_team(team)
        self.put_leader("amy", name="Amy Achterberg", team="comms", avatar=AVATARS + "Amy.svg")
        self.put_leader("bob", name="Bob Brennan", team="sales", avatar=AVATARS + "Bob.svg")
        self.put_leader("cat", name="Catalina Ruiz", team="exec")
        self.put_leader("dan", name="Dan Okafor", team="sales")


class ServedHeadersTest(WidgetTestCase):
    def test_script_is_served_with_caching_and_cors(self):
        r = self.req("GET", "/widget/podium-leaderboard.js", auth=None,
                     headers={"Origin": "https://elsewhere.example"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "text/javascript; charset=utf-8")
        self.assertEqual(r.header("Cache-Control"), "public, max-age=300")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        with open(os.path.join(PODIUM_SOURCE, "clients", "widget", "podium-leaderboard.js"), "rb") as f:
            self.assertEqual(r.body, f.read())  # embedded at build time, byte for byte
        etag = r.header("ETag")
        self.assertRegex(etag, r'^"[0-9a-f]{32}"$')
        again = self.req("GET", "/widget/podium-leaderboard.js", auth=None,
                         headers={"If-None-Match": etag})
        self.assertEqual(again.status, 304)
        self.assertEqual(again.body, b"")
        self.assertEqual(again.header("ETag"), etag)
        # An origin on cors_origins gets one Access-Control-Allow-Origin, not two.
        r = self.req("GET", "/widget/podium-leaderboard.js", auth=None, headers={"Origin": INTRA})
        self.assertEqual(r.headers.get_all("Access-Control-Allow-Origin"), ["*"])

    def test_embed_page_may_be_framed_by_the_configured_sites_only(self):
        r = self.req("GET", "/embed/quick?token=pdm_abc-DEF_1&limit=5&theme=dark&period=current",
                     auth=None)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        csp = r.header("Content-Security-Policy")
        self.assertEqual(r.headers.get_all("Content-Security-Policy"), [csp])
        self.assertTrue(csp.endswith("frame-ancestors " + INTRA), csp)
        self.assertIn("script-src 'self'", csp)
        self.assertIn("connect-src 'self'", csp)
        self.assertIn("default-src 'none'", csp)
        self.assertEqual(r.header("Referrer-Policy"), "no-referrer")
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertIn('<podium-leaderboard challenge="quick" token="pdm_abc-DEF_1" period="current" '
                      'limit="5" theme="dark">', r.text)
        self.assertIn('<script src="../widget/podium-leaderboard.js" defer>', r.text)
        # Values outside their character set never reach the page.
        r = self.req("GET", "/embed/quick?token=%22%3E%3Cscript%3Ealert(1)%3C/script%3E"
                            "&theme=%3Cx%3E&limit=1e9", auth=None)
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("alert", r.text)
        self.assertIn('<podium-leaderboard challenge="quick"></podium-leaderboard>', r.text)
        # An unknown challenge: a friendly page, framable so that the editor sees it.
        r = self.req("GET", "/embed/weekly", auth=None)
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        self.assertIn("There is no challenge &quot;weekly&quot;", r.text)
        self.assertTrue(r.header("Content-Security-Policy").endswith("frame-ancestors " + INTRA))
        # Every other answer still refuses to be framed.
        for path, auth in (("/v1/challenges", "admin"), ("/v1/challenges/quick/leaderboard", "admin"),
                           ("/widget/podium-leaderboard.js", None), ("/nothing", None),
                           ("/livez", None)):
            r = self.req("GET", path, **({} if auth else {"auth": None}))
            self.assertEqual(r.headers.get_all("Content-Security-Policy"),
                             ["frame-ancestors 'none'"], path)

    def test_default_lets_no_site_frame_the_embed_page(self):
        d = self.start_daemon(name="podiumd2", extra_args=())
        r = d.request("GET", "/embed/quick", auth=None)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Security-Policy").endswith("frame-ancestors 'none'"))


@unittest.skipUnless(HAVE_BROWSER, "node, tests/integration/node/node_modules or chromium missing")
class WidgetBrowserTest(WidgetTestCase):
    def setUp(self):
        super().setUp()
        self.buf = b""
        self.browser = subprocess.Popen([NODE, os.path.join(NODE_DIR, "widget.js"), CHROMIUM],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
        self.addCleanup(self._stop_browser)

    def _stop_browser(self):
        try:
            self.browser.stdin.write(b'{"cmd": "quit"}\n')
            self.browser.stdin.close()
            self.browser.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.browser.kill()
            self.browser.wait(5)
        self.browser.stdout.close()

    def cmd(self, name, timeout=30.0, **args):
        """Sends a command to widget.js and returns its answer."""
        self.browser.stdin.write((json.dumps(dict(args, cmd=name)) + "\n").encode())
        self.browser.stdin.flush()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf and time.monotonic() < deadline:
            r, _, _ = select.select([self.browser.stdout], [], [], 0.1)
            if r:
                chunk = os.read(self.browser.stdout.fileno(), 1 << 20)
                if not chunk:
                    break
                self.buf += chunk
        if b"\n" not in self.buf:
            self.fail("no answer from widget.js to %s in %.0f s" % (name, timeout))
        line, self.buf = self.buf.split(b"\n", 1)
        ans = json.loads(line)
        self.assertNotIn("error", ans, ans)
        return ans

    def wait_rows(self, want, what, state="state", timeout=6.0):
        """Waits until the widget shows rows [(rank, leader, score), ...]."""
        last = {}

        def check():
            st = self.cmd(state)
            last["st"] = st
            got = [(r["rank"], r["leader"], r["score"]) for r in st.get("rows", [])]
            return st if got == want else None
        try:
            return wait_until(check, timeout=timeout, interval=0.1, what=what)
        except AssertionError:
            self.fail("%s: the widget shows %r" % (what, last.get("st")))

    def record(self, pid):
        return wait_until(lambda: self.r("HGET", self.key("periods", "quick"), pid),
                          timeout=LENGTH + 6, interval=0.1, what="period %s closed" % pid)

    def test_embed_page_renders_updates_live_and_draws_history(self):
        _, reader = self.make_token("reader")
        # Two closed periods of history: bob leads the first, amy the second.
        p1 = fresh_period()
        self.event("amy", "post")
        self.event("bob", "post")
        self.event("bob", "post")
        self.event("cat", "reply")
        self.record(p1)
        self.event("amy", "post")
        self.event("amy", "post")
        self.event("amy", "post")
        self.event("cat", "post")
        self.event("cat", "post")
        got = self.event("bob", "post")
        p2 = got["standings"][0]["period"]
        self.assertNotEqual(p1, p2)

        # The page opens on p2's live board; p2 closes while it is open.
        url = "http://127.0.0.1:%d/embed/quick?token=%s&limit=10" % (self.d.port, reader)
        self.cmd("open", url=url, width=600, height=340)
        self.wait_rows([(1, "amy", 30), (2, "cat", 20), (3, "bob", 10)], "p2's board")
        self.record(p2)
        st = self.wait_rows([], "the new period's empty board", timeout=LENGTH)
        self.assertEqual(st["note"], "No scores yet in this period.")
        # amy has been active four days in a row (the day state score.lua keeps).
        state = self.r("HGET", self.key("days", "quick"), "amy")  # kept with streak bonuses
        day = int(state.decode().split(":")[0]) if state else int(time.time()) // 86400  # UTC
        self.r("HSET", self.key("days", "quick"), "amy", "%d:15:4" % day)

        # Events posted now reach the open page through the stream.
        self.event("amy", "post")
        self.event("amy", "post")
        self.event("bob", "post")
        self.event("dan", "reply")
        self.wait_rows([(1, "amy", 20), (2, "bob", 10), (3, "dan", 3)], "the first events")
        # One batch: cat passes amy in one step (two posts alone would tie
        # amy's 20 within the same second, where the order is not amy's).
        self.ok(self.batch([{"leader": "cat", "type": "post"}] * 3))
        st = self.wait_rows([(1, "cat", 30), (2, "amy", 20), (3, "bob", 10), (4, "dan", 3)],
                            "cat's jump to the top")

        # Sparklines of ranks, once the leaders' histories are in.
        def sparks():
            s = self.cmd("state")
            rows = {r["leader"]: r for r in s["rows"]}
            ok = last_ranks(rows["amy"]) == ["2", "1"] and last_ranks(rows["cat"]) == ["3", "2"] \
                and rows["amy"]["streak"]
            return s if ok else None
        st = wait_until(sparks, timeout=6, interval=0.2, what="sparklines and the streak mark")
        rows = {r["leader"]: r for r in st["rows"]}
        self.assertEqual(st["caption"], "Quick sprint")
        self.assertEqual(rows["amy"]["name"], "Amy Achterberg")
        self.assertEqual(rows["amy"]["team"], "comms")
        self.assertRegex(rows["amy"]["spark"]["label"], r"^Rank in the last \d+ periods, oldest first: ")
        self.assertEqual(rows["amy"]["spark"]["role"], "img")
        self.assertIsNone(rows["dan"]["spark"])  # no closed period on the board
        self.assertEqual(rows["amy"]["streak"], ", 4-day streak")
        self.assertIsNone(rows["bob"]["streak"])
        # Movement since p2 (amy 1st, cat 2nd, bob 3rd there), shown and spoken.
        self.assertEqual((rows["cat"]["move_shown"], rows["cat"]["move_sr"]), ("▲1", "up 1 place"))
        self.assertEqual((rows["amy"]["move_shown"], rows["amy"]["move_sr"]), ("▼1", "down 1 place"))
        self.assertEqual(rows["bob"]["move_sr"], "no change")
        self.assertEqual(rows["dan"]["move_sr"], "new this period")
        # Avatars: the image when set (decorative: the name follows), else initials.
        self.assertEqual(rows["amy"]["avatar"]["src"], AVATARS + "Amy.svg")
        self.assertEqual(rows["amy"]["avatar"]["alt"], "")
        self.assertEqual(rows["cat"]["avatar"], {"initials": "CR"})
        # Accessibility: a table named by its caption, column and row headers,
        # and a polite live region that announced the new leader once.
        self.assertTrue(st["table"])
        self.assertEqual(st["col_headers"], ["col"] * 5)
        self.assertTrue(all(r["header_scope"] == "row" for r in st["rows"]))
        self.assertIn('table "Quick sprint', st["aria"])
        self.assertIn('rowheader "Amy Achterberg', st["aria"])
        self.assertIn("down 1 place", st["aria"])
        self.assertEqual(st["live_region"], {"polite": "polite",
                                             "text": "Catalina Ruiz now leads with 30 points."})
        self.assertEqual(st["status"], "Live")

        # Nothing but podiumd and the avatars was asked for, and no request
        # carried a Referer (the page's URL holds the token).
        reqs = self.cmd("requests")["requests"]
        base = "http://127.0.0.1:%d/" % self.d.port
        self.assertTrue(any("/stream?" in r["url"] for r in reqs), reqs)
        self.assertEqual([r for r in reqs if not r["url"].startswith((base, AVATARS))], [])
        self.assertEqual([r for r in reqs if r["referer"]], [])

        shot = os.path.join(artifacts_dir(), "widget-embed.png")
        self.cmd("screenshot", path=shot)
        self.assertGreater(os.path.getsize(shot), 10000)
        print("\nscreenshot: %s" % shot)
        self.cmd("open", url=url + "&theme=dark", width=600, height=340)
        self.wait_rows([(1, "cat", 30), (2, "amy", 20), (3, "bob", 10), (4, "dan", 3)], "dark")
        wait_until(lambda: all(r["spark"] for r in self.cmd("state")["rows"] if r["leader"] != "dan"),
                   timeout=6, interval=0.2, what="dark sparklines")
        shot = os.path.join(artifacts_dir(), "widget-embed-dark.png")
        self.cmd("screenshot", path=shot)
        print("screenshot: %s" % shot)

    def test_framing_and_the_two_line_form(self):
        _, reader = self.make_token("reader")
        fresh_period()
        self.event("amy", "post")
        self.event("bob", "reply")
        base = "http://127.0.0.1:%d" % self.d.port
        frame = '<iframe src="%s" width="560" height="320"></iframe>'
        embed = "%s/embed/quick?token=%s" % (base, reader)
        pages = {
            INTRA + "/framed": frame % embed,
            EVIL + "/framed": frame % embed,
            INTRA + "/api-framed": frame % (base + "/v1/challenges"),
            INTRA + "/two-lines": '<script src="%s/widget/podium-leaderboard.js" defer></script>\n'
                                  '<podium-leaderboard challenge="quick" token="%s" limit="1">'
                                  '</podium-leaderboard>' % (base, reader),
        }
        self.cmd("open", url=INTRA + "/framed", pages=pages)
        self.wait_rows([(1, "amy", 10), (2, "bob", 3)], "the framed embed page", state="frame_state")
        self.cmd("open", url=EVIL + "/framed", pages=pages)
        time.sleep(0.5)
        self.assertEqual(self.cmd("frame_state").get("blocked"), True)
        self.cmd("open", url=INTRA + "/api-framed", pages=pages)
        time.sleep(0.5)
        self.assertEqual(self.cmd("frame_state").get("blocked"), True)
        # Two lines on an intranet page (another origin, on cors_origins), with
        # no EventSource: the widget finds podiumd from its script's URL and polls.
        self.cmd("open", url=INTRA + "/two-lines", pages=pages, no_eventsource=True)
        st = self.wait_rows([(1, "amy", 10)], "the two-line widget")
        self.assertTrue(st["status"].startswith("Updated "), st)
        reqs = self.cmd("requests")["requests"]
        self.assertTrue(any("/leaderboard?" in r["url"] for r in reqs), reqs)
        self.assertFalse(any("/stream?" in r["url"] for r in reqs), reqs)


if __name__ == "__main__":
    unittest.main()
