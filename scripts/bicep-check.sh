#!/usr/bin/env bash
# Checks the azd infrastructure with the real Bicep compiler; run by scripts/test.sh.
#   bash scripts/bicep-check.sh
# 1. `dotnet restore tools/bicep` downloads the Bicep CLI NuGet package (pinned there) into the
#    NuGet packages folder: <global-packages>/azure.bicep.commandline.linux-x64/<version>/tools/bicep.
# 2. `bicep build infra/main.bicep` and `bicep lint` of every infra/**/*.bicep, with the rules of
#    infra/bicepconfig.json. Any diagnostic (error, warning or info) fails the command: bicep lint
#    exits 0 on warnings, so its output is read, and any output at all counts as a failure.
# 3. infra/check_settings.py on the built ARM JSON: every app setting the code reads is set.
set -euo pipefail
cd "$(dirname "$0")/.."

project=tools/bicep/Bicep.Tools.csproj
package=$(sed -nE 's/.*PackageDownload Include="([^"]+)" Version="\[([^]]+)\]".*/\1/p' "$project")
version=$(sed -nE 's/.*PackageDownload Include="([^"]+)" Version="\[([^]]+)\]".*/\2/p' "$project")
if [ -z "$package" ] || [ -z "$version" ]; then
  echo "bicep-check: $project has no PackageDownload with a [version]" >&2
  exit 1
fi

dotnet restore "$project" --verbosity quiet
packages=$(dotnet nuget locals global-packages -l | sed -n 's/^global-packages: *//p')
bicep="${packages%/}/${package,,}/$version/tools/bicep"
if [ ! -f "$bicep" ]; then
  echo "bicep-check: restore did not produce $bicep" >&2
  exit 1
fi
[ -x "$bicep" ] || chmod +x "$bicep"
echo "bicep: $("$bicep" --version)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

status=0
# Runs one bicep command; fails on a non-zero exit or on any output (diagnostics go to stderr).
run() {
  local what=$1; shift
  local out="$work/$what.log" rc=0
  "$bicep" "$@" >"$out" 2>&1 || rc=$?
  local diagnostics
  diagnostics=$(grep -cE '\) : (Error|Warning|Info) ' "$out" || true)
  if [ "$rc" -ne 0 ] || [ -s "$out" ]; then
    cat "$out"
    echo "FAIL bicep $what: exit $rc, $diagnostics diagnostic(s)"
    status=1
  else
    echo "ok   bicep $what: 0 diagnostics"
  fi
}

run build build infra/main.bicep --outfile "$work/main.json"
run lint lint --no-restore --pattern 'infra/**/*.bicep'

if [ -f "$work/main.json" ]; then
  python3 infra/check_settings.py --template "$work/main.json" || status=1
else
  echo "FAIL infra/check_settings.py: no built template"
  status=1
fi
exit "$status"
