#!/usr/bin/env python3
"""Compare expected (oracle) samples with actual pipeline samples.

Usage:
    compare.py expected.jsonl actual.jsonl [--expected-summary A --actual-summary B]
               [--tolerance 1e-9] [--max-report 20]

Both sample files are JSON lines {"name", "labels" (without __name__), "timestamp" (ms),
"value"}.  Checks:
  * the same set of (name, labels, timestamp), each present once;
  * counts (names ending in _req, _5xx, _http_code, _error_code; slow_http_req ends in
    _req) exactly equal;
  * every other value (means, ratios) equal within the tolerance
    (|a - b| <= tol * max(1, |a|, |b|));
  * summaries: events, accepted, malformed, filtered, late, samples exactly equal.
Exit status: 0 equal, 1 differences, 2 unreadable input.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

COUNT_SUFFIXES = ("_req", "_5xx", "_http_code", "_error_code")
SUMMARY_KEYS = ("events", "accepted", "malformed", "filtered", "late", "samples")


class InputError(Exception):
    pass


def load_samples(path: str) -> tuple[dict, list[str]]:
    samples: dict = {}
    problems: list[str] = []
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise InputError(f"{path}: {e}")
    with fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                s = json.loads(raw.decode("utf-8"))
                name = s["name"]
                labels = dict(s.get("labels") or {})
                ts = s["timestamp"]
                value = s["value"]
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise InputError(f"{path}:{lineno}: not a sample line ({e})")
            if labels.get("__name__", name) == name:
                labels.pop("__name__", None)
            key = (name, tuple(sorted((str(k), str(v)) for k, v in labels.items())), ts)
            if key in samples:
                problems.append(f"{path}:{lineno}: duplicate sample {fmt_key(key)}")
            samples[key] = value
    return samples, problems


def fmt_key(key: tuple) -> str:
    name, labels, ts = key
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}" + f" @{ts}"


def is_count(name: str) -> bool:
    return name.endswith(COUNT_SUFFIXES)


def values_equal(name: str, a, b, tol: float) -> bool:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
        return False
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    if is_count(name):
        return a == b and float(a).is_integer()
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def load_summary(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: {e}")
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a JSON object")
    return data


def compare(expected: str, actual: str, exp_summary: str | None = None,
            act_summary: str | None = None, tol: float = 1e-9, max_report: int = 20,
            out=sys.stdout) -> int:
    try:
        exp, exp_problems = load_samples(expected)
        act, act_problems = load_samples(actual)
        sums = None
        if exp_summary or act_summary:
            if not (exp_summary and act_summary):
                raise InputError("give both --expected-summary and --actual-summary")
            sums = (load_summary(exp_summary), load_summary(act_summary))
    except InputError as e:
        print(f"compare: {e}", file=out)
        return 2

    missing = sorted(k for k in exp if k not in act)
    extra = sorted(k for k in act if k not in exp)
    wrong = sorted(k for k in exp if k in act and not values_equal(k[0], exp[k], act[k], tol))
    summary_diffs = []
    if sums is not None:
        for k in SUMMARY_KEYS:
            e, a = sums[0].get(k), sums[1].get(k)
            if e is None or a is None or e != a or type(e) is bool or type(a) is bool:
                summary_diffs.append(f"summary {k}: expected {e!r}, actual {a!r}")

    problems = exp_problems + act_problems
    print(f"expected samples: {len(exp)}   actual samples: {len(act)}", file=out)
    print(f"missing (expected, not in actual): {len(missing)}", file=out)
    print(f"extra (in actual, not expected):   {len(extra)}", file=out)
    print(f"value mismatches:                  {len(wrong)}", file=out)
    if sums is not None:
        print("summary: " + ", ".join(
            f"{k} {sums[0].get(k)!r}/{sums[1].get(k)!r}" for k in SUMMARY_KEYS)
            + "  (expected/actual)", file=out)
    if problems:
        print(f"input problems: {len(problems)}", file=out)

    mismatches: list[str] = []
    mismatches += problems
    mismatches += summary_diffs
    mismatches += [f"missing {fmt_key(k)} expected={exp[k]!r}" for k in missing]
    mismatches += [f"extra   {fmt_key(k)} actual={act[k]!r}" for k in extra]
    mismatches += [f"value   {fmt_key(k)} expected={exp[k]!r} actual={act[k]!r}" for k in wrong]
    if mismatches:
        print(f"FAIL: {len(mismatches)} difference(s); first {min(max_report, len(mismatches))}:", file=out)
        for m in mismatches[:max_report]:
            print("  " + m, file=out)
        return 1
    print("OK: identical", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="compare expected and actual LogMetrics samples")
    ap.add_argument("expected")
    ap.add_argument("actual")
    ap.add_argument("--expected-summary")
    ap.add_argument("--actual-summary")
    ap.add_argument("--tolerance", type=float, default=1e-9)
    ap.add_argument("--max-report", type=int, default=20)
    args = ap.parse_args(argv)
    return compare(args.expected, args.actual, args.expected_summary, args.actual_summary,
                   args.tolerance, args.max_report)


if __name__ == "__main__":
    sys.exit(main())
