"""Orgs (multi-tenancy): the operator API, least privilege, isolation
between orgs, suspension, quotas and the erase of a deleted org.

Every test runs a real redis-server and a real podiumd (HTTP and msgpack-RPC
on free loopback ports). Orgs are made through the operator API (POST
/v1/orgs) and filled through their own admin tokens, as a real deployment
would. Isolation is checked on the bytes: every key of an org
(`podium:{ORG}:*`) and its registry entry (`podium:{#}:org:ORG`) are DUMPed
before and after what another org's tokens try, and must be identical.

Areas, one TestCase class each:
  OperatorApiTest      create, list with paging, show with usage, PATCH,
                       validation errors, refusals change nothing
  LeastPrivilegeTest   the operator token only on /v1/orgs (HTTP and RPC),
                       org tokens never on /v1/orgs
  CrossOrgTest         org A's tokens against org B's ids on every route and
                       RPC method; read caches and ETags per org; A's SSE
                       stream and RPC subscription see only A
  SuspensionTest       suspend: 403 org-suspended (HTTP, RPC auth, an open RPC
                       connection after its recheck), streams end, webhooks
                       wait, nothing changes, other orgs unaffected; resume
  TwoDaemonTest        what the operator changes on one podiumd holds on another
  BackgroundWorkTest   period closes per org: once each on two daemons, with
                       their own archives and webhooks; those missed while
                       suspended close on resume
  QuotaTest            leaders, tokens, webhooks, events per second; null
                       goes back to the config default
  DeleteTest           DELETE under load with a ledger of acknowledged events
                       of other orgs; a kill -9 mid-erase; the id made again,
                       fresh, and the old tokens unknown to it
  SingleCompanyTest    the default org, never named, still works
"""

import collections
import json
import os
import re
import threading
import time
import types
import unittest
import urllib.parse

from harness import (DEFAULT_RULES, K32, PodiumTestCase, Resp, now_ms, parse_rfc3339_ms,
                     read_event_log, wait_until, week_id)
from test_close import LENGTH, RULES as QUICK_RULES, fresh_period, period_end, period_id
from test_rpc import MARKER as RPC_MARKER
from test_rpc import Rpc
from test_stream import Stream
from test_webhooks import OUTBOX_LUA, Receiver

ORG_ARGS = ("--rpc_listen", "127.0.0.1:0", "--webhook_allow_http", "true",
            "--sse_interval", "100ms")

# Org B's rules: the default ones plus a challenge only B has.
B_RULES = json.loads(json.dumps(DEFAULT_RULES))
B_RULES["challenges"].append(
    {"id": "bonly", "name": "B-only secret challenge", "period": "week",
     "timezone": "Europe/London", "activities": ["post", "reply"]})

# What only org B holds: none of it may ever reach a token of org A.
B_MARKERS = ("Bea of B", "Bo of B", "Sam of B", "Team B name", "b-secret-note",
             "b.example.com", "B-only secret challenge", "bonly", "b-team", "b-bea",
             "B-SECRET-HOOK")

OPERATOR_DETAIL = "operator token manages orgs"


def registry_key(org):
    return "podium:{#}:org:%s" % org


def org_key(org, *parts):
    return "podium:{%s}:%s" % (org, ":".join(parts))


def org_keys(r, org):
    return sorted(r("KEYS", "podium:{%s}:*" % org))


def org_snapshot(r, org):
    """Every key of org with its type and DUMP, its registry entry and its
    place in the id list: compare two to prove nothing of the org changed."""
    snap = {}
    for k in org_keys(r, org) + [registry_key(org).encode()]:
        snap[k] = (r("TYPE", k), r("DUMP", k))
    snap["orgids"] = r("ZSCORE", "podium:{#}:orgids", org)
    return snap


def rpc_port(d):
    text = wait_until(lambda: RPC_MARKER in d.log() and d.log(), timeout=10,
                      what="the rpc listener")
    rest = text[text.index(RPC_MARKER) + len(RPC_MARKER):]
    return int(rest[:len(rest) - len(rest.lstrip("0123456789"))])


def as_text(x):
    """A JSON text of an RPC result or HTTP body, for looking for markers."""
    if isinstance(x, bytes):
        return x.decode("utf-8", errors="replace")
    return json.dumps(x, default=repr)


class OrgCase(PodiumTestCase):
    """A podiumd with RPC, plain-http webhooks and quick streams, and the
    helpers every area uses."""

    podiumd_args = ORG_ARGS
    maxDiff = None

    def setUp(self):
        super().setUp()
        self.opt = self.d.operator_token
        self.streams = []
        self.addCleanup(lambda: [s.close() for s in self.streams])

    # ------------------------------------------------------------ operator

    def op(self, method, path, **kw):
        return self.req(method, path, auth=self.opt, **kw)

    def create_org(self, oid, name=None):
        body = {"id": oid}
        if name is not None:
            body["name"] = name
        r = self.op("POST", "/v1/orgs", json_body=body)
        j = self.ok(r, 201)
        self.assertEqual(r.header("Location"), "/v1/orgs/" + oid)
        self.assertRegex(j["admin_token"], r"^pdm_%s_[A-Za-z0-9_-]{43}$" % re.escape(oid))
        return j

    def get_org(self, oid):
        return self.ok(self.op("GET", "/v1/orgs/" + oid))

    def patch_org(self, oid, body, status=200):
        return self.ok(self.op("PATCH", "/v1/orgs/" + oid, json_body=body), status)

    def usage(self, oid):
        return self.get_org(oid)["usage"]

    # ------------------------------------------------------------ an org's content

    def org_token(self, admin, role, leader=None):
        body = {"role": role}
        if leader:
            body["leader"] = leader
        j = self.ok(self.req("POST", "/v1/admin/tokens", auth=admin, json_body=body), 201)
        return j["id"], j["token"]

    def setup_org(self, oid, rules=DEFAULT_RULES, prefix=None, receiver=None, events=True):
        """Creates org oid and fills it through its admin token: rules,
        a team, three leaders (one, "sam", with an id every test org shares),
        tokens of each role, a webhook and a few events. The names carry
        `prefix` ("B": "Bea of B", "Team B name", ...)."""
        p = prefix or oid
        lo = p.lower()
        j = self.create_org(oid, name="Org " + p)
        adm = j["admin_token"]
        o = types.SimpleNamespace(id=oid, admin=adm, admin_id=j["admin_token_id"], prefix=p)
        self.ok(self.req("PUT", "/v1/rules", auth=adm, json_body=rules))
        o.team = "%s-team" % lo
        self.ok(self.req("PUT", "/v1/admin/teams/" + o.team, auth=adm,
                         json_body={"name": "Team %s name" % p}), 201)
        o.leaders = ["%s-bea" % lo, "%s-bo" % lo, "sam"]
        for lid, name in zip(o.leaders, ("Bea of " + p, "Bo of " + p, "Sam of " + p)):
            self.ok(self.req("PUT", "/v1/admin/leaders/" + lid, auth=adm,
                             json_body={"name": name, "team": o.team}), 201)
        o.ingest_id, o.ingest = self.org_token(adm, "ingest")
        o.reader_id, o.reader = self.org_token(adm, "reader")
        o.leader_id, o.leader = self.org_token(adm, "leader", o.leaders[0])
        o.admin2_id, o.admin2 = self.org_token(adm, "admin")
        url = "http://127.0.0.1:%d/%s-SECRET-HOOK" % (
            receiver.server.server_address[1] if receiver else 9, p)
        w = self.ok(self.req("POST", "/v1/admin/webhooks", auth=adm, json_body={
            "url": url, "format": "json", "events": ["period_closed", "digest"]}), 201)
        o.webhook = w["id"]
        o.event_ids = []
        if events:
            for i, (lid, typ, extra) in enumerate([
                    (o.leaders[0], "stakeholder_interaction",
                     {"note": "%s-secret-note" % lo, "stakeholder": "customer"}),
                    ("sam", "post", {"url": "https://%s.example.com/secret" % lo}),
                    (o.leaders[1], "reply", {})]):
                eid = "%s-ev-%d" % (lo, i)
                ev = dict(leader=lid, type=typ, id=eid)
                ev.update(extra)
                self.ok(self.req("POST", "/v1/events", auth=adm, json_body=ev))
                o.event_ids.append(eid)
        o.tokens = {"admin": adm, "ingest": o.ingest, "reader": o.reader, "leader": o.leader}
        return o

    def org_snapshot(self, oid):
        return org_snapshot(self.r, oid)

    def assertOrgUnchanged(self, oid, before, msg=None):
        after = self.org_snapshot(oid)
        if before != after:
            added = sorted(set(after) - set(before), key=str)
            removed = sorted(set(before) - set(after), key=str)
            changed = sorted((k for k in set(before) & set(after) if before[k] != after[k]),
                             key=str)
            self.fail("%sorg %s changed: added %r, removed %r, changed %r"
                      % (msg + ": " if msg else "", oid, added, removed, changed))

    def assertNoMarkers(self, body, sent="", what=""):
        """body holds nothing only org B has (but what the request itself sent)."""
        text = as_text(body)
        for m in B_MARKERS:
            if m not in sent:
                self.assertNotIn(m, text, "%s leaked %r: %s" % (what, m, text[:600]))

    # ------------------------------------------------------------ RPC and streams

    def rpc(self, token=None, d=None):
        c = Rpc(rpc_port(d or self.d))
        self.addCleanup(c.close)
        if token:
            who = c.call("auth", {"token": token})
            self.assertEqual(who["protocol"], 1)
        return c

    def stream(self, path, token=None, d=None):
        s = Stream((d or self.d).port, path, token=token)
        self.streams.append(s)
        return s.start()

    def standings(self, s, timeout=10.0):
        ev = s.next(timeout=timeout)
        self.assertIsNotNone(ev, "the stream ended")
        self.assertEqual(ev.get("event"), "standings", ev)
        return json.loads(ev["data"])

    def scores(self, board):
        return {e["leader"]: e["score"] for e in board["entries"]}

    def zboard_of(self, org, challenge="weekly", period=None):
        raw = self.r("ZRANGE", org_key(org, "board", challenge, period or week_id()), 0, -1,
                     "WITHSCORES")
        it = iter(raw)
        return {m.decode(): int(float(s) // K32) for m, s in zip(it, it)}

    def fill_dummy_keys(self, org, n):
        """n dummy string keys podium:{org}:x:N, written by one Lua loop."""
        self.r("EVAL", "for i = 1, tonumber(ARGV[2]) do "
               "redis.call('SET', ARGV[1] .. i, 'x') end return 1", 0,
               org_key(org, "x", ""), n)


# ===================================================================== 1

class OperatorApiTest(OrgCase):

    def test_create_answers_a_token_usable_at_once(self):
        r = self.op("POST", "/v1/orgs", json_body={"id": "acme", "name": "Acme Corp"})
        j = self.ok(r, 201)
        self.assertEqual(r.header("Location"), "/v1/orgs/acme")
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertRegex(j["admin_token"], r"^pdm_acme_[A-Za-z0-9_-]{43}$")
        self.assertRegex(j["admin_token_id"], r"^[0-9a-f]{12}$")
        self.assertEqual((j["id"], j["name"], j["state"], j["suspended"]),
                         ("acme", "Acme Corp", "active", False))
        self.assertLessEqual(abs(parse_rfc3339_ms(j["created"]) - now_ms()), 60000)
        self.assertIsNotNone(j["updated"])
        self.assertEqual(j["quotas"], {"leaders": 10000, "tokens": 20000, "webhooks": 50,
                                       "events_per_second": 0})
        self.assertNotIn("erased_keys", j)
        # The token works at once, in its org: no rules yet, then its own.
        adm = j["admin_token"]
        self.assertProblem(self.req("GET", "/v1/rules", auth=adm), 404)
        self.assertEqual(self.ok(self.req("GET", "/v1/challenges", auth=adm)), {"challenges": []})
        before = self.org_snapshot("acme")
        p = self.assertProblem(self.req("POST", "/v1/events", auth=adm, json_body={
            "leader": "amy", "type": "reply"}), 503)
        self.assertEqual(p["type"], "/problems/no-rules")
        self.assertOrgUnchanged("acme", before, "an event before any rules")
        self.ok(self.req("PUT", "/v1/rules", auth=adm, json_body=DEFAULT_RULES))
        self.ok(self.req("PUT", "/v1/admin/leaders/amy", auth=adm, json_body={"name": "Amy"}), 201)
        self.assertEqual(self.ok(self.req("POST", "/v1/events", auth=adm, json_body={
            "leader": "amy", "type": "reply"}))["points"], 3)
        self.assertEqual(self.board(auth=adm)["entries"][0]["leader"], "amy")
        # ...and only there: org default knows no amy, acme's board is acme's.
        self.assertProblem(self.req("GET", "/v1/leaders/amy"), 404)
        self.assertEqual(self.board()["entries"], [])
        self.assertTrue(self.r("HLEN", org_key("acme", "tokens")) >= 1)
        self.assertEqual(self.r("HGET", registry_key("acme"), "state"), b"active")
        self.assertIsNotNone(self.r("ZSCORE", "podium:{#}:orgids", "acme"))
        # name defaults to the id
        k = self.create_org("k2")
        self.assertEqual(k["name"], "k2")
        self.assertNotEqual(k["admin_token"], adm)

    def test_list_pages_in_id_order_with_default(self):
        ids = ["a1", "b.2", "c_3", "d-4", "e5", "zz"]
        for oid in reversed(ids):
            self.create_org(oid)
        want = sorted(ids + ["default"])
        full = self.ok(self.op("GET", "/v1/orgs"))
        self.assertEqual([o["id"] for o in full["orgs"]], want)
        self.assertIsNone(full["next_cursor"])
        dflt = [o for o in full["orgs"] if o["id"] == "default"][0]
        self.assertEqual((dflt["state"], dflt["suspended"]), ("active", False))
        for o in full["orgs"]:
            self.assertIn("usage", o)
            self.assertIsNotNone(o["usage"], o)
            self.assertEqual(set(o["usage"]), {"leaders", "tokens", "webhooks", "events_this_week",
                                               "events_total", "rule_version", "last_activity"})
        self.assertEqual(dflt["usage"]["rule_version"], 1)   # the rules file
        # Every page size gives the same list; the cursor is the last id of the page.
        for limit in (1, 2, 3, 7, 100):
            got, cursor, pages = [], None, 0
            while True:
                q = "?limit=%d" % limit + ("&cursor=" + cursor if cursor else "")
                page = self.ok(self.op("GET", "/v1/orgs" + q))
                pages += 1
                self.assertLessEqual(len(page["orgs"]), limit)
                got += [o["id"] for o in page["orgs"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
                self.assertTrue(page["orgs"], page)
                self.assertEqual(cursor, page["orgs"][-1]["id"])
                self.assertLess(pages, 20)
            self.assertEqual(got, want, limit)
        # A cursor that is no id in the list still pages from there.
        page = self.ok(self.op("GET", "/v1/orgs?cursor=c&limit=2"))
        self.assertEqual([o["id"] for o in page["orgs"]], ["c_3", "d-4"])
        before = self.snapshot()
        for q in ("limit=0", "limit=101", "limit=x", "limit=-1", "limit=", "cursor=Bad%20Id"):
            with self.subTest(q=q):
                self.assertProblem(self.op("GET", "/v1/orgs?" + q), 400)
        self.assertUnchanged(before, "refused lists")

    def test_show_usage_follows_the_org(self):
        o = self.setup_org("acme", events=False)
        u = self.usage("acme")
        self.assertEqual(u, {"leaders": 3, "tokens": 5, "webhooks": 1, "events_this_week": 0,
                             "events_total": 0, "rule_version": 1, "last_activity": None})
        t0 = now_ms()
        for i in range(3):
            self.ok(self.req("POST", "/v1/events", auth=o.ingest, json_body={
                "leader": "sam", "type": "reply", "id": "u%d" % i}))
        self.ok(self.req("POST", "/v1/events", auth=o.admin, json_body={"events": [
            {"leader": "sam", "type": "reply", "id": "u0"},            # a duplicate: not counted
            {"leader": o.leaders[1], "type": "reply", "id": "u9"}]}))
        self.ok(self.req("PUT", "/v1/admin/leaders/new1", auth=o.admin,
                         json_body={"name": "N"}), 201)
        self.org_token(o.admin, "reader")
        self.ok(self.req("PUT", "/v1/rules", auth=o.admin, json_body=B_RULES))
        u = self.usage("acme")
        self.assertEqual((u["leaders"], u["tokens"], u["webhooks"], u["events_total"],
                          u["events_this_week"], u["rule_version"]), (4, 6, 1, 4, 4, 2))
        self.assertGreaterEqual(parse_rfc3339_ms(u["last_activity"]), t0 - 2000)
        self.assertLessEqual(parse_rfc3339_ms(u["last_activity"]), now_ms() + 2000)
        # default's usage is default's: none of acme's
        self.assertEqual(self.usage("default")["events_total"], 0)
        # The list shows the same usage.
        listed = {x["id"]: x for x in self.ok(self.op("GET", "/v1/orgs"))["orgs"]}
        self.assertEqual(listed["acme"]["usage"], u)
        # RPC get_org answers the same view.
        c = self.rpc(self.opt)
        self.assertEqual(c.call("get_org", {"id": "acme"}), self.get_org("acme"))

    def test_patch_name_quotas_suspended(self):
        self.setup_org("acme", events=False)
        v0 = self.get_org("acme")
        v = self.patch_org("acme", {"name": "Acme Renamed"})
        self.assertEqual(v["name"], "Acme Renamed")
        self.assertIsNotNone(v["usage"])
        self.assertGreaterEqual(parse_rfc3339_ms(v["updated"]), parse_rfc3339_ms(v0["updated"]))
        self.assertEqual(v["created"], v0["created"])
        v = self.patch_org("acme", {"quotas": {"leaders": 7, "events_per_second": 0,
                                               "webhooks": 3, "tokens": 10000000}})
        self.assertEqual(v["quotas"], {"leaders": 7, "tokens": 10000000, "webhooks": 3,
                                       "events_per_second": 0})
        self.assertEqual(self.r("HGET", registry_key("acme"), "q_leaders"), b"7")
        v = self.patch_org("acme", {"suspended": True})
        self.assertEqual((v["state"], v["suspended"]), ("suspended", True))
        self.assertEqual(self.get_org("acme")["state"], "suspended")
        v = self.patch_org("acme", {"suspended": False, "quotas": {"leaders": None}})
        self.assertEqual((v["state"], v["suspended"], v["quotas"]["leaders"]),
                         ("active", False, 10000))
        self.assertIsNone(self.r("HGET", registry_key("acme"), "q_leaders"))
        self.assertEqual(v["quotas"]["webhooks"], 3)            # untouched
        self.assertEqual(self.patch_org("acme", {})["name"], "Acme Renamed")  # empty: no change
        self.assertEqual(self.get_org("acme")["name"], "Acme Renamed")
        # default (which needs no create) can be changed too
        self.assertEqual(self.patch_org("default", {"name": "Main"})["name"], "Main")

    def test_longest_and_oddest_ids_work_everywhere(self):
        """Org ids of 64 characters and with '.', '_' and '-' make the
        longest tokens: they work in the header, in a stream's query, over
        RPC and on the embed page."""
        for oid in ("o" * 64, "a.b_c-d", "x_", "9"):
            with self.subTest(org=oid):
                adm = self.create_org(oid)["admin_token"]
                self.assertEqual(len(adm), 4 + len(oid) + 1 + 43)
                self.ok(self.req("PUT", "/v1/rules", auth=adm, json_body=DEFAULT_RULES))
                self.ok(self.req("PUT", "/v1/admin/leaders/sam", auth=adm,
                                 json_body={"name": "Sam " + oid}), 201)
                self.ok(self.req("POST", "/v1/events", auth=adm, json_body={
                    "leader": "sam", "type": "reply"}))
                _, reader = self.org_token(adm, "reader")
                self.assertEqual(self.scores(self.board(auth=reader)), {"sam": 3})
                s = self.stream("/v1/challenges/weekly/stream?token=" + urllib.parse.quote(reader))
                self.assertEqual(self.scores(self.standings(s)), {"sam": 3})
                c = self.rpc()
                who = c.call("auth", {"token": reader})
                self.assertEqual((who["role"], who["org"]), ("reader", oid))
                self.assertEqual(self.scores(c.call("leaderboard", {"challenge": "weekly"})),
                                 {"sam": 3})
                r = self.req("GET", "/embed/weekly?token=" + reader, auth=None)
                self.assertEqual(r.status, 200, r)
                r = self.req("GET", "/embed/weekly?org=" + oid, auth=None)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(self.usage(oid)["events_total"], 1)
                week = time.strftime("w:%G-W%V", time.gmtime())
                self.assertEqual(self.r("HGET", org_key(oid, "usage"), week), b"1")
        self.assertProblem(self.op("POST", "/v1/orgs", json_body={"id": "o" * 65}), 422, ["/id"])

    def test_a_create_that_died_half_way(self):
        """An entry left "creating" (a create that died before its token
        was made): the org is busy, its id taken until the entry is 30 s
        old, then the next create takes it over."""
        self.r("HSET", registry_key("half"), "name", "half", "state", "creating",
               "created", now_ms(), "updated", now_ms())
        self.r("ZADD", "podium:{#}:orgids", 0, "half")
        before = self.snapshot()
        self.assertEqual(self.get_org("half")["state"], "creating")
        p = self.assertProblem(self.op("PATCH", "/v1/orgs/half", json_body={"name": "x"}), 409)
        self.assertEqual(p["type"], "/problems/org-busy")
        p = self.assertProblem(self.op("DELETE", "/v1/orgs/half"), 409)
        self.assertEqual(p["type"], "/problems/org-busy")
        p = self.assertProblem(self.op("POST", "/v1/orgs", json_body={"id": "half"}), 409)
        self.assertEqual(p["type"], "/problems/org-exists")
        self.assertUnchanged(before, "requests on an org being created")
        self.r("HSET", registry_key("half"), "updated", now_ms() - 31000)
        j = self.create_org("half", name="Half")
        self.assertEqual((j["state"], j["name"]), ("active", "Half"))
        self.ok(self.req("PUT", "/v1/rules", auth=j["admin_token"], json_body=DEFAULT_RULES))

    def test_concurrent_creates_of_one_id(self):
        """Eight creates of one id at once: one 201 and its token, seven 409."""
        results = []
        lock = threading.Lock()

        def create():
            r = self.d.request("POST", "/v1/orgs", auth=self.opt, json_body={"id": "race"},
                               timeout=30)
            with lock:
                results.append(r)
        threads = [threading.Thread(target=create) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [201] + [409] * 7, results)
        winner = [r for r in results if r.status == 201][0].json()
        self.assertEqual(self.r("HLEN", org_key("race", "tokens")), 1)
        self.assertEqual(self.usage("race")["tokens"], 1)
        self.ok(self.req("PUT", "/v1/rules", auth=winner["admin_token"], json_body=DEFAULT_RULES))

    def test_refusals_change_nothing(self):
        self.setup_org("acme", events=False)
        before = self.snapshot()
        bad_create = [
            ({}, ["/id"]),
            ({"id": ""}, ["/id"]),
            ({"id": "Acme"}, ["/id"]),
            ({"id": "-acme"}, ["/id"]),
            ({"id": "a" * 65}, ["/id"]),
            ({"id": 5}, ["/id"]),
            ({"id": "ok1", "name": ""}, ["/name"]),
            ({"id": "ok1", "name": "n" * 201}, ["/name"]),
            ({"id": "ok1", "name": 7}, ["/name"]),
            ({"id": "ok1", "colour": "red"}, [""]),
            ({"id": "Bad", "name": "", "x": 1}, ["", "/id", "/name"]),
        ]
        for body, pointers in bad_create:
            with self.subTest(create=body):
                p = self.assertProblem(self.op("POST", "/v1/orgs", json_body=body), 422, pointers)
                self.assertEqual(p["type"], "/problems/invalid-input")
        for body in ("[]", "not json", '"acme"'):
            with self.subTest(create=body):
                r = self.op("POST", "/v1/orgs", body=body,
                            headers={"Content-Type": "application/json"})
                self.assertIn(r.status, (400, 415, 422), r)
                self.assertProblem(r, r.status)
        for oid in ("acme", "default"):
            with self.subTest(exists=oid):
                p = self.assertProblem(self.op("POST", "/v1/orgs", json_body={"id": oid}), 409)
                self.assertEqual(p["type"], "/problems/org-exists")
        p = self.assertProblem(self.op("DELETE", "/v1/orgs/default"), 409)
        self.assertEqual(p["type"], "/problems/default-org")
        for path in ("/v1/orgs/Acme", "/v1/orgs/-x", "/v1/orgs/a%20b", "/v1/orgs/" + "a" * 65):
            for method in ("GET", "PATCH", "DELETE"):
                with self.subTest(method=method, path=path):
                    p = self.assertProblem(self.op(method, path, json_body={"name": "x"}
                                                   if method == "PATCH" else None), 400)
                    self.assertEqual(p["type"], "/problems/invalid-id")
        for method in ("GET", "PATCH", "DELETE"):
            with self.subTest(method=method, missing=True):
                p = self.assertProblem(self.op(method, "/v1/orgs/nosuch", json_body={"name": "x"}
                                               if method == "PATCH" else None), 404)
                self.assertEqual(p["type"], "/problems/not-found")
        bad_patch = [
            ({"name": ""}, ["/name"]),
            ({"name": 3}, ["/name"]),
            ({"suspended": "yes"}, ["/suspended"]),
            ({"suspended": 1}, ["/suspended"]),
            ({"quotas": 5}, ["/quotas"]),
            ({"quotas": {"leaders": -1}}, ["/quotas/leaders"]),
            ({"quotas": {"tokens": 10000001}}, ["/quotas/tokens"]),
            ({"quotas": {"webhooks": 1.5}}, ["/quotas/webhooks"]),
            ({"quotas": {"events_per_second": "9"}}, ["/quotas/events_per_second"]),
            ({"quotas": {"disk": 1}}, ["/quotas"]),
            ({"owner": "x"}, [""]),
            ({"suspended": True, "quotas": {"leaders": -5}}, ["/quotas/leaders"]),
            ({"name": "Fine", "suspended": None}, ["/suspended"]),
        ]
        for body, pointers in bad_patch:
            with self.subTest(patch=body):
                p = self.assertProblem(self.op("PATCH", "/v1/orgs/acme", json_body=body), 422,
                                       pointers)
                self.assertEqual(p["type"], "/problems/invalid-input")
        self.assertUnchanged(before, "refused operator requests")
        # the same over RPC
        c = self.rpc(self.opt)
        for method, params, code in [("create_org", {"id": "acme"}, "org-exists"),
                                     ("create_org", {"id": "default"}, "org-exists"),
                                     ("create_org", {"id": "Bad"}, "invalid-input"),
                                     ("delete_org", {"id": "default"}, "default-org"),
                                     ("get_org", {"id": "nosuch"}, "not-found"),
                                     ("update_org", {"id": "acme", "suspended": 3},
                                      "invalid-input"),
                                     ("list_orgs", {"limit": 0}, "invalid-params"),
                                     ("list_orgs", {"cursor": "Bad Id"}, "invalid-query"),
                                     ("get_org", {"id": "Bad"}, "invalid-id"),
                                     ("get_org", {}, "invalid-params"),
                                     ("update_org", {"id": "Bad", "name": "x"}, "invalid-id"),
                                     ("update_org", {"name": "x"}, "invalid-params"),
                                     ("delete_org", {"id": "nosuch"}, "not-found"),
                                     ("delete_org", {"id": "acme", "now": True},
                                      "invalid-params")]:
            with self.subTest(rpc=method, params=params):
                err, _ = c.call_raw(method, params)
                self.assertIsNotNone(err)
                self.assertEqual(err["code"], code, err)
        self.assertUnchanged(before, "refused operator RPC calls")


# ===================================================================== 2

# Every route of the route table but /v1/orgs and the token-less pages, as
# (method, path, body): the operator token gets 403 forbidden on each.
ORG_ROUTES = [
    ("POST", "/v1/events", {"leader": "amy", "type": "post"}),
    ("GET", "/v1/challenges", None),
    ("GET", "/v1/challenges/weekly/leaderboard", None),
    ("GET", "/v1/challenges/weekly/leaderboard/around/amy", None),
    ("GET", "/v1/challenges/weekly/teams", None),
    ("GET", "/v1/challenges/weekly/periods", None),
    ("GET", "/v1/challenges/weekly/stream", None),
    ("GET", "/v1/leaders/amy", None),
    ("PUT", "/v1/admin/leaders/amy", {"name": "Op"}),
    ("GET", "/v1/admin/leaders/amy", None),
    ("DELETE", "/v1/admin/leaders/amy", None),
    ("PUT", "/v1/admin/teams/t", {"name": "T"}),
    ("GET", "/v1/admin/teams/t", None),
    ("POST", "/v1/admin/tokens", {"role": "admin"}),
    ("DELETE", "/v1/admin/tokens/000000000000", None),
    ("POST", "/v1/admin/challenges/weekly/rescore", None),
    ("POST", "/v1/admin/adjustments", {"leader": "amy", "challenge": "weekly", "points": 5,
                                       "reason": "x"}),
    ("GET", "/v1/admin/adjustments", None),
    ("GET", "/v1/admin/events", None),
    ("POST", "/v1/admin/webhooks", {"url": "http://127.0.0.1:9/x", "format": "json",
                                    "events": ["digest"]}),
    ("GET", "/v1/admin/webhooks", None),
    ("GET", "/v1/admin/webhooks/000000000000", None),
    ("DELETE", "/v1/admin/webhooks/000000000000", None),
    ("POST", "/v1/admin/webhooks/000000000000/enable", None),
    ("POST", "/v1/admin/webhooks/000000000000/test", None),
    ("GET", "/v1/admin/webhooks/000000000000/deliveries", None),
    ("GET", "/v1/rules", None),
    ("PUT", "/v1/rules", DEFAULT_RULES),
    ("PUT", "/v1/rules?dry_run=1", DEFAULT_RULES),
]

ORGS_ROUTES = [
    ("POST", "/v1/orgs", {"id": "newone"}),
    ("GET", "/v1/orgs", None),
    ("GET", "/v1/orgs/acme", None),
    ("GET", "/v1/orgs/default", None),
    ("PATCH", "/v1/orgs/acme", {"suspended": True}),
    ("PATCH", "/v1/orgs/default", {"name": "Mine"}),
    ("DELETE", "/v1/orgs/acme", None),
]


class LeastPrivilegeTest(OrgCase):
    leaders = ("amy",)

    def test_operator_token_is_refused_on_every_org_route(self):
        self.event("amy", "reply")
        self.setup_org("acme")
        opt = self.opt
        self.assertRegex(opt, r"^pdm_[A-Za-z0-9_-]{43}$")
        self.assertNotEqual(opt, self.d.admin_token)
        mode = os.stat(os.path.join(self.d.data_dir, "operator.token")).st_mode
        self.assertEqual(mode & 0o777, 0o600, oct(mode))
        before = self.snapshot()
        for method, path, body in ORG_ROUTES:
            with self.subTest(method=method, path=path):
                p = self.assertProblem(self.req(method, path, auth=opt, json_body=body), 403)
                self.assertEqual(p["type"], "/problems/forbidden")
                self.assertIn(OPERATOR_DETAIL, p["detail"])
        # a stream's token in the query, as EventSource sends it
        s = self.stream("/v1/challenges/weekly/stream?token=" + opt)
        self.assertEqual(s.status, 403)
        self.assertEqual(s.json()["type"], "/problems/forbidden")
        # the embed page takes no token: the operator's names no org, so default's
        self.assertEqual(self.req("GET", "/embed/weekly?token=" + opt, auth=None).status, 200)
        self.assertUnchanged(before, "the operator on org routes")

    def test_org_tokens_are_refused_on_orgs_routes(self):
        a = self.setup_org("acme")
        _, dreader = self.make_token("reader")
        _, dingest = self.make_token("ingest")
        tokens = dict(a.tokens, default_admin=self.d.admin_token, default_reader=dreader,
                      default_ingest=dingest)
        before = self.snapshot()
        for role, tok in tokens.items():
            for method, path, body in ORGS_ROUTES:
                with self.subTest(role=role, method=method, path=path):
                    p = self.assertProblem(self.req(method, path, auth=tok, json_body=body), 403)
                    self.assertEqual(p["type"], "/problems/forbidden")
        self.assertUnchanged(before, "org tokens on /v1/orgs")
        self.assertEqual(self.get_org("acme")["state"], "active")

    def test_no_org_token_is_made_an_operator_or_another_orgs(self):
        """An org's admin mints tokens of its own org and roles only."""
        a = self.setup_org("acme", events=False)
        self.setup_org("other", events=False)
        before = self.snapshot()
        for adm in (a.admin, self.d.admin_token):
            for body in ({"role": "operator"}, {"role": "Operator"}, {"role": "root"}):
                with self.subTest(body=body):
                    p = self.assertProblem(self.req("POST", "/v1/admin/tokens", auth=adm,
                                                    json_body=body), 422)
                    self.assertEqual([e["pointer"] for e in p["errors"]], ["/role"])
        self.assertUnchanged(before, "tokens refused")
        for body in ({"role": "admin", "org": "other"}, {"role": "reader", "org": "default"}):
            with self.subTest(body=body):
                r = self.req("POST", "/v1/admin/tokens", auth=a.admin, json_body=body)
                self.assertIn(r.status, (201, 422), r)
                if r.status == 201:
                    tok = r.json()["token"]
                    self.assertRegex(tok, r"^pdm_acme_")
                    self.assertProblem(self.req("GET", "/v1/orgs", auth=tok), 403)
        self.assertEqual(self.usage("other")["tokens"], 5)
        self.assertEqual(self.r("HLEN", "podium:{default}:tokens") or 0, 0)

    def test_rpc_operator_and_org_methods_do_not_mix(self):
        self.event("amy", "reply")
        a = self.setup_org("acme")
        c = self.rpc()
        who = c.call("auth", {"token": self.opt})
        self.assertEqual(who, {"protocol": 1, "role": "operator", "org": None, "leader": None})
        # the operator methods work, with the HTTP API's results
        created = c.call("create_org", {"id": "viarpc", "name": "Via RPC"})
        self.assertRegex(created["admin_token"], r"^pdm_viarpc_[A-Za-z0-9_-]{43}$")
        self.assertEqual((created["name"], created["state"]), ("Via RPC", "active"))
        self.assertEqual(self.ok(self.req("GET", "/v1/admin/webhooks",
                                          auth=created["admin_token"])), {"webhooks": []})
        self.assertEqual(c.call("get_org", {"id": "viarpc"}), self.get_org("viarpc"))
        lst = c.call("list_orgs", {"limit": 2})
        self.assertEqual([o["id"] for o in lst["orgs"]], ["acme", "default"])
        self.assertEqual(lst["next_cursor"], "default")
        self.assertEqual(lst, self.ok(self.op("GET", "/v1/orgs?limit=2")))
        lst2 = c.call("list_orgs", {"cursor": "default"})
        self.assertEqual([o["id"] for o in lst2["orgs"]], ["viarpc"])
        self.assertIsNone(lst2["next_cursor"])
        upd = c.call("update_org", {"id": "viarpc", "name": "Renamed", "quotas": {"leaders": 3}})
        self.assertEqual((upd["name"], upd["quotas"]["leaders"]), ("Renamed", 3))
        dele = c.call("delete_org", {"id": "viarpc"})
        self.assertEqual((dele["state"], dele["erased_keys"], dele["usage"]), ("deleting", 0, None))
        self.assertEqual(self.get_org("viarpc")["state"], "deleting")
        err, _ = c.call_raw("delete_org", {"id": "default"})
        self.assertEqual((err["code"], err["status"]), ("default-org", 409))
        # the operator calling any org method: 403, nothing stored
        before = self.snapshot()
        for method, params in [("post_events", {"leader": "amy", "type": "reply"}),
                               ("leaderboard", {"challenge": "weekly"}),
                               ("around", {"challenge": "weekly", "leader": "amy"}),
                               ("leader", {"leader": "amy"}),
                               ("challenges", {}),
                               ("subscribe", {"challenge": "weekly"}),
                               ("unsubscribe", {"subscription": 1})]:
            with self.subTest(operator=method):
                err, res = c.call_raw(method, params)
                self.assertIsNone(res)
                self.assertEqual((err["code"], err["status"]), ("forbidden", 403), err)
        self.assertIsNone(c.note(timeout=0.3))
        self.assertUnchanged(before, "the operator calling org methods")
        # org tokens calling operator methods: 403
        for role, tok in list(a.tokens.items()) + [("default-admin", self.d.admin_token)]:
            oc = self.rpc(tok)
            for method, params in [("create_org", {"id": "sneaky"}),
                                   ("list_orgs", {}),
                                   ("get_org", {"id": "acme"}),
                                   ("update_org", {"id": "acme", "suspended": True}),
                                   ("delete_org", {"id": "acme"})]:
                with self.subTest(role=role, method=method):
                    err, res = oc.call_raw(method, params)
                    self.assertIsNone(res)
                    self.assertEqual((err["code"], err["status"]), ("forbidden", 403), err)
        self.assertUnchanged(before, "org tokens calling operator methods")
        self.assertEqual(self.get_org("acme")["state"], "active")


# ===================================================================== 3

class CrossOrgTest(OrgCase):
    """Org A's tokens against org B's ids: refused, or acting in A only."""

    def setUp(self):
        super().setUp()
        self.rx = Receiver()
        self.addCleanup(self.rx.close)
        self.A = self.setup_org("aa", prefix="A", receiver=self.rx)
        self.B = self.setup_org("bb", rules=B_RULES, prefix="B", receiver=self.rx)
        # B also has an adjustment and more events, one for a challenge only B has.
        self.ok(self.req("POST", "/v1/admin/adjustments", auth=self.B.admin, json_body={
            "leader": "b-bea", "challenge": "weekly", "points": 4, "reason": "B-SECRET-HOOK adj"}),
            201)
        self.ok(self.req("POST", "/v1/events", auth=self.B.admin, json_body={
            "leader": "sam", "type": "reply", "id": "b-sam-2", "note": "b-secret-note 2"}))
        self.ok(self.req("POST", "/v1/events", auth=self.B.admin, json_body={
            "leader": "b-bea", "type": "post", "id": "b-bonly-1"}))

    def http_tries(self):
        """(access, method, path, body, admin status(es), leader status(es) or None, check).
        access: read, stream, events, admin."""
        B, A = self.B, self.A
        bwh = B.webhook
        bev = B.event_ids[0]
        A_lids = set(A.leaders)

        def only_a_leaders(j):
            entries = j.get("entries", [])
            self.assertTrue(entries, j)
            self.assertLessEqual({e["leader"] for e in entries}, A_lids, j)
            sam = [e for e in entries if e["leader"] == "sam"]
            self.assertTrue(sam and sam[0]["name"] == "Sam of A", j)

        def sam_of_a(j):
            self.assertIn("Sam of A", as_text(j))

        def a_challenges(j):
            self.assertEqual({c["id"] for c in j["challenges"]}, {"weekly", "meetings"})

        def a_rules(j):
            self.assertNotIn("bonly", as_text(j))

        return [
            # events
            ("events", "POST", "/v1/events", {"leader": "b-bea", "type": "post"}, {422}, {403},
             None),
            ("events", "POST", "/v1/events", {"events": [{"leader": "a-bea", "type": "reply"},
                                                         {"leader": "b-bea", "type": "reply"}]},
             {422}, {403}, None),
            ("events", "POST", "/v1/events", {"leader": "b-bea", "type": "post", "id": bev},
             {422}, {403}, None),
            ("events", "POST", "/v1/events?org=bb", {"leader": "b-bea", "type": "post"},
             {400, 422}, {400, 403}, None),
            # reads
            ("read", "GET", "/v1/challenges", None, {200}, None, a_challenges),
            ("read", "GET", "/v1/challenges?org=bb", None, {200, 400}, None, None),
            ("read", "GET", "/v1/challenges/bonly/leaderboard", None, {404}, None, None),
            ("read", "GET", "/v1/challenges/weekly/leaderboard", None, {200}, None, only_a_leaders),
            ("read", "GET", "/v1/challenges/weekly/leaderboard?period=all", None, {200}, None,
             only_a_leaders),
            ("read", "GET", "/v1/challenges/weekly/leaderboard?org=bb", None, {200, 400}, None,
             None),
            ("read", "GET", "/v1/challenges/weekly/leaderboard/around/b-bea", None, {404}, None,
             None),
            ("read", "GET", "/v1/challenges/bonly/leaderboard/around/b-bea", None, {404}, None,
             None),
            ("read", "GET", "/v1/challenges/weekly/leaderboard/around/sam", None, {200}, None,
             only_a_leaders),
            ("read", "GET", "/v1/challenges/weekly/teams", None, {200}, None, None),
            ("read", "GET", "/v1/challenges/bonly/teams", None, {404}, None, None),
            ("read", "GET", "/v1/challenges/weekly/periods", None, {200}, None, None),
            ("read", "GET", "/v1/challenges/bonly/periods", None, {404}, None, None),
            ("stream", "GET", "/v1/challenges/bonly/stream", None, {404}, {403}, None),
            ("read", "GET", "/v1/leaders/b-bea", None, {404}, None, None),
            ("read", "GET", "/v1/leaders/sam", None, {200}, None, sam_of_a),
            ("read", "GET", "/v1/rules", None, {200}, None, a_rules),
            # admin
            ("admin", "GET", "/v1/admin/leaders/b-bea", None, {404}, None, None),
            ("admin", "GET", "/v1/admin/leaders/sam", None, {200}, None, sam_of_a),
            ("admin", "GET", "/v1/admin/teams/b-team", None, {404}, None, None),
            ("admin", "DELETE", "/v1/admin/leaders/b-bea", None, {404}, None, None),
            ("admin", "PUT", "/v1/admin/leaders/b-bo", {"name": "Copy", "team": "b-team"},
             {422}, None, None),
            ("admin", "PUT", "/v1/admin/teams/b-team", {"name": "A's own b-team"}, {200, 201},
             None, None),
            ("admin", "POST", "/v1/admin/tokens", {"role": "leader", "leader": "b-bea"}, {422},
             None, None),
            ("admin", "DELETE", "/v1/admin/tokens/" + B.reader_id, None, {404}, None, None),
            ("admin", "DELETE", "/v1/admin/tokens/" + B.admin_id, None, {404}, None, None),
            ("admin", "DELETE", "/v1/admin/tokens/" + B.ingest, None, {404}, None, None),
            ("admin", "POST", "/v1/admin/challenges/bonly/rescore", None, {404}, None, None),
            ("admin", "POST", "/v1/admin/challenges/weekly/rescore", None, {200}, None, None),
            ("admin", "POST", "/v1/admin/adjustments",
             {"leader": "b-bea", "challenge": "weekly", "points": 5, "reason": "x"}, {422, 404},
             None, None),
            ("admin", "POST", "/v1/admin/adjustments",
             {"leader": "a-bea", "challenge": "bonly", "points": 5, "reason": "x"}, {422, 404},
             None, None),
            ("admin", "GET", "/v1/admin/adjustments", None, {200}, None, None),
            ("admin", "GET", "/v1/admin/adjustments?leader=b-bea", None, {200, 404}, None, None),
            ("admin", "GET", "/v1/admin/events", None, {200}, None, None),
            ("admin", "GET", "/v1/admin/events?leader=b-bea", None, {200, 404}, None, None),
            ("admin", "GET", "/v1/admin/events?challenge=bonly", None, {200, 400, 404}, None,
             None),
            ("admin", "GET", "/v1/admin/webhooks", None, {200}, None, None),
            ("admin", "GET", "/v1/admin/webhooks/" + bwh, None, {404}, None, None),
            ("admin", "GET", "/v1/admin/webhooks/%s/deliveries" % bwh, None, {404}, None, None),
            ("admin", "POST", "/v1/admin/webhooks/%s/test" % bwh, None, {404}, None, None),
            ("admin", "POST", "/v1/admin/webhooks/%s/enable" % bwh, None, {404}, None, None),
            ("admin", "DELETE", "/v1/admin/webhooks/" + bwh, None, {404}, None, None),
            ("admin", "POST", "/v1/admin/webhooks",
             {"url": "http://127.0.0.1:9/a-own", "format": "json", "events": ["digest"]},
             {201}, None, None),
            ("admin", "PUT", "/v1/rules?dry_run=1", B_RULES, {200}, None, None),
            ("admin", "PUT", "/v1/rules", DEFAULT_RULES, {200}, None, None),
        ]

    def test_http_matrix_a_tokens_against_b_ids(self):
        A, B = self.A, self.B
        before_b = self.org_snapshot("bb")
        b_board = self.zboard_of("bb")
        tries = self.http_tries()
        n = 0
        for role in ("admin", "ingest", "reader", "leader"):
            tok = A.tokens[role]
            for access, method, path, body, admin_st, leader_st, check in tries:
                if access == "admin":
                    want = admin_st if role == "admin" else {403}
                elif access == "events":
                    want = {403} if role == "reader" else (
                        leader_st if role == "leader" and leader_st else admin_st)
                elif access == "stream":
                    want = leader_st if role == "leader" else admin_st
                else:
                    want = admin_st
                with self.subTest(role=role, method=method, path=path):
                    r = self.req(method, path, auth=tok, json_body=body)
                    n += 1
                    self.assertIn(r.status, want, r)
                    sent = path + as_text(body)
                    self.assertNoMarkers(r.body, sent, "%s %s %s" % (role, method, path))
                    if r.status == 200 and check:
                        self.assertTrue(r.header("Content-Type").startswith("application/json"),
                                        r.header("Content-Type"))
                        check(r.json())
        self.assertGreater(n, 150)
        # Form-encoded events for B's leader.
        for role in ("admin", "ingest", "leader"):
            r = self.req("POST", "/v1/events", auth=A.tokens[role],
                         form={"leader": "b-bea", "type": "post"})
            self.assertIn(r.status, (403, 422), r)
        # Idempotency: B's event ids are no duplicates in A.
        for eid in B.event_ids:
            res = self.ok(self.req("POST", "/v1/events", auth=A.ingest, json_body={
                "leader": "a-bo", "type": "reply", "id": eid}))
            self.assertFalse(res["duplicate"], res)
            self.assertEqual(res["points"], 3)
        res = self.ok(self.req("POST", "/v1/events", auth=A.ingest, json_body={
            "leader": "a-bo", "type": "reply"}, headers={"Idempotency-Key": "b-sam-2"}))
        self.assertFalse(res["duplicate"], res)
        # A's admin erases A's sam: B's sam is untouched.
        r = self.ok(self.req("DELETE", "/v1/admin/leaders/sam", auth=A.admin))
        self.assertEqual(r["leader"], "sam")
        self.assertProblem(self.req("GET", "/v1/leaders/sam", auth=A.reader), 404)
        self.assertIn("Sam of B", self.req("GET", "/v1/leaders/sam", auth=B.reader).text)
        # The embed page: the org of A's token, where "bonly" is no challenge.
        self.assertEqual(self.req("GET", "/embed/bonly?token=" + A.reader, auth=None).status, 404)
        self.assertEqual(self.req("GET", "/embed/weekly?token=" + A.reader, auth=None).status, 200)
        # B is byte-identical, its board as it was, and its receiver got nothing.
        self.assertOrgUnchanged("bb", before_b, "A's tries")
        self.assertEqual(self.zboard_of("bb"), b_board)
        self.assertEqual(self.rx.got(), [])
        # What A's admin did, it did in A.
        self.assertIsNotNone(self.r("HGET", org_key("aa", "teams"), "b-team"))
        self.assertIsNone(self.r("HGET", org_key("aa", "leaders"), "b-bo"))
        # B still works with its own tokens.
        self.assertEqual(self.scores(self.board(auth=B.reader))["b-bea"], b_board["b-bea"])
        res = self.ok(self.req("POST", "/v1/events", auth=B.ingest, json_body={
            "leader": "b-bea", "type": "reply", "id": B.event_ids[0]}))
        self.assertTrue(res["duplicate"], res)

    def test_rpc_matrix_a_tokens_against_b_ids(self):
        A, B = self.A, self.B
        before_b = self.org_snapshot("bb")
        tries = [
            # (method, params, {role: allowed codes} or codes for all, check of a result)
            ("post_events", {"leader": "b-bea", "type": "post"},
             {"admin": {"invalid-event", "invalid-params"}, "ingest": {"invalid-event",
                                                                       "invalid-params"},
              "reader": {"forbidden"}, "leader": {"forbidden"}}),
            ("post_events", {"events": [{"leader": "a-bea", "type": "reply", "id": "m1"},
                                        {"leader": "b-bea", "type": "reply"}]},
             {"admin": {"invalid-event", "invalid-params"}, "ingest": {"invalid-event",
                                                                       "invalid-params"},
              "reader": {"forbidden"}, "leader": {"forbidden"}}),
            ("leaderboard", {"challenge": "bonly"}, {"not-found"}),
            ("around", {"challenge": "weekly", "leader": "b-bea"}, {"not-found"}),
            ("around", {"challenge": "bonly", "leader": "b-bea"}, {"not-found"}),
            ("leader", {"leader": "b-bea"}, {"not-found"}),
            ("subscribe", {"challenge": "bonly"},
             {"admin": {"not-found"}, "ingest": {"not-found"}, "reader": {"not-found"},
              "leader": {"forbidden"}}),
            ("unsubscribe", {"subscription": 1}, {"not-found"}),
            ("create_org", {"id": "bb"}, {"forbidden"}),
            ("get_org", {"id": "bb"}, {"forbidden"}),
            ("list_orgs", {}, {"forbidden"}),
            ("update_org", {"id": "bb", "suspended": True}, {"forbidden"}),
            ("delete_org", {"id": "bb"}, {"forbidden"}),
        ]
        for role, tok in A.tokens.items():
            c = self.rpc(tok)
            for method, params, want in tries:
                codes = want[role] if isinstance(want, dict) else want
                with self.subTest(role=role, method=method, params=params):
                    err, res = c.call_raw(method, params)
                    self.assertIsNone(res)
                    self.assertIsNotNone(err)
                    self.assertIn(err["code"], codes, err)
                    self.assertNoMarkers(err, as_text(params), "rpc %s %s" % (role, method))
            # what succeeds acts in A
            with self.subTest(role=role, what="reads"):
                ch = c.call("challenges")
                self.assertEqual({x["id"] for x in ch["challenges"]}, {"weekly", "meetings"})
                board = c.call("leaderboard", {"challenge": "weekly"})
                self.assertLessEqual({e["leader"] for e in board["entries"]}, set(A.leaders))
                sam = c.call("leader", {"leader": "sam"})
                self.assertIn("Sam of A", as_text(sam))
                for x in (ch, board, sam):
                    self.assertNoMarkers(x, "", "rpc " + role)
            if role in ("admin", "ingest"):   # B's event ids are no duplicates in A
                res = c.call("post_events", {"leader": "a-bo", "type": "reply",
                                             "id": B.event_ids[1 if role == "admin" else 2]})
                self.assertFalse(res["duplicate"], res)
        self.assertOrgUnchanged("bb", before_b, "A's RPC tries")

    def test_a_stream_and_subscription_see_only_a(self):
        A, B = self.A, self.B
        s = self.stream("/v1/challenges/weekly/stream?limit=100&token=" + A.reader)
        first = self.standings(s)
        self.assertLessEqual(set(self.scores(first)), set(A.leaders))
        self.assertNoMarkers(first, "", "A's first standings")
        # A's token in the header wins over B's in the query
        s2 = self.stream("/v1/challenges/weekly/stream?limit=100&token=" + B.reader,
                         token=A.reader)
        self.assertEqual(set(self.scores(self.standings(s2))), set(self.scores(first)))
        c = self.rpc(A.reader)
        sub = c.call("subscribe", {"challenge": "weekly", "limit": 100})["subscription"]
        m, n = c.note(timeout=10)
        self.assertEqual((m, n["subscription"]), ("standings", sub))
        self.assertEqual(self.scores(n["data"]), self.scores(first))
        # B posts a lot, among others for its "sam", whose id A shares.
        for i in range(5):
            self.ok(self.req("POST", "/v1/events", auth=B.ingest, json_body={"events": [
                {"leader": "sam", "type": "stakeholder_interaction", "id": "bs%d" % i},
                {"leader": "b-bea", "type": "stakeholder_interaction", "id": "bb%d" % i},
                {"leader": "b-bo", "type": "post", "id": "bp%d" % i, "note": "b-secret-note"}]}))
        self.ok(self.req("POST", "/v1/admin/adjustments", auth=B.admin, json_body={
            "leader": "sam", "challenge": "weekly", "points": 100, "reason": "b"}), 201)
        # A period of B's weekly closes (as the closer does it): B's stream
        # gets period_closed, A's nothing.
        b_stream = self.stream("/v1/challenges/weekly/stream?token=" + B.reader)
        self.standings(b_stream)
        self.close_period("bb", "2026-W01", {"period": "2026-W01", "winners": ["b-bea"],
                                             "note": "Bea of B"})
        ev = b_stream.next(timeout=10)
        self.assertEqual((ev["event"], ev["id"]), ("period_closed", "2026-W01.closed"))
        # Then A posts once: whatever A's stream and subscription send up to
        # A's change is A's, and shows A's scores only.
        want = dict(self.scores(first))
        want["a-bo"] = want.get("a-bo", 0) + 15
        self.ok(self.req("POST", "/v1/events", auth=A.ingest, json_body={
            "leader": "a-bo", "type": "stakeholder_interaction"}))
        for stream in (s, s2):
            while True:
                board = self.standings(stream)
                self.assertNoMarkers(board, "", "A's stream")
                self.assertLessEqual(set(self.scores(board)), set(A.leaders))
                sam = [e for e in board["entries"] if e["leader"] == "sam"]
                self.assertEqual(sam[0]["score"], first_score(first, "sam"), board)
                if self.scores(board) == want:
                    break
        while True:
            note = c.note(timeout=10)
            self.assertIsNotNone(note, "no notification of A's change")
            m, n = note
            self.assertEqual(m, "standings", note)
            self.assertNoMarkers(n, "", "A's subscription")
            self.assertLessEqual(set(self.scores(n["data"])), set(A.leaders))
            if self.scores(n["data"]) == want:
                break
        # Resuming A's stream from before B's close: A's periods only (none).
        s3 = Stream(self.d.port, "/v1/challenges/weekly/stream?token=" + A.reader,
                    headers={"Last-Event-ID": "2025-W01.closed"})
        self.streams.append(s3)
        s3.start()
        ev = s3.next(timeout=10)
        self.assertEqual(ev["event"], "standings", ev)
        self.assertNoMarkers(ev, "", "A's resumed stream")
        sub3 = c.call("subscribe", {"challenge": "weekly", "last_event_id": "2025-W01.closed"})
        m, n = c.note(timeout=10)
        self.assertEqual((m, n["subscription"]), ("standings", sub3["subscription"]), n)

    def close_period(self, org, period, archive):
        """Does what the closer does when it closes a period of weekly."""
        self.r("HSET", org_key(org, "periods", "weekly"), period, json.dumps(archive))
        self.r("ZADD", org_key(org, "closedp", "weekly"), int(time.time()), period)
        self.r("PUBLISH", org_key(org, "push"), "closed weekly %s" % period)

    def test_read_caches_and_etags_are_per_org(self):
        """Both orgs have a challenge "weekly" and a leader "sam": what B
        read a moment ago is never what A gets."""
        A, B = self.A, self.B
        for _ in range(3):
            rb = self.req("GET", "/v1/challenges/weekly/leaderboard", auth=B.reader)
            ra = self.req("GET", "/v1/challenges/weekly/leaderboard", auth=A.reader)
            self.assertEqual((ra.status, rb.status), (200, 200))
            self.assertNoMarkers(ra.body, "", "A's board after B's")
            self.assertIn(b"Sam of B", rb.body)
            etag_b = rb.header("ETag")
            self.assertIsNotNone(etag_b)
            self.assertNotEqual(ra.header("ETag"), etag_b, "two different boards, one ETag")
            r = self.req("GET", "/v1/challenges/weekly/leaderboard", auth=A.reader,
                         headers={"If-None-Match": etag_b})
            self.assertEqual(r.status, 200, r)
            self.assertNoMarkers(r.body, "", "A's board with B's ETag")
            for path in ("/v1/leaders/sam", "/v1/challenges/weekly/leaderboard/around/sam",
                         "/v1/challenges/weekly/teams", "/v1/challenges", "/v1/rules",
                         "/v1/challenges/weekly/leaderboard?period=all&limit=3"):
                with self.subTest(path=path):
                    self.ok(self.req("GET", path, auth=B.reader))
                    r = self.req("GET", path, auth=A.reader)
                    self.assertEqual(r.status, 200, r)
                    self.assertNoMarkers(r.body, "", "A's %s after B's" % path)
            cb, ca = self.rpc(B.reader), self.rpc(A.reader)
            for method, params in [("leaderboard", {"challenge": "weekly"}),
                                   ("leader", {"leader": "sam"}),
                                   ("around", {"challenge": "weekly", "leader": "sam"}),
                                   ("challenges", {})]:
                cb.call(method, params)
                self.assertNoMarkers(ca.call(method, params), "", "A's RPC %s" % method)
            # B changes; A reads again at once
            self.ok(self.req("POST", "/v1/events", auth=B.ingest, json_body={
                "leader": "sam", "type": "stakeholder_interaction"}))
        # B's rules are B's, A's are A's, after A applied rules again
        self.ok(self.req("PUT", "/v1/rules", auth=A.admin, json_body=DEFAULT_RULES))
        got_b = self.ok(self.req("GET", "/v1/challenges", auth=B.reader))
        self.assertIn("bonly", [c["id"] for c in got_b["challenges"]])
        got_a = self.ok(self.req("GET", "/v1/challenges", auth=A.reader))
        self.assertNotIn("bonly", [c["id"] for c in got_a["challenges"]])


def first_score(board, leader):
    for e in board["entries"]:
        if e["leader"] == leader:
            return e["score"]
    return None


# ===================================================================== 4

class SuspensionTest(OrgCase):

    def test_suspend_refuses_everything_and_resume_restores(self):
        A = self.setup_org("aa", prefix="A")
        S = self.setup_org("ss", prefix="S")
        s = self.stream("/v1/challenges/weekly/stream?token=" + S.reader)
        self.standings(s)
        sub_conn = self.rpc(S.reader)
        sub = sub_conn.call("subscribe", {"challenge": "weekly"})["subscription"]
        self.assertEqual(sub_conn.note(timeout=10)[0], "standings")
        a_stream = self.stream("/v1/challenges/weekly/stream?token=" + A.reader)
        self.standings(a_stream)

        v = self.patch_org("ss", {"suspended": True})
        self.assertEqual((v["state"], v["suspended"]), ("suspended", True))
        before = self.org_snapshot("ss")
        # Its open SSE stream ends.
        wait_until(lambda: s.next(timeout=15) is None, timeout=20, what="the stream to end")
        # HTTP: every token of the org, on routes of each kind: 403 org-suspended.
        tries = [("GET", "/v1/challenges", None),
                 ("GET", "/v1/challenges/weekly/leaderboard", None),
                 ("GET", "/v1/leaders/sam", None),
                 ("POST", "/v1/events", {"leader": "sam", "type": "reply"}),
                 ("PUT", "/v1/admin/leaders/new", {"name": "New"}),
                 ("POST", "/v1/admin/tokens", {"role": "reader"}),
                 ("PUT", "/v1/rules", DEFAULT_RULES),
                 ("GET", "/v1/admin/events", None)]
        for role, tok in S.tokens.items():
            for method, path, body in tries:
                with self.subTest(role=role, method=method, path=path):
                    r = self.req(method, path, auth=tok, json_body=body)
                    if r.status == 403 and r.json()["type"] == "/problems/forbidden":
                        continue  # the role may not do it at all: refused before the org
                    p = self.assertProblem(r, 403)
                    self.assertEqual(p["type"], "/problems/org-suspended", p)
        e = self.stream("/v1/challenges/weekly/stream?token=" + S.reader)
        self.assertEqual(e.status, 403)
        self.assertEqual(e.json()["type"], "/problems/org-suspended")
        # RPC: a new auth is refused...
        c = self.rpc()
        err, res = c.call_raw("auth", {"token": S.admin})
        self.assertEqual((err["code"], err["status"]), ("org-suspended", 403), err)
        err, _ = c.call_raw("challenges")
        self.assertEqual(err["status"], 401, err)
        err, _ = c.call_raw("post_events", {"leader": "sam", "type": "reply"})
        self.assertEqual(err["status"], 401, err)
        # Nothing of the org changed.
        self.assertOrgUnchanged("ss", before, "requests of a suspended org")
        # The operator still sees it; other orgs are served as before.
        self.assertEqual(self.get_org("ss")["state"], "suspended")
        self.assertEqual(self.get_org("ss")["usage"]["events_total"], 3)
        self.ok(self.req("POST", "/v1/events", auth=A.ingest, json_body={
            "leader": "sam", "type": "stakeholder_interaction"}))
        board = self.standings(a_stream)
        self.assertIn("sam", self.scores(board))
        self.ok(self.req("GET", "/v1/challenges", auth=A.reader))
        self.rpc(A.reader).call("leaderboard", {"challenge": "weekly"})

        # Resume: everything works again, at once.
        v = self.patch_org("ss", {"suspended": False})
        self.assertEqual((v["state"], v["suspended"]), ("active", False))
        self.ok(self.req("GET", "/v1/challenges", auth=S.reader))
        self.ok(self.req("POST", "/v1/events", auth=S.ingest, json_body={
            "leader": "sam", "type": "reply", "id": "after-resume"}))
        self.assertEqual(self.get_org("ss")["usage"]["events_total"], 4)
        s3 = self.stream("/v1/challenges/weekly/stream?token=" + S.reader)
        self.assertIn("sam", self.scores(self.standings(s3)))
        c2 = self.rpc(S.admin)
        self.assertIn("entries", c2.call("leaderboard", {"challenge": "weekly"}))
        # The RPC subscription ended with the suspension (PROTOCOL.md: without
        # a notification); its connection may authenticate again.
        self.assertEqual(sub_conn.call("auth", {"token": S.reader})["org"], "ss")
        err, _ = sub_conn.call_raw("unsubscribe", {"subscription": sub})
        self.assertEqual((err["code"], err["status"]), ("not-found", 404), err)
        # The connection refused before may authenticate again.
        who = c.call("auth", {"token": S.ingest})
        self.assertEqual((who["role"], who["org"]), ("ingest", "ss"))
        self.assertEqual(c.call("post_events", {"leader": "sam", "type": "reply"})["points"], 3)

    def suspended_with_open_connection(self):
        S = self.setup_org("ss", prefix="S")
        conn = self.rpc(S.ingest)
        conn.call("challenges")
        self.patch_org("ss", {"suspended": True})
        return S, conn

    def test_open_rpc_connection_refused_after_its_recheck(self):
        """A connection authenticated before the suspension: once its token
        is looked at again (every 5 s), calls get 403 org-suspended
        (PROTOCOL.md, "Orgs"), as a new auth does, and store nothing; after
        the resume it may auth again."""
        S, conn = self.suspended_with_open_connection()
        err = wait_until(lambda: conn.call_raw("challenges")[0], timeout=20, interval=0.2,
                         what="the open connection's token to be checked again")
        before = self.org_snapshot("ss")
        self.assertEqual((err["code"], err["status"]), ("org-suspended", 403), err)
        err, _ = conn.call_raw("post_events", {"leader": "sam", "type": "reply"})
        self.assertEqual((err["code"], err["status"]), ("org-suspended", 403), err)
        self.assertOrgUnchanged("ss", before, "calls of an open connection of a suspended org")
        self.patch_org("ss", {"suspended": False})
        self.assertEqual(conn.call("auth", {"token": S.ingest})["org"], "ss")
        self.assertEqual(conn.call("post_events", {"leader": "sam", "type": "reply"})["points"], 3)

    def test_webhook_deliveries_wait_while_suspended(self):
        rx = Receiver()
        self.addCleanup(rx.close)
        self.setup_org("ss", prefix="S", receiver=rx, events=False)
        self.patch_org("ss", {"suspended": True})
        # A digest is queued in the org's outbox (as the closer would) and
        # the org's outbox made due now.
        k = [org_key("ss", x) for x in ("webhooks", "wh:due", "wh:out", "wh:seq", "wh:key:d1")]
        got = self.r("EVAL", OUTBOX_LUA, len(k), *k, "enqueue", "digest", now_ms(), 345600, "",
                     json.dumps({"leader": "sam", "text": "S digest"}))
        self.assertEqual(got[0], 1, got)
        self.r("ZADD", "podium:{#}:due:w", "LT", 0, "ss")
        # The daemon looks at it, finds the org suspended and puts it off
        # (an hour: until the org is resumed)...
        wait_until(lambda: int(float(self.r("ZSCORE", "podium:{#}:due:w", "ss") or 0))
                   > now_ms() + 1800000, timeout=20, what="the suspended org's outbox put off")
        # ...having sent nothing.
        self.assertEqual(rx.got(), [])
        self.assertEqual(self.r("ZCARD", org_key("ss", "wh:due")), 1)
        # Resumed: the delivery goes out.
        self.patch_org("ss", {"suspended": False})
        req = rx.wait(1, timeout=20)[0]
        self.assertEqual(req["path"], "/S-SECRET-HOOK")
        self.assertIn(b"S digest", req["body"])

    def test_suspending_default(self):
        _, reader = self.make_token("reader")
        v = self.patch_org("default", {"suspended": True})
        self.assertEqual(v["state"], "suspended")
        p = self.assertProblem(self.req("GET", "/v1/challenges"), 403)
        self.assertEqual(p["type"], "/problems/org-suspended")
        self.assertProblem(self.req("GET", "/v1/challenges", auth=reader), 403)
        # the operator is not an org's token: it still works
        self.assertEqual(self.get_org("default")["state"], "suspended")
        self.patch_org("default", {"suspended": False})
        self.ok(self.req("GET", "/v1/challenges", auth=reader))


class TwoDaemonTest(OrgCase):
    """Two podiumd on one Redis: what the operator changes on one holds on
    the other within 5 s for an org in use there, at once for one idle there."""

    def test_changes_on_one_daemon_hold_on_the_other(self):
        d2 = self.start_daemon(name="second")
        A = self.setup_org("aa", prefix="A", events=False)
        # made on d1, usable on d2 at once (an org d2 never served)
        r = d2.request("GET", "/v1/challenges", auth=A.reader)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(d2.request("POST", "/v1/events", auth=A.ingest, json_body={
            "leader": "sam", "type": "reply"}).status, 200)

        def status_on_d2(tok=A.reader, path="/v1/challenges"):
            return d2.request("GET", path, auth=tok).status
        # suspended on d1: refused on d2 within 5 s
        self.patch_org("aa", {"suspended": True})
        wait_until(lambda: status_on_d2() == 403, timeout=15, interval=0.1,
                   what="the suspension to hold on the second daemon")
        p = d2.request("GET", "/v1/challenges", auth=A.reader).json()
        self.assertEqual(p["type"], "/problems/org-suspended")
        c = self.rpc(d=d2)
        err, _ = c.call_raw("auth", {"token": A.ingest})
        self.assertEqual((err["code"], err["status"]), ("org-suspended", 403), err)
        # resumed on d1: served on d2 within 5 s
        self.patch_org("aa", {"suspended": False})
        wait_until(lambda: status_on_d2() == 200, timeout=15, interval=0.1,
                   what="the resume to hold on the second daemon")
        # rules applied on d1 are in force on d2
        self.ok(self.req("PUT", "/v1/rules", auth=A.admin, json_body=B_RULES))
        wait_until(lambda: "bonly" in d2.request("GET", "/v1/challenges", auth=A.reader).text,
                   timeout=15, interval=0.1, what="A's new rules on the second daemon")
        # a quota set on d1 holds on d2
        self.patch_org("aa", {"quotas": {"leaders": 3}})

        def refused_on_d2():
            r = d2.request("PUT", "/v1/admin/leaders/new-one", auth=A.admin,
                           json_body={"name": "New"})
            self.assertIn(r.status, (201, 409), r)
            if r.status == 201:   # an old quota: undo and try again
                self.ok(self.req("DELETE", "/v1/admin/leaders/new-one", auth=A.admin))
            return r.status == 409
        wait_until(refused_on_d2, timeout=15, interval=0.2, what="the quota on the second daemon")
        # deleted on d1: unknown on d2 within 5 s, erased by one of them
        self.ok(self.op("DELETE", "/v1/orgs/aa"), 202)
        wait_until(lambda: status_on_d2() == 401, timeout=15, interval=0.1,
                   what="the delete to hold on the second daemon")
        wait_until(lambda: d2.request("GET", "/v1/orgs/aa", auth=self.opt).status == 404,
                   timeout=90, interval=0.25, what="the erase")
        self.assertEqual(org_keys(self.r, "aa"), [])


class BackgroundWorkTest(OrgCase):
    """Period closes run per org: exactly once for each org however many
    daemons run, each archive and period_closed delivery holding its org's
    standings only; a suspended org's closes wait for its resume."""

    def quick_orgs(self, rx, ids):
        port = rx.server.server_address[1]
        orgs = {}
        for oid in ids:
            P = oid.upper()
            adm = self.create_org(oid)["admin_token"]
            self.ok(self.req("PUT", "/v1/rules", auth=adm, json_body=QUICK_RULES))
            for lid in ("amy", "bob"):
                self.ok(self.req("PUT", "/v1/admin/leaders/" + lid, auth=adm,
                                 json_body={"name": "%s of %s" % (lid.title(), P)}), 201)
            self.ok(self.req("POST", "/v1/admin/webhooks", auth=adm, json_body={
                "url": "http://127.0.0.1:%d/%s-HOOK" % (port, P), "format": "json",
                "events": ["period_closed"]}), 201)
            orgs[oid] = adm
        return orgs

    def record(self, oid, per):
        rec = self.r("HGET", org_key(oid, "periods", "quick"), per)
        return rec and json.loads(rec)

    def wait_record(self, oid, per, timeout=LENGTH + 15):
        return wait_until(lambda: self.record(oid, per), timeout=timeout, interval=0.1,
                          what="%s's period %s closed" % (oid, per))

    def deliveries(self, rx, P, pid):
        return [q for q in rx.got() if q["path"] == "/%s-HOOK" % P
                and ('"period":"%s"' % pid).encode() in q["body"]]

    def standings(self, rec):
        return sorted((e["leader"], e["name"], e["score"]) for e in rec["standings"])

    def test_periods_close_once_per_org_on_two_daemons(self):
        rx = Receiver()
        self.addCleanup(rx.close)
        d2 = self.start_daemon(name="second")
        orgs = self.quick_orgs(rx, ("pa", "pb"))
        pid = fresh_period()
        for oid, d, lid, typ in [("pa", self.d, "amy", "post"), ("pb", d2, "bob", "reply"),
                                 ("pb", self.d, "amy", "reply")]:
            got = self.ok(d.request("POST", "/v1/events", auth=orgs[oid], json_body={
                "leader": lid, "type": typ}))
            self.assertEqual(got["standings"][0]["period"], pid, got)
        nxt = period_id(period_end(pid))
        for oid in ("pa", "pb"):
            self.wait_record(oid, pid)
            self.wait_record(oid, nxt)   # both daemons had their chance
        self.assertEqual(self.standings(self.record("pa", pid)), [("amy", "Amy of PA", 10)])
        self.assertEqual(self.standings(self.record("pb", pid)),
                         [("amy", "Amy of PB", 3), ("bob", "Bob of PB", 3)])
        needle = "closed quick period %s:" % pid
        self.assertEqual(self.d.log().count(needle) + d2.log().count(needle), 2)
        for P in ("PA", "PB"):
            wait_until(lambda: self.deliveries(rx, P, pid), timeout=20,
                       what="%s's period_closed" % P)
        for P, others in (("PA", (b"of PB",)), ("PB", (b"of PA",))):
            got = self.deliveries(rx, P, pid)
            self.assertEqual(len(got), 1, got)
            self.assertIn(("Amy of %s" % P).encode(), got[0]["body"])
            for other in others:
                self.assertNotIn(other, got[0]["body"])
        # each org's periods route lists its own close only
        listed = self.ok(self.req("GET", "/v1/challenges/quick/periods", auth=orgs["pa"]))
        self.assertEqual([x["period"] for x in listed["periods"]], [pid])
        self.assertNotIn("of PB", as_text(listed))

    def test_periods_missed_while_suspended_close_on_resume(self):
        """An org suspended before its period ends, and still suspended when
        the next one ends: on resume, both close (oldest first), the one with
        its events among them. (The orgs are made in that first period, so
        that none of theirs closed before.)"""
        rx = Receiver()
        self.addCleanup(rx.close)
        pid = fresh_period()
        orgs = self.quick_orgs(rx, ("pa", "pc"))
        for oid in ("pa", "pc"):
            got = self.ok(self.req("POST", "/v1/events", auth=orgs[oid], json_body={
                "leader": "amy", "type": "post"}))
            self.assertEqual(got["standings"][0]["period"], pid, got)
        self.patch_org("pc", {"suspended": True})
        nxt = period_id(period_end(pid))
        self.wait_record("pa", pid)
        self.wait_record("pa", nxt)      # two ends have passed
        self.assertIsNone(self.record("pc", pid))
        self.assertIsNone(self.record("pc", nxt))
        self.assertEqual(self.deliveries(rx, "PC", pid), [])
        self.patch_org("pc", {"suspended": False})
        self.wait_record("pc", nxt, timeout=30)
        rec = self.record("pc", pid)
        self.assertIsNotNone(rec, "the period with the org's events was never closed "
                             "(its next one was)")
        self.assertEqual(self.standings(rec), [("amy", "Amy of PC", 10)])
        wait_until(lambda: self.deliveries(rx, "PC", pid), timeout=20, what="PC's period_closed")
        self.assertEqual(len(self.deliveries(rx, "PC", pid)), 1)


# ===================================================================== 5

class QuotaTest(OrgCase):
    podiumd_args = ORG_ARGS + ("--quota_leaders", "5", "--quota_webhooks", "4")

    def test_leaders_tokens_webhooks(self):
        A = self.setup_org("aa", events=False)   # 3 leaders, 5 tokens, 1 webhook
        O = self.setup_org("other", events=False)
        self.assertEqual(self.get_org("aa")["quotas"], {"leaders": 5, "tokens": 20000,
                                                        "webhooks": 4, "events_per_second": 0})
        v = self.patch_org("aa", {"quotas": {"leaders": 4, "tokens": 6, "webhooks": 2}})
        self.assertEqual(v["quotas"], {"leaders": 4, "tokens": 6, "webhooks": 2,
                                       "events_per_second": 0})
        adm = A.admin
        self.ok(self.req("PUT", "/v1/admin/leaders/l4", auth=adm, json_body={"name": "L4"}), 201)
        before = self.org_snapshot("aa")
        p = self.assertProblem(self.req("PUT", "/v1/admin/leaders/l5", auth=adm,
                                        json_body={"name": "L5"}), 409)
        self.assertEqual(p["type"], "/problems/quota-exceeded")
        self.assertOrgUnchanged("aa", before, "a leader over the quota")
        # changing one that exists is fine
        self.ok(self.req("PUT", "/v1/admin/leaders/l4", auth=adm, json_body={"name": "L4 b"}))
        self.ok(self.req("PUT", "/v1/admin/leaders/sam", auth=adm, json_body={"name": "Sam 2"}))
        # tokens: 5 now, 6 allowed
        self.org_token(adm, "reader")
        before = self.org_snapshot("aa")
        p = self.assertProblem(self.req("POST", "/v1/admin/tokens", auth=adm,
                                        json_body={"role": "reader"}), 409)
        self.assertEqual(p["type"], "/problems/quota-exceeded")
        self.assertOrgUnchanged("aa", before, "a token over the quota")
        self.assertEqual(self.req("DELETE", "/v1/admin/tokens/" + A.reader_id,
                                  auth=adm).status, 204)
        self.org_token(adm, "reader")
        # webhooks: 1 now, 2 allowed
        hook = {"url": "http://127.0.0.1:9/w", "format": "json", "events": ["digest"]}
        self.ok(self.req("POST", "/v1/admin/webhooks", auth=adm, json_body=hook), 201)
        before = self.org_snapshot("aa")
        p = self.assertProblem(self.req("POST", "/v1/admin/webhooks", auth=adm,
                                        json_body=hook), 409)
        self.assertEqual(p["type"], "/problems/quota-exceeded")
        self.assertOrgUnchanged("aa", before, "a webhook over the quota")
        # The other org has the config's defaults.
        for i in range(2):
            self.ok(self.req("PUT", "/v1/admin/leaders/o%d" % i, auth=O.admin,
                             json_body={"name": "O"}), 201)
        self.assertProblem(self.req("PUT", "/v1/admin/leaders/o9", auth=O.admin,
                                    json_body={"name": "O"}), 409)   # default quota_leaders 5
        for i in range(3):
            self.ok(self.req("POST", "/v1/admin/webhooks", auth=O.admin, json_body=hook), 201)
        self.assertProblem(self.req("POST", "/v1/admin/webhooks", auth=O.admin, json_body=hook),
                           409)
        # 0: no limit
        self.patch_org("other", {"quotas": {"leaders": 0}})
        for i in range(3):
            self.ok(self.req("PUT", "/v1/admin/leaders/z%d" % i, auth=O.admin,
                             json_body={"name": "Z"}), 201)
        # null: back to the default (5 leaders): aa has 4, may add one
        v = self.patch_org("aa", {"quotas": {"leaders": None, "tokens": None, "webhooks": None}})
        self.assertEqual(v["quotas"], {"leaders": 5, "tokens": 20000, "webhooks": 4,
                                       "events_per_second": 0})
        for f in ("q_leaders", "q_tokens", "q_webhooks"):
            self.assertIsNone(self.r("HGET", registry_key("aa"), f))
        self.ok(self.req("PUT", "/v1/admin/leaders/l5", auth=adm, json_body={"name": "L5"}), 201)
        self.assertProblem(self.req("PUT", "/v1/admin/leaders/l6", auth=adm,
                                    json_body={"name": "L6"}), 409)
        self.ok(self.req("POST", "/v1/admin/webhooks", auth=adm, json_body=hook), 201)
        self.org_token(adm, "reader")

    def test_events_per_second(self):
        A = self.setup_org("aa", events=False)
        O = self.setup_org("other", events=False)
        v = self.patch_org("aa", {"quotas": {"events_per_second": 1}})
        self.assertEqual(v["quotas"]["events_per_second"], 1)
        def batch_of(prefix):
            return {"events": [{"leader": "sam", "type": "reply", "id": "%s%d" % (prefix, i)}
                               for i in range(1000)]}
        batch = batch_of("big")
        # A burst holds at least 1000 events: an idle bucket may take one
        # full batch; a second needs 1000 s of allowance at 1 event a second.
        r = self.req("POST", "/v1/events", auth=A.ingest, json_body=batch)
        self.assertIn(r.status, (200, 429), r)
        stored = 1000 if r.status == 200 else 0
        before = self.org_snapshot("aa")
        r = self.req("POST", "/v1/events", auth=A.ingest, json_body=batch_of("again"))
        p = self.assertProblem(r, 429)
        self.assertEqual(p["type"], "/problems/rate-limited")
        self.assertGreaterEqual(int(r.header("Retry-After")), 100)
        self.assertOrgUnchanged("aa", before, "a batch over the events quota")
        # Single events: some may fit what accrued, then 429, nothing stored.
        for i in range(200):
            before = self.org_snapshot("aa")
            r = self.req("POST", "/v1/events", auth=A.ingest, json_body={
                "leader": "sam", "type": "reply", "id": "one%d" % i})
            if r.status == 429:
                self.assertEqual(r.json()["type"], "/problems/rate-limited")
                self.assertGreaterEqual(int(r.header("Retry-After")), 1)
                self.assertOrgUnchanged("aa", before, "an event over the events quota")
                break
            self.assertEqual(r.status, 200, r)
            stored += 1
        else:
            self.fail("200 events at 1 a second were all accepted")
        # over RPC too
        c = self.rpc(A.ingest)
        err, _ = c.call_raw("post_events", {"leader": "sam", "type": "reply", "id": "rpc1"})
        self.assertEqual((err["code"], err["status"]), ("rate-limited", 429), err)
        self.assertOrgUnchanged("aa", before, "an RPC event over the events quota")
        self.assertEqual(self.get_org("aa")["usage"]["events_total"], stored)
        # Other orgs are not limited.
        for prefix in ("o1-", "o2-"):
            res = self.ok(self.req("POST", "/v1/events", auth=O.ingest, json_body=batch_of(prefix)))
            self.assertEqual(len(res["results"]), 1000)
        # A higher quota lets a full batch in once the allowance has accrued.
        self.patch_org("aa", {"quotas": {"events_per_second": 100000}})

        def try_batch():
            r = self.req("POST", "/v1/events", auth=A.ingest, json_body=batch_of("hi"))
            self.assertIn(r.status, (200, 429), r)
            return r.status == 200
        wait_until(try_batch, timeout=20, interval=0.1, what="a batch within the quota")
        # null: the default (no limit)
        v = self.patch_org("aa", {"quotas": {"events_per_second": None}})
        self.assertEqual(v["quotas"]["events_per_second"], 0)
        for prefix in ("n1-", "n2-", "n3-"):
            self.ok(self.req("POST", "/v1/events", auth=A.ingest, json_body=batch_of(prefix)))
        self.assertEqual(self.get_org("aa")["usage"]["events_total"], stored + 4000)


# ===================================================================== 6

class Ledger:
    """Posts events to several orgs from a thread, one at a time, and keeps
    what each answered."""

    def __init__(self, d, targets):
        self.d = d
        self.targets = targets        # [(org, token, leader)]
        self.acked = collections.defaultdict(list)     # org -> [event id]
        self.other = collections.defaultdict(list)     # org -> [(event id, status)]
        self.stop = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        conn = None
        while not self.stop.is_set():
            for org, tok, leader in self.targets:
                eid = "load-%s-%d" % (org, i)
                try:
                    conn = conn or self.d.connection(timeout=30)
                    r = self.d.request("POST", "/v1/events", auth=tok, conn=conn, json_body={
                        "leader": leader, "type": "reply", "id": eid})
                    if r.status == 200:
                        self.acked[org].append(eid)
                    else:
                        self.other[org].append((eid, r.status))
                except Exception as e:  # noqa: BLE001 - the ledger notes it; the test decides
                    self.other[org].append((eid, repr(e)))
                    if conn:
                        conn.close()
                    conn = None
            i += 1
        if conn:
            conn.close()

    def start(self):
        self.thread.start()
        return self

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the ledger thread did not stop"


# keys an event of an existing leader writes (score.lua): everything else of
# an org must stay byte-identical while other orgs are erased
EVENT_KEYS = re.compile(rb"^podium:\{[^}]+\}:(board:|tboard:|bver$|events$|idem:|lastev$|usage$)")


class DeleteTest(OrgCase):

    def wait_gone(self, oid, timeout, interval=0.25):
        def gone():
            r = self.op("GET", "/v1/orgs/" + oid)
            self.assertIn(r.status, (200, 404), r)
            if r.status == 200:
                self.assertEqual(r.json()["state"], "deleting", r)
            return r.status == 404
        wait_until(gone, timeout=timeout, interval=interval, what="org %s to be erased" % oid)

    def assertErased(self, oid):
        self.assertEqual(org_keys(self.r, oid), [])
        self.assertEqual(self.r("EXISTS", registry_key(oid)), 0)
        self.assertIsNone(self.r("ZSCORE", "podium:{#}:orgids", oid))
        for kind in "cwd":
            self.assertIsNone(self.r("ZSCORE", "podium:{#}:due:" + kind, oid), kind)
        p = self.assertProblem(self.op("GET", "/v1/orgs/" + oid), 404)
        self.assertEqual(p["type"], "/problems/not-found")
        self.assertNotIn(oid, [o["id"] for o in self.ok(self.op("GET", "/v1/orgs"))["orgs"]])

    def assertRecreatedEmpty(self, oid, old, old_tokens_checked=True):
        j = self.create_org(oid)
        self.assertEqual(j["state"], "active")
        self.assertNotEqual(j["admin_token"], old.admin)
        u = self.usage(oid)
        self.assertEqual(u, {"leaders": 0, "tokens": 1, "webhooks": 0, "events_this_week": 0,
                             "events_total": 0, "rule_version": 0, "last_activity": None})
        self.assertEqual(sorted(k.decode() for k in org_keys(self.r, oid)),
                         [org_key(oid, "tokenids"), org_key(oid, "tokens")])
        # the old tokens are unknown, the new one sees an empty org
        if old_tokens_checked:
            for role, tok in old.tokens.items():
                with self.subTest(old_token=role):
                    self.assertProblem(self.req("GET", "/v1/rules", auth=tok), 401)
        self.assertProblem(self.req("GET", "/v1/rules", auth=j["admin_token"]), 404)
        self.ok(self.req("PUT", "/v1/rules", auth=j["admin_token"], json_body=DEFAULT_RULES))
        self.assertProblem(self.req("GET", "/v1/leaders/sam", auth=j["admin_token"]), 404)
        self.assertEqual(self.board(auth=j["admin_token"])["entries"], [])

    def test_delete_under_load(self):
        one = self.setup_org("one")
        two = self.setup_org("two")
        gone = self.setup_org("gone")
        self.fill_dummy_keys("gone", 100000)
        before = {o: self.org_snapshot(o) for o in ("one", "two", "default")}
        boards = {o: self.zboard_of(o) for o in ("one", "two")}
        logs = {o: len(read_event_log(self.r, org_key(o, "events"))) for o in ("one", "two")}
        ledger = Ledger(self.d, [("one", one.ingest, "sam"), ("two", two.admin, "sam"),
                                 ("gone", gone.ingest, "sam")]).start()
        self.addCleanup(ledger.finish)
        wait_until(lambda: all(len(ledger.acked[o]) >= 5 for o in ("one", "two", "gone")),
                   timeout=20, what="the load to run")

        gone_stream = self.stream("/v1/challenges/weekly/stream?token=" + gone.reader)
        self.standings(gone_stream)
        r = self.op("DELETE", "/v1/orgs/gone")
        v = self.ok(r, 202)
        self.assertEqual((v["id"], v["state"], v["erased_keys"], v["usage"]),
                         ("gone", "deleting", 0, None))
        # at once: its tokens are unknown, the operator sees it going
        p = self.assertProblem(self.req("GET", "/v1/challenges", auth=gone.reader), 401)
        self.assertEqual(p["type"], "/problems/unauthorized")
        self.assertEqual(self.get_org("gone")["state"], "deleting")
        err, _ = self.rpc().call_raw("auth", {"token": gone.admin})
        self.assertEqual((err["code"], err["status"]), ("unauthorized", 401), err)
        wait_until(lambda: gone_stream.next(timeout=15) is None, timeout=20,
                   what="the deleted org's stream to end")
        self.assertEqual(self.ok(self.op("DELETE", "/v1/orgs/gone"), 202)["state"], "deleting")
        p = self.assertProblem(self.op("PATCH", "/v1/orgs/gone", json_body={"suspended": False}),
                               409)
        self.assertEqual(p["type"], "/problems/org-busy")
        p = self.assertProblem(self.op("POST", "/v1/orgs", json_body={"id": "gone"}), 409)
        self.assertEqual(p["type"], "/problems/org-exists")
        watcher = Resp(port=self.redis.port)
        self.addCleanup(watcher.close)
        wait_until(lambda: int(watcher("HGET", registry_key("gone"), "erased") or 0) > 0,
                   timeout=60, interval=0.002, what="the erase to start")
        at_start = {o: len(ledger.acked[o]) for o in ("one", "two")}
        self.wait_gone("gone", timeout=90, interval=0.05)
        at_end = {o: len(ledger.acked[o]) for o in ("one", "two")}
        for o in ("one", "two"):
            self.assertGreater(at_end[o], at_start[o], "no event of %s acknowledged during "
                               "the erase" % o)
        # more load after the erase: nothing of gone comes back
        n = {o: len(ledger.acked[o]) for o in ("one", "two")}
        wait_until(lambda: all(len(ledger.acked[o]) >= n[o] + 10 for o in ("one", "two")),
                   timeout=20, what="more load after the erase")
        ledger.finish()
        self.assertErased("gone")
        self.assertEqual(ledger.errors, [])
        # every event of the other orgs acknowledged with 200 counts exactly once
        for o in ("one", "two"):
            with self.subTest(org=o):
                self.assertGreater(len(ledger.acked[o]), 20)
                log = read_event_log(self.r, org_key(o, "events"))
                ids = collections.Counter(e.get("id") for e in log)
                for eid in ledger.acked[o]:
                    self.assertEqual(ids[eid], 1, eid)
                self.assertEqual([k for k, c in ids.items() if c > 1], [])
                load = [e for e in log if str(e.get("id", "")).startswith("load-")]
                self.assertEqual(len(log) - logs[o], len(load))
                refused = [x for x in ledger.other[o]]
                self.assertEqual(refused, [], "the other org's events were refused")
                board = self.zboard_of(o)
                self.assertEqual(board["sam"], boards[o]["sam"] + 3 * len(load), board)
                self.assertEqual({k: v for k, v in board.items() if k != "sam"},
                                 {k: v for k, v in boards[o].items() if k != "sam"})
                after = self.org_snapshot(o)
                for k in set(before[o]) | set(after):
                    if before[o].get(k) != after.get(k):
                        self.assertRegex(k, EVENT_KEYS, "key %r of %s changed" % (k, o))
                self.assertEqual(len(after), len(before[o]), "the key count of %s changed" % o)
        self.assertOrgUnchanged("default", before["default"], "another org's erase")
        # the deleted org's posts: 200 before the delete, then 401
        statuses = [s for _, s in ledger.other["gone"]]
        self.assertTrue(statuses and set(statuses) <= {401}, set(statuses))
        # (the old tokens are checked in test_old_tokens_do_not_open_the_new_org)
        self.assertRecreatedEmpty("gone", gone, old_tokens_checked=False)

    def test_old_tokens_do_not_open_the_new_org(self):
        """The tokens of a deleted org stay unknown when an org of the same
        id is made again: they were minted for the old one. The daemon has
        just looked them up (while the org was being deleted) when the
        erase runs and the id is made again at once."""
        old = self.setup_org("reuse")
        self.ok(self.op("DELETE", "/v1/orgs/reuse"), 202)
        due = int(self.r("ZSCORE", "podium:{#}:due:d", "reuse"))
        self.assertGreater(due, now_ms() + 5000)
        # Just before the erase may start, each old token is looked up
        # again (its cache entry from setup is older than 5 s): refused,
        # as its org is being deleted.
        wait_until(lambda: now_ms() >= due - 1500, timeout=20, what="the erase to be near")
        self.assertGreater(self.r("HLEN", org_key("reuse", "tokens")), 0)
        for role, tok in old.tokens.items():
            p = self.assertProblem(self.req("GET", "/v1/rules", auth=tok), 401)
            self.assertEqual(p["type"], "/problems/unauthorized")
        self.wait_gone("reuse", timeout=60, interval=0.05)
        new = self.create_org("reuse")
        got = {}
        for role, tok in old.tokens.items():
            got[role] = (self.req("GET", "/v1/rules", auth=tok).status,
                         self.req("POST", "/v1/admin/tokens", auth=tok,
                                  json_body={"role": "admin"}).status)
        self.assertEqual(got, {role: (401, 401) for role in old.tokens},
                         "(GET /v1/rules, POST /v1/admin/tokens) with the deleted org's tokens "
                         "in the new org of the same id")
        self.assertEqual(self.usage("reuse")["tokens"], 1)
        self.assertProblem(self.req("GET", "/v1/rules", auth=new["admin_token"]), 404)

    def test_erase_survives_kill_9(self):
        keep = self.setup_org("keep")
        doomed = self.setup_org("doomed")
        self.fill_dummy_keys("doomed", 200000)
        before = self.org_snapshot("keep")
        before_default = self.org_snapshot("default")
        self.ok(self.op("DELETE", "/v1/orgs/doomed"), 202)
        watcher = Resp(port=self.redis.port)
        self.addCleanup(watcher.close)

        def erasing():
            return int(watcher("HGET", registry_key("doomed"), "erased") or 0) > 0
        wait_until(erasing, timeout=60, interval=0.002, what="the erase to start")
        self.d.kill()
        left = len(org_keys(self.r, "doomed"))
        erased_at_kill = int(self.r("HGET", registry_key("doomed"), "erased") or 0)
        self.assertGreater(left, 0, "the erase ended before the kill: nothing to resume")
        self.assertEqual(self.r("HGET", registry_key("doomed"), "state"), b"deleting")
        # the same daemon again, same arguments: it takes the erase over when
        # the dead one's claim has lapsed (30 s)
        self.d.start()
        v = self.get_org("doomed")
        self.assertEqual(v["state"], "deleting")
        self.assertGreaterEqual(v["erased_keys"], erased_at_kill)
        self.assertProblem(self.req("GET", "/v1/challenges", auth=doomed.admin), 401)
        self.wait_gone("doomed", timeout=120)
        self.assertErased("doomed")
        self.assertOrgUnchanged("keep", before, "another org's erase")
        self.assertOrgUnchanged("default", before_default, "another org's erase")
        self.ok(self.req("GET", "/v1/challenges", auth=keep.reader))
        self.assertRecreatedEmpty("doomed", doomed)


# ===================================================================== 7

class SingleCompanyTest(OrgCase):
    leaders = ("amy", "bob")

    def test_default_org_unnamed_still_works(self):
        tok = self.d.admin_token
        self.assertRegex(tok, r"^pdm_[A-Za-z0-9_-]{43}$")
        self.assertIn("weekly", self.req("GET", "/v1/rules").text)
        self.event("amy", "post")
        self.event("bob", "reply")
        self.assertEqual(self.ranking(), [(1, "amy", 10), (2, "bob", 3)])
        _, reader = self.make_token("reader")
        self.assertEqual(self.board(auth=reader)["total"], 2)
        self.assertIn("Amy", self.req("GET", "/v1/leaders/amy").text)
        self.assertEqual(len(self.log_entries()), 2)
        c = self.rpc(tok)
        who = c.call("auth", {"token": tok})
        self.assertEqual((who["role"], who["org"]), ("admin", "default"))
        self.assertEqual(c.call("leaderboard", {"challenge": "weekly"}), self.board())
        # every key the daemon wrote is default's or the deployment's
        for k in self.r("KEYS", "*"):
            self.assertTrue(k.startswith(b"podium:{default}:") or k.startswith(b"podium:{#}:"), k)
        self.assertEqual(self.usage("default")["events_total"], 2)


if __name__ == "__main__":
    unittest.main()
