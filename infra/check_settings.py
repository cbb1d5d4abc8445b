#!/usr/bin/env python3
"""Offline checks for the azd Bicep in infra/ (the bicep CLI from NuGet, no az CLI, no Azure).

1. The BUILT template (the ARM JSON of `bicep build infra/main.bicep`) sets, in the function
   app's `appsettings`, every app setting the code reads: the `*Key` constants of the
   `HostSettings` type (found under functions/, wherever it lives), every `%NAME%` binding
   expression of the Functions app and host.json, and the identity-based host connections.
   `*_CONNECTION_STRING` settings are local (Azurite) alternatives and must NOT be set.
   Fixed values (managedidentity, entra, the dead-letter container) are checked on the JSON.
2. Every role the app needs (by built-in role GUID) is assigned in infra/app/rbac.bicep,
   Monitoring Metrics Publisher also on the data collection rule, and Storage Blob Data
   Contributor on the dead-letter container (checked on the built template's scope).
3. Light structural lint of every .bicep file: balanced brackets, module paths exist,
   module params are declared by the target file and required params are passed,
   `<module>.outputs.<name>` references exist, main.bicep has the azd outputs.
   (`bicep build`/`bicep lint` check far more; these keep the file-level conventions.)

Usage:
  python3 infra/check_settings.py --template main.json   (scripts/bicep-check.sh does this)
  python3 infra/check_settings.py                        (builds with the NuGet bicep CLI)
Exit code 0 = all checks passed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
ROOT = INFRA.parent
FUNCTIONS = ROOT / "functions"
FUNCTIONS_APP = FUNCTIONS / "LogMetrics.Functions"
BICEP_TOOLS_PROJECT = ROOT / "tools" / "bicep" / "Bicep.Tools.csproj"

# Settings the Functions HOST reads (identity-based connections, App Insights), not the code.
HOST_SETTINGS = [
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "EventHubConnection__fullyQualifiedNamespace",
    "EventHubConnection__credential",
    "EventHubConnection__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
]

# Code keys deliberately not set in Azure (name -> why). Any other code key must be set.
NOT_SET_IN_AZURE = {
    "PIPELINE_PATH": "defaults to pipeline.json beside the app, which the deployment package carries",
}

# Settings whose value is fixed by the design (name -> expected literal value).
FIXED_VALUES = {
    "AzureWebJobsStorage__credential": "managedidentity",
    "EventHubConnection__credential": "managedidentity",
    "REMOTE_WRITE_AUTH": "entra",
}

# Settings whose compiled value must be the storage account's endpoint of this kind.
ENDPOINT_VALUES = {
    "AzureWebJobsStorage__blobServiceUri": "primaryEndpoints.blob",
    "AzureWebJobsStorage__queueServiceUri": "primaryEndpoints.queue",
    "AzureWebJobsStorage__tableServiceUri": "primaryEndpoints.table",
    "DIMENSIONS_TABLE_URI": "primaryEndpoints.table",
    "DEADLETTER_BLOB_URI": "primaryEndpoints.blob",
}

DEAD_LETTER_CONTAINER = "deadletter"

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
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "a638d3c7-ab3a-418d-83e6-5f17a39d4fde": "Azure Event Hubs Data Receiver",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"

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
    "DEADLETTER_BLOB_URI",
    "DEADLETTER_CONTAINER",
]


def code_setting_keys() -> tuple[dict[str, str], list[str]]:
    """(setting name -> where the code reads it, connection-name prefixes) from the sources."""
    keys: dict[str, str] = {}
    connections: list[str] = []
    for cs in sorted(FUNCTIONS.rglob("*.cs")):
        if "/obj/" in cs.as_posix() or "/bin/" in cs.as_posix():
            continue
        text = cs.read_text(encoding="utf-8")
        rel = cs.relative_to(ROOT).as_posix()
        if re.search(r"\b(class|record|struct)\s+HostSettings\b", text):
            for name, value in re.findall(r'const\s+string\s+(\w+Key)\s*=\s*"([^"]+)"', text):
                keys.setdefault(value, f"{rel} ({name})")
        if cs.is_relative_to(FUNCTIONS_APP):
            for value in re.findall(r'"%(\w+)%"', text):
                keys.setdefault(value, f"{rel} (%{value}%)")
            connections += re.findall(r'\bConnection\s*=\s*"(\w+)"', text)
    host_json = ROOT / "host.json"
    for value in re.findall(r'%(\w+)%', host_json.read_text(encoding="utf-8")):
        keys.setdefault(value, f"host.json (%{value}%)")
    return keys, sorted(set(connections))


def find_bicep() -> Path:
    """The bicep binary that `dotnet restore tools/bicep` put in the NuGet packages folder."""
    if os.environ.get("BICEP"):
        return Path(os.environ["BICEP"])
    project = BICEP_TOOLS_PROJECT.read_text(encoding="utf-8")
    m = re.search(r'PackageDownload Include="([^"]+)" Version="\[([^\]]+)\]"', project)
    if not m:
        raise SystemExit(f"{BICEP_TOOLS_PROJECT}: no PackageDownload with a [version]")
    out = subprocess.run(["dotnet", "nuget", "locals", "global-packages", "-l"], check=True, capture_output=True, text=True).stdout
    folder = Path(out.split("global-packages:", 1)[1].strip())
    return folder / m.group(1).lower() / m.group(2) / "tools" / "bicep"


def build_template() -> dict[str, Any]:
    bicep = find_bicep()
    if not bicep.exists():
        raise SystemExit(f"bicep CLI not found at {bicep}: run `dotnet restore {BICEP_TOOLS_PROJECT.relative_to(ROOT)}` (or bash scripts/bicep-check.sh)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "main.json"
        subprocess.run([str(bicep), "build", str(INFRA / "main.bicep"), "--outfile", str(out)], check=True)
        return json.loads(out.read_text(encoding="utf-8"))


def resources(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Resources of a template, as a list (languageVersion 2.0 keys them by symbolic name)."""
    r = template.get("resources", [])
    return list(r.values()) if isinstance(r, dict) else list(r)


def nested(template: dict[str, Any], deployment: str) -> dict[str, Any]:
    """The module deployment `deployment` (its name) in a compiled template."""
    for r in resources(template):
        if r.get("type") == "Microsoft.Resources/deployments" and r.get("name") == deployment:
            return r
    raise KeyError(deployment)


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
    """param name -> has default value (types may be user-defined, arrays, or unions)."""
    return {m.group(1): "=" in m.group(2) for m in re.finditer(r"^param\s+(\w+)\s+([^\n]*)$", text, re.M)}


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

    def app_settings(self, template: dict[str, Any]) -> None:
        """App settings of the BUILT template against the settings the code reads."""
        try:
            api = nested(template, "api")["properties"]
        except KeyError:
            self.check(False, "built template: no module deployment 'api'")
            return
        configs = [
            r for r in resources(api["template"])
            if r.get("type") == "Microsoft.Web/sites/config" and "appsettings" in str(r.get("name"))
        ]
        self.check(len(configs) == 1, f"built template: expected one Microsoft.Web/sites/config 'appsettings' in module api, found {len(configs)}")
        if len(configs) != 1:
            return
        settings: dict[str, Any] = configs[0].get("properties", {})

        code_keys, connections = code_setting_keys()
        self.check(len(code_keys) >= 5, f"functions/: found only {len(code_keys)} setting keys (HostSettings *Key constants, %NAME% bindings); is the scan broken?")
        for key, where in sorted(code_keys.items()):
            if key in NOT_SET_IN_AZURE:
                continue
            if key.endswith("_CONNECTION_STRING"):
                self.check(key not in settings, f"built template: {key} ({where}) is a local alternative with a secret; Azure must not set it")
                continue
            self.check(key in settings, f"built template: app setting {key} is read by {where} but not set in the function app")
        for key in NOT_SET_IN_AZURE:
            self.check(key in code_keys, f"check_settings.py: NOT_SET_IN_AZURE lists {key}, which the code no longer reads")
        for connection in connections:
            self.check(
                any(k.startswith(connection + "__") for k in settings),
                f"built template: trigger Connection = \"{connection}\" has no {connection}__* settings",
            )
        for name in HOST_SETTINGS:
            self.check(name in settings, f"built template: host setting {name} is not set")
        for name, value in FIXED_VALUES.items():
            self.check(settings.get(name) == value, f"built template: {name} must be '{value}', is {settings.get(name)!r}")
        for name, endpoint in ENDPOINT_VALUES.items():
            self.check(
                isinstance(settings.get(name), str) and settings[name].endswith(f".{endpoint}]") and "reference('storage')" in settings[name],
                f"built template: {name} must be the storage account's {endpoint}, is {settings.get(name)!r}",
            )
        for name in FORBIDDEN_SETTINGS:
            self.check(name not in settings, f"built template: app setting {name} must not be set")
        self.check(
            settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING") == "[format('ClientId={0};Authorization=AAD', parameters('identityClientId'))]",
            "built template: APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be 'ClientId=<uami client id>;Authorization=AAD'",
        )
        self.check(not re.search(r"listKeys|AccountKey=|SharedAccessKey", json.dumps(template)), "built template: must not use keys")
        self.dead_letter_container(template, api, settings)

        text = strip_comments((INFRA / "app" / "api.bicep").read_text())
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

    def dead_letter_container(self, template: dict[str, Any], api: dict[str, Any], settings: dict[str, Any]) -> None:
        """DEADLETTER_CONTAINER resolves to the 'deadletter' container that storage.bicep creates."""
        self.check(
            settings.get("DEADLETTER_CONTAINER") == "[parameters('deadLetterContainerName')]",
            f"built template: DEADLETTER_CONTAINER must come from the api module's deadLetterContainerName, is {settings.get('DEADLETTER_CONTAINER')!r}",
        )
        passed = str(api.get("parameters", {}).get("deadLetterContainerName", {}).get("value"))
        self.check(
            "'storage')" in passed and passed.endswith(".outputs.deadLetterContainerName.value]"),
            f"built template: module api's deadLetterContainerName must be the storage module's output, is {passed!r}",
        )
        storage = nested(template, "storage")["properties"]
        default = storage["template"]["parameters"].get("deadLetterContainerName", {}).get("defaultValue")
        overridden = "deadLetterContainerName" in storage.get("parameters", {})
        self.check(
            default == DEAD_LETTER_CONTAINER and not overridden,
            f"built template: the storage module's dead-letter container must be '{DEAD_LETTER_CONTAINER}' (default {default!r}, overridden: {overridden})",
        )
        containers = [
            r for r in resources(storage["template"])
            if r.get("type") == "Microsoft.Storage/storageAccounts/blobServices/containers"
            and "parameters('deadLetterContainerName')" in str(r.get("name"))
        ]
        self.check(len(containers) == 1, "built template: storage module creates no dead-letter container")

        rbac = nested(template, "rbac")["properties"]
        roles = rbac["template"].get("variables", {}).get("roles", {})
        assignments = [
            r for r in resources(rbac["template"])
            if r.get("type") == "Microsoft.Authorization/roleAssignments"
            and any(roles.get(m) == BLOB_DATA_CONTRIBUTOR for m in re.findall(r"variables\('roles'\)\.(\w+)", str(r["properties"]["roleDefinitionId"])))
        ]
        self.check(len(assignments) == 1, f"built template: expected one Storage Blob Data Contributor assignment, found {len(assignments)}")
        for a in assignments:
            scope = str(a.get("scope"))
            self.check(
                re.search(r"blobServices/containers|/containers/", scope) is not None and "parameters('deadLetterContainerName')" in scope,
                f"built template: Storage Blob Data Contributor must be scoped on the dead-letter container, is {scope!r}",
            )
            self.check(a["properties"].get("principalId") == "[parameters('appPrincipalId')]", "built template: dead-letter role must go to the app identity")
        passed = str(rbac.get("parameters", {}).get("deadLetterContainerName", {}).get("value"))
        self.check(passed.endswith(".outputs.deadLetterContainerName.value]"), f"built template: module rbac's deadLetterContainerName must be the storage module's output, is {passed!r}")

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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, help="ARM JSON of `bicep build infra/main.bicep` (default: build it now)")
    args = parser.parse_args()
    template = json.loads(args.template.read_text(encoding="utf-8")) if args.template else build_template()
    checker = Checker()
    checker.app_settings(template)
    checker.rbac()
    checker.structure()
    for error in checker.errors:
        print(f"FAIL {error}")
    print(f"{checker.passed} checks passed, {len(checker.errors)} failed")
    return 1 if checker.errors else 0


if __name__ == "__main__":
    sys.exit(main())
