#!/usr/bin/env bash
# Many seeds of `logmetrics simulate` against the oracle (issue 8's must-show), with the fault counts
# and costs the seeds exercised. Not part of the test command (CI runs a few seeds: SimulationTests,
# and this script with --default 2 --heavy 1 --records 20000).
#   bash scripts/simulate-seeds.sh [--default N] [--heavy M] [--late K] [--records R] [--jobs J] [--bin PATH] [--dir DIR]
# --default N  seeds 1..N under --faults default (default 100)
# --heavy M    seeds 1..M under --faults heavy (default 20)
# --late K     seeds 1..K (default and heavy each) on a --late-lane corpus: product http_req + late = accepted (default 10)
# --records R  records of the 4-lane corpus (default 90000); corpus seed 11, never used by any test
# --jobs J     simulations at once (default: the number of cores)
# Every run must write exactly the oracle's samples (tools/oracle/compare.py: the same series and
# timestamps, counts equal, ratios and means to 1e-9) and the same summary counts, and equal the
# console replay's samples. Exit 0 only if every seed passed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

default=100 heavy=20 late=10 records=90000 jobs=$(nproc) bin="" dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --default) default=$2; shift 2 ;;
    --heavy) heavy=$2; shift 2 ;;
    --late) late=$2; shift 2 ;;
    --records) records=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "usage: simulate-seeds.sh [--default N] [--heavy M] [--late K] [--records R] [--jobs J] [--bin PATH] [--dir DIR]" >&2; exit 2 ;;
  esac
done
dir=${dir:-${TMPDIR:-/tmp}/logmetrics-simulate-seeds}
mkdir -p "$dir"

if [ -z "$bin" ]; then
  echo "building functions/LogMetrics.Local (Release)" >&2
  if ! dotnet build functions/LogMetrics.Local -c Release -nologo -v q > "$dir/build.log" 2>&1; then
    grep -E "error|Error" "$dir/build.log" | sort -u | head -n 20 >&2
    echo "simulate-seeds: building functions/LogMetrics.Local failed (whole log: $dir/build.log)" >&2
    exit 2
  fi
  bin=$(ls functions/LogMetrics.Local/bin/Release/net10.0/*/logmetrics 2>/dev/null | head -n1)
  [ -n "$bin" ] || bin=functions/LogMetrics.Local/bin/Release/net10.0/logmetrics
fi
[ -x "$bin" ] || { echo "simulate-seeds: $bin is not executable" >&2; exit 2; }

corpus="$dir/corpus-$records"
if [ ! -f "$corpus/expected.jsonl" ]; then
  echo "generating the oracle corpus in $corpus (4 lanes, $records records, seed 11) and its expected output" >&2
  rm -rf "$corpus"
  python3 tools/oracle/gen_corpus.py --out "$corpus" --lanes 4 --records "$records" --seed 11 >/dev/null
  python3 tools/oracle/reference.py --dimensions "$corpus/dimensions" "$corpus" --out "$corpus/expected.jsonl.tmp" \
    --summary "$corpus/expected-summary.json" >/dev/null
  mv "$corpus/expected.jsonl.tmp" "$corpus/expected.jsonl"
fi
lanes=$(ls "$corpus"/lane-*.jsonl* | sort)
latecorpus="$dir/late-$records"
if [ "$late" -gt 0 ] && [ ! -f "$latecorpus/lane-0.jsonl" ]; then
  rm -rf "$latecorpus"
  python3 tools/oracle/gen_corpus.py --out "$latecorpus" --late-lane --records $((records / 4)) --seed 5 >/dev/null 2>&1
fi

# The console replay of the same lanes: simulate must equal it too.
"$bin" replay --pipeline pipeline.json --dimensions "$corpus/dimensions" --out "$dir/replay.jsonl" \
  --summary "$dir/replay-summary.json" --quiet $lanes >/dev/null
python3 tools/oracle/compare.py --expected-summary "$corpus/expected-summary.json" --actual-summary "$dir/replay-summary.json" \
  "$corpus/expected.jsonl" "$dir/replay.jsonl" >/dev/null || { echo "simulate-seeds: the console replay differs from the oracle" >&2; exit 1; }

runs="$dir/runs"
rm -rf "$runs"; mkdir -p "$runs"
{
  for s in $(seq 1 "$default"); do echo "exact default $s"; done
  for s in $(seq 1 "$heavy"); do echo "exact heavy $s"; done
  for s in $(seq 1 "$late"); do echo "late default $s"; echo "late heavy $s"; done
} > "$dir/plan"
total=$(wc -l < "$dir/plan")
echo "$total simulations, $jobs at a time: $bin" >&2

one() { # kind faults seed
  local kind=$1 faults=$2 seed=$3 out="$runs/$1-$2-$3"
  local files dims
  if [ "$kind" = exact ]; then files=$lanes; dims="$corpus/dimensions"; else files="$latecorpus/lane-0.jsonl"; dims="$latecorpus/dimensions"; fi
  if ! "$bin" simulate --pipeline pipeline.json --dimensions "$dims" --out "$out.jsonl" --summary "$out.json" \
       --seed "$seed" --faults "$faults" $files > "$out.log" 2>&1; then
    echo "FAIL $kind $faults seed $seed: simulate exited $? ($(tail -n1 "$out.log"))"; return
  fi
  if [ "$kind" = exact ]; then
    if ! python3 tools/oracle/compare.py --expected-summary "$corpus/expected-summary.json" --actual-summary "$out.json" \
         "$corpus/expected.jsonl" "$out.jsonl" > "$out.oracle" 2>&1; then
      echo "FAIL exact $faults seed $seed: differs from the oracle ($(grep -m1 -v '^$' "$out.oracle"))"; return
    fi
    if ! python3 tools/oracle/compare.py "$dir/replay.jsonl" "$out.jsonl" > "$out.replay" 2>&1; then
      echo "FAIL exact $faults seed $seed: differs from the console replay"; return
    fi
  else
    local verdict
    verdict=$(python3 - "$out.jsonl" "$out.json" <<'PY'
import json, sys
total = sum(json.loads(l)["value"] for l in open(sys.argv[1]) if json.loads(l)["name"] == "namespace_product_gw_http_req")
s = json.load(open(sys.argv[2]))
ok = total + s["late"] == s["accepted"] and s.get("counted_records", -1) + s["late"] == s["accepted"] and s["samples_dropped"] == 0
print(("ok" if ok else "bad") + f" product_http_req {total:.0f} + late {s['late']} vs accepted {s['accepted']}")
PY
)
    case "$verdict" in ok*) ;; *) echo "FAIL late $faults seed $seed: $verdict"; return ;; esac
  fi
  echo "ok $kind $faults seed $seed"
  rm -f "$out.jsonl"
}
export -f one
export runs corpus latecorpus lanes dir bin

set +e
xargs -P "$jobs" -L 1 bash -c 'one "$0" "$1" "$2"' < "$dir/plan" | tee "$dir/results" | awk -v total="$total" '{ n++; if ($1 != "ok") print > "/dev/stderr"; printf "\r%d/%d done", n, total > "/dev/stderr" } END { print "" > "/dev/stderr" }'
set -e

python3 - "$runs" "$dir/results" "$default" "$heavy" "$late" <<'PY'
import glob, json, os, sys
runs, results, default, heavy, late = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
lines = [l.split() for l in open(results)]
failed = [l for l in lines if l[0] != "ok"]
def table(kind, faults):
    rows = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(runs, f"{kind}-{faults}-*.json")))]
    if not rows:
        return
    keys = list(rows[0]["faults"].keys())
    total = {k: sum(r["faults"][k] for r in rows) for k in keys}
    c = [r["costs"] for r in rows]
    print(f"\n{kind} / {faults}: {len(rows)} seeds")
    print("  faults (sum over seeds): " + ", ".join(f"{k} {v}" for k, v in total.items()))
    read = sum(x["TickBytesRead"] for x in c); closed = sum(x["TickClosedBytes"] for x in c)
    print(f"  bytes read per tick / bytes closed: {read / max(1, closed):.2f} (worst tick: {max(x['WorstTickExcessPerShard'] for x in c)} bytes per shard over 2 x closed)")
    print(f"  largest header {max(x['LargestHeaderBytes'] for x in c)} B, largest shard state {max(x['LargestStateBytes'] for x in c)} B, "
          f"bytes per partial {sum(x['BytesPerPartial'] for x in c) / len(c):.1f}")
    print(f"  entity operations per ingest invocation: mean {sum(x['SignalsSent'] for x in c) / max(1, sum(x['IngestInvocations'] for x in c)):.2f}, "
          f"max {max(x['MaxSignalsPerIngest'] for x in c)}")
    print(f"  late (sum) {sum(r['late'] for r in rows)}, samples dropped (sum) {sum(r['samples_dropped'] for r in rows)}")
table("exact", "default"); table("exact", "heavy"); table("late", "default"); table("late", "heavy")
print(f"\n{len(lines) - len(failed)} of {default + heavy + 2 * late} simulations passed" + ("" if not failed else f"; {len(failed)} FAILED"))
sys.exit(1 if failed or len(lines) != default + heavy + 2 * late else 0)
PY
