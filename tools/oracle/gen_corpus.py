#!/usr/bin/env python3
"""Synthetic gateway access-log corpus for the LogMetrics oracle.

Usage:
    gen_corpus.py --out DIR [--lanes 4] [--records 90000] [--seed 7]
                  [--malformed-rate 0.005] [--max-disorder 4] [--late-lane]
                  [--span-seconds 300] [--no-future-junk]

Writes DIR/lane-<i>.jsonl (even lanes) or DIR/lane-<i>.jsonl.gz (odd lanes), one
gateway record per line (3-5 KB), DIR/dimensions/{gateway_cluster,user_level,api_meta}.csv
and DIR/manifest.json (what was generated, by construction: events, malformed by kind,
filtered, blank lines, injected late events).  Deterministic for a given seed.
Python 3.11 standard library only.
"""
from __future__ import annotations

import argparse
import bisect
import csv
import gzip
import json
import os
import random
import sys
from collections import Counter

POPWARMUP = "popwarmup.aliyuncs.com"

PRODUCTS: dict[str, tuple[str, list[str], list[str]]] = {
    # product: (ascii slug for domains, apis, versions)
    "ecs": ("ecs", ["DescribeInstances", "RunInstances", "StopInstance", "DescribeDisks",
                    "CreateSnapshot", "DescribeSecurityGroups", "ModifyInstanceAttribute"],
            ["2014-05-26"]),
    "acc": ("acc", ["DescribeCustomResourceDetail", "ListCustomResources", "CreateCustomResource"],
            ["2024-04-02"]),
    "rds": ("rds", ["DescribeDBInstances", "CreateDBInstance", "DescribeSlowLogs", "RestartDBInstance"],
            ["2014-08-15"]),
    "vpc": ("vpc", ["DescribeVpcs", "CreateVSwitch", "DescribeEipAddresses", "AllocateEipAddress"],
            ["2016-04-28"]),
    "oss": ("oss", ["GetBucketInfo", "ListBuckets", "PutBucketLifecycle"], ["2019-05-17"]),
    "slb": ("slb", ["DescribeLoadBalancers", "SetBackendServers"], ["2014-05-15"]),
    "kms": ("kms", ["Decrypt", "Encrypt", "GenerateDataKey"], ["2016-01-20"]),
    "sls": ("sls", ["GetLogs", "PutLogs", "ListProject"], ["2020-12-30", "2019-10-23"]),
    "café": ("cafe", ["DécrireRessource", "ListerCafés"], ["2023-01-01"]),
    "données": ("donnees", ["Requête", "ExporterDonnées"], ["2022-06-30"]),
    "数据湖": ("dlf", ["查询表", "DescribeCatalog"], ["2020-03-10"]),
}
PRODUCT_WEIGHTS = [30, 8, 12, 10, 8, 5, 6, 9, 3, 3, 3]

REGIONS = ["cn-hangzhou", "cn-beijing", "cn-shanghai", "cn-huhehaote", "cn-shenzhen",
           "ap-southeast-1", "us-west-1", "eu-central-1"]
REGION_WEIGHTS = [30, 20, 18, 6, 10, 7, 5, 4]

HTTP_CODES = [200, 201, 204, 302, 400, 403, 404, 429, 500, 502, 503, 504]
HTTP_WEIGHTS = [680, 20, 20, 10, 50, 30, 60, 40, 30, 10, 40, 10]

ERROR_CODES = {
    302: ["Redirect.Found"],
    400: ["InvalidParameter", "MissingParameter", "InvalidRegionId.NotFound", "Paramètre.Invalide",
          "throttling.lowercase", "Request.Throttling"],
    403: ["Forbidden.RAM", "InvalidAccessKeyId.NotFound", "Forbidden.Throttling"],
    404: ["ResourceNotFound", "InvalidApi.NotFound", "Ressource.Introuvable", "资源不存在"],
    429: ["Throttling.User", "Throttling.Api", "Throttling"],
    500: ["InternalError", "UnknownError", "Erreur.Interne"],
    502: ["BadGateway"],
    503: ["ServiceUnavailable", "Throttling", "Throttling.Concurrency"],
    504: ["ServiceTimeout"],
}

USER_AGENTS = [
    "AlibabaCloud (Linux 5.10.134-16.3.al8.x86_64; x86_64) Java/1.8.0_372-b07 tea-util/0.2.21 TeaDSL/1",
    "aliyun-cli/v3.0.204 (darwin; arm64) Go/go1.21.5 Core/1.63.0 terraform-provider-alicloud/1.215.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0 console.aliyun.com/ecs",
    "AlibabaCloud (Windows 10.0; AMD64) Python/3.11.4 Core/2.13.35 python-requests/2.31.0 aliyun-python-sdk",
    "Apache-HttpClient/4.5.14 (Java/17.0.8) aliyun-java-sdk-core/4.6.4 aliyun-java-sdk-ecs/5.11.7",
    "AlibabaCloud (Linux; x86_64) Node.js/v18.17.1 Core/1.0.1 TeaDSL/2 @alicloud/pop-core/1.7.13",
    "Terraform/1.6.6 (+https://www.terraform.io) terraform-provider-alicloud/1.214.1 (linux; amd64)",
    "ros-engine/2.0 (ResourceStack; cn-hangzhou) Go-http-client/1.1 StackId=8f2a1e-77c1",
]

HEX = "0123456789abcdef"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class Gen:
    def __init__(self, seed: int, max_disorder: int, malformed_rate: float,
                 future_junk: bool):
        self.rng = random.Random(seed)
        self.max_disorder = max_disorder
        self.malformed_rate = malformed_rate
        self.future_junk = future_junk
        rng = self.rng
        self.big_hex = "".join(rng.choice(HEX) for _ in range(20000))
        self.big_alnum = "".join(rng.choice(ALNUM) for _ in range(20000))
        self.products = list(PRODUCTS)

        # gateway nodes: 64 LocalIps, each in a region; ~85% in the cluster table
        self.gateways = []  # (ip, region, app_group, in_table)
        seen_ips: set[str] = set()
        for i in range(64):
            region = REGIONS[i % len(REGIONS)]
            ip = f"11.{197 + i % 3}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            while ip in seen_ips:  # keys of the table are unique
                ip = f"11.{197 + i % 3}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            seen_ips.add(ip)
            app_group = f"pop-region-{region}" + ("" if i % 5 else "-vip")
            self.gateways.append((ip, region, app_group, i % 7 != 3))
        self.gw_by_region: dict[str, list] = {r: [] for r in REGIONS}
        for g in self.gateways:
            self.gw_by_region[g[1]].append(g)
        # nodes that are not in the table at all (and never in any table)
        self.stray_ips = [f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                          for _ in range(6)]

        # callers: 3000 uids, ~90% in user_level
        self.uids = []
        while len(self.uids) < 3000:
            uid = str(1098370000000000 + rng.randint(0, 10 ** 12))
            if uid not in self.uids:
                self.uids.append(uid)
        self.uid_level = {}
        for i, uid in enumerate(self.uids):
            if i % 10 != 9:
                self.uid_level[uid] = rng.choice(["GC5", "GC6", "GC6", "GC7"])
        self.uid_weights = [1.0 / (1 + i) ** 0.9 for i in range(len(self.uids))]
        self.uid_cum = []
        acc = 0.0
        for w in self.uid_weights:
            acc += w
            self.uid_cum.append(acc)

        # api_meta: ~85% of (product, api) pairs
        self.api_meta = {}
        k = 0
        for product, (_slug, apis, _vers) in PRODUCTS.items():
            for api in apis:
                k += 1
                if k % 7 != 0:
                    self.api_meta[(product, api)] = rng.choice(["P0", "P1", "P2", "P3"])

        self.counts = Counter()
        self.malformed_kinds = Counter()

    # ------------------------------------------------------------------ helpers
    def hexs(self, n: int) -> str:
        i = self.rng.randint(0, len(self.big_hex) - n)
        return self.big_hex[i:i + n]

    def alnum(self, n: int) -> str:
        i = self.rng.randint(0, len(self.big_alnum) - n)
        return self.big_alnum[i:i + n]

    def uuid(self) -> str:
        h = self.hexs(32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}".upper()

    def pick_uid(self) -> str:
        x = self.rng.random() * self.uid_cum[-1]
        return self.uids[min(bisect.bisect_left(self.uid_cum, x), len(self.uids) - 1)]

    def jstr(self, value: str) -> str:
        """JSON string text: raw unicode, escaped unicode, or (rarely) an escaped ASCII
        first letter (\\u0044escribe...)."""
        r = self.rng.random()
        if r < 0.45:
            return json.dumps(value, ensure_ascii=True)
        if r < 0.48 and value and value[0].isascii() and value[0].isalpha():
            return '"\\u%04x' % ord(value[0]) + json.dumps(value[1:], ensure_ascii=False)[1:]
        return json.dumps(value, ensure_ascii=False)

    def jint(self, value: int, zero_pad: float = 0.0) -> str:
        r = self.rng.random()
        if r < zero_pad:
            return '"' + "0" * self.rng.randint(1, 2) + str(value) + '"'
        if r < 0.5 + zero_pad / 2:
            return str(value)
        return '"' + str(value) + '"'

    # ------------------------------------------------------------------ records
    def base_record(self, t: int, *, popwarmup: bool = False) -> list[list]:
        """A valid record as a list of [key, json-value-text]."""
        rng = self.rng
        product = rng.choices(self.products, PRODUCT_WEIGHTS)[0]
        slug, apis, versions = PRODUCTS[product]
        api = rng.choice(apis)
        version = rng.choice(versions)
        region = rng.choices(REGIONS, REGION_WEIGHTS)[0]
        r = rng.random()
        if r < 0.02:
            local_ip = None
            gw_app_group = f"pop-region-{region}"
        elif r < 0.05:
            local_ip = rng.choice(self.stray_ips)
            gw_app_group = f"pop-region-{region}-edge"
        else:
            # ~10% served by a gateway of another region (table region_id != RegionId)
            gw_region = region if rng.random() < 0.9 else rng.choice(REGIONS)
            gw = rng.choice(self.gw_by_region[gw_region])
            local_ip, gw_app_group = gw[0], gw[2]
        uid = self.pick_uid()
        code = rng.choices(HTTP_CODES, HTTP_WEIGHTS)[0]
        if code < 300:
            r = rng.random()
            error_code = None if r < 0.69 else ("" if r < 0.99 else "Warning.Deprecated")
        else:
            r = rng.random()
            error_code = None if r < 0.05 else ("" if r < 0.08 else rng.choice(ERROR_CODES[code]))
        r = rng.random()
        if r < 0.04:
            tut = rng.randint(1001, 6000)
        elif r < 0.05:
            tut = 1000
        elif r < 0.055:
            tut = 0
        else:
            tut = min(int(rng.expovariate(1 / 80.0)) + 1, 999)

        # RequestContent: RegionId first / later / absent / repeated / empty + decoys
        biz = region if rng.random() < 0.85 else rng.choice(REGIONS)
        other = rng.choice(REGIONS)
        kv = [f"Action={api}", f"Version={version}", "Format=JSON",
              "SignatureMethod=HMAC-SHA1", f"SignatureNonce={self.uuid()}",
              f"Timestamp=2026-01-15T13%3A37%3A{rng.randint(10, 59)}Z",
              f"AccessKeyId=STS.NZD{self.alnum(20)}", f"SubRegionId={other}",
              f"PageSize={rng.choice([10, 20, 50, 100])}", "PageNumber=1",
              f"ResourceIds=%5B%22i-{self.alnum(20)}%22%2C%22i-{self.alnum(20)}%22%5D",
              f"Filter=name={self.alnum(6)}", f"X-RegionId={other}",
              f"RegionIds={other},{biz}", f"Tag.1.Key=env;Tag.1.Value={rng.choice(['prod', 'dev'])}",
              f"ClientToken={self.uuid()}"]
        rng.shuffle(kv)
        r = rng.random()
        if r < 0.40:
            kv.insert(0, f"RegionId={biz}")
        elif r < 0.80:
            kv.insert(rng.randint(1, len(kv)), f"RegionId={biz}")
        elif r < 0.85:  # repeated: the last one wins
            kv.insert(0, f"RegionId={other}")
            kv.insert(rng.randint(1, len(kv)), f"RegionId={biz}")
        elif r < 0.86:
            kv.insert(rng.randint(0, len(kv)), "RegionId=")
        elif r < 0.87:
            kv.insert(rng.randint(0, len(kv)), "RegionId")  # no '=' -> ignored
        # else absent (~13%)
        request_content = ";".join(kv)

        ua = rng.choice(USER_AGENTS)
        # Ext5
        r = rng.random()
        if r < 0.02:
            ext5_text = None
        else:
            ext5: dict = {"logRegionId": region}
            r2 = rng.random()
            if r2 < 0.92:
                ext5["appGroup"] = gw_app_group
            elif r2 < 0.93:
                ext5["appGroup"] = ""
            ext5["callerInfo"] = {
                "callerType": rng.choice(["customer", "sub", "AssumedRoleUser"]),
                "callerUid": uid, "callerBid": "26842", "akProven": "true",
                "ownerId": uid, "stsTokenPlayerUid": str(rng.randint(10 ** 15, 10 ** 16)),
                "roleSession": {"roleArn": f"acs:ram::{uid}:role/aliyunecsdefaultrole",
                                "sessionName": self.alnum(12), "expiration": "2026-01-15T14:37:00Z"},
                "securityToken": self.alnum(rng.randint(300, 600)),
            }
            ext5["headers"] = {
                "User-Agent": ua, "Accept": "application/json", "Accept-Encoding": "gzip",
                "x-acs-action": api, "x-acs-version": version,
                "x-acs-signature-nonce": self.uuid(), "x-acs-date": "2026-01-15T13:37:23Z",
                "x-acs-content-sha256": self.hexs(64),
                "Authorization": f"ACS3-HMAC-SHA256 Credential=STS.{self.alnum(24)},"
                                 f"SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date,"
                                 f"Signature={self.hexs(64)}",
                "x-acs-security-token": self.alnum(rng.randint(200, 500)),
            }
            ext5["ramAuth"] = {"result": "allow", "policyType": "Custom", "evaluated": rng.randint(1, 9)}
            ext5["traceId"] = self.hexs(32)
            ext5_text = json.dumps(ext5, ensure_ascii=False, separators=(",", ":"))
            r3 = rng.random()
            if r3 < 0.025:  # truncated -> invalid JSON
                ext5_text = ext5_text[:rng.randint(1, len(ext5_text) - 1)]
            elif r3 < 0.03:
                ext5_text = rng.choice(["", "{not json", "{'appGroup': 'pop-region-x'}",
                                        "[1,2,3]", "null", '"pop-region-str"', "{\"appGroup\":NaN}"])

        domain = POPWARMUP if popwarmup else (
            f"{slug}-vpc.{region}.aliyuncs.com" if rng.random() < 0.5 else f"{slug}.{region}.aliyuncs.com")

        f: list[list] = []
        f.append(["AK", json.dumps(f"STS.NZD{self.alnum(16)}")])
        f.append(["Api", self.jstr(api)])
        if rng.random() < 0.99:
            f.append(["CallerUid", json.dumps(uid)])
        f.append(["CallerType", json.dumps(rng.choice(["customer", "sub", "AssumedRoleUser"]))])
        f.append(["ClientIp", json.dumps(f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}")])
        r = rng.random()
        if r < 0.997:
            f.append(["Domain", json.dumps(domain)])
        elif not popwarmup:
            if r < 0.9985:
                f.append(["Domain", json.dumps(POPWARMUP + ".cn")])  # decoy, not filtered
            # else: Domain missing -> not filtered
        else:
            f.append(["Domain", json.dumps(domain)])
        if error_code is not None:
            f.append(["ErrorCode", self.jstr(error_code)])
        if error_code:
            f.append(["ErrorMessage", json.dumps(
                f"The request failed: {error_code}. RequestId: {self.uuid()}. "
                f"Please check the parameters and retry; see https://api.aliyun.com/troubleshoot?q={error_code}",
                ensure_ascii=False)])
        if ext5_text is not None:
            f.append(["Ext5", json.dumps(ext5_text, ensure_ascii=rng.random() < 0.5)])
        f.append(["Ext1", json.dumps(f"{product}|{api}|{self.hexs(16)}", ensure_ascii=False)])
        f.append(["HttpCode", self.jint(code, zero_pad=0.1)])
        if local_ip is not None:
            f.append(["LocalIp", json.dumps(local_ip)])
        f.append(["Product", self.jstr(product)])
        if rng.random() < 0.97:
            f.append(["RegionId", json.dumps(region)])
        f.append(["RequestContent", json.dumps(request_content, ensure_ascii=False)])
        f.append(["RequestId", json.dumps(self.uuid())])
        f.append(["ResponseSize", self.jint(rng.randint(100, 90000))])
        f.append(["TotalUsedTime", self.jint(tut)])
        f.append(["UserAgent", json.dumps(ua)])
        if rng.random() < 0.98:
            f.append(["Version", json.dumps(version)])
        f.append(["__source__", json.dumps(f"11.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}")])
        f.append(["__tag__:__hostname__", json.dumps(f"gw-{slug}-{region}-{rng.randint(1, 40):03d}")])
        f.append(["__tag__:__receive_time__", json.dumps(str(t + rng.randint(0, 3)))])
        f.append(["__time__", self.jint(t)])
        f.append(["__topic__", json.dumps("pop_gateway_access")])
        return f

    @staticmethod
    def render(fields: list[list]) -> str:
        return "{" + ",".join(f'"{k}":{v}' for k, v in fields) + "}"

    def pad(self, fields: list[list]) -> str:
        """Add a TraceContext filler so the line is 3-5 KB."""
        line = self.render(fields)
        size = len(line.encode("utf-8"))
        target = self.rng.randint(3150, 4950)
        if size + 40 < target:
            fields.insert(len(fields) - 4, ["TraceContext", json.dumps(self.hexs(target - size - 20))])
            line = self.render(fields)
        return line

    # ------------------------------------------------------------------ malformed
    MALFORMED_KINDS = [
        "not-json", "truncated-json", "not-object", "missing-time", "fractional-time",
        "negative-time", "missing-product", "missing-api", "product-not-string",
        "api-not-string", "httpcode-not-int", "missing-httpcode", "missing-tut",
        "negative-tut", "fractional-tut", "invalid-utf8",
    ]

    def malformed_line(self, t: int) -> tuple[bytes, str]:
        rng = self.rng
        kind = rng.choice(self.MALFORMED_KINDS)
        if self.future_junk and rng.random() < 0.2:
            t += 120  # far ahead: must NOT move the lane watermark
        fields = self.base_record(t)

        def setv(key: str, text: str) -> None:
            for pair in fields:
                if pair[0] == key:
                    pair[1] = text
                    return
            fields.append([key, text])

        def drop(key: str) -> None:
            fields[:] = [p for p in fields if p[0] != key]

        if kind == "not-json":
            line = rng.choice([
                "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
                f"GET /?Action=DescribeInstances&RegionId=cn-hangzhou HTTP/1.1 200 {t}",
                "{bad json: true, __time__: %d}" % t,
                "{'Product': 'ecs', 'Api': 'DescribeInstances', '__time__': %d}" % t,
                f"__time__={t} Product=ecs Api=DescribeInstances HttpCode=200 TotalUsedTime=3",
                '{"Product":"ecs","Api":"X","HttpCode":200,"TotalUsedTime":1,"__time__":%d}}' % t,
                '{"Product":"ecs","Api":"X","HttpCode":200,"TotalUsedTime":NaN,"__time__":%d}' % t,
                '{"Product":"ecs","Api":"X","HttpCode":200,"TotalUsedTime":1,"__time__":%d} trailing' % t,
            ])
            return line.encode("utf-8"), kind
        if kind == "truncated-json":
            line = self.pad(fields)
            return line[:rng.randint(1, len(line) - 1)].encode("utf-8"), kind
        if kind == "not-object":
            line = rng.choice(["[1,2,3]", '"just a string"', "42", "null", "true", "[]",
                               "[" + self.render(fields) + "]"])
            return line.encode("utf-8"), kind
        if kind == "missing-time":
            drop("__time__")
        elif kind == "fractional-time":
            setv("__time__", rng.choice([f'"{t}.5"', f"{t}.0", f'"{t}.0"', f"{t}e0", "1.5", '"1.5"']))
        elif kind == "negative-time":
            setv("__time__", rng.choice([f"-{t}", f'"-{t}"', "-1"]))
        elif kind == "missing-product":
            drop("Product")
        elif kind == "missing-api":
            drop("Api")
        elif kind == "product-not-string":
            setv("Product", rng.choice(["123", "null", '["ecs"]', '{"name":"ecs"}', "true"]))
        elif kind == "api-not-string":
            setv("Api", rng.choice(["7", "null", '["DescribeInstances"]', '{"a":1}', "false"]))
        elif kind == "httpcode-not-int":
            setv("HttpCode", rng.choice(['"abc"', "1.5", "404.0", '"404.0"', '""', "null", "true",
                                         '"4e2"', "4e2", '"2OO"']))
        elif kind == "missing-httpcode":
            drop("HttpCode")
        elif kind == "missing-tut":
            drop("TotalUsedTime")
        elif kind == "negative-tut":
            setv("TotalUsedTime", rng.choice(["-5", '"-5"', "-1"]))
        elif kind == "fractional-tut":
            setv("TotalUsedTime", rng.choice(["12.5", '"12.5"', "14.0", '"14.0"', "1e3", '"1.5"']))
        elif kind == "invalid-utf8":
            target = rng.choice(["UserAgent", "Api", "RequestContent"])
            setv(target, '"INVALIDUTF8MARK"')
            line = self.pad(fields).encode("utf-8")
            bad = rng.choice([b"Mozilla/5.0 \xff\xfe", b"Describe\xc3\x28Instances", b"x\xed\xa0\x80y",
                              b"\x80abc", b"caf\xe9"])
            return line.replace(b"INVALIDUTF8MARK", bad), kind
        return self.pad(fields).encode("utf-8"), kind

    # ------------------------------------------------------------------ lanes
    def lane_lines(self, n: int, start: float, span: float, late_lane: bool):
        """Yields (bytes line, category) for one lane; category in
        blank/malformed/filtered/accepted/late."""
        rng = self.rng
        d = self.max_disorder
        acc_max = None
        for i in range(n):
            while rng.random() < 0.001:
                yield b"", "blank"
            clock = int(start + span * i / n)
            if self.malformed_rate and rng.random() < self.malformed_rate:
                line, kind = self.malformed_line(clock)
                self.malformed_kinds[kind] += 1
                yield line, "malformed"
                continue
            if rng.random() < 0.02:
                t = clock + (120 if self.future_junk and rng.random() < 0.2 else -rng.randint(0, d))
                yield self.pad(self.base_record(t, popwarmup=True)).encode("utf-8"), "filtered"
                continue
            if late_lane and acc_max is not None and acc_max - start >= 70 and rng.random() < 0.01:
                t = acc_max - 60
                yield self.pad(self.base_record(t)).encode("utf-8"), "late"
                continue
            t = clock - rng.randint(1, d) if d > 0 and rng.random() < 0.3 else clock
            if acc_max is not None and t < acc_max - d:  # cannot happen; keep the invariant
                t = acc_max - d
            acc_max = t if acc_max is None else max(acc_max, t)
            yield self.pad(self.base_record(t)).encode("utf-8"), "accepted"

    def write_dimensions(self, out: str) -> None:
        ddir = os.path.join(out, "dimensions")
        os.makedirs(ddir, exist_ok=True)
        with open(os.path.join(ddir, "gateway_cluster.csv"), "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["local_ip", "app_group", "region_id"])
            for ip, region, app_group, in_table in self.gateways:
                if in_table:
                    w.writerow([ip, app_group, region])
        with open(os.path.join(ddir, "user_level.csv"), "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["uid", "gc_level"])
            for uid in self.uids:
                if uid in self.uid_level:
                    w.writerow([uid, self.uid_level[uid]])
        with open(os.path.join(ddir, "api_meta.csv"), "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["product", "api", "priority"])
            for (product, api), prio in self.api_meta.items():
                w.writerow([product, api, prio])


def generate(out: str, lanes: int, records: int, seed: int, malformed_rate: float = 0.005,
             max_disorder: int = 4, late_lane: bool = False, span: float = 300.0,
             future_junk: bool = True) -> dict:
    if late_lane and lanes != 1:
        print(f"gen_corpus: --late-lane writes a single lane (ignoring --lanes {lanes})", file=sys.stderr)
        lanes = 1
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):  # remove stale lanes from an earlier run
        if name.startswith("lane-") and (name.endswith(".jsonl") or name.endswith(".jsonl.gz")):
            os.remove(os.path.join(out, name))
    gen = Gen(seed, max_disorder, malformed_rate, future_junk)
    gen.write_dimensions(out)
    base = 1768484000 + gen.rng.randint(0, 59)
    manifest = {"seed": seed, "records": records, "lanes": [], "malformed_rate": malformed_rate,
                "max_disorder": max_disorder, "late_lane": late_lane, "future_junk": future_junk,
                "span_seconds": span, "start_time": base}
    totals = Counter()
    for lane in range(lanes):
        n = records // lanes + (1 if lane < records % lanes else 0)
        gz = lane % 2 == 1
        name = f"lane-{lane}.jsonl" + (".gz" if gz else "")
        path = os.path.join(out, name)
        counts = Counter()
        start = base + lane * 0.7 + gen.rng.random()
        fh = gzip.open(path, "wb", compresslevel=1) if gz else open(path, "wb")
        with fh:
            buf: list[bytes] = []
            for line, cat in gen.lane_lines(n, start, span, late_lane):
                counts[cat] += 1
                buf.append(line)
                if len(buf) >= 2000:
                    fh.write(b"\n".join(buf) + b"\n")
                    buf = []
            tail = b"\n".join(buf)
            # lane 1: no trailing newline at end of file
            fh.write(tail if lane == 1 else tail + b"\n")
        entry = {"file": name, "events": n, "blank_lines": counts["blank"],
                 "malformed": counts["malformed"], "filtered": counts["filtered"],
                 "accepted": counts["accepted"] + counts["late"], "late_injected": counts["late"]}
        manifest["lanes"].append(entry)
        for k, v in entry.items():
            if k != "file":
                totals[k] += v
    manifest["totals"] = dict(totals)
    manifest["malformed_kinds"] = dict(sorted(gen.malformed_kinds.items()))
    manifest["note"] = ("late_injected are events 60 s behind the lane's accepted max; with "
                        "max_disorder <= 5 they are exactly the late events")
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="generate a LogMetrics gateway corpus")
    ap.add_argument("--out", required=True)
    ap.add_argument("--lanes", type=int, default=4)
    ap.add_argument("--records", type=int, default=90000, help="non-blank lines in total")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--malformed-rate", type=float, default=0.005)
    ap.add_argument("--max-disorder", type=int, default=4,
                    help="max seconds an accepted event is behind its lane's accepted max")
    ap.add_argument("--late-lane", action="store_true",
                    help="single lane with ~1%% of events 60 s behind the lane max (late)")
    ap.add_argument("--span-seconds", type=float, default=300.0)
    ap.add_argument("--no-future-junk", action="store_true",
                    help="do not give 20%% of malformed/filtered records a time 120 s ahead")
    args = ap.parse_args(argv)
    if args.lanes < 1 or args.records < 0 or args.max_disorder < 0:
        ap.error("bad arguments")
    m = generate(args.out, args.lanes, args.records, args.seed, args.malformed_rate,
                 args.max_disorder, args.late_lane, args.span_seconds, not args.no_future_junk)
    print(json.dumps(m["totals"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
