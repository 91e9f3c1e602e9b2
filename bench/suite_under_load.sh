#!/usr/bin/env bash
# The whole test suite on a busy machine: `uv run pytest` with two CPU-bound processes running beside it for
# its whole length (issue 20: the suite must not depend on wall-clock timing or on winning a race). It
# passes or fails as the suite does, and prints the figures for docs/benchmarks.md: the wall time, the load
# average before, during (sampled each 30 s) and after, and pytest's summary line.
#
#   bash bench/suite_under_load.sh                 # the suite as the README runs it
#   bash bench/suite_under_load.sh tests/chat      # any pytest arguments
#   BURNERS=4 bash bench/suite_under_load.sh       # more CPU-bound processes (default 2)
set -uo pipefail
cd "$(dirname "$0")/.."
burners=${BURNERS:-2}
log=$(mktemp -t suite-under-load.XXXXXX.log)
loads=$(mktemp -t suite-under-load-loads.XXXXXX)

load_average() { cut -d' ' -f1-3 /proc/loadavg; }

echo "suite under load: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $burners CPU-bound processes beside it"
echo "load average before: $(load_average)"
pids=()
for _ in $(seq "$burners"); do
  python3 -c "while True: pass" &
  pids+=($!)
done
(while sleep 30; do load_average | cut -d' ' -f1 >>"$loads"; done) &
sampler=$!
stop() { kill "${pids[@]}" "$sampler" 2>/dev/null; wait "${pids[@]}" "$sampler" 2>/dev/null; }
trap stop EXIT

started=$(date +%s)
uv run pytest "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
wall=$(( $(date +%s) - started ))
stop
trap - EXIT

samples=$(sort -n "$loads" | tr '\n' ' ')
echo "--- suite under load: exit $status, wall ${wall} s ($(( wall / 60 )) min $(( wall % 60 )) s)"
echo "load average during (1-min, every 30 s, sorted): ${samples:-none}"
echo "load average after: $(load_average)"
echo "pytest: $(grep -E '^=+ .*(passed|failed).* in ' "$log" | tail -1 | tr -d '=' | xargs)"
rm -f "$loads"
exit "$status"
