"""podiumctl against a real podiumd: the commands a comms team uses, their
tables and --json output, and the documented exit statuses."""

import json
import os
import re
import signal
import subprocess
import time

from harness import DEFAULT_RULES, PODIUM_SOURCE, PodiumTestCase, wait_until, week_id

PODIUMCTL = os.environ.get("PODIUMCTL") or os.path.join(PODIUM_SOURCE, "build", "podiumctl")


class CtlMixin:
    """Runs podiumctl against the test's podiumd, from the test's directory."""

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


class PodiumctlTest(CtlMixin, PodiumTestCase):
    rules = None  # rules live in Redis: `rules apply` puts them there
    leaders = ()

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


class PodiumctlOrgTest(CtlMixin, PodiumTestCase):
    """`podiumctl org`: the operator's commands, with the operator token."""

    rules = None  # each org gets its rules through podiumctl, with its own token
    leaders = ()

    def setUp(self):
        super().setUp()
        with open(os.path.join(self.d.data_dir, "operator.token")) as f:
            self.op = f.read().strip()

    def org(self, *args, status=0, **kw):
        """podiumctl org ARGS with the operator token."""
        return self.ctl("org", *args, token=kw.pop("token", self.op), status=status, **kw)

    def create(self, oid, name=None):
        """Creates an org through podiumctl; returns its admin token."""
        out, err = self.org("create", oid, *(("--name", name) if name else ()))
        self.assertEqual(len(out.splitlines()), 1, out)
        self.assertIn("shown once", err)
        return out.strip()

    def test_create_then_run_the_org_with_its_admin_token(self):
        out, err = self.org("create", "acme", "--name", "Acme plc")
        token = out.strip()
        self.assertEqual(out, token + "\n")  # one line: T=$(podiumctl org create ...) works
        self.assertTrue(token.startswith("pdm_acme_") and len(token) == 52, token)
        self.assertIn("shown once", err)
        view = json.loads(self.org("--json", "show", "acme")[0])
        self.assertEqual((view["name"], view["state"], view["usage"]["tokens"]),
                         ("Acme plc", "active", 1))
        token_id = re.search(r"token id (\S+)\)", err).group(1)
        # the new org's admin runs it through podiumctl, in the org alone
        self.ctl("rules", "apply", self.write("rules.json", DEFAULT_RULES), token=token)
        self.ctl("leader-add", "ceo", "--name", "Ada Acme", token=token)
        self.assertEqual(self.post("ceo", auth=token).status, 200)
        out, _ = self.ctl("adjust", "ceo", "weekly", "5", "--reason", "Keynote", token=token)
        self.assertIn("ceo now has 15 in weekly", out)
        out, _ = self.ctl("board", "weekly", token=token)
        self.assertEqual(out.splitlines()[2].split()[:5], ["1", "ceo", "Ada", "Acme", "15"])
        board = json.loads(self.ctl("board", "weekly", "--json", token=token)[0])  # any place
        self.assertEqual([e["leader"] for e in board["entries"]], ["ceo"])
        self.ctl("rules", "apply", self.write("rules.json", DEFAULT_RULES))
        self.ctl("leader", "ceo", status=3)  # the default org's admin sees none of it
        self.ctl("board", "weekly", token=token)
        _, err = self.ctl("board", "weekly", token=self.op, status=4)
        self.assertIn("403", err)  # the operator token reads no org's data
        # --json prints the whole answer, the token included
        j = json.loads(self.org("create", "beta", "--json")[0])
        self.assertEqual((j["id"], j["name"], j["state"]), ("beta", "beta", "active"))
        self.assertTrue(j["admin_token"].startswith("pdm_beta_"), j)
        self.assertIn("admin_token_id", j)
        # refusals: the default org always exists, an id taken, a bad id
        _, err = self.org("create", "default", status=2)
        self.assertIn("409", err)
        self.org("create", "acme", status=2)
        _, err = self.org("create", "Not-An-Id!", status=2)
        self.assertIn("/id", err)
        self.org("create", "", status=2)
        self.org("create", status=1)
        self.org("create", "x", "--colour", "red", status=1)
        # the token id on stderr is the admin token's
        self.ctl("token", "delete", token_id, token=token)
        self.ctl("board", "weekly", token=token, status=4)

    def test_list_pages_and_show(self):
        self.create("acme", "Acme plc")
        beta = self.create("beta")
        self.ctl("rules", "apply", self.write("rules.json", DEFAULT_RULES), token=beta)
        self.ctl("leader-add", "ceo", "--name", "CEO", token=beta)
        self.assertEqual(self.post("ceo", auth=beta).status, 200)
        out, _ = self.org("list")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "NAME", "STATE", "LEADERS", "TOKENS",
                                            "EVENTS/WEEK", "EVENTS", "RULES", "LAST", "ACTIVITY"])
        self.assertEqual([l.split()[0] for l in lines[1:]], ["acme", "beta", "default"])
        self.assertIn("Acme plc", lines[1])
        for l in lines[1:]:  # aligned: every state starts under STATE
            self.assertEqual(l.index("active"), lines[0].index("STATE"), out)
        # beta's counts, right-aligned under their headers: 1 leader, 1 token, 1 event, rules v1
        self.assertEqual(lines[2].split()[2:8], ["active", "1", "1", "1", "1", "1"], out)
        self.assertNotIn("\033[", out)
        # --json passes the page through; options may follow the command
        page = json.loads(self.org("list", "--json")[0])
        self.assertEqual([o["id"] for o in page["orgs"]], ["acme", "beta", "default"])
        self.assertIsNone(page["next_cursor"])
        self.assertEqual(page["orgs"][1]["usage"]["events_total"], 1)
        # paging by hand, and --all following next_cursor to the end
        page = json.loads(self.org("list", "--limit", "1", "--json")[0])
        self.assertEqual(([o["id"] for o in page["orgs"]], page["next_cursor"]), (["acme"], "acme"))
        page = json.loads(self.org("list", "--limit", "1", "--cursor", "acme", "--json")[0])
        self.assertEqual([o["id"] for o in page["orgs"]], ["beta"])
        out, err = self.org("list", "--limit", "1")
        self.assertEqual(len(out.splitlines()), 2, out)
        self.assertIn("--cursor acme", err)
        page = json.loads(self.org("list", "--limit", "1", "--all", "--json")[0])
        self.assertEqual(([o["id"] for o in page["orgs"]], page["next_cursor"]),
                         (["acme", "beta", "default"], None))
        out, _ = self.org("list", "--all", "--limit=1")
        self.assertEqual([l.split()[0] for l in out.splitlines()[1:]], ["acme", "beta", "default"])
        out, _ = self.org("list", "--limit", "2", "--cursor", "acme", "--all")
        self.assertEqual([l.split()[0] for l in out.splitlines()[1:]], ["beta", "default"])
        _, err = self.org("list", "--limit", "0", status=2)
        self.assertIn("/limit", err)
        # show: keys and values, quotas and usage; --org names the org too
        out, _ = self.org("show", "beta")
        self.assertEqual(out.splitlines()[0], "beta (beta)")
        self.assertRegex(out, r"\n  state +active\n")
        self.assertRegex(out, r"\n  leaders +1 \(quota 10000\)\n")
        self.assertRegex(out, r"\n  tokens +1 \(quota 20000\)\n")
        self.assertRegex(out, r"\n  events per second +\(no quota\)\n")
        self.assertRegex(out, r"\n  events in all +1\n")
        self.assertRegex(out, r"\n  rules +version 1\n")
        self.assertEqual(self.org("show", "--org", "beta")[0], out)
        self.assertEqual(self.ctl("--org", "beta", "org", "show", token=self.op)[0], out)
        self.assertEqual(json.loads(self.org("show", "acme", "--json")[0])["name"], "Acme plc")
        self.org("show", "--org", "acme", "beta", status=1)  # two ids
        self.org("show", status=1)
        _, err = self.org("show", "nope", status=3)
        self.assertIn("404", err)
        self.org("show", "Bad!", status=2)
        self.ctl("board", "weekly", "--org", "beta", token=beta, status=1)  # org commands only

    def test_the_operator_token_is_found_and_needed(self):
        # with no token given, org commands read data/operator.token (the
        # test runs podiumctl in the daemon's directory), others data/admin.token
        page = json.loads(self.org("list", "--json", token=None)[0])
        self.assertEqual([o["id"] for o in page["orgs"]], ["default"])
        self.assertIn("(none)", self.ctl("webhooks", token=None)[0])  # data/admin.token
        admin_file = os.path.join(self.d.data_dir, "admin.token")
        _, err = self.org("list", token=None, env={"PODIUM_TOKEN_FILE": admin_file}, status=4)
        self.assertIn("403", err)
        self.assertIn("operator token", err)
        self.org("list", "--token-file", os.path.join(self.d.data_dir, "operator.token"),
                 token=None)
        _, err = self.org("list", token="admin", status=4)  # a non-operator token
        self.assertIn("403", err)
        self.org("list", token="pdm_wrong", status=4)
        self.org("list", token=None, env={"PODIUM_TOKEN_FILE": "/nonexistent"}, status=1)

    def test_suspend_resume_rename_and_quota(self):
        token = self.create("acme", "Acme plc")
        self.ctl("rules", "apply", self.write("rules.json", DEFAULT_RULES), token=token)
        self.ctl("board", "weekly", token=token)
        out, _ = self.org("suspend", "acme")
        self.assertIn("org acme is suspended", out)
        _, err = self.ctl("board", "weekly", token=token, status=4)
        self.assertIn("403", err)
        self.assertRegex(self.org("show", "acme")[0], r"\n  state +suspended\n")
        self.assertEqual(self.org("list", "--json")[0].count('"suspended":true'), 1)
        out, _ = self.org("resume", "--org", "acme")
        self.assertIn("org acme is active", out)
        self.ctl("board", "weekly", token=token)
        # rename, with a name that starts with a dash after `--`
        out, _ = self.org("rename", "acme", "Acme Group")
        self.assertIn("Acme Group", out)
        self.org("rename", "acme", "--", "-Acme-")
        self.assertEqual(json.loads(self.org("show", "acme", "--json")[0])["name"], "-Acme-")
        self.org("rename", "acme", status=1)
        # quotas: a number, 0 for no limit, `default` for the config's
        out, _ = self.org("quota", "acme", "--leaders", "1", "--events-per-second", "0")
        self.assertIn("leaders 1,", out)
        self.ctl("leader-add", "ceo", "--name", "CEO", token=token)
        _, err = self.ctl("leader-add", "cfo", "--name", "CFO", token=token, status=2)
        self.assertIn("409", err)
        j = json.loads(self.org("quota", "acme", "--leaders", "default", "--tokens=7", "--json")[0])
        self.assertEqual((j["quotas"]["leaders"], j["quotas"]["tokens"]), (10000, 7))
        self.ctl("leader-add", "cfo", "--name", "CFO", token=token)
        self.assertRegex(self.org("show", "acme")[0], r"\n  tokens +1 \(quota 7\)\n")
        _, err = self.org("quota", "acme", "--webhooks", "-1", status=2)
        self.assertIn("/quotas/webhooks", err)
        self.org("quota", "acme", status=1)
        self.org("quota", "acme", "--leaders", "lots", status=1)
        self.org("suspend", "nope", status=3)
        self.org("suspend", "default")  # the default org can be suspended too
        self.ctl("webhooks", status=4)
        self.org("resume", "default")
        self.ctl("webhooks")

    def test_delete_erases_the_org_in_the_background(self):
        token = self.create("acme")
        self.ctl("rules", "apply", self.write("rules.json", DEFAULT_RULES), token=token)
        self.ctl("leader-add", "ceo", "--name", "CEO", token=token)
        self.assertTrue(self.r("KEYS", "podium:{acme}:*"))
        out, _ = self.org("delete", "acme")
        self.assertIn("erase started (202)", out)
        _, err = self.ctl("board", "weekly", token=token, status=4)
        self.assertIn("401", err)
        self.assertRegex(self.org("show", "acme")[0], r"\n  state +deleting\n")
        self.assertEqual(json.loads(self.org("delete", "acme", "--json")[0])["state"], "deleting")
        self.org("delete", "default", status=2)
        self.org("delete", "nope", status=3)
        self.org("delete", status=1)

        # the erase starts about 12 s after the delete: wait for the 404
        def gone():
            p = subprocess.run([PODIUMCTL, "org", "show", "acme"], capture_output=True,
                               timeout=20, env={"PATH": os.environ.get("PATH", ""),
                                                "PODIUM_URL": "http://127.0.0.1:%d" % self.d.port,
                                                "PODIUM_TOKEN": self.op})
            self.assertIn(p.returncode, (0, 3), p.stderr)
            return p.returncode == 3
        wait_until(gone, timeout=60, interval=0.5, what="org show acme to exit 3")
        self.assertEqual(self.r("KEYS", "podium:{acme}:*"), [])
        self.assertNotIn("acme", self.org("list")[0])
        self.create("acme")  # the id may be used again

    def test_help_sends_nothing(self):
        nowhere = {"PODIUM_URL": "http://127.0.0.1:1"}  # a request would exit 5
        for args in (("--help",), ("create", "--help"), ("list", "-h"), ("quota", "x", "--help")):
            out, _ = self.org(*args, env=nowhere)
            self.assertIn("org create ID [--name NAME]", out)
        out, _ = self.ctl("--help", env=nowhere)
        self.assertIn("org create ID", out)
        _, err = self.org(env=nowhere, status=1)
        self.assertIn("org list", err)
        self.org("frobnicate", "acme", env=nowhere, status=1)
        self.org("list", "--colour", env=nowhere, status=1)
        self.org("show", "acme", env=nowhere, status=5)


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
