"""podiumctl against a real podiumd: the commands a comms team uses, their
tables and --json output, and the documented exit statuses."""

import json
import os
import signal
import subprocess
import time

from harness import DEFAULT_RULES, PODIUM_SOURCE, PodiumTestCase, wait_until, week_id

PODIUMCTL = os.environ.get("PODIUMCTL") or os.path.join(PODIUM_SOURCE, "build", "podiumctl")


class PodiumctlTest(PodiumTestCase):
    rules = None  # rules live in Redis: `rules apply` puts them there
    leaders = ()

    def ctl(self, *args, token="admin", status=0, env=None, timeout=20):
        e = {"PATH": os.environ.get("PATH", ""), "PODIUM_URL": "http://127.0.0.1:%d" % self.d.port}
        if token == "admin":
            e["PODIUM_TOKEN"] = self.d.admin_token
        elif token:
            e["PODIUM_TOKEN"] = token
        e.update(env or {})
        p = subprocess.run([PODIUMCTL] + list(args), capture_output=True, env=e, timeout=timeout,
                           cwd=self.tmp)
        self.assertEqual(p.returncode, status, (args, p.stdout.decode(), p.stderr.decode()))
        return p.stdout.decode(), p.stderr.decode()

    def write(self, name, doc):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    def setup_org(self):
        rules = self.write("rules.json", DEFAULT_RULES)
        self.ctl("rules", "apply", rules)
        for lid in ("ceo", "cfo"):
            self.ctl("leader-add", lid, "--name", lid.upper() + " Lovelace")

    def test_rules_check_offline_and_apply_with_dry_run(self):
        good = self.write("good.json", DEFAULT_RULES)
        out, _ = self.ctl("rules", "check", good, token=None,
                          env={"PODIUM_URL": "http://127.0.0.1:1"})  # no daemon needed
        self.assertIn("ok (4 activities, 2 challenges)", out)
        bad = dict(DEFAULT_RULES, colour="red")
        _, err = self.ctl("rules", "check", self.write("bad.json", bad), status=2)
        self.assertIn("/colour", err)
        out, _ = self.ctl("rules", "apply", good, "--dry-run")
        self.assertIn("no rule set is stored yet", out)
        self.assertIn("added    challenges weekly", out)
        self.assertIsNone(self.r("HGET", self.key("ruleset"), "version"))
        out, _ = self.ctl("rules", "apply", good)
        self.assertIn("applied as version 1", out)
        more = json.loads(json.dumps(DEFAULT_RULES))
        more["activities"]["post"]["points"] = 12
        out, _ = self.ctl("rules", "apply", self.write("more.json", more), "--dry-run")
        self.assertIn("against stored version 1", out)
        self.assertIn("changed  activities post", out)
        out, _ = self.ctl("--json", "rules", "apply", self.write("more.json", more), "--dry-run")
        self.assertEqual(json.loads(out)["version"], 1)
        _, err = self.ctl("rules", "apply", self.write("bad.json", bad), status=2)
        self.assertIn("/colour", err)

    def test_board_leader_token_adjust_and_json(self):
        self.setup_org()
        token, _ = self.ctl("token", "create", "--role", "leader", "--leader", "ceo")
        token = token.strip()
        self.assertTrue(token.startswith("pdm_"), token)
        # the leader's own token posts, as a phone would
        r = self.d.request("POST", "/v1/events", body="type=post&channel=linkedin", auth=token,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r)
        self.event("cfo", "reply")
        out, _ = self.ctl("board", "weekly")
        lines = out.splitlines()
        self.assertIn("weekly, period %s: 2 leaders" % week_id(), lines[0])
        self.assertEqual(lines[1].split(), ["RANK", "LEADER", "NAME", "TEAM", "SCORE", "MOVE"])
        self.assertEqual(lines[2].split()[:2], ["1", "ceo"])
        self.assertEqual(lines[3].split()[:2], ["2", "cfo"])
        self.assertNotIn("\033[", out)  # no colour when not on a terminal
        # columns line up: each score ends in the same column
        self.assertEqual(len({len(l.rstrip().rsplit(" ", 1)[0].rstrip()) for l in lines[2:4]}), 1)
        out, _ = self.ctl("--json", "board", "weekly", "--limit", "1")
        page = json.loads(out)
        self.assertEqual([e["leader"] for e in page["entries"]], ["ceo"])
        out, _ = self.ctl("adjust", "cfo", "weekly", "40", "--reason", "Keynote")
        self.assertIn("cfo now has 43 in weekly", out)
        out, _ = self.ctl("leader", "cfo")
        self.assertIn("CFO Lovelace (cfo)", out)
        self.assertIn("reply", out)
        out, _ = self.ctl("--json", "leader", "cfo")
        self.assertEqual(json.loads(out)["id"], "cfo")
        self.ctl("leader-hide", "cfo")
        self.assertTrue(json.loads(self.ctl("--json", "leader", "cfo")[0])["profile"]["hidden"])
        self.assertEqual(json.loads(self.ctl("--json", "leader", "cfo")[0])["profile"]["name"],
                         "CFO Lovelace")  # hiding keeps the rest of the profile
        self.ctl("leader-unhide", "cfo")
        out, _ = self.ctl("challenges")
        self.assertIn("weekly", out)

    def test_export_with_filters(self):
        self.setup_org()
        for i in range(5):
            self.event("ceo", "reply")
        self.event("cfo", "post")
        out, err = self.ctl("export")
        self.assertEqual(len(out.splitlines()), 6)
        self.assertIn("exported 6 lines", err)
        out, _ = self.ctl("export", "--leader", "cfo", "--since", "2020-01-01")
        self.assertEqual([json.loads(l)["event"]["leader"] for l in out.splitlines()], ["cfo"])

    def test_watch_shows_a_live_board(self):
        self.setup_org()
        e = {"PATH": os.environ.get("PATH", ""), "PODIUM_URL": "http://127.0.0.1:%d" % self.d.port,
             "PODIUM_TOKEN": self.d.admin_token}
        p = subprocess.Popen([PODIUMCTL, "--json", "watch", "weekly", "--limit", "3"],
                             stdout=subprocess.PIPE, env=e)
        self.addCleanup(lambda: (p.kill(), p.wait(5), p.stdout.close()))
        first = json.loads(p.stdout.readline())
        self.assertEqual((first["event"], first["data"]["entries"]), ("standings", []))
        self.event("ceo", "post")
        nxt = json.loads(p.stdout.readline())
        self.assertEqual([x["leader"] for x in nxt["data"]["entries"]], ["ceo"])
        p.send_signal(signal.SIGINT)
        p.wait(5)

    def test_exit_statuses(self):
        self.setup_org()
        _, err = self.ctl("board", "nope", status=3)
        self.assertIn("404", err)
        _, err = self.ctl("board", "weekly", token="pdm_wrong", status=4)
        self.assertIn("401", err)
        _, err = self.ctl("board", "weekly", env={"PODIUM_URL": "http://127.0.0.1:1"}, status=5)
        self.assertIn("cannot reach podiumd", err)
        self.ctl("adjust", "ceo", "weekly", "ten", "--reason", "x", status=1)
        self.ctl("frobnicate", status=1)
        _, err = self.ctl("adjust", "ghost", "weekly", "5", "--reason", "x", status=2)
        self.assertIn("/leader", err)
        self.ctl("leader-erase", "cfo", status=1)  # needs --yes
        self.ctl("leader-erase", "cfo", "--yes")
        self.ctl("leader", "cfo", status=3)
        out, _ = self.ctl("--help")
        self.assertIn("Exit status", out)
        # the token file the quick start writes is found by default
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "data", "admin.token")))
        self.ctl("board", "weekly", token=None)


from test_rpc import RpcTestCase  # noqa: E402  (a podiumd with its RPC port)


class PodiumctlRpcTest(RpcTestCase):
    leaders = ("ceo", "cfo")

    def test_reads_over_the_binary_protocol_match_http(self):
        self.event("ceo", "post")
        self.event("cfo", "reply")
        e = {"PATH": os.environ.get("PATH", ""), "PODIUM_URL": "http://127.0.0.1:1",  # unused
             "PODIUM_TOKEN": self.d.admin_token}

        def ctl(*args, status=0, rpc=None):
            p = subprocess.run([PODIUMCTL, "--rpc", rpc or "127.0.0.1:%d" % self.rpc_port]
                               + list(args), capture_output=True, text=True, env=e, timeout=20)
            self.assertEqual(p.returncode, status, (args, p.stdout, p.stderr))
            return p.stdout
        board = json.loads(ctl("--json", "board", "weekly"))
        self.assertEqual(board, self.board("weekly"))
        self.assertIn("Ceo", ctl("board", "weekly"))
        self.assertEqual(json.loads(ctl("--json", "leader", "cfo"))["id"], "cfo")
        self.assertIn("weekly", ctl("challenges"))
        ctl("board", "nope", status=3)
        ctl("board", "weekly", status=5, rpc="127.0.0.1:1")

    def test_watch_over_a_subscription(self):
        e = {"PATH": os.environ.get("PATH", ""), "PODIUM_TOKEN": self.d.admin_token,
             "PODIUM_RPC": "127.0.0.1:%d" % self.rpc_port}
        p = subprocess.Popen([PODIUMCTL, "--json", "watch", "weekly", "--limit", "3"],
                             stdout=subprocess.PIPE, env=e)
        self.addCleanup(lambda: (p.kill(), p.wait(5), p.stdout.close()))
        first = json.loads(p.stdout.readline())
        self.assertEqual((first["event"], first["data"]["entries"]), ("standings", []))
        self.event("cfo", "post")
        nxt = json.loads(p.stdout.readline())
        self.assertEqual([x["leader"] for x in nxt["data"]["entries"]], ["cfo"])
        bad = subprocess.run([PODIUMCTL, "watch", "nope"], capture_output=True, text=True,
                             env=e, timeout=10)
        self.assertEqual(bad.returncode, 3, bad.stderr)
