#!/usr/bin/env python3
"""Offline checks for the azd Bicep in infra/ (no bicep/az CLI needed).

1. Every app setting name the function code reads is set in infra/app/api.bicep.
2. Every role the app needs (by built-in role GUID) is assigned in infra/app/rbac.bicep,
   and Monitoring Metrics Publisher is also assigned on the data collection rule.
3. Light structural lint of every .bicep file: balanced brackets, module paths exist,
   module params are declared by the target file and required params are passed,
   `<module>.outputs.<name>` references exist, main.bicep has the azd outputs.

Usage: python3 infra/check_settings.py   (exit code 0 = all checks passed)
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parent

APP_SETTINGS = [
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "EventHubConnection__fullyQualifiedNamespace",
    "EventHubConnection__credential",
    "EventHubConnection__clientId",
    "EVENTHUB_NAME",
    "EVENTHUB_CONSUMER_GROUP",
    "TASKHUB_NAME",
    "FLUSH_SCHEDULE",
    "LOGMETRICS_SHARD_COUNT",
    "LOGMETRICS_EXPECTED_LANES",
    "REMOTE_WRITE_URL",
    "REMOTE_WRITE_AUTH",
    "AZURE_CLIENT_ID",
    "DIMENSIONS_TABLE_URI",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
]

# Settings whose value is fixed by the design (name -> expected literal value).
FIXED_VALUES = {
    "AzureWebJobsStorage__credential": "managedidentity",
    "EventHubConnection__credential": "managedidentity",
    "REMOTE_WRITE_AUTH": "entra",
}

# Settings that must never appear: keys/secrets, or settings Flex Consumption rejects.
FORBIDDEN_SETTINGS = [
    "AzureWebJobsStorage",  # bare name = connection string with a key
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "APPINSIGHTS_INSTRUMENTATIONKEY",
]

ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "a638d3c7-ab3a-418d-83e6-5f17a39d4fde": "Azure Event Hubs Data Receiver",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}

MAIN_OUTPUTS = [
    "AZURE_LOCATION",
    "AZURE_TENANT_ID",
    "RESOURCE_GROUP",
    "AZURE_FUNCTION_APP_NAME",
    "EVENTHUB_NAMESPACE",
    "EVENTHUB_NAME",
    "STORAGE_ACCOUNT_NAME",
    "REMOTE_WRITE_URL",
    "AZURE_MONITOR_WORKSPACE_QUERY_ENDPOINT",
]


def strip_comments(text: str) -> str:
    """Remove // and /* */ comments, keeping string literals intact."""
    out, i, n = [], 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == "'":
                in_str = False
            i += 1
        elif c == "'":
            in_str = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_strings(text: str) -> str:
    """Blank out string literal contents (for bracket balancing)."""
    return re.sub(r"'(?:\\.|[^'\\])*'", "''", text)


def block_after(text: str, start: int) -> str:
    """Return the {...} block that starts at the first '{' at or after start."""
    i = text.index("{", start)
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i : j + 1]
    raise ValueError("unbalanced block")


def declared_params(text: str) -> dict[str, bool]:
    """param name -> has default value."""
    params = {}
    for m in re.finditer(r"^param\s+(\w+)\s+(\w+)(\s*=)?", text, re.M):
        params[m.group(1)] = bool(m.group(3))
    return params


def declared_outputs(text: str) -> set[str]:
    return set(re.findall(r"^output\s+(\w+)\s", text, re.M))


class Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.passed = 0

    def check(self, ok: bool, message: str) -> None:
        if ok:
            self.passed += 1
        else:
            self.errors.append(message)

    def app_settings(self) -> None:
        text = strip_comments((INFRA / "app" / "api.bicep").read_text())
        start = text.find("name: 'appsettings'")
        self.check(start >= 0, "api.bicep: no Microsoft.Web/sites/config 'appsettings' resource")
        if start < 0:
            return
        # The properties block of the appsettings resource.
        props = block_after(text, text.index("properties:", start))
        keys = dict(re.findall(r"^\s*(\w+)\s*:\s*(.+?)\s*$", props, re.M))
        for name in APP_SETTINGS:
            self.check(name in keys, f"api.bicep: app setting {name} is not set")
        for name, value in FIXED_VALUES.items():
            self.check(keys.get(name) == f"'{value}'", f"api.bicep: {name} must be '{value}', is {keys.get(name)}")
        for name in FORBIDDEN_SETTINGS:
            self.check(name not in keys, f"api.bicep: app setting {name} must not be set")
        self.check(
            "ClientId=${identityClientId};Authorization=AAD" in keys.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", ""),
            "api.bicep: APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be 'ClientId=<uami client id>;Authorization=AAD'",
        )
        for needle, why in [
            ("'azd-service-name': 'api'", "azd service tag"),
            ("name: 'FC1'", "Flex Consumption SKU"),
            ("tier: 'FlexConsumption'", "Flex Consumption tier"),
            ("kind: 'functionapp,linux'", "site kind"),
            ("type: 'UserAssignedIdentity'", "deployment storage identity auth"),
            ("param runtimeName string = 'dotnet-isolated'", "runtime name"),
            ("param runtimeVersion string = '10.0'", "runtime version"),
        ]:
            self.check(needle in text, f"api.bicep: missing {why} ({needle})")
        self.check(not re.search(r"listKeys|AccountKey=|SharedAccessKey", text), "api.bicep: must not use keys")

    def rbac(self) -> None:
        rbac = strip_comments((INFRA / "app" / "rbac.bicep").read_text())
        for guid, role in ROLES.items():
            self.check(guid in rbac, f"rbac.bicep: role {role} ({guid}) is not assigned")
        self.check("module appDcrPublisher 'dcr-role.bicep'" in rbac, "rbac.bicep: no DCR-scoped role module")
        block = block_after(rbac, rbac.index("module appDcrPublisher"))
        self.check("roles.monitoringMetricsPublisher" in block, "rbac.bicep: DCR role must be Monitoring Metrics Publisher")
        dcr_role = strip_comments((INFRA / "app" / "dcr-role.bicep").read_text())
        self.check("scope: dcr" in dcr_role, "dcr-role.bicep: assignment must be scoped on the DCR")

    def structure(self) -> None:
        files = sorted(INFRA.rglob("*.bicep"))
        parsed = {p: strip_comments(p.read_text()) for p in files}
        for path, text in parsed.items():
            rel = path.relative_to(INFRA)
            bare = strip_strings(text)
            for o, c in ["{}", "[]", "()"]:
                self.check(bare.count(o) == bare.count(c), f"{rel}: unbalanced {o}{c}")
            for m in re.finditer(r"^module\s+(\w+)\s+'([^']+)'\s*=", text, re.M):
                sym, target = m.group(1), (path.parent / m.group(2)).resolve()
                self.check(target.exists(), f"{rel}: module {sym} -> {m.group(2)} does not exist")
                if not target.exists():
                    continue
                ttext = parsed.get(target) or strip_comments(target.read_text())
                tparams, touts = declared_params(ttext), declared_outputs(ttext)
                body = block_after(text, m.end())
                pblock = block_after(body, body.index("params:")) if "params:" in body else "{}"
                # top-level keys of the params block only
                passed, depth = set(), 0
                for line in pblock.splitlines():
                    km = re.match(r"^\s*(\w+)\s*:", line)
                    if depth == 1 and km:
                        passed.add(km.group(1))
                    depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
                for p in passed - tparams.keys():
                    self.check(False, f"{rel}: module {sym} passes undeclared param {p}")
                for p, has_default in tparams.items():
                    if not has_default:
                        self.check(p in passed, f"{rel}: module {sym} misses required param {p}")
                for out in re.findall(rf"\b{sym}\.outputs\.(\w+)", text):
                    self.check(out in touts, f"{rel}: {sym}.outputs.{out} is not an output of {m.group(2)}")
            self.check(
                not re.search(r"br/public:|br:", text), f"{rel}: registry modules cannot be fetched offline"
            )
        main = parsed[INFRA / "main.bicep"]
        self.check("targetScope = 'subscription'" in main, "main.bicep: targetScope must be subscription")
        outs = declared_outputs(main)
        for out in MAIN_OUTPUTS:
            self.check(out in outs, f"main.bicep: missing output {out}")
        params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
        mparams = declared_params(main)
        for name, env in [("environmentName", "AZURE_ENV_NAME"), ("location", "AZURE_LOCATION"), ("principalId", "AZURE_PRINCIPAL_ID")]:
            self.check(params.get(name, {}).get("value") == "${" + env + "}", f"main.parameters.json: {name} != ${{{env}}}")
        for name in params:
            self.check(name in mparams, f"main.parameters.json: {name} is not a param of main.bicep")
        json.loads((INFRA / "abbreviations.json").read_text())
        prom = parsed[INFRA / "app" / "prometheus-ingestion.bicep"]
        self.check(
            "/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24" in prom
            and "dce.properties.metricsIngestion.endpoint" in prom
            and "dcr.properties.immutableId" in prom,
            "prometheus-ingestion.bicep: remote-write URL shape",
        )


def main() -> int:
    checker = Checker()
    checker.app_settings()
    checker.rbac()
    checker.structure()
    for error in checker.errors:
        print(f"FAIL {error}")
    print(f"{checker.passed} passed, {len(checker.errors)} failed")
    return 1 if checker.errors else 0


if __name__ == "__main__":
    sys.exit(main())
