"""Consistency of monitoring/: the generated Azure rule groups, runbooks and dashboards.

    python3 -m unittest discover -s monitoring -p 'test_*.py'

(promtool checks and unit-tests the rules themselves; tests/LogMetrics.IntegrationTests runs every
dashboard query against a real Prometheus.)
"""
import json
import pathlib
import re
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gen_bicep_rules  # noqa: E402
import yaml  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
MONITORING = ROOT / "monitoring"
METER = ROOT / "functions" / "LogMetrics.Core" / "Telemetry" / "PipelineMeter.cs"


def rules():
    for path in sorted((MONITORING / "rules").glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                yield path.name, group["name"], rule


def panels(dashboard):
    doc = json.loads((MONITORING / "grafana" / dashboard).read_text(encoding="utf-8"))

    def walk(items):
        for p in items:
            yield p
            yield from walk(p.get("panels", []))

    return doc, list(walk(doc["panels"]))


class GeneratedBicepTest(unittest.TestCase):
    def test_generated_bicep_matches_the_rule_files(self):
        committed = gen_bicep_rules.OUTPUT.read_text(encoding="utf-8")
        self.assertTrue(
            committed == gen_bicep_rules.generate(),
            "infra/app/prometheus-rules.bicep and monitoring/rules/*.rules.yml have drifted apart: "
            "run python3 monitoring/gen_bicep_rules.py",
        )

    def test_every_rule_is_in_the_bicep(self):
        committed = gen_bicep_rules.OUTPUT.read_text(encoding="utf-8")
        for _, _, rule in rules():
            self.assertTrue(gen_bicep_rules.string(rule["expr"]) in committed, f"not in the bicep: {rule.get('record') or rule.get('alert')}: {rule['expr']}")

    def test_durations_become_iso_8601(self):
        self.assertEqual("PT1M", gen_bicep_rules.duration("1m"))
        self.assertEqual("PT1M30S", gen_bicep_rules.duration("90s"))
        self.assertEqual("PT1H30M", gen_bicep_rules.duration("1h30m"))
        self.assertEqual("PT0M", gen_bicep_rules.duration("0m"))
        with self.assertRaises(ValueError):
            gen_bicep_rules.duration("5 minutes")

    def test_bicep_strings_are_escaped(self):
        self.assertEqual(r"'it\'s ${x} \\ {{ $labels.a }}'".replace("${", "\\${"), gen_bicep_rules.string("it's ${x} \\ {{ $labels.a }}"))


class AlertsTest(unittest.TestCase):
    def test_every_alert_has_summary_description_severity_and_a_runbook_section(self):
        readme = (MONITORING / "README.md").read_text(encoding="utf-8")
        headings = set(re.findall(r"^### (\w+)$", readme, re.M))
        alerts = [r for _, _, r in rules() if "alert" in r]
        self.assertGreaterEqual(len(alerts), 11)
        for rule in alerts:
            name = rule["alert"]
            self.assertIn(rule["labels"]["severity"], gen_bicep_rules.SEVERITY, name)
            self.assertTrue(rule["annotations"]["summary"], name)
            self.assertIn(f"monitoring/README.md#{name.lower()}", rule["annotations"]["description"], name)
            self.assertIn(name, headings, f"monitoring/README.md has no runbook section '### {name}'")

    def test_every_alert_is_unit_tested_firing_and_not_firing(self):
        firing, quiet = set(), set()
        for path in (MONITORING / "rules" / "tests").glob("*.test.yml"):
            for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
                for case in test.get("alert_rule_test", []):
                    (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
        alerts = {r["alert"] for _, _, r in rules() if "alert" in r}
        self.assertEqual(alerts, firing, "alerts never tested firing")
        self.assertEqual(alerts, quiet, "alerts never tested not firing")


class DashboardsTest(unittest.TestCase):
    def test_pipeline_rows_are_the_stages(self):
        _, items = panels("pipeline.json")
        self.assertEqual(["Parse", "Prune", "Enrich", "Accumulate", "Flush", "Write"], [p["title"] for p in items if p["type"] == "row"])

    def test_gateway_rows_are_the_four_families(self):
        doc, items = panels("gateway.json")
        self.assertEqual(["Product", "API", "Error codes", "Tenant"], [p["title"] for p in items if p["type"] == "row"])
        variables = {v["name"]: v["type"] for v in doc["templating"]["list"]}
        self.assertEqual({"datasource": "datasource", "product": "query", "region": "query", "api": "query"}, variables)

    def test_gateway_panels_read_recording_rules_only(self):
        records = {r["record"] for _, _, r in rules() if "record" in r}
        _, items = panels("gateway.json")
        for p in items:
            for target in p.get("targets", []):
                used = set(re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", target["expr"]))
                self.assertTrue(used, f"{p['title']}: reads raw series, not a recording rule")
                self.assertLessEqual(used, records, p["title"])
                self.assertNotIn("namespace_", target["expr"], p["title"])

    def test_pipeline_panels_read_instruments_of_the_meter(self):
        names = set(re.findall(r'"(logmetrics_[a-z0-9_]+)"', METER.read_text(encoding="utf-8")))
        series = names | {n + suffix for n in names if n.endswith("_seconds") for suffix in ("_bucket", "_sum", "_count")}
        _, items = panels("pipeline.json")
        for p in items:
            for target in p.get("targets", []):
                for used in re.findall(r"\blogmetrics_[a-z0-9_]+\b", target["expr"]):
                    self.assertIn(used, series, p["title"])
                for pattern in re.findall(r'__name__=~"([^"]+)"', target["expr"]):
                    self.assertTrue(any(re.fullmatch(pattern, n) for n in series), pattern)


if __name__ == "__main__":
    unittest.main()
