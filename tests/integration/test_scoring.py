"""Scoring through POST /v1/events: points, boards, batches, idempotency, caps.

Rules (harness.DEFAULT_RULES): weekly points challenge in Europe/London
(post 10 with daily_cap 3, reply 3, stakeholder_interaction 15, penalty -3;
channel linkedin x1.5, intranet x0.5; stakeholder customer/investor x2) and
a monthly count challenge "meetings" of stakeholder_interaction.
"""

import os
import threading
import time
import unittest

from harness import (PodiumTestCase, london, now_ms, london_day_start_ms, month_id, rfc3339, times_today,
                     wait_until, week_id)


class ScoringTest(PodiumTestCase):
    leaders = ("amy", "bob", "cat")

    def setUp(self):
        super().setUp()
        self.W = week_id()
        self.M = month_id()

    def standings(self, result):
        return [(s["challenge"], s["period"], s["points"], s["score"], s["rank"])
                for s in result["standings"]]

    def test_points_multipliers_and_rounding(self):
        ts = times_today(10)
        cases = [
            # (type, channel, stakeholder, expected points)
            ("post", None, None, 10),
            ("post", "linkedin", None, 15),                      # 10 x 1.5
            ("reply", "linkedin", None, 5),                      # 4.5 rounds half up
            ("reply", "intranet", None, 2),                      # 1.5 rounds to 2
            ("stakeholder_interaction", None, "customer", 30),   # 15 x 2
            ("stakeholder_interaction", "linkedin", "investor", 45),  # 15 x 1.5 x 2
            ("reply", "tiktok", "press", 3),                     # unknown names count as 1
            ("penalty", "linkedin", None, -5),                   # -4.5 rounds away from zero
            ("post", "video", None, 12),                         # 10 x 1.15 = 11.5 as written
            ("reply", "video", "investor", 7),                   # 3 x 1.15 x 2 = 6.9
        ]
        total, meetings = 0, 0
        for (typ, ch, sh, pts), at in zip(cases, ts):
            fields = {}
            if ch:
                fields["channel"] = ch
            if sh:
                fields["stakeholder"] = sh
            res = self.event("amy", typ, at=at, **fields)
            with self.subTest(type=typ, channel=ch, stakeholder=sh):
                self.assertEqual(res["points"], pts, res)
                self.assertFalse(res["duplicate"])
                self.assertEqual(res["reasons"], [])
                total += pts
                want = [("weekly", self.W, pts, total, 1), ("weekly", "all", pts, total, 1)]
                if typ == "stakeholder_interaction":
                    meetings += 1   # a count challenge adds 1, whatever the points
                    want += [("meetings", self.M, 1, meetings, 1),
                             ("meetings", "all", 1, meetings, 1)]
                self.assertEqual(self.standings(res), want)
        self.assertEqual(total, 124)
        self.assertEqual(self.ranking("weekly"), [(1, "amy", 124)])
        self.assertEqual(self.ranking("weekly", "all"), [(1, "amy", 124)])
        self.assertEqual(self.ranking("weekly", self.W), [(1, "amy", 124)])
        self.assertEqual(self.ranking("meetings"), [(1, "amy", 2)])
        self.assertEqual(self.ranking("meetings", "all"), [(1, "amy", 2)])
        self.assertEqual(self.zboard("weekly", self.W), {"amy": 124})
        self.assertEqual(self.zboard("weekly", "all"), {"amy": 124})
        self.assertEqual(self.zboard("meetings", self.M), {"amy": 2})
        self.assertEqual(len(self.log_entries()), 10)

    def test_standings_per_board_and_accumulation(self):
        t = times_today(5)
        r1 = self.event("amy", "post", at=t[0])
        self.assertEqual(self.standings(r1), [("weekly", self.W, 10, 10, 1), ("weekly", "all", 10, 10, 1)])
        r2 = self.event("bob", "stakeholder_interaction", at=t[1], stakeholder="customer")
        self.assertEqual(self.standings(r2), [
            ("weekly", self.W, 30, 30, 1), ("weekly", "all", 30, 30, 1),
            ("meetings", self.M, 1, 1, 1), ("meetings", "all", 1, 1, 1)])
        r3 = self.event("amy", "post", at=t[2], channel="linkedin")
        # amy 25 < bob 30: second on the weekly boards; not on the meetings boards
        self.assertEqual(self.standings(r3), [("weekly", self.W, 15, 25, 2), ("weekly", "all", 15, 25, 2)])
        r4 = self.event("amy", "reply", at=t[3])
        self.assertEqual(self.standings(r4), [("weekly", self.W, 3, 28, 2), ("weekly", "all", 3, 28, 2)])
        r5 = self.event("amy", "reply", at=t[4], channel="linkedin")
        self.assertEqual(self.standings(r5), [("weekly", self.W, 5, 33, 1), ("weekly", "all", 5, 33, 1)])
        self.assertEqual(self.ranking("weekly"), [(1, "amy", 33), (2, "bob", 30)])
        self.assertEqual(self.ranking("weekly", "all"), [(1, "amy", 33), (2, "bob", 30)])
        self.assertEqual(self.ranking("meetings"), [(1, "bob", 1)])
        self.assertEqual(self.zboard("weekly", self.W), {"amy": 33, "bob": 30})
        # the read endpoint agrees with the boards
        lj = self.ok(self.req("GET", "/v1/leaders/amy"))
        self.assertEqual([(s["challenge"], s["period"], s["score"], s["rank"]) for s in lj["standings"]],
                         [("weekly", self.W, 33, 1), ("weekly", "all", 33, 1),
                          ("meetings", self.M, 0, None), ("meetings", "all", 0, None)])

    def test_batch_gives_running_scores(self):
        t = times_today(5)
        r = self.batch([
            {"leader": "amy", "type": "post", "at": t[0]},
            {"leader": "bob", "type": "reply", "at": t[1]},
            {"leader": "amy", "type": "reply", "channel": "linkedin", "at": t[2]},
            {"leader": "amy", "type": "post", "at": t[3]},
            {"leader": "bob", "type": "stakeholder_interaction", "at": t[4]},
        ])
        j = self.ok(r)
        res = j["results"]
        self.assertEqual(len(res), 5)
        self.assertEqual([x["points"] for x in res], [10, 3, 5, 10, 15])
        self.assertEqual([x["standings"][0]["score"] for x in res], [10, 3, 15, 25, 18])
        self.assertEqual([x["standings"][1]["score"] for x in res], [10, 3, 15, 25, 18])
        self.assertEqual([x["standings"][0]["period"] for x in res], [self.W] * 5)
        self.assertEqual(res[4]["standings"][2:], [
            {"challenge": "meetings", "period": self.M, "points": 1, "score": 1, "rank": 1,
             "limits": [], "bonuses": []},
            {"challenge": "meetings", "period": "all", "points": 1, "score": 1, "rank": 1,
             "limits": [], "bonuses": []}])
        self.assertEqual(len({x["id"] for x in res}), 5, "each event gets its own id")
        self.assertTrue(all(not x["duplicate"] for x in res))
        self.assertEqual(self.ranking(), [(1, "amy", 25), (2, "bob", 18)])
        self.assertEqual(len(self.log_entries()), 5)

    def test_form_encoded_event(self):
        at = times_today(1)[0]
        r = self.req("POST", "/v1/events", form={
            "leader": "amy", "type": "stakeholder_interaction", "channel": "linkedin",
            "stakeholder": "customer", "at": rfc3339(at), "note": "coffee & a chat",
            "url": "https://example.com/p?a=1&b=2"})
        j = self.ok(r)
        self.assertEqual(j["points"], 45)
        self.assertEqual(self.standings(j)[0], ("weekly", self.W, 45, 45, 1))
        e = self.log_entries()
        self.assertEqual(len(e), 1)
        self.assertEqual(e[0]["note"], "coffee & a chat")
        self.assertEqual(e[0]["url"], "https://example.com/p?a=1&b=2")
        self.assertEqual(e[0]["at"], at)
        # A form body without a leader is refused for a non-leader token.
        r = self.req("POST", "/v1/events", form={"type": "post"})
        self.assertProblem(r, 422, ["/leader"])

    def test_text_plain_answer(self):
        t = times_today(5)
        accept = {"Accept": "text/plain"}
        r = self.post("amy", "post", at=t[0], channel="linkedin", id="tp-1", headers=accept)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"), r.headers)
        self.assertEqual(r.text, "+15 points, #1 this week (15 points).\n")
        r = self.post("bob", "stakeholder_interaction", at=t[1], stakeholder="customer", headers=accept)
        self.assertEqual(r.text, "+30 points, #1 this week (30 points).\n")
        r = self.post("amy", "post", at=t[2], id="tp-1", headers=accept)
        self.assertEqual(r.text, "Already logged: +15 points, #1 this week (15 points).\n")
        self.post("amy", "post", at=t[2])
        self.post("amy", "post", at=t[3])
        r = self.post("amy", "post", at=t[4], headers=accept)
        self.assertEqual(r.text, "Daily cap reached: +0 points, #1 this week (35 points).\n")
        r = self.req("POST", "/v1/events", headers=accept, json_body={"events": [
            {"leader": "cat", "type": "reply", "at": rfc3339(t[4])},
            {"leader": "cat", "type": "reply", "channel": "linkedin"}]})
        self.assertEqual(r.text, "Logged 2 events: +8 points.\n")
        r = self.req("POST", "/v1/events", headers=accept, json_body={"events": [
            {"id": "tp-1", "leader": "amy", "type": "post"},
            {"leader": "cat", "type": "reply"},
            {"leader": "cat", "type": "stakeholder_interaction"}]})
        self.assertEqual(r.text, "Logged 2 events: +18 points (1 already logged).\n")
        # Without text/plain the answer is JSON.
        r = self.post("cat", "reply", headers={"Accept": "application/json, text/plain"})
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.json()["points"], 3)

    def test_idempotency_key_header(self):
        t = times_today(3)
        r1 = self.post("amy", "post", at=t[0], headers={"Idempotency-Key": "phone-42"})
        j1 = self.ok(r1)
        self.assertEqual(j1["id"], "phone-42")
        self.assertFalse(j1["duplicate"])
        before = self.snapshot()
        xlen = self.xlen()
        r2 = self.post("amy", "post", at=t[0], headers={"Idempotency-Key": "phone-42"})
        j2 = self.ok(r2)
        self.assertTrue(j2["duplicate"])
        self.assertEqual({**j2, "duplicate": False}, j1)
        self.assertUnchanged(before, "an idempotent retry")
        self.assertEqual(self.xlen(), xlen)
        # A batch: the key names event N "KEY/N".
        b = [{"leader": "bob", "type": "reply", "at": t[1]}, {"leader": "bob", "type": "post", "at": t[2]}]
        j3 = self.ok(self.batch(b, headers={"Idempotency-Key": "sync-7"}))
        self.assertEqual([x["id"] for x in j3["results"]], ["sync-7/0", "sync-7/1"])
        before = self.snapshot()
        j4 = self.ok(self.batch(b, headers={"Idempotency-Key": "sync-7"}))
        self.assertEqual([x["duplicate"] for x in j4["results"]], [True, True])
        self.assertEqual([x["points"] for x in j4["results"]], [3, 10])
        self.assertUnchanged(before, "a retried batch")
        # An id in the body wins over the header.
        j5 = self.event("cat", "reply", id="own-id", headers={"Idempotency-Key": "other"})
        self.assertEqual(j5["id"], "own-id")
        self.assertEqual(self.zboard("weekly", self.W), {"amy": 10, "bob": 13, "cat": 3})

    def test_idempotent_retry_returns_first_result_and_changes_nothing(self):
        t = times_today(3)
        first = self.event("amy", "post", at=t[0], id="evt-1", channel="linkedin")
        self.assertEqual(self.standings(first)[0], ("weekly", self.W, 15, 15, 1))
        self.event("bob", "stakeholder_interaction", at=t[1])   # bob 15, ties amy... later
        self.event("bob", "reply", at=t[2])                     # bob 18 now leads
        board = self.zboard("weekly", self.W)
        xlen = self.xlen()
        before = self.snapshot()
        # Same id, even with other content: the first result comes back, marked duplicate.
        again = self.event("amy", "reply", at=t[2], id="evt-1")
        self.assertTrue(again["duplicate"])
        self.assertEqual(again["points"], 15)
        self.assertEqual(again["standings"], first["standings"])
        self.assertUnchanged(before, "a duplicate event")
        self.assertEqual(self.zboard("weekly", self.W), board)
        self.assertEqual(self.xlen(), xlen)
        self.assertEqual(self.ranking(), [(1, "bob", 18), (2, "amy", 15)])

    def test_prefer_return_minimal_skips_ranks(self):
        t = times_today(3)
        self.event("bob", "post", at=t[0], channel="linkedin")          # bob 15
        j = self.event("amy", "post", at=t[1], headers={"Prefer": "return=minimal"})
        self.assertEqual(self.standings(j), [("weekly", self.W, 10, 10, None), ("weekly", "all", 10, 10, None)])
        j = self.ok(self.batch([{"leader": "amy", "type": "reply", "at": t[2]}] * 2,
                               headers={"Prefer": "return=minimal"}))
        self.assertEqual([x["standings"][0]["score"] for x in j["results"]], [13, 16])
        self.assertEqual([x["standings"][0]["rank"] for x in j["results"]], [None, None])
        # The boards are written all the same.
        self.assertEqual(self.ranking(), [(1, "amy", 16), (2, "bob", 15)])
        self.assertEqual(self.event("bob", "reply", at=t[2])["standings"][0]["rank"], 1)

    def test_duplicates_inside_one_batch(self):
        t = times_today(3)
        j = self.ok(self.batch([
            {"id": "dup-a", "leader": "amy", "type": "post", "at": t[0]},
            {"id": "dup-a", "leader": "amy", "type": "post", "at": t[1]},
            {"id": "dup-b", "leader": "amy", "type": "reply", "at": t[2]},
            {"id": "dup-b", "leader": "bob", "type": "stakeholder_interaction", "at": t[2]},
        ]))
        res = j["results"]
        self.assertEqual([x["duplicate"] for x in res], [False, True, False, True])
        self.assertEqual([x["id"] for x in res], ["dup-a", "dup-a", "dup-b", "dup-b"])
        self.assertEqual(res[1]["standings"], res[0]["standings"])
        self.assertEqual(res[3]["points"], 3)
        self.assertEqual(res[3]["standings"], res[2]["standings"])
        self.assertEqual(self.zboard("weekly", self.W), {"amy": 13})
        self.assertEqual(len(self.log_entries()), 2)
        self.assertEqual([e["id"] for e in self.log_entries()], ["dup-a", "dup-b"])

    def test_daily_cap(self):
        t = times_today(6)
        pts = [self.event("amy", "post", at=t[i]) for i in range(4)]
        self.assertEqual([p["points"] for p in pts], [10, 10, 10, 0])
        self.assertEqual([p["reasons"] for p in pts], [[], [], [], ["daily_cap"]])
        self.assertEqual(self.standings(pts[3]), [("weekly", self.W, 0, 30, 1), ("weekly", "all", 0, 30, 1)])
        # Recorded anyway, with its result.
        log = self.log_entries()
        self.assertEqual(len(log), 4)
        self.assertEqual(log[3]["result"].split("|")[:3], ["0", "0", "daily_cap"])
        # The cap is per leader and per type.
        self.assertEqual(self.event("bob", "post", at=t[4])["points"], 10)
        self.assertEqual(self.event("amy", "reply", at=t[5])["points"], 3)
        self.assertEqual(self.zboard("weekly", self.W), {"amy": 33, "bob": 10})
        self.assertEqual(self.zboard("weekly", "all"), {"amy": 33, "bob": 10})
        # A capped event in a batch says so too, and the counter lives in Redis.
        j = self.ok(self.batch([{"leader": "bob", "type": "post", "at": t[5]}] * 3))
        self.assertEqual([x["points"] for x in j["results"]], [10, 10, 0])
        self.assertEqual(j["results"][2]["reasons"], ["daily_cap"])
        # One hash per challenge and local date, a field per leader and type.
        caps = self.r("KEYS", self.key("cap", "*"))
        self.assertEqual(caps, [self.key("cap", "weekly", london(t[0]).date().isoformat()).encode()])
        self.assertEqual(self.r("HGETALL", caps[0]),
                         [b"amy|post", b"4", b"bob|post", b"4"])
        self.assertGreater(self.r("TTL", caps[0]), 86400)

    def test_duplicates_do_not_use_up_the_daily_cap(self):
        t = times_today(5)
        j = self.ok(self.batch([
            {"id": "cap-a", "leader": "amy", "type": "post", "at": t[0]},
            {"id": "cap-a", "leader": "amy", "type": "post", "at": t[0]},
            {"leader": "amy", "type": "post", "at": t[1]},
            {"leader": "amy", "type": "post", "at": t[2]},
            {"leader": "amy", "type": "post", "at": t[3]},
        ]))
        self.assertEqual([(x["points"], x["duplicate"], x["reasons"]) for x in j["results"]],
                         [(10, False, []), (10, True, []), (10, False, []), (10, False, []),
                          (0, False, ["daily_cap"])])
        self.assertEqual(self.ok(self.post("amy", "post", at=t[4], id="cap-a"))["duplicate"], True)
        self.assertEqual(self.zboard("weekly", self.W), {"amy": 30})

    def test_event_log_keeps_text_exactly(self):
        """Notes, urls and ids with quotes, backslashes, control characters
        and non-ASCII come back from the log exactly as sent."""
        note = 'He said "hi" \\ then\ttabbed\nand left \u00e9\u2603\U0001f600 \x01\x1f\x7f end'
        url = 'https://example.com/a"b\\c?q=\u00e9'
        evid = 'q"uo\\te\'{}'
        res = self.event("amy", "reply", id=evid, note=note, url=url)
        self.assertEqual(res["id"], evid)
        e = self.log_entries()
        self.assertEqual(len(e), 1)
        self.assertEqual((e[0]["id"], e[0]["note"], e[0]["url"]), (evid, note, url))
        # The longest legal note (1000 characters of 4 bytes), url and id,
        # each full of characters that need escaping.
        long_note = "\x01" * 500 + "\U0001f600" * 499 + '"'
        long_url = "https://example.com/" + '"' * (2048 - 20)
        long_id = "\\" * 128
        res = self.event("bob", "reply", note=long_note, url=long_url, id=long_id)
        self.assertEqual(res["id"], long_id)
        e = self.log_entries()
        self.assertEqual(len(e), 2)
        self.assertEqual(e[1]["id"], long_id)
        self.assertEqual(e[1]["note"], long_note)
        self.assertEqual(e[1]["url"], long_url)

    def test_idempotency_record_in_the_previous_bucket_still_counts(self):
        """A retry long after the first attempt is still recognised. The
        daemon cannot be made to live in the future, so the record is moved
        back in time instead: this works when records are kept in numbered
        hash buckets (podium:{org}:idem:<n>, n growing with time: per day or
        per window) and is skipped for other layouts."""
        first = self.event("amy", "reply", id="old-1")
        buckets = [k.decode() for k in self.r("KEYS", self.key("idem", "*"))
                   if self.r("TYPE", k) == b"hash"]
        if len(buckets) != 1 or not buckets[0].rsplit(":", 1)[1].isdigit():
            self.skipTest("idempotency records are not kept in numbered buckets")
        n = int(buckets[0].rsplit(":", 1)[1])
        self.r("RENAME", buckets[0], self.key("idem", str(n - 1)))
        before = self.snapshot()
        again = self.event("amy", "reply", id="old-1")
        self.assertTrue(again["duplicate"], "a record in the previous bucket must still count")
        self.assertEqual(again["standings"], first["standings"])
        self.assertUnchanged(before, "a recognised retry")
        self.assertEqual(self.zboard("weekly", self.W), {"amy": 3})

    def test_concurrent_posts_score_exactly_once(self):
        threads, per_thread = 20, 50
        leaders = ["amy", "bob", "cat", "dan"]
        self.put_leader("dan")
        errors, results = [], {}
        lock = threading.Lock()

        def worker(n):
            conn = self.d.connection(timeout=10)
            token = self.d.admin_token
            try:
                for i in range(per_thread):
                    leader = leaders[(n + i) % len(leaders)]
                    # half the events carry an id, half get one made by the daemon
                    ev = {"leader": leader, "type": "reply"}
                    if i % 2 == 0:
                        ev["id"] = "c-%d-%d" % (n, i)
                    r = self.d.request("POST", "/v1/events", json_body=ev, auth=token, conn=conn)
                    with lock:
                        if r.status != 200:
                            errors.append(r)
                        else:
                            results[(n, i)] = (leader, r.json())
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(e)
            finally:
                conn.close()

        ts = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        start = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=60)
        self.assertFalse(any(t.is_alive() for t in ts), "workers hung")
        self.assertEqual(errors, [])
        self.assertEqual(len(results), threads * per_thread)
        total = threads * per_thread
        self.assertEqual(len(self.log_entries()), total)
        board = self.zboard("weekly", self.W)
        self.assertEqual(sum(board.values()), 3 * total)
        per = {lid: 3 * sum(1 for (l, _) in results.values() if l == lid) for lid in leaders}
        self.assertEqual(board, per)
        self.assertEqual(self.zboard("weekly", "all"), per)
        self.assertEqual(len({j["id"] for (_, j) in results.values()}), total, "ids are unique")
        # Each leader's running scores are exactly 3, 6, 9, ...: no lost update.
        for lid in leaders:
            seen = sorted(j["standings"][0]["score"] for (l, j) in results.values() if l == lid)
            self.assertEqual(seen, list(range(3, per[lid] + 1, 3)), lid)
        self.assertLess(time.monotonic() - start, 60)

    def test_concurrent_retries_of_one_id_score_once(self):
        """Ten threads send the same 30 ids at once: each id scores once."""
        ids = ["race-%d" % i for i in range(30)]
        out, errors = [], []
        lock = threading.Lock()
        barrier = threading.Barrier(10, timeout=10)

        def worker(n):
            conn = self.d.connection(timeout=10)
            token = self.d.admin_token
            try:
                barrier.wait()
                for i, eid in enumerate(ids):
                    ev = {"id": eid, "leader": ["amy", "bob"][i % 2], "type": "reply"}
                    r = self.d.request("POST", "/v1/events", json_body=ev, auth=token, conn=conn)
                    with lock:
                        (out if r.status == 200 else errors).append(r.json() if r.status == 200 else r)
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append(e)
            finally:
                conn.close()

        ts = [threading.Thread(target=worker, args=(n,)) for n in range(10)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=30)
        self.assertEqual(errors, [])
        self.assertEqual(len(out), 300)
        for eid in ids:
            mine = [j for j in out if j["id"] == eid]
            self.assertEqual(len(mine), 10)
            self.assertEqual(sum(1 for j in mine if not j["duplicate"]), 1, eid)
            self.assertEqual(len({str(j["standings"]) for j in mine}), 1, "one result per id")
        self.assertEqual(len(self.log_entries()), 30)
        self.assertEqual(self.zboard("weekly", self.W), {"amy": 45, "bob": 45})

    def test_refused_groups_do_not_disturb_others_in_the_same_call(self):
        """Requests naming an unknown leader are refused whole while valid
        requests gathered into the same Redis call are scored."""
        errors, statuses = [], []
        lock = threading.Lock()

        def good(n):
            conn = self.d.connection(timeout=10)
            try:
                for i in range(40):
                    r = self.d.request("POST", "/v1/events", auth=self.d.admin_token, conn=conn,
                                       json_body={"leader": "amy", "type": "reply", "id": "ok-%d-%d" % (n, i)})
                    with lock:
                        statuses.append(("good", r.status))
            except Exception as e:  # noqa: BLE001
                errors.append(e)
            finally:
                conn.close()

        def bad(n):
            conn = self.d.connection(timeout=10)
            try:
                for i in range(40):
                    r = self.d.request("POST", "/v1/events", auth=self.d.admin_token, conn=conn,
                                       json_body={"events": [
                                           {"leader": "bob", "type": "post", "id": "bad-%d-%d" % (n, i)},
                                           {"leader": "ghost", "type": "reply"}]})
                    with lock:
                        statuses.append(("bad", r.status))
                        if r.status == 422:
                            ptrs = [e["pointer"] for e in r.json()["errors"]]
                            if ptrs != ["/events/1/leader"]:
                                errors.append(ptrs)
            except Exception as e:  # noqa: BLE001
                errors.append(e)
            finally:
                conn.close()

        ts = [threading.Thread(target=f, args=(n,)) for n in range(4) for f in (good, bad)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=30)
        self.assertEqual(errors, [])
        self.assertEqual(sorted(set(statuses)), [("bad", 422), ("good", 200)])
        self.assertEqual(len(statuses), 320)
        self.assertEqual(self.zboard("weekly", self.W), {"amy": 3 * 160})
        log = self.log_entries()
        self.assertEqual(len(log), 160)
        self.assertEqual({e["leader"] for e in log}, {"amy"})
        self.assertEqual(self.r("KEYS", self.key("cap", "*")), [], "bob's capped posts left no counter")

    def test_event_log_holds_the_result(self):
        t = times_today(2)
        self.event("bob", "post", at=t[0])
        res = self.event("amy", "stakeholder_interaction", at=t[1], id="log-1", channel="linkedin",
                         stakeholder="investor", url="https://www.linkedin.com/feed/update/1",
                         note="Met the CFO of Acme \u2014 great chat")
        self.assertEqual(res["points"], 45)
        entries = self.log_entries()
        self.assertEqual(len(entries), 2)
        e = entries[1]
        self.assertEqual(e["id"], "log-1")
        self.assertEqual(e["leader"], "amy")
        self.assertEqual(e["type"], "stakeholder_interaction")
        self.assertEqual(e["at"], t[1])
        self.assertEqual(e["channel"], "linkedin")
        self.assertEqual(e["stakeholder"], "investor")
        self.assertEqual(e["url"], "https://www.linkedin.com/feed/update/1")
        self.assertEqual(e["note"], "Met the CFO of Acme \u2014 great chat")
        # dup|points|reasons|explanation, then per board name|points|score|rank|notes
        explain = ('{"base":15,"multipliers":[{"kind":"channel","name":"linkedin","factor":1.5},'
                   '{"kind":"stakeholder","name":"investor","factor":2}]}')
        self.assertEqual(e["result"], "|".join([
            "0", "45", "", explain,
            "weekly:%s" % self.W, "45", "45", "1", "",
            "weekly:all", "45", "45", "1", "",
            "meetings:%s" % self.M, "1", "1", "1", "",
            "meetings:all", "1", "1", "1", ""]))
        self.assertNotIn("channel", entries[0])
        self.assertEqual(entries[0]["result"],
                         '0|10||{"base":10,"multipliers":[]}|weekly:%s|10|10|1||weekly:all|10|10|1|'
                         % self.W)
        # The idempotency record holds the same result, for at least a week.
        rec, ttl = self.idem_record("log-1")
        self.assertEqual(rec, e["result"])
        self.assertGreater(ttl, 7 * 86400)

    def test_default_at_is_now(self):
        before = int(time.time() * 1000)
        self.event("amy", "reply")
        after = int(time.time() * 1000)
        at = self.log_entries()[0]["at"]
        self.assertTrue(before - 5 <= at <= after + 5, (before, at, after))


class LateRetryTest(PodiumTestCase):
    """A retry that arrives after the event's period closed (a phone that
    was offline over the weekend) gets the first result, marked duplicate,
    instead of a refusal; a new event in that period is still refused."""
    leaders = ("amy",)

    def setUp(self):
        now = int(time.time())
        self.rules = {
            "activities": {"post": {"points": 10}},
            "challenges": [
                {"id": "sprint", "name": "Sprint", "period": "fixed", "grace": "0s",
                 "starts": rfc3339((now - 60) * 1000).replace(".000Z", "Z"),
                 "ends": rfc3339((now + 2) * 1000).replace(".000Z", "Z"),
                 "activities": ["post"]},
            ],
        }
        self.ends_ms = (now + 2) * 1000
        super().setUp()

    def test_retry_after_close_is_a_duplicate(self):
        at = self.ends_ms - 1500
        first = self.event("amy", "post", at=at, id="phone-7")
        self.assertEqual((first["points"], first["duplicate"]), (10, False))
        time.sleep(max(0, (self.ends_ms - now_ms()) / 1000) + 0.3)  # the sprint is closed now
        before = self.snapshot()
        again = self.event("amy", "post", at=at, id="phone-7")
        self.assertEqual(again["duplicate"], True)
        self.assertEqual(again["standings"], first["standings"])
        # The same by Idempotency-Key, in a batch too.
        r = self.ok(self.batch([{"leader": "amy", "type": "post", "at": at, "id": "phone-7"}]))
        self.assertTrue(r["results"][0]["duplicate"])
        self.assertUnchanged(before, "late retries")
        # A new event in the closed period is refused, with or without an id,
        # and takes down the request it is in.
        self.assertProblem(self.post("amy", "post", at=at, id="phone-8"), 422, ["/at"])
        self.assertProblem(self.post("amy", "post", at=at), 422, ["/at"])
        self.assertProblem(self.batch([{"leader": "amy", "type": "post", "at": at, "id": "phone-7"},
                                       {"leader": "amy", "type": "post", "at": at, "id": "phone-9"}]),
                           422, ["/events/1/at"])
        self.assertUnchanged(before, "refused late events")


class CapPerChallengeTest(PodiumTestCase):
    """docs/rules.md: daily_cap counts "scored events per day and challenge"."""
    leaders = ("amy",)

    def setUp(self):
        now = int(time.time())
        self.now = now
        # A sprint that started 60 s ago, beside the weekly challenge; both in London.
        self.starts = now - 60
        self.rules = {
            "activities": {"post": {"points": 10, "daily_cap": 2}},
            "challenges": [
                {"id": "weekly", "name": "Weekly", "period": "week", "timezone": "Europe/London",
                 "activities": ["post"]},
                {"id": "sprint", "name": "Sprint", "period": "fixed", "timezone": "Europe/London",
                 "starts": rfc3339(self.starts * 1000).replace(".000Z", "Z"),
                 "ends": rfc3339((now + 86400) * 1000).replace(".000Z", "Z"),
                 "activities": ["post"]},
            ],
        }
        super().setUp()

    def test_cap_is_counted_per_challenge(self):
        """Two posts made before the sprint started (counted by "weekly" only)
        do not use up the sprint's cap: the sprint's first post of the day
        scores there while weekly's third is capped."""
        if self.now - 120 < london_day_start_ms(self.now * 1000) // 1000:
            self.skipTest("too close to midnight in London")
        early = [(self.starts - 50) * 1000, (self.starts - 40) * 1000]
        for at in early:   # before the sprint: weekly only
            r = self.event("amy", "post", at=at)
            self.assertEqual([s["challenge"] for s in r["standings"]], ["weekly", "weekly"])
        r = self.event("amy", "post", at=self.now * 1000)
        pts = {(s["challenge"], s["period"]): s["points"] for s in r["standings"]}
        self.assertEqual(pts[("weekly", week_id())], 0)   # third post of the day on weekly
        self.assertEqual(pts[("sprint", "fixed")], 10,    # first post of the day on the sprint
                         r)


class TwoDaemonsTest(PodiumTestCase):
    """Two podiumd instances on one Redis (SPEC 8): state is shared."""
    leaders = ("amy", "bob")

    def setUp(self):
        super().setUp()
        other = os.path.join(self.tmp, "second")
        os.makedirs(other)
        self.d2 = self.start_daemon(name="podiumd2", workdir=other)
        self.W = week_id()

    def test_scores_once_across_daemons(self):
        _, tok = self.make_token("ingest")
        errors, out = [], []
        lock = threading.Lock()

        def worker(d, n):
            conn = d.connection(timeout=10)
            try:
                for i in range(60):
                    # Both daemons get the same ids: every id must score once.
                    ev = {"id": "two-%d-%d" % (n, i), "leader": ["amy", "bob"][i % 2], "type": "reply"}
                    r = d.request("POST", "/v1/events", json_body=ev, auth=tok, conn=conn)
                    with lock:
                        (out.append(r.json()) if r.status == 200 else errors.append(r))
            except Exception as e:  # noqa: BLE001
                errors.append(e)
            finally:
                conn.close()

        ts = [threading.Thread(target=worker, args=(d, n)) for d in (self.d, self.d2) for n in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=30)
        self.assertEqual(errors, [])
        self.assertEqual(len(out), 360)
        self.assertEqual(sum(1 for j in out if not j["duplicate"]), 180)
        self.assertEqual(len(self.log_entries()), 180)
        self.assertEqual(self.zboard("weekly", self.W), {"amy": 270, "bob": 270})
        # Both daemons serve the same board.
        for d in (self.d, self.d2):
            wait_until(lambda: d.request("GET", "/v1/challenges/weekly/leaderboard", auth=tok).json()["entries"]
                       == self.board()["entries"], timeout=3, what="the same board on both daemons")

    def test_writes_through_one_show_on_the_other(self):
        _, tok = self.make_token("reader")
        self.assertEqual(self.d2.request("GET", "/v1/challenges/weekly/leaderboard", auth=tok).json()["entries"], [])
        self.event("amy", "post")

        def on_d2():
            j = self.d2.request("GET", "/v1/challenges/weekly/leaderboard", auth=tok).json()
            return [(e["leader"], e["score"]) for e in j["entries"]] == [("amy", 10)]
        wait_until(on_d2, timeout=2.5, what="the write on the second daemon's board")
        # A token deleted through one daemon stops working on the other within 5 s.
        tid, tok2 = self.make_token("ingest")
        self.assertEqual(self.d2.request("POST", "/v1/events", auth=tok2,
                                         json_body={"leader": "bob", "type": "reply"}).status, 200)
        self.assertEqual(self.req("DELETE", "/v1/admin/tokens/" + tid).status, 204)
        start = time.monotonic()
        wait_until(lambda: self.d2.request("GET", "/v1/challenges", auth=tok2).status == 401,
                   timeout=7, interval=0.2, what="the deleted token to fail on the other daemon")
        self.assertLess(time.monotonic() - start, 6.5)


if __name__ == "__main__":
    unittest.main()
