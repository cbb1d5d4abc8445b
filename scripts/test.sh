#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine, then runs every test.
#   bash scripts/test.sh
# Real servers (Prometheus, VictoriaMetrics) and Debian's libsnappy come from apt, Azurite from npm
# (into ./node_modules, started by the tests directly, never through npx); tests that need them
# fail, never skip, when they are missing. Functions.sln is the one solution: it includes the Azure
# Functions app. Two of its packages are not on the offline development machines' registry; there,
# ../shared/nuget holds them and is added as an extra restore source only when it exists. A team's
# machine restores everything from nuget.org. The Bicep CLI comes from NuGet too (tools/bicep, a
# restore-only project outside Functions.sln), see scripts/bicep-check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/prometheus ] || need+=(prometheus)
[ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)
[ -x /usr/bin/promtool ] || need+=(prometheus)
[ -x /usr/bin/chromium ] || need+=(chromium)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
ldconfig -p 2>/dev/null | grep -q 'libsnappy\.so\.1' || need+=(libsnappy1v5)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x node_modules/.bin/azurite ]; then
  echo "installing: azurite (npm)"
  npm install --no-save --no-audit --no-fund --loglevel=error azurite@3.37.0 >/dev/null
fi

echo "== oracle self-tests"
python3 -m unittest discover -s tools/oracle -p 'test_*.py'

echo "== infra: bicep build + lint (zero diagnostics), app settings of the built template"
bash scripts/bicep-check.sh

echo "== monitoring: rules (promtool check + unit tests), dashboards and the generated Azure rule groups"
promtool check rules monitoring/rules/*.rules.yml
promtool test rules monitoring/rules/tests/*.test.yml
python3 -m unittest discover -s monitoring -p 'test_*.py'

extra=()
if [ -d ../shared/nuget ]; then
  extra+=("-p:RestoreAdditionalProjectSources=$(realpath ../shared/nuget)")
fi

# A test that hangs (a wait that is never answered) fails after 10 minutes, naming the test, instead of holding CI
# for its whole budget: --blame-hang-timeout ends the test host and reports the test that was running.
hang=(--blame-hang-timeout 10min --blame-hang-dump-type none)

echo "== dotnet test"
log=$(mktemp)
set +e
dotnet test Functions.sln -c Release "${extra[@]}" "${hang[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
skipped=$(grep -Eo 'Skipped: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
echo
echo "$passed passed, $failed failed, $skipped skipped"
if grep -q "Test Run Aborted" "$log"; then
  echo "a test host was ended before its tests finished (a hang past the timeout, or a crash): the test it was running is named above"
fi
[ "$status" -eq 0 ] || exit "$status"

# A CPU without AVX2, an Arm64 one, or the program published for x86-64-v2 (-p:IlcInstructionSet=x86-64-v2) has no
# accelerated Vector256: the scanners take their Vector128 paths, which the run above (with AVX2) does not. The parse
# and prune tests (the scanners' differential properties against Utf8JsonReader) run again on those paths.
echo "== dotnet test: parse and prune on the Vector128 paths (DOTNET_EnableAVX2=0)"
DOTNET_EnableAVX2=0 dotnet test tests/LogMetrics.Core.Tests -c Release --no-build "${hang[@]}" \
  --filter "FullyQualifiedName~LogMetrics.Core.Tests.Parse|FullyQualifiedName~LogMetrics.Core.Tests.Prune"

echo "== simulate: a few fixed seeds of the Azure path under faults, against the oracle (scripts/simulate-seeds.sh)"
bash scripts/simulate-seeds.sh --default 2 --heavy 1 --late 1 --records 20000 --jobs 2 --dir "$(mktemp -d)"
