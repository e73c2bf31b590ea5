"""GET /v1/admin/events: the event log as NDJSON, streamed, with filters."""

import json
import socket
import time

from harness import PodiumTestCase, rfc3339


class ExportTest(PodiumTestCase):
    leaders = ("amy", "bob", "zed")

    def export(self, query="", auth="admin"):
        r = self.req("GET", "/v1/admin/events" + query,
                     **({} if auth == "admin" else {"auth": auth}))
        return r

    def lines(self, query=""):
        r = self.export(query)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/x-ndjson")
        return [json.loads(l) for l in r.body.decode().splitlines()]

    def test_events_and_adjustments_in_log_order_with_their_results(self):
        got = [self.event("amy", "post", channel="linkedin"),
               self.event("bob", "stakeholder_interaction", stakeholder="customer"),
               self.event("amy", "reply", note="thanks")]
        adj = self.ok(self.req("POST", "/v1/admin/adjustments", json_body={
            "leader": "bob", "challenge": "weekly", "points": 5, "reason": "keynote"}), 201)
        lines = self.lines()
        self.assertEqual(len(lines), 4, lines)
        evs = [l for l in lines if "event" in l]
        self.assertEqual([(l["event"]["leader"], l["event"]["type"]) for l in evs],
                         [("amy", "post"), ("bob", "stakeholder_interaction"), ("amy", "reply")])
        for line, posted in zip(evs, got):
            self.assertEqual(line["event"]["id"], posted["id"])
            self.assertEqual(line["result"]["id"], posted["id"])
            self.assertEqual(line["result"]["points"], posted["points"])
            self.assertEqual([(s["challenge"], s["period"], s["points"]) for s in line["result"]["standings"]],
                             [(s["challenge"], s["period"], s["points"]) for s in posted["standings"]])
        self.assertEqual(evs[2]["event"]["note"], "thanks")
        self.assertEqual(lines[3]["adjustment"]["reason"], "keynote")
        self.assertEqual(lines[3]["adjustment"]["points"], 5)
        self.assertEqual(lines[3]["adjustment"]["leader"], "bob")
        self.assertEqual(lines[3]["adjustment"]["period"], adj["period"])
        self.assertTrue(all(l["log"] for l in lines))
        self.assertEqual(len({l["log"] for l in lines}), 4)

    def test_filters(self):
        self.event("amy", "post")
        self.event("bob", "stakeholder_interaction")
        self.event("amy", "stakeholder_interaction")
        self.ok(self.req("POST", "/v1/admin/adjustments", json_body={
            "leader": "amy", "challenge": "weekly", "points": -2, "reason": "typo"}), 201)
        self.assertEqual(len(self.lines("?leader=amy")), 3)
        self.assertEqual([l["event"]["leader"] for l in self.lines("?leader=bob")], ["bob"])
        meet = self.lines("?challenge=meetings")  # counts stakeholder interactions only
        self.assertEqual([l["event"]["type"] for l in meet], ["stakeholder_interaction"] * 2)
        self.assertEqual(len(self.lines("?challenge=weekly&leader=amy")), 3)
        self.assertEqual(len(self.lines("?limit=2")), 2)
        future = rfc3339(int(time.time() * 1000) + 3600 * 1000)
        self.assertEqual(self.lines("?since=" + future), [])
        self.assertEqual(len(self.lines("?until=" + future)), 4)
        self.assertEqual(self.lines("?until=2020-01-01"), [])
        self.assertEqual(len(self.lines("?since=2020-01-01")), 4)

    def test_many_events_stream_in_chunks(self):
        n = 3000
        for k in range(0, n, 1000):
            self.ok(self.batch([{"id": "bulk-%d" % i, "leader": ("amy", "bob")[i % 2],
                                 "type": "reply"} for i in range(k, k + 1000)]))
        r = self.export()
        self.assertEqual(r.header("Transfer-Encoding"), "chunked")
        ids = [json.loads(l)["event"]["id"] for l in r.body.decode().splitlines()]
        self.assertEqual(ids, ["bulk-%d" % i for i in range(n)])

    def test_an_erased_leaders_events_are_not_listed(self):
        self.event("zed", "post")
        self.ok(self.batch([{"leader": "zed", "type": "reply"}, {"leader": "amy", "type": "reply"}]))
        self.ok(self.req("DELETE", "/v1/admin/leaders/zed"))
        lines = self.lines()
        self.assertEqual([l["event"]["leader"] for l in lines], ["amy"])
        self.assertNotIn("zed", json.dumps(lines))

    def test_bad_input_and_roles(self):
        self.assertProblem(self.export("?since=yesterday"), 400, ["/since"])
        self.assertProblem(self.export("?until=2026-13-01"), 400, ["/until"])
        self.assertProblem(self.export("?leader=Not%20An%20Id"), 400, ["/leader"])
        self.assertProblem(self.export("?limit=0"), 400, ["/limit"])
        _, reader = self.make_token("reader")
        self.assertProblem(self.export(auth=reader), 403)
        self.assertProblem(self.export(auth=None), 401)

    def test_a_client_that_leaves_mid_export(self):
        for k in range(0, 4000, 1000):
            self.ok(self.batch([{"leader": "amy", "type": "reply"} for _ in range(1000)]))
        s = socket.create_connection(("127.0.0.1", self.d.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /v1/admin/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                  % self.d.admin_token.encode())
        self.assertIn(b"200 OK", s.recv(1024))
        s.close()
        time.sleep(0.3)
        self.assertEqual(len(self.lines("?limit=5")), 5)  # still serving
