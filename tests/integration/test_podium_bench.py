"""podium-bench (on libpodium, the C client of the binary protocol) against
a real podiumd: pipelined posts over several connections, the exactly-once
check against the event log in Redis, and leaderboard reads."""

import os
import subprocess

from harness import PODIUM_SOURCE
from test_rpc import RpcTestCase

BENCH = os.environ.get("PODIUM_BENCH") or os.path.join(PODIUM_SOURCE, "build", "podium-bench")


class PodiumBenchTest(RpcTestCase):
    leaders = ()

    def setUp(self):
        super().setUp()
        for i in range(20):
            self.put_leader("l%d" % i)

    def bench(self, *args, token="admin"):
        token = self.d.admin_token if token == "admin" else token
        return subprocess.run([BENCH, "--port", str(self.rpc_port), "--token", token,
                               "--leaders", "20", "--duration", "1"] + list(args),
                              capture_output=True, text=True, timeout=30)

    def test_pipelined_posts_are_logged_exactly_once(self):
        p = self.bench("--connections", "3", "--pipeline", "8", "--batch", "25",
                       "--redis", "127.0.0.1:%d" % self.redis.port)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("missing 0, twice 0: ok", p.stdout)
        acked = int(p.stdout.split("exactly-once check: ")[1].split()[0])
        self.assertGreater(acked, 0)
        self.assertEqual(acked % 25, 0)
        log = self.log_entries()
        self.assertEqual(len([e for e in log if e["id"].startswith("pb")]) >= acked, True)

    def test_leaderboard_reads_and_a_refused_token(self):
        self.event("l1", "post")
        p = self.bench("--method", "leaderboard", "--pipeline", "16")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("requests/s", p.stdout)
        p = self.bench(token="pdm_not_a_token")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("auth refused", p.stderr)
