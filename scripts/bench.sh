#!/usr/bin/env bash
# Whole-process performance of `logmetrics replay`, as ratios to reference programs measured in
# the same run on the same lines (issue 10). Not part of the test command.
#   bash scripts/bench.sh [--corpus DIR] [--runs N] [--bin PATH] [--markdown]
# --corpus DIR  a tools/oracle corpus with plain lanes DIR/lane-*.jsonl and DIR/dimensions/;
#               default: generated once into $BENCH_DIR/corpus (2 lanes x 45,000 records, seed 7,
#               lane-1 un-gzipped so both lanes are plain).
# --runs N      runs per figure (default 3); every figure is the median.
# --bin PATH    the logmetrics executable (default: `dotnet publish -c Release` of
#               functions/LogMetrics.Local into $BENCH_DIR/publish: the Native AOT program, the
#               shipped form; the ReadyToRun build that `dotnet run -c Release` starts is
#               functions/LogMetrics.Local/bin/Release/net10.0/linux-x64/logmetrics).
# --markdown    also print the README's performance table.
# Figures:
#   replay 1 core   taskset -c 0, `--out` to a file, records/s = events / wall time
#   replay 2 cores  taskset -c 0,1; each run also reports its CPU time (user + system) and how long
#                   its threads waited runnable for a core (/proc/PID/task/*/schedstat; on one core
#                   that includes waiting behind its own threads): a 2-core run whose threads waited
#                   seconds on a shared machine had no second core to use
#   one lane        the first lane alone on 1 core and on 2 (a single big lane must use both cores)
#   two at once     two one-core replays of the same lanes started together, one on core 0 and one on
#                   core 1, timed until both have exited: twice the one-core time over that time is the
#                   most two cores of this machine give work that shares nothing (the two-core ratio's
#                   ceiling here: the cores share the memory bus and the L3 cache, and a VM's cores may
#                   share more). Each replay's own wall time is kept too: a VM's two cores need not run at
#                   one speed (session 27's machine: core 1 at 0.6 to 0.7 of core 0, even for a C loop that
#                   touches no memory), and then the time until both exited is the slower core's. Each
#                   one's rate beside the other, added (one-core time / its time, summed), is the ceiling
#                   for work the cores share by speed, as the pipelined replay shares its chunks
#   core 1          the one-core replay pinned to core 1 instead: its speed against core 0's
#   2 workers, 1 core  the two-core replay's design on core 0 alone (DOTNET_PROCESSOR_COUNT=2 taskset -c 0:
#                   two workers, each with its own pipeline, taking turns on one core): its CPU time against
#                   the one-core replay's is what a second worker's pipeline costs apart from a second core
#                   (sessions 9 and 28: about a fifth more, where the two-core replay's CPU is a fourth more)
#   anchors         ../shared/anchors/run.sh on the same lane files (simdjson On-Demand `extract`,
#                   Utf8JsonReader `tokenize` and `full`), each its own median over passes on core 0.
#                   simdjson picks its widest kernel at run time: on a CPU with AVX-512 (the development
#                   machines since session 7) that is `icelake`, where logmetrics is compiled for AVX2
#                   (x86-64-v3, `Vector256` at most). So `extract` also runs on its AVX2 kernel
#                   (SIMDJSON_FORCE_IMPLEMENTATION=haswell, the anchors' own program), the anchor of a
#                   machine with AVX2 alone, as its own row; the goal's row stays run.sh's figure
#   start-up        a 400-line replay (first 200 lines of each lane) vs `logmetrics --version`, run
#                   in turn (at least 30 pairs after 3 to warm up): wall time (medians), and CPU time
#                   (user + system, means), which a loaded machine disturbs less; and their difference in ms,
#                   the replay's own work, which the ratio hides when the process's start gets faster
#                   (session 29: the program's start halved, the difference did not move, the ratio rose)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

bench_dir=${BENCH_DIR:-${TMPDIR:-/tmp}/logmetrics-bench-sh}  # not logmetrics-bench: IngestBenchmarks deletes that
corpus=""
runs=3
bin=""
markdown=0
while [ $# -gt 0 ]; do
  case "$1" in
    --corpus) corpus=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --markdown) markdown=1; shift ;;
    *) echo "usage: bench.sh [--corpus DIR] [--runs N] [--bin PATH] [--markdown]" >&2; exit 2 ;;
  esac
done
mkdir -p "$bench_dir"
work=$(mktemp -d "$bench_dir/run.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'echo "bench: failed at line $LINENO" >&2' ERR

if [ -z "$corpus" ]; then
  corpus="$bench_dir/corpus"
  if [ ! -f "$corpus/lane-0.jsonl" ] || [ ! -f "$corpus/lane-1.jsonl" ]; then
    echo "generating the corpus in $corpus (2 lanes x 45,000 records)" >&2
    rm -rf "$corpus"
    python3 tools/oracle/gen_corpus.py --out "$corpus" --lanes 2 --records 90000 --seed 7 >/dev/null
    gunzip "$corpus/lane-1.jsonl.gz"
  fi
fi
mapfile -t lanes < <(ls "$corpus"/lane-*.jsonl 2>/dev/null | sort)
if [ ${#lanes[@]} -eq 0 ]; then
  echo "bench: no plain lanes $corpus/lane-*.jsonl" >&2
  exit 2
fi
records=$(cat "${lanes[@]}" | grep -c . || true)

if [ -z "$bin" ]; then
  echo "publishing functions/LogMetrics.Local (Native AOT) into $bench_dir/publish" >&2
  dotnet publish functions/LogMetrics.Local -c Release -nologo -v q -o "$bench_dir/publish" >/dev/null
  bin="$bench_dir/publish/logmetrics"
fi
[ -x "$bin" ] || { echo "bench: $bin is not executable" >&2; exit 2; }

# The lanes' page-cache state, made the one a read from disk leaves. A file just written (the corpus generator's
# buffered writes) is cached in 4 KiB pages, and reading it back costs the kernel a page lookup and a copy per 4 KiB
# (`filemap_get_read_batch` about 4 % and `_copy_to_iter` about 9 % of a one-core replay's samples); read from disk
# (readahead), the same file is cached in large folios (the lookup about 0 %, the copy about 4 %, and the one-core
# replay about 10 % faster). So the lanes are dropped from the page cache (after an fsync: only clean pages go) and
# read once, in order; every program measured then reads the same state. (The anchors hold the lines in memory and
# time no read.) The program's file too: a program just published is cached as it was written, one published earlier
# as it was last read. In session 14 two programs whose `--version` is the same code measured 7 % apart in it, and
# 6 % apart in the 400-line replay (60 alternating runs each), and 0.2 % and 0.1 % apart once both files had been
# dropped and read back.
bin_file=$(readlink -f "$bin")
python3 - "${lanes[@]}" "$bin_file" <<'PY'
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while os.read(fd, 1 << 20):
            pass
    finally:
        os.close(fd)
PY

# The page cache does not keep them: on these VMs, minutes after the read above, `fincore` found about 600 of a lane's
# 44,700 pages gone and a program file of 18.5 MB down to 144 KB, and a traced two-core replay then waited for the
# disk (`folio_wait_bit_common` under `pread`, `filemap_fault` under the program's code; session 15). So every timed
# run reads both back first: what is cached costs a copy, what is gone comes from disk as above.
warm() { cat "${lanes[@]}" "$bin_file" > /dev/null; }

for i in "${!lanes[@]}"; do head -n 200 "${lanes[$i]}" > "$work/short-$i.jsonl"; done
short=("$work"/short-*.jsonl)

replay() { # cpus out lanes... ; prints "wall_s cpu_s wait_s" (cpu = user + system of the process,
           # wait = time its threads spent runnable waiting for a core, sampled every 20 ms), and writes
           # the CPU time per thread name (the replay names its worker threads "lm worker N"; the
           # thread pool's, which apply, flush and write, are ".NET TP Worker") to $out.threads
  local cpus=$1 out=$2; shift 2
  python3 - "$cpus" "$bin" pipeline.json "$corpus/dimensions" "$out" "$@" <<'PY'
import collections, os, resource, subprocess, sys, threading, time
cpus, binary, pipeline, dims, out, *lanes = sys.argv[1:]
# CPU from getrusage (microseconds), not os.times (the times() call counts 10 ms clock ticks).
before = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.perf_counter()
p = subprocess.Popen(["taskset", "-c", cpus, binary, "replay", "--pipeline", pipeline, "--dimensions", dims,
                      "--out", out, "--summary", out + ".summary.json", "--quiet", *lanes], stdout=subprocess.DEVNULL)
# The exit is timed by a thread blocked in wait(), not by the sampling loop below, which sees it only at its next
# sample: timed that way (before session 13), a run's wall time was rounded up to the loop's 20 ms steps.
ended = []
waiter = threading.Thread(target=lambda: (p.wait(), ended.append(time.perf_counter())))
waiter.start()
waits = {}
ran = {}
names = {}
while waiter.is_alive():
    try:
        for tid in os.listdir(f"/proc/{p.pid}/task"):
            try:
                on_cpu, waited = open(f"/proc/{p.pid}/task/{tid}/schedstat").read().split()[:2]
                waits[tid], ran[tid] = int(waited), int(on_cpu)
                if tid not in names or names[tid] == "logmetrics":
                    names[tid] = open(f"/proc/{p.pid}/task/{tid}/comm").read().strip()
            except (OSError, IndexError, ValueError):
                pass
    except OSError:
        pass
    waiter.join(0.02)
per_name = collections.defaultdict(lambda: [0, 0])
for tid, ns in ran.items():
    per_name[names.get(tid, "?")][0] += ns
    per_name[names.get(tid, "?")][1] += 1
with open(out + ".threads", "w") as f:
    f.write(", ".join(f"{name} {ns / 1e9:.3f} s" + (f" ({n} threads)" if n > 1 else "")
                      for name, (ns, n) in sorted(per_name.items(), key=lambda x: -x[1][0]) if ns >= 5e6) + "\n")
wall = ended[0] - t0
if p.returncode != 0:
    sys.exit(f"replay exited with {p.returncode}")
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(f"{wall:.4f} {cpu:.4f} {sum(waits.values()) / 1e9:.4f}")
PY
}
two_at_once() { # prints the wall time until two one-core replays started together, on cores 0 and 1, have both exited,
               # then each one's own wall time (core 0's, core 1's)
  python3 - "$bin" pipeline.json "$corpus/dimensions" "$work" "${lanes[@]}" <<'PY'
import subprocess, sys, threading, time
binary, pipeline, dims, work, *lanes = sys.argv[1:]
t0 = time.perf_counter()
runs = [subprocess.Popen(["taskset", "-c", str(core), binary, "replay", "--pipeline", pipeline, "--dimensions", dims,
                          "--out", f"{work}/pair-{core}.jsonl", "--quiet", *lanes], stdout=subprocess.DEVNULL) for core in (0, 1)]
# Each replay's own exit is timed too, by a thread blocked in its wait(): on a VM whose cores run at different speeds
# (session 27: core 1 at 0.6 to 0.7 of core 0), the time until both exited is the slower core's alone.
ended = [0.0, 0.0]
def wait(i):
    runs[i].wait()
    ended[i] = time.perf_counter() - t0
waiters = [threading.Thread(target=wait, args=(i,)) for i in (0, 1)]
for w in waiters:
    w.start()
for w in waiters:
    w.join()
codes = [p.returncode for p in runs]
if any(codes):
    sys.exit(f"two at once: a replay exited with {codes}")
print(f"{max(ended):.4f} {ended[0]:.4f} {ended[1]:.4f}")
PY
}
timed() { # NAME CPUS OUT LANES...: a replay after warm, its wall, CPU and wait times appended to $work/rNAME, cNAME, wNAME
  local name=$1; shift
  warm; replay "$@" > "$work/t"
  read -r w c q < "$work/t"; echo "$w" >> "$work/r$name"; echo "$c" >> "$work/c$name"; echo "$q" >> "$work/w$name"
}
rate() { sed -n "s/.*RESULT mode=$1 .*records_per_s=\([0-9.]*\).*/\1/p"; } # an anchor's records/s for MODE, from its output
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

anchors=${ANCHORS:-$repo/../shared/anchors/run.sh}
have_anchors=0
[ -f "$anchors" ] && have_anchors=1
# The program run.sh builds, in the folder it builds it in.
simdjson_anchor=${ANCHORS_WORK:-${TMPDIR:-/tmp}/logmetrics-anchors}/simdjson_anchor

# The anchors' programs, built before the runs (run.sh builds them on its first call), so that every run has its
# extract right after its one-core replay.
if [ $have_anchors = 1 ] && [ ! -x "$simdjson_anchor" ]; then
  bash "$anchors" "${short[@]}" > "$work/anchors-build.log" 2>&1 || { echo "bench: $anchors failed:" >&2; tail -n 20 "$work/anchors-build.log" >&2; exit 1; }
fi

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; dotnet $(dotnet --version); load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "binary:  $bin" >&2
echo "corpus:  ${lanes[*]} ($records records; dropped from the page cache and read once, as from disk)" >&2

for figure in r1 c1 w1 r2 c2 w2 r1b r1w2 c1w2 w1w2 p2 pc0 pc1 l1 l2 extract extract-next tokenize full extract-avx2 kernel; do
  : > "$work/$figure"
done
lane_records=$(grep -c . "${lanes[0]}" || true)
for run in $(seq 1 "$runs"); do
  timed 1 0 "$work/out-1.jsonl" "${lanes[@]}"
  if [ $have_anchors = 1 ] && [ -x "$simdjson_anchor" ]; then
    # simdjson's extract right after the one-core replay, on the same core, seconds apart: a VM's core changes speed
    # over minutes (session 27), and run.sh's extract runs up to a minute after the replay.
    taskset -c 0 "$simdjson_anchor" extract "${lanes[@]}" 2>&1 | rate extract >> "$work/extract-next"
  fi
  timed 2 0,1 "$work/out-2.jsonl" "${lanes[@]}"
  warm; replay 1 "$work/out-1b.jsonl" "${lanes[@]}" | cut -d' ' -f1 >> "$work/r1b"
  # The two-core replay's two workers (and their two pipelines) on core 0 alone: the runtime takes its processor
  # count from DOTNET_PROCESSOR_COUNT before the affinity mask, and the replay starts a worker per processor.
  DOTNET_PROCESSOR_COUNT=2 timed 1w2 0 "$work/out-1w2.jsonl" "${lanes[@]}"
  grep -q 'lm worker 1 ' "$work/out-1w2.jsonl.threads" || { echo "bench: DOTNET_PROCESSOR_COUNT=2 on one core did not start two workers: $(cat "$work/out-1w2.jsonl.threads")" >&2; exit 1; }
  warm; two_at_once > "$work/t"; read -r p p0 p1 < "$work/t"; echo "$p" >> "$work/p2"; echo "$p0" >> "$work/pc0"; echo "$p1" >> "$work/pc1"
  warm; replay 0 "$work/lane-1.jsonl" "${lanes[0]}" | cut -d' ' -f1 >> "$work/l1"
  warm; replay 0,1 "$work/lane-2.jsonl" "${lanes[0]}" | cut -d' ' -f1 >> "$work/l2"
  if [ $have_anchors = 1 ]; then
    warm; bash "$anchors" "${lanes[@]}" > "$work/anchors.log" 2>&1
    for mode in extract tokenize full; do
      rate "$mode" < "$work/anchors.log" >> "$work/$mode"
    done
    if [ -x "$simdjson_anchor" ]; then
      # run.sh keeps only the RESULT lines: the kernel simdjson picks on its own, from a run on the short lanes.
      taskset -c 0 "$simdjson_anchor" extract "${short[@]}" 2>&1 | sed -n 's/^impl=\([^ ]*\) .*/\1/p' | tail -n1 > "$work/kernel"
      warm; SIMDJSON_FORCE_IMPLEMENTATION=haswell taskset -c 0 "$simdjson_anchor" extract "${lanes[@]}" > "$work/avx2.log" 2>&1
      grep -q '^impl=haswell ' "$work/avx2.log" || { echo "bench: simdjson did not run its AVX2 (haswell) kernel: $(head -n1 "$work/avx2.log")" >&2; exit 1; }
      rate extract < "$work/avx2.log" >> "$work/extract-avx2"
    fi
  fi
  echo "run $run/$runs: 1 core $(tail -n1 "$work/r1") s (cpu $(tail -n1 "$work/c1") s, waited for a core $(tail -n1 "$work/w1") s), 2 cores $(tail -n1 "$work/r2") s (cpu $(tail -n1 "$work/c2") s, waited $(tail -n1 "$work/w2") s); on core 1 alone $(tail -n1 "$work/r1b") s; 2 workers on core 0 $(tail -n1 "$work/r1w2") s (cpu $(tail -n1 "$work/c1w2") s); two 1-core replays at once $(tail -n1 "$work/p2") s (core 0's $(tail -n1 "$work/pc0") s, core 1's $(tail -n1 "$work/pc1") s); one lane $(tail -n1 "$work/l1") s / $(tail -n1 "$work/l2") s; load $(cut -d' ' -f1 /proc/loadavg)" >&2
  echo "  2 cores, CPU per thread (last sample, threads over 5 ms): $(cat "$work/out-2.jsonl.threads")" >&2
done
cmp -s "$work/out-1.jsonl" "$work/out-2.jsonl" || { echo "bench: 1-core and 2-core outputs differ" >&2; exit 1; }
cmp -s "$work/out-1.jsonl" "$work/out-1b.jsonl" || { echo "bench: the replays on core 0 and on core 1 wrote other samples" >&2; exit 1; }
cmp -s "$work/out-1.jsonl" "$work/out-1w2.jsonl" || { echo "bench: two workers on one core wrote other samples than one" >&2; exit 1; }
cmp -s "$work/lane-1.jsonl" "$work/lane-2.jsonl" || { echo "bench: 1-core and 2-core outputs of one lane differ" >&2; exit 1; }
for core in 0 1; do cmp -s "$work/out-1.jsonl" "$work/pair-$core.jsonl" || { echo "bench: a replay run beside another wrote other samples" >&2; exit 1; }; done

# Start-up: the two commands in turn (so that a machine's drift falls on both alike), >= 30 pairs after 3 to warm up;
# wall time from spawn to reaped, medians; CPU (user + system of the reaped child), means.
startup_runs=$(( runs * 10 > 30 ? runs * 10 : 30 ))
cat "$bin_file" "${short[@]}" > /dev/null
version_cmd=("$bin" --version)
short_cmd=("$bin" replay --pipeline pipeline.json --dimensions "$corpus/dimensions" --out "$work/short.jsonl" --quiet "${short[@]}")
read -r version_s short_s startup_cpu_v startup_cpu_s < <(python3 - "$startup_runs" "${#version_cmd[@]}" "${version_cmd[@]}" "${short_cmd[@]}" <<'PY'
import os, statistics, sys, time
runs, n = int(sys.argv[1]), int(sys.argv[2])
commands = [sys.argv[3:3 + n], sys.argv[3 + n:]]
devnull = os.open(os.devnull, os.O_WRONLY)
wall, cpu = ([], []), ([], [])
for k in range(runs + 3):
    for i, command in enumerate(commands):
        t0 = time.perf_counter()
        pid = os.posix_spawn(command[0], command, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
        _, status, usage = os.wait4(pid, 0)
        t1 = time.perf_counter()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"bench: start-up command exited {os.waitstatus_to_exitcode(status)}: {' '.join(command)}")
        if k >= 3:
            wall[i].append(t1 - t0)
            cpu[i].append(usage.ru_utime + usage.ru_stime)
print(statistics.median(wall[0]), statistics.median(wall[1]), statistics.fmean(cpu[0]), statistics.fmean(cpu[1]))
PY
)
[ -n "${short_s:-}" ] || { echo "bench: the start-up measurement failed" >&2; exit 1; }
startup_cpu=$(python3 -c "import sys; v, s = float(sys.argv[1]), float(sys.argv[2]); print(f'{v * 1000:.1f} {s * 1000:.1f} {s / v:.3f}')" "$startup_cpu_v" "$startup_cpu_s")

r1=$(median < "$work/r1"); r2=$(median < "$work/r2")
python3 - "$records" "$r1" "$r2" "$version_s" "$short_s" "$have_anchors" "$markdown" "$(median < "$work/c1")" "$(median < "$work/c2")" \
  "$(median < "$work/extract")" "$(median < "$work/tokenize")" "$(median < "$work/full")" \
  "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores" "$(median < "$work/w1")" "$(median < "$work/w2")" \
  "$lane_records" "$(median < "$work/l1")" "$(median < "$work/l2")" "$startup_cpu" "$(median < "$work/p2")" \
  "$(median < "$work/extract-avx2")" "$(cat "$work/kernel")" "$work" "$startup_runs" <<'EOF'
import statistics, sys
records, r1, r2, version_s, short_s = int(sys.argv[1]), *map(float, sys.argv[2:6])
have_anchors, markdown = sys.argv[6] == "1", sys.argv[7] == "1"
c1, c2 = float(sys.argv[8]), float(sys.argv[9])
extract, tokenize, full = (float(x) if x else 0.0 for x in sys.argv[10:13])
machine = sys.argv[13]
w1, w2 = float(sys.argv[14]), float(sys.argv[15])
lane_records, l1, l2 = int(sys.argv[16]), float(sys.argv[17]), float(sys.argv[18])
startup_cpu = sys.argv[19].split() if len(sys.argv) > 19 and sys.argv[19] else None
pair = float(sys.argv[20])
extract_avx2 = float(sys.argv[21]) if sys.argv[21] else 0.0
kernel = sys.argv[22] or "?"
work = sys.argv[23]
startup_runs = int(sys.argv[24])

def runs_of(name):
    with open(f"{work}/{name}") as f:
        return [float(line) for line in f if line.strip()]

def spread(values):
    # Each run's own ratio (the median above is of each figure's runs, not of these): how far one run is from another.
    return f"runs {', '.join(f'{v:.3f}' for v in values)}" if len(values) > 1 else ""

# Per run, the ratios of figures measured in that run (the anchors ran right after the replays of the same run).
run_r1, run_r2, run_pair = runs_of("r1"), runs_of("r2"), runs_of("p2")
run_r1b, run_pc0, run_pc1 = runs_of("r1b"), runs_of("pc0"), runs_of("pc1")
r1b = statistics.median(run_r1b)
run_next = runs_of("extract-next")
run_l1, run_l2 = runs_of("l1"), runs_of("l2")
run_extract, run_avx2 = runs_of("extract"), runs_of("extract-avx2")
per_run = {
    "extract": [records / r / x for r, x in zip(run_r1, run_extract)],
    "avx2": [records / r / x for r, x in zip(run_r1, run_avx2)],
    "next": [records / r / x for r, x in zip(run_r1, run_next)],
    "two": [a / b for a, b in zip(run_r1, run_r2)],
    "pair": [2 * a / b for a, b in zip(run_r1, run_pair)],
    # What the two cores give work they share by their speed, as the pipelined replay shares its chunks: each one's
    # rate in the pair (one replay in its own wall time), in units of one core alone.
    "shared": [a / b + a / c for a, b, c in zip(run_r1, run_pc0, run_pc1)],
    "core1": [a / b for a, b in zip(run_r1, run_r1b)],
    # CPU time: two workers on core 0 against one, and the two-core replay against one core.
    "w2cpu": [a / b for a, b in zip(runs_of("c1w2"), runs_of("c1"))],
    "c2cpu": [a / b for a, b in zip(runs_of("c2"), runs_of("c1"))],
    "lane": [a / b for a, b in zip(run_l1, run_l2)],
}
one, two = records / r1, records / r2
print(f"replay, 1 core (taskset -c 0)     {one:12,.0f} records/s   (median {r1:.3f} s wall, {c1:.3f} s cpu, {w1:.3f} s waiting for a core, {records:,} records)")
print(f"replay, 2 cores (taskset -c 0,1)  {two:12,.0f} records/s   (median {r2:.3f} s wall, {c2:.3f} s cpu, {w2:.3f} s waiting for a core)")
print(f"replay, 1 core, on core 1         {records / r1b:12,.0f} records/s   (median {r1b:.3f} s wall, taskset -c 1)")
r1w2, c1w2 = statistics.median(runs_of("r1w2")), statistics.median(runs_of("c1w2"))
print(f"replay, 2 workers on 1 core       {records / r1w2:12,.0f} records/s   (median {r1w2:.3f} s wall, {c1w2:.3f} s cpu; DOTNET_PROCESSOR_COUNT=2 taskset -c 0)")
print(f"two 1-core replays at once        {2 * records / pair:12,.0f} records/s   (median {pair:.3f} s wall until both exited, cores 0 and 1)")
print(f"one lane, 1 core / 2 cores        {lane_records / l1:12,.0f} / {lane_records / l2:,.0f} records/s   (median {l1:.3f} / {l2:.3f} s wall, {lane_records:,} records)")
if have_anchors:
    print(f"simdjson extract anchor, 1 core   {extract:12,.0f} records/s   (simdjson's kernel here: {kernel})")
    if extract_avx2:
        print(f"  the same, AVX2 (haswell) kernel   {extract_avx2:12,.0f} records/s")
    print(f"Utf8JsonReader tokenize, 1 core   {tokenize:12,.0f} records/s")
    print(f"Utf8JsonReader full work, 1 core  {full:12,.0f} records/s")
print(f"start-up: --version {version_s * 1000:.2f} ms, 400-line replay {short_s * 1000:.2f} ms (wall, medians of runs in turn)")
if startup_cpu:
    print(f"start-up CPU: --version {startup_cpu[0]} ms, 400-line replay {startup_cpu[1]} ms (user + system, means)")
print()
if have_anchors:
    print(f"ratio replay 1 core / simdjson extract:  {one / extract:.3f}   (goal >= 0.5)   {spread(per_run['extract'])}")
    if per_run["next"]:
        print(f"ratio replay 1 core / simdjson extract run right after it: {statistics.median(per_run['next']):.3f}   (the same core seconds apart, so a change of the core's speed falls on both)   {spread(per_run['next'])}")
    if extract_avx2:
        print(f"ratio replay 1 core / simdjson extract, AVX2 kernel: {one / extract_avx2:.3f}   (what a machine with AVX2 alone gives the anchor; logmetrics is compiled for AVX2)   {spread(per_run['avx2'])}")
    print(f"ratio replay 1 core / Utf8JsonReader full: {one / full:.3f}")
print(f"ratio replay 2 cores / 1 core:          {two / one:.3f}   (goal >= 1.8)   {spread(per_run['two'])}")
print(f"ratio two 1-core replays at once / one:  {2 * r1 / pair:.3f}   (what two cores give work that shares nothing: the ceiling of the ratio above here)   {spread(per_run['pair'])}")
print(f"ratio two 1-core replays at once, each at its own speed: {statistics.median(per_run['shared']):.3f}   (each core's rate beside the other, added: the ceiling for work the cores share by speed, as the replay shares its chunks)   {spread(per_run['shared'])}")
print(f"ratio replay on core 1 / on core 0, speed: {r1 / r1b:.3f}   (a VM's cores need not run at one speed)   {spread(per_run['core1'])}")
print(f"ratio one lane 2 cores / 1 core:        {l1 / l2:.3f}   {spread(per_run['lane'])}")
print(f"ratio CPU, 2 cores / 1 core:            {statistics.median(per_run['c2cpu']):.3f}   (the CPU time the two-core replay spends for the same records)   {spread(per_run['c2cpu'])}")
print(f"ratio CPU, 2 workers on 1 core / 1:     {statistics.median(per_run['w2cpu']):.3f}   (the same design on one core: what the second worker's pipeline costs apart from a second core)   {spread(per_run['w2cpu'])}")
print(f"ratio 400-line replay / --version:       {short_s / version_s:.3f}   (goal <= 1.5)")
if startup_cpu:
    print(f"ratio 400-line replay / --version, CPU:  {float(startup_cpu[2]):.3f}")
print(f"400-line replay - --version:             {(short_s - version_s) * 1000:.2f} ms   (the replay's own work; a faster process start lowers both and raises the ratio)")
if markdown:
    print()
    print(f"Measured by `bash scripts/bench.sh` on {machine} (medians; absolute figures move by 25 % or more between runs on a shared machine, so only the ratios are claimed):")
    print()
    def each(key):
        return ", ".join(f"{v:.2f}" for v in per_run[key])
    print("| ratio | measured (median) | each run | goal |")
    print("|---|---|---|---|")
    if have_anchors:
        print(f"| whole-process replay on 1 core / simdjson On-Demand `extract` anchor, same lines (simdjson's `{kernel}` kernel) | {one / extract:.2f} | {each('extract')} | ≥ 0.5 |")
        if per_run["next"]:
            print(f"| the same / simdjson `extract` run right after each replay, on the same core | {statistics.median(per_run['next']):.2f} | {each('next')} | |")
        if extract_avx2:
            print(f"| the same / the anchor on simdjson's AVX2 (`haswell`) kernel, what a machine with AVX2 alone gives it (logmetrics is compiled for AVX2) | {one / extract_avx2:.2f} | {each('avx2')} | |")
        print(f"| whole-process replay on 1 core / Utf8JsonReader doing the same work | {one / full:.2f} | | |")
    print(f"| replay on 2 cores / on 1 core | {two / one:.2f} | {each('two')} | ≥ 1.8 |")
    print(f"| two 1-core replays at once (cores 0 and 1) / one alone: the machine's ceiling for the row above | {2 * r1 / pair:.2f} | {each('pair')} | |")
    print(f"| the same two, each core's rate beside the other added: the ceiling for work shared by speed | {statistics.median(per_run['shared']):.2f} | {each('shared')} | |")
    print(f"| replay on core 1 alone / on core 0 alone, speed | {r1 / r1b:.2f} | {each('core1')} | |")
    print(f"| replay of one lane on 2 cores / on 1 core | {l1 / l2:.2f} | {each('lane')} | |")
    print(f"| CPU time, replay on 2 cores / on 1 core | {statistics.median(per_run['c2cpu']):.2f} | {each('c2cpu')} | |")
    print(f"| CPU time, the two workers on 1 core / one worker: the second pipeline's cost | {statistics.median(per_run['w2cpu']):.2f} | {each('w2cpu')} | |")
    print(f"| 400-line replay / `logmetrics --version`, wall time | {short_s / version_s:.2f} | (medians of {startup_runs} runs in turn) | ≤ 1.5 |")
    print(f"| 400-line replay − `logmetrics --version`: the replay's own work, ms (the process's start taken out) | {(short_s - version_s) * 1000:.1f} | {version_s * 1000:.1f} and {short_s * 1000:.1f} ms | |")
EOF
