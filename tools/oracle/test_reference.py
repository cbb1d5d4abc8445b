"""Self-checks of the oracle.  Run from the repository root:

    python3 -m unittest tools/oracle/test_reference.py
"""
from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare  # noqa: E402
import gen_corpus  # noqa: E402
import reference  # noqa: E402
from reference import Malformed, as_integer, parse_ext5, parse_kv_region, validate  # noqa: E402


def write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def rec(**fields) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


class TempDirTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="oracle-test-")
        self.dims = os.path.join(self.dir, "dimensions")
        os.makedirs(self.dims)
        write(os.path.join(self.dims, "gateway_cluster.csv"),
              "local_ip,app_group,region_id\n10.0.0.1,pop-a,cn-hangzhou\n")
        write(os.path.join(self.dims, "user_level.csv"), "uid,gc_level\nu1,GC7\n")
        write(os.path.join(self.dims, "api_meta.csv"),
              "product,api,priority\necs,DescribeInstances,P0\n")

    def tearDown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def lane(self, name: str, lines: list[bytes], gz: bool = False) -> str:
        path = os.path.join(self.dir, name)
        data = b"\n".join(lines) + b"\n"
        if gz:
            with gzip.open(path, "wb") as fh:
                fh.write(data)
        else:
            with open(path, "wb") as fh:
                fh.write(data)
        return path


class TestRules(unittest.TestCase):
    def test_integers(self):
        self.assertEqual(as_integer(14), 14)
        self.assertEqual(as_integer("14"), 14)
        self.assertEqual(as_integer("0404"), 404)
        self.assertEqual(as_integer(-3), -3)  # sign check is the caller's
        for bad in (14.0, 1.5, "1.5", "14.0", "", "abc", " 14", "+14", "-14", "1e3", True, False,
                    None, [], {}, "\u0661\u0662", "99999999999999999999"):
            self.assertIsNone(as_integer(bad), repr(bad))

    def test_kv(self):
        self.assertEqual(parse_kv_region("RegionId=cn-a;Action=X"), "cn-a")
        self.assertEqual(parse_kv_region("Action=X;SubRegionId=z;RegionId=cn-b"), "cn-b")
        self.assertIsNone(parse_kv_region("Action=X;SubRegionId=z;X-RegionId=y;RegionIds=q"))
        self.assertEqual(parse_kv_region("RegionId=a;RegionId=b"), "b")
        self.assertEqual(parse_kv_region("RegionId=;Action=X"), "")
        self.assertEqual(parse_kv_region("RegionId=a=b"), "a=b")
        self.assertIsNone(parse_kv_region("RegionId;Action=X"))
        self.assertIsNone(parse_kv_region(None))
        self.assertIsNone(parse_kv_region(5))

    def test_ext5(self):
        out = parse_ext5('{"appGroup":"g","callerInfo":{"uid":"1","sts":{"role":"r"}},"n":3}')
        self.assertEqual(out, {"ext5_appGroup": "g", "ext5_callerInfo_uid": "1",
                               "ext5_callerInfo_sts_role": "r", "ext5_n": 3})
        for bad in ('{"appGroup":"g"', "not json", "[1]", "null", '"s"', '{"a":NaN}', None, 5):
            self.assertEqual(parse_ext5(bad), {}, repr(bad))

    def test_malformed_kinds(self):
        good = dict(__time__="100", Product="ecs", Api="A", HttpCode="200", TotalUsedTime="3")
        validate(rec(**good))
        validate(rec(**dict(good, HttpCode="0404", __time__=0, TotalUsedTime=0)))
        validate(rec(**dict(good, Product="", Api="")))  # empty strings are strings
        cases = {
            b"not json": "invalid-json",
            rec(**good)[:-5]: "invalid-json",
            b"[1,2]": "not-an-object",
            b"42": "not-an-object",
            b'{"__time__":1,"Product":"e","Api":"a","HttpCode":1,"TotalUsedTime":NaN}': "invalid-json",
            b'{"__time__":1} x': "invalid-json",
            rec(**dict(good, Api="caf\u00e9")).replace("\u00e9".encode(), b"\xe9"): "invalid-utf8",
        }
        for field in ("__time__", "Product", "Api", "HttpCode", "TotalUsedTime"):
            d = dict(good)
            del d[field]
            cases[rec(**d)] = f"missing-{field}"
        for v in ("1.5", 14.0, 1.5, "abc", True, None, "-1"):
            cases[rec(**dict(good, __time__=v))] = "__time__-not-an-integer"
            cases[rec(**dict(good, HttpCode=v))] = "HttpCode-not-an-integer"
            cases[rec(**dict(good, TotalUsedTime=v))] = "TotalUsedTime-not-an-integer"
        cases[rec(**dict(good, __time__=-1))] = "negative-__time__"
        cases[rec(**dict(good, TotalUsedTime=-1))] = "negative-TotalUsedTime"
        for v in (1, None, ["x"], {"a": 1}, True):
            cases[rec(**dict(good, Product=v))] = "Product-not-a-string"
            cases[rec(**dict(good, Api=v))] = "Api-not-a-string"
        for raw, reason in cases.items():
            with self.assertRaises(Malformed, msg=raw) as cm:
                validate(raw)
            self.assertEqual(cm.exception.reason, reason, raw)


class TestHandComputed(TempDirTest):
    """A 12-line corpus whose expected output was computed by hand (see comments)."""

    def test_tiny_corpus(self):
        lines = [
            # 1: t=100, table row for 10.0.0.1 -> region cn-hangzhou; biz cn-beijing (decoy SubRegionId)
            b'{"__time__":"100","Product":"ecs","Api":"DescribeInstances","HttpCode":"0200",'
            b'"TotalUsedTime":"10","LocalIp":"10.0.0.1","CallerUid":"u1","Version":"v1",'
            b'"RequestContent":"Action=X;RegionId=cn-beijing;SubRegionId=zz","RegionId":"cn-shanghai"}',
            # 2: t=103, no table row -> region falls back to RegionId cn-shanghai
            b'{"__time__":103,"Product":"ecs","Api":"DescribeInstances","HttpCode":503,'
            b'"TotalUsedTime":1500,"ErrorCode":"ServiceUnavailable","LocalIp":"10.9.9.9",'
            b'"RegionId":"cn-shanghai","CallerUid":"u2","Version":"v1","RequestContent":"RegionId=cn-beijing"}',
            # 3: blank
            b"",
            # 4: fractional __time__ -> malformed
            b'{"__time__":"105.5","Product":"ecs","Api":"DescribeInstances","HttpCode":200,"TotalUsedTime":1}',
            # 5: t=104, 429 with empty ErrorCode, same product series as line 1
            b'{"__time__":104,"Product":"ecs","Api":"DescribeInstances","HttpCode":429,'
            b'"TotalUsedTime":20,"ErrorCode":"","LocalIp":"10.0.0.1","CallerUid":"u1","Version":"v1",'
            b'"RequestContent":"SubRegionId=x;RegionId=cn-beijing"}',
            # 6: filtered, far-future time must not move the watermark
            b'{"__time__":300,"Domain":"popwarmup.aliyuncs.com","Product":"ecs",'
            b'"Api":"DescribeInstances","HttpCode":200,"TotalUsedTime":1}',
            # 7: t=118 -> lane max 118, watermark 113; escaped unicode product; Throttling code
            b'{"__time__":118,"Product":"caf\\u00e9","Api":"Lister","HttpCode":200,"TotalUsedTime":"0",'
            b'"ErrorCode":"Throttling.User","CallerUid":"u1","Ext5":"{\\"appGroup\\":\\"g\\"}",'
            b'"Domain":"popwarmup.aliyuncs.com.cn"}',
            # 8: t=109, window [100,110) end 110 <= 113 -> late
            b'{"__time__":109,"Product":"ecs","Api":"DescribeInstances","HttpCode":200,'
            b'"TotalUsedTime":5,"LocalIp":"10.0.0.1","CallerUid":"u1","Version":"v1"}',
            # 9: t=114, window end 120 > 113 -> not late; escaped ASCII in Api; "0500";
            #    TotalUsedTime 1000 is not slow; repeated RegionId -> last wins; no Version
            b'{"__time__":114,"Product":"ecs","Api":"Describe\\u0049nstances","HttpCode":"0500",'
            b'"TotalUsedTime":1000,"ErrorCode":"InternalError","LocalIp":"10.0.0.1","CallerUid":"u3",'
            b'"RequestContent":"RegionId=a;RegionId=b","RegionId":"zz"}',
            # 10: array -> malformed
            b"[1,2]",
            # 11: fractional TotalUsedTime -> malformed
            b'{"__time__":125,"Product":"ecs","Api":"DescribeInstances","HttpCode":200,"TotalUsedTime":1.0}',
            # 12: invalid UTF-8 -> malformed
            b'{"__time__":125,"Product":"ecs","Api":"caf\xe9","HttpCode":200,"TotalUsedTime":1}',
        ]
        path = self.lane("lane-0.jsonl", lines)
        samples, summary = reference.run_reference(self.dims, [path])
        self.assertEqual({k: summary[k] for k in compare.SUMMARY_KEYS},
                         {"events": 11, "accepted": 6, "malformed": 4, "filtered": 1, "late": 1,
                          "samples": 42})
        got = {(s["name"], tuple(sorted(s["labels"].items())), s["timestamp"]): s["value"]
               for s in samples}

        def P(product, region, biz):
            return (("biz_region_id", biz), ("product", product), ("region_id", region))

        def A(product, api, version, prio):
            return (("api", api), ("priority", prio), ("product", product), ("version", version))

        exp = {}
        pf = "namespace_product_gw_"
        for labels, ts, vals in [
            (P("ecs", "cn-hangzhou", "cn-beijing"), 100000, (2, 0, 15.0, 0.5)),   # lines 1, 5
            (P("ecs", "cn-shanghai", "cn-beijing"), 100000, (1, 1, 1500.0, 0.0)),  # line 2
            (P("café", "unknown", "unknown"), 110000, (1, 0, 0.0, 1.0)),          # line 7
            (P("ecs", "cn-hangzhou", "b"), 110000, (1, 1, 1000.0, 0.0)),           # line 9
        ]:
            for metric, v in zip(("http_req", "http_5xx", "rt_mean", "success_rate"), vals):
                exp[(pf + metric, labels, ts)] = v
        af = "namespace_api_gw_"
        for labels, vals in [
            (A("ecs", "DescribeInstances", "v1", "P0"), (3, 1, 1, 1 / 3)),      # lines 1, 2, 5
            (A("ecs", "DescribeInstances", "unknown", "P0"), (1, 1, 0, 0.0)),  # line 9
            (A("café", "Lister", "unknown", "unknown"), (1, 0, 0, 0.0)),       # line 7
        ]:
            for metric, v in zip(("http_req", "http_5xx", "slow_http_req", "http503_rate"), vals):
                exp[(af + metric, labels, 60000)] = v
        for product, api, code in [("ecs", "DescribeInstances", "200"), ("ecs", "DescribeInstances", "503"),
                                   ("ecs", "DescribeInstances", "429"), ("ecs", "DescribeInstances", "500"),
                                   ("café", "Lister", "200")]:
            exp[("namespace_error_code_gw_http_code",
                 (("api", api), ("http_code", code), ("product", product)), 60000)] = 1
        for product, api, ec in [("ecs", "DescribeInstances", "ServiceUnavailable"),
                                 ("café", "Lister", "Throttling.User"),
                                 ("ecs", "DescribeInstances", "InternalError")]:
            exp[("namespace_error_code_gw_error_code",
                 (("api", api), ("error_code", ec), ("product", product)), 60000)] = 1
        tf = "namespace_tenant_gw_"
        for uid, level, n, rate in [("u1", "GC7", 3, 2 / 3), ("u2", "unknown", 1, 0.0),
                                    ("u3", "unknown", 1, 0.0)]:
            labels = (("gc_level", level), ("uid", uid))
            exp[(tf + "http_req", labels, 60000)] = n
            exp[(tf + "api_req_limiting_rate", labels, 60000)] = rate
        self.assertEqual(len(exp), 42)
        self.assertEqual(set(got), set(exp))
        for k, v in exp.items():
            self.assertAlmostEqual(got[k], v, places=12, msg=str(k))
            self.assertIs(type(got[k]), type(v), msg=str(k))


class TestWatermarks(TempDirTest):
    @staticmethod
    def ev(t: int) -> bytes:
        return rec(__time__=t, Product="p", Api="a", HttpCode=200, TotalUsedTime=1)

    def run_lanes(self, *lanes, interleave="round-robin"):
        paths = [self.lane(f"lane-{i}.jsonl", [self.ev(t) for t in ts], gz=i % 2 == 1)
                 for i, ts in enumerate(lanes)]
        return reference.run_reference(self.dims, paths, interleave)[1]["late"]

    def test_single_lane_boundaries(self):
        # max 120 -> wm 115: window [100,110) end 110 <= 115 -> late; [110,120) end 120 -> not late
        self.assertEqual(self.run_lanes([100, 120, 109]), 1)
        self.assertEqual(self.run_lanes([100, 120, 110]), 0)
        # max 115 -> wm 110: window end 110 <= 110 -> late (boundary inclusive)
        self.assertEqual(self.run_lanes([100, 115, 105]), 1)
        self.assertEqual(self.run_lanes([100, 114, 105]), 0)

    def test_other_lane_holds_back(self):
        # lane 0 stays at 100 (wm 95) while lane 1 jumps to 130: 112 is not late
        self.assertEqual(self.run_lanes([100] * 7, [100, 130, 112]), 0)

    def test_finished_lane_does_not_hold_back(self):
        # lane 0 ends after one event; then lane 1 alone: max 130 -> wm 125 -> 112 late
        self.assertEqual(self.run_lanes([100], [100, 101, 102, 130, 112]), 1)

    def test_lane_without_events_holds_back(self):
        # lane 1 has only a malformed line until late; nothing can be late meanwhile
        p0 = self.lane("a.jsonl", [self.ev(t) for t in (100, 130, 112)])
        p1 = self.lane("b.jsonl", [b"garbage", b"garbage", b"garbage", b"garbage"])
        self.assertEqual(reference.run_reference(self.dims, [p0, p1])[1]["late"], 0)

    def test_interleaving_matters_only_with_disorder(self):
        # 200 then 110 in lane 1 is 90 s of disorder: round-robin vs sequential both late
        # here, but for different reasons; bounded disorder never yields late events
        self.assertEqual(self.run_lanes([100, 130], [200, 110]), 1)
        self.assertEqual(self.run_lanes([100, 130], [200, 110], interleave="sequential"), 1)
        self.assertEqual(self.run_lanes([100, 103, 106, 110], [101, 99, 104, 100],
                                        interleave="sequential"), 0)


class TestGeneratorAgainstReference(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="oracle-gen-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def gen(self, name, **kw):
        out = os.path.join(self.dir, name)
        with io.StringIO() as err:
            old, sys.stderr = sys.stderr, err
            try:
                manifest = gen_corpus.generate(out, **kw)
            finally:
                sys.stderr = old
        return out, manifest

    def check(self, out, manifest):
        samples, summary = reference.run_reference(os.path.join(out, "dimensions"), [out])
        totals = manifest["totals"]
        self.assertEqual(summary["events"], totals["events"])
        self.assertEqual(summary["malformed"], totals["malformed"])
        self.assertEqual(summary["filtered"], totals["filtered"])
        self.assertEqual(summary["accepted"], totals["accepted"])
        self.assertEqual(summary["late"], totals["late_injected"])
        self.assertEqual(summary["blank_lines"], totals["blank_lines"])
        self.assertEqual(summary["samples"], len(samples))
        return samples, summary

    def test_multi_lane(self):
        out, m = self.gen("multi", lanes=4, records=6000, seed=11, malformed_rate=0.05)
        self.assertEqual(sorted(n for n in os.listdir(out) if n.startswith("lane-")),
                         ["lane-0.jsonl", "lane-1.jsonl.gz", "lane-2.jsonl", "lane-3.jsonl.gz"])
        self.assertEqual(len(m["malformed_kinds"]), len(gen_corpus.Gen.MALFORMED_KINDS))
        samples, summary = self.check(out, m)
        self.assertEqual(summary["late"], 0)
        # interleaving does not matter when disorder <= out-of-orderness
        seq_samples, seq_summary = reference.run_reference(
            os.path.join(out, "dimensions"), [out], "sequential")
        rev_samples, _ = reference.run_reference(
            os.path.join(out, "dimensions"), list(reversed(reference.expand_inputs([out]))))
        self.assertEqual(samples, seq_samples)
        self.assertEqual(samples, rev_samples)
        self.assertEqual(summary["late"], seq_summary["late"])
        # every valid line is 3-5 KB
        with open(os.path.join(out, "lane-0.jsonl"), "rb") as fh:
            for raw in fh:
                raw = raw.rstrip(b"\n")
                try:
                    validate(raw)
                except Malformed:
                    continue
                self.assertTrue(3000 <= len(raw) <= 5120, len(raw))
        # the corpus exercises the label rules
        names = {s["name"] for s in samples}
        self.assertEqual(len(names), 12)
        labels = [s["labels"] for s in samples]
        self.assertTrue(any(lab.get("gc_level") == "unknown" for lab in labels))
        self.assertTrue(any(lab.get("priority") == "unknown" for lab in labels))
        self.assertTrue(any(lab.get("biz_region_id") == "unknown" for lab in labels))
        self.assertTrue(any(lab.get("region_id") == "unknown" for lab in labels))
        self.assertTrue(any(lab.get("product") == "café" for lab in labels))
        self.assertTrue(any(lab.get("http_code") == "404" for lab in labels))

    def test_late_lane(self):
        out, m = self.gen("late", lanes=4, records=8000, seed=5, late_lane=True)
        self.assertEqual(len(m["lanes"]), 1)
        self.assertGreater(m["totals"]["late_injected"], 0)
        self.check(out, m)

    def test_deterministic(self):
        a, _ = self.gen("d1", lanes=2, records=500, seed=3)
        b, _ = self.gen("d2", lanes=2, records=500, seed=3)
        for name in ("lane-0.jsonl", "dimensions/user_level.csv"):
            with open(os.path.join(a, name), "rb") as f1, open(os.path.join(b, name), "rb") as f2:
                self.assertEqual(f1.read(), f2.read())


class TestCompare(TempDirTest):
    def test_compare(self):
        s = [{"name": "namespace_api_gw_http_req", "labels": {"product": "p"}, "timestamp": 0, "value": 3},
             {"name": "namespace_api_gw_http503_rate", "labels": {"product": "p"}, "timestamp": 0,
              "value": 1 / 3}]
        exp = os.path.join(self.dir, "e.jsonl")
        reference.write_samples(exp, s)
        sums = os.path.join(self.dir, "s.json")
        write(sums, json.dumps({"events": 1, "accepted": 1, "malformed": 0, "filtered": 0,
                                "late": 0, "samples": 2}))

        def run(samples, summary=None):
            act = os.path.join(self.dir, "a.jsonl")
            reference.write_samples(act, samples)
            asum = os.path.join(self.dir, "as.json")
            if summary is None:
                with open(sums, encoding="utf-8") as fh:
                    summary = json.load(fh)
            write(asum, json.dumps(summary))
            return compare.compare(exp, act, sums, asum, out=io.StringIO())

        self.assertEqual(run(s), 0)
        self.assertEqual(run([dict(s[0], value=3.0), dict(s[1], value=1 / 3 + 1e-12)]), 0)
        self.assertEqual(run([dict(s[0], labels={"product": "p", "__name__": s[0]["name"]}), s[1]]), 0)
        self.assertEqual(run([dict(s[0], value=4), s[1]]), 1)
        self.assertEqual(run([s[0], dict(s[1], value=0.34)]), 1)
        self.assertEqual(run([s[0]]), 1)
        self.assertEqual(run(s + [dict(s[0], timestamp=10000)]), 1)
        self.assertEqual(run(s + [s[0]]), 1)  # duplicate
        self.assertEqual(run(s, {"events": 1, "accepted": 1, "malformed": 0, "filtered": 0,
                                 "late": 1, "samples": 2}), 1)


if __name__ == "__main__":
    unittest.main()
