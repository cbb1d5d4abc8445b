#!/usr/bin/env python3
"""Independent reference implementation ("oracle") of the LogMetrics flagship pipeline.

Implements DESIGN.md sections 3-4 in the most straightforward way possible, record by
record, with no pre-aggregation tricks, so that its output can be compared with the
real pipeline's output (see compare.py).  Python 3.11 standard library only.

Usage:
    reference.py --dimensions DIR FILE_OR_DIR... --out expected.jsonl --summary expected-summary.json

Each FILE is one lane (a directory argument expands to its lane-*.jsonl / *.jsonl.gz
files, sorted by name).  The semantic choices are listed in README.md and in the
docstrings below.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import sys
from collections import Counter
from typing import Any, Iterable, Iterator

WINDOW_SECONDS = 10
OUT_OF_ORDERNESS_SECONDS = 5
POPWARMUP_DOMAIN = "popwarmup.aliyuncs.com"
UNKNOWN = "unknown"
INT64_MIN = -(2 ** 63)
INT64_MAX = 2 ** 63 - 1
_JSON_WS = b" \t\r\n"

# --------------------------------------------------------------------------- parsing


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def strict_json_loads(text: str) -> Any:
    """json.loads, but NaN / Infinity / -Infinity (a Python extension) are rejected."""
    return json.loads(text, parse_constant=_reject_constant)


def as_integer(value: Any) -> int | None:
    """DESIGN §4 integer: a JSON number without fraction/exponent, or a string of ASCII
    digits (leading zeros allowed, no sign, no whitespace).  bool is NOT an integer.
    Values outside the signed 64-bit range are not integers either."""
    if type(value) is int:  # excludes bool (type(True) is bool)
        result = value
    elif type(value) is str and value and all("0" <= ch <= "9" for ch in value):
        result = int(value)
    else:
        return None
    if result < INT64_MIN or result > INT64_MAX:
        return None
    return result


def text_of(value: Any) -> str | None:
    """The text of a label source field: a JSON string as decoded; an integer JSON number
    as its decimal text; anything else (null, bool, float, object, array) = missing."""
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    return None


def label(value: str | None) -> str:
    """Missing or empty label values become "unknown"."""
    return value if value else UNKNOWN


def flatten_json(obj: dict, prefix: str, out: dict) -> None:
    """parse-json flattening: nested objects become prefix_child_grandchild."""
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict):
            flatten_json(value, name + "_", out)
        else:
            out[name] = value


def parse_ext5(value: Any) -> dict:
    """Ext5 must be a string holding a JSON object; otherwise no ext5_* fields."""
    out: dict = {}
    if type(value) is not str:
        return out
    try:
        parsed = strict_json_loads(value)
    except ValueError:
        return out
    if isinstance(parsed, dict):
        flatten_json(parsed, "ext5_", out)
    return out


def parse_kv_region(value: Any) -> str | None:
    """RegionId out of a k=v;k=v string: split on ';', each part on its first '=', exact
    (case-sensitive, untrimmed) key match; a part without '=' is ignored; the last
    occurrence wins.  Returns None when the key is absent or the field is not a string."""
    if type(value) is not str:
        return None
    result = None
    for part in value.split(";"):
        key, sep, val = part.partition("=")
        if sep and key == "RegionId":
            result = val
    return result


class Malformed(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def validate(raw: bytes) -> dict:
    """bytes of one non-blank line -> the record object, or raises Malformed(reason)."""
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Malformed("invalid-utf8")
    try:
        rec = strict_json_loads(text)
    except ValueError:  # JSONDecodeError is a ValueError
        raise Malformed("invalid-json")
    except RecursionError:
        raise Malformed("invalid-json")
    if not isinstance(rec, dict):
        raise Malformed("not-an-object")

    if "__time__" not in rec:
        raise Malformed("missing-__time__")
    t = as_integer(rec["__time__"])
    if t is None:
        raise Malformed("__time__-not-an-integer")
    if t < 0:
        raise Malformed("negative-__time__")

    for field in ("Product", "Api"):
        if field not in rec:
            raise Malformed(f"missing-{field}")
        if type(rec[field]) is not str:
            raise Malformed(f"{field}-not-a-string")

    if "HttpCode" not in rec:
        raise Malformed("missing-HttpCode")
    if as_integer(rec["HttpCode"]) is None:
        raise Malformed("HttpCode-not-an-integer")

    if "TotalUsedTime" not in rec:
        raise Malformed("missing-TotalUsedTime")
    tut = as_integer(rec["TotalUsedTime"])
    if tut is None:
        raise Malformed("TotalUsedTime-not-an-integer")
    if tut < 0:
        raise Malformed("negative-TotalUsedTime")
    return rec


def is_blank(raw: bytes) -> bool:
    return raw.strip(_JSON_WS) == b""


# --------------------------------------------------------------------------- dimensions


class Dimensions:
    def __init__(self, directory: str):
        self.cluster: dict[str, tuple[str, str]] = {}
        self.user_level: dict[str, str] = {}
        self.api_meta: dict[tuple[str, str], str] = {}
        for row in self._rows(os.path.join(directory, "gateway_cluster.csv")):
            self.cluster[row["local_ip"]] = (row.get("app_group") or "", row.get("region_id") or "")
        for row in self._rows(os.path.join(directory, "user_level.csv")):
            self.user_level[row["uid"]] = row.get("gc_level") or ""
        for row in self._rows(os.path.join(directory, "api_meta.csv")):
            self.api_meta[(row["product"], row["api"])] = row.get("priority") or ""

    @staticmethod
    def _rows(path: str) -> Iterator[dict]:
        if not os.path.exists(path):
            return iter(())
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return iter(list(csv.DictReader(fh)))


# --------------------------------------------------------------------------- metrics

# family name -> (metric prefix, label names, resolution seconds)
PRODUCT, API, HTTP_CODE, ERROR_CODE, TENANT = "product", "api", "http_code", "error_code", "tenant"
FAMILIES = {
    PRODUCT: ("namespace_product_gw_", ("product", "region_id", "biz_region_id"), 10),
    API: ("namespace_api_gw_", ("product", "api", "version", "priority"), 60),
    HTTP_CODE: ("namespace_error_code_gw_", ("product", "api", "http_code"), 60),
    ERROR_CODE: ("namespace_error_code_gw_", ("product", "api", "error_code"), 60),
    TENANT: ("namespace_tenant_gw_", ("uid", "gc_level"), 60),
}


class Accumulator:
    """Per (family, label values, resolution-window start) a list of plain counters.
    Summing record by record into the resolution window is the same as merging the
    10-s base partials (counts and sums add)."""

    def __init__(self) -> None:
        # family -> {(labels tuple, window start s): [counters...]}
        self.state: dict[str, dict[tuple, list]] = {f: {} for f in FAMILIES}

    def _cell(self, family: str, labels: tuple, t: int, width: int) -> list:
        res = FAMILIES[family][2]
        key = (labels, t - t % res)
        cell = self.state[family].get(key)
        if cell is None:
            cell = [0] * width
            self.state[family][key] = cell
        return cell

    def add(self, rec: dict, t: int, dims: Dimensions) -> None:
        code = as_integer(rec["HttpCode"])
        tut = as_integer(rec["TotalUsedTime"])
        product = rec["Product"]
        api = rec["Api"]
        version = text_of(rec.get("Version"))
        error_code = text_of(rec.get("ErrorCode"))
        uid = text_of(rec.get("CallerUid"))
        local_ip = text_of(rec.get("LocalIp"))

        ext5 = parse_ext5(rec.get("Ext5"))
        request_region_id = parse_kv_region(rec.get("RequestContent"))

        row = dims.cluster.get(local_ip) if local_ip is not None else None
        if row is not None:
            app_group, region_id = row  # row present: its values, no fallback
        else:
            app_group = text_of(ext5.get("ext5_appGroup"))
            region_id = text_of(rec.get("RegionId"))
        del app_group  # enriched but not used by any metric label
        gc_level = dims.user_level.get(uid) if uid is not None else None
        priority = dims.api_meta.get((product, api))

        lp = label(product)
        la = label(api)

        c = self._cell(PRODUCT, (lp, label(region_id), label(request_region_id)), t, 4)
        c[0] += 1
        c[1] += code >= 500
        c[2] += tut
        c[3] += 200 <= code < 300

        c = self._cell(API, (lp, la, label(version), label(priority)), t, 4)
        c[0] += 1
        c[1] += code >= 500
        c[2] += tut > 1000
        c[3] += code == 503

        c = self._cell(HTTP_CODE, (lp, la, str(code)), t, 1)
        c[0] += 1

        if error_code:  # non-empty ErrorCode only (missing or "" -> not counted)
            c = self._cell(ERROR_CODE, (lp, la, error_code), t, 1)
            c[0] += 1

        c = self._cell(TENANT, (label(uid), label(gc_level)), t, 2)
        c[0] += 1
        c[1] += code == 429 or (error_code is not None and error_code.startswith("Throttling"))

    def samples(self) -> list[dict]:
        out = []
        for family, cells in self.state.items():
            prefix, names, _res = FAMILIES[family]
            for (labels, start), c in cells.items():
                lab = dict(zip(names, labels))
                ts = start * 1000
                n = c[0]
                if family == PRODUCT:
                    values = [("http_req", n), ("http_5xx", c[1]),
                              ("rt_mean", c[2] / n), ("success_rate", c[3] / n)]
                elif family == API:
                    values = [("http_req", n), ("http_5xx", c[1]),
                              ("slow_http_req", c[2]), ("http503_rate", c[3] / n)]
                elif family == HTTP_CODE:
                    values = [("http_code", n)]
                elif family == ERROR_CODE:
                    values = [("error_code", n)]
                else:
                    values = [("http_req", n), ("api_req_limiting_rate", c[1] / n)]
                for metric, value in values:
                    out.append({"name": prefix + metric, "labels": dict(lab),
                                "timestamp": ts, "value": value})
        out.sort(key=lambda s: (s["name"], sorted(s["labels"].items()), s["timestamp"]))
        return out


# --------------------------------------------------------------------------- lanes


def open_lane(path: str) -> Iterator[bytes]:
    """Yields the raw lines of one lane (gzip detected by magic bytes), without '\\n'."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rb") as fh:
        for line in fh:
            if line.endswith(b"\n"):
                line = line[:-1]
            yield line


def expand_inputs(args: Iterable[str]) -> list[str]:
    files: list[str] = []
    for arg in args:
        if os.path.isdir(arg):
            names = sorted(n for n in os.listdir(arg)
                           if n.endswith(".jsonl") or n.endswith(".jsonl.gz"))
            files.extend(os.path.join(arg, n) for n in names)
        else:
            files.append(arg)
    return files


class Pipeline:
    """Event-by-event replay.

    * lane watermark = max accepted (not malformed, not filtered) event time - 5 s;
      a lane with no accepted event yet has watermark -infinity.
    * global watermark = max over time of (min lane watermark over lanes not yet
      finished); a finished lane (end of file) no longer holds it back.
    * an accepted event is late iff the end of its 10-s window <= the global watermark
      at the moment it is processed (checked before the event moves its own lane; the
      order cannot matter because an event can never be late against its own lane).
    * end of input closes every window, so all remaining samples are emitted.
    """

    def __init__(self, dims: Dimensions, window: int = WINDOW_SECONDS,
                 out_of_orderness: int = OUT_OF_ORDERNESS_SECONDS, dead_letter=None):
        self.dims = dims
        self.window = window
        self.ooo = out_of_orderness
        self.acc = Accumulator()
        self.counts = Counter()
        self.reasons = Counter()
        self.global_wm: float = float("-inf")
        self.lane_max: dict[int, int | None] = {}
        self.live: set[int] = set()
        self.dead_letter = dead_letter

    def _recompute_watermark(self) -> None:
        if not self.live:
            return
        lowest = float("inf")
        for lane in self.live:
            m = self.lane_max[lane]
            wm = float("-inf") if m is None else m - self.ooo
            lowest = min(lowest, wm)
        if lowest > self.global_wm:  # monotonic
            self.global_wm = lowest

    def process_line(self, lane: int, seq: int, raw: bytes) -> None:
        if is_blank(raw):
            self.counts["blank"] += 1
            return
        self.counts["events"] += 1
        try:
            rec = validate(raw)
        except Malformed as m:
            self.counts["malformed"] += 1
            self.reasons[m.reason] += 1
            if self.dead_letter is not None:
                self.dead_letter.write(json.dumps({"lane": lane, "sequence": seq,
                                                   "reason": m.reason}) + "\n")
            return
        if rec.get("Domain") == POPWARMUP_DOMAIN:
            self.counts["filtered"] += 1
            return
        self.counts["accepted"] += 1
        t = as_integer(rec["__time__"])
        window_end = t - t % self.window + self.window
        if window_end <= self.global_wm:
            self.counts["late"] += 1
        else:
            self.acc.add(rec, t, self.dims)
        m = self.lane_max[lane]
        if m is None or t > m:
            self.lane_max[lane] = t
            self._recompute_watermark()

    def run(self, paths: list[str], interleave: str = "round-robin") -> None:
        iters = {}
        for lane, path in enumerate(paths):
            iters[lane] = open_lane(path)
            self.lane_max[lane] = None
            self.live.add(lane)
        seqs = {lane: 0 for lane in iters}

        def finish(lane: int) -> None:
            self.live.discard(lane)
            self._recompute_watermark()

        if interleave == "round-robin":
            order = list(iters)
            while order:
                still = []
                for lane in order:
                    raw = next(iters[lane], None)
                    if raw is None:
                        finish(lane)
                        continue
                    seqs[lane] += 1
                    self.process_line(lane, seqs[lane], raw)
                    still.append(lane)
                order = still
        elif interleave == "sequential":
            for lane in iters:
                for raw in iters[lane]:
                    seqs[lane] += 1
                    self.process_line(lane, seqs[lane], raw)
                finish(lane)
        else:
            raise ValueError(interleave)

    def summary(self, samples: int) -> dict:
        return {
            "events": self.counts["events"],
            "accepted": self.counts["accepted"],
            "malformed": self.counts["malformed"],
            "filtered": self.counts["filtered"],
            "late": self.counts["late"],
            "samples": samples,
            # informational only (not compared):
            "blank_lines": self.counts["blank"],
            "malformed_reasons": dict(sorted(self.reasons.items())),
        }


def run_reference(dimensions: str, inputs: list[str], interleave: str = "round-robin",
                  dead_letter=None) -> tuple[list[dict], dict]:
    pipeline = Pipeline(Dimensions(dimensions), dead_letter=dead_letter)
    pipeline.run(expand_inputs(inputs), interleave)
    samples = pipeline.acc.samples()
    return samples, pipeline.summary(len(samples))


def write_samples(path: str, samples: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for s in samples:
            fh.write(json.dumps(s, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dimensions", required=True, help="directory with the dimension CSVs")
    ap.add_argument("inputs", nargs="+", help="lane files (one lane each) or corpus dirs")
    ap.add_argument("--out", required=True, help="expected samples (JSON lines)")
    ap.add_argument("--summary", required=True, help="expected summary (JSON)")
    ap.add_argument("--dead-letter", help="optional: write lane/sequence/reason of malformed lines")
    ap.add_argument("--interleave", choices=["round-robin", "sequential"], default="round-robin",
                    help="lane interleaving (default round-robin, one line per lane per turn)")
    args = ap.parse_args(argv)
    files = expand_inputs(args.inputs)
    if not files:
        ap.error("no input lanes")
    dl = open(args.dead_letter, "w", encoding="utf-8") if args.dead_letter else None
    try:
        samples, summary = run_reference(args.dimensions, files, args.interleave, dl)
    finally:
        if dl:
            dl.close()
    write_samples(args.out, samples)
    summary["lanes"] = files
    with open(args.summary, "w", encoding="utf-8") as fh:
        json.dump(summary, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    print(json.dumps({k: summary[k] for k in
                      ("events", "accepted", "malformed", "filtered", "late", "samples")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
