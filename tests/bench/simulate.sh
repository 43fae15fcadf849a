#!/usr/bin/env bash
#  Placement benchmark (not part of `make check`): the six policies on the
#  same simulated mesh at N = 100 and N = 1000, fixed seed, printed as a
#  markdown table (docs/PLACEMENT.md; the sweep is placement-sweep.sh).
#      tests/bench/simulate.sh [SEED] [DURATION_S]
#  MW_SIMULATE: the simulator (default $MW_BUILDDIR/scheduler/mw-simulate;
#  `meshwatch simulate` takes the same arguments).
set -eu
SIM=${MW_SIMULATE:-${MW_BUILDDIR:-.}/scheduler/mw-simulate}
SEED=${1:-1}
DUR=${2:-60}
command -v python3 >/dev/null || { echo "python3 missing" >&2; exit 1; }
echo "| N | policy | deadline miss rate | server share | peer share | messages/job | p50 ms | p99 ms | mean util | wall s |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for n in 100 1000; do
    t0=$(date +%s.%N)
    js=$("$SIM" --nodes "$n" --policy all --seed "$SEED" --duration "$DUR" --json)
    t1=$(date +%s.%N)
    python3 -c '
import json, sys
d = json.loads(sys.argv[1]); wall = float(sys.argv[2])
for r in d["runs"]:
    print("| %d | %s | %.5f | %.4f | %.4f | %.3f | %.1f | %.1f | %.2f | %.1f |" % (
        r["nodes"], r["policy"], r["deadline_miss_rate"], r["server_share"], r["peer_share"],
        r["messages_per_job"], r["p50_latency_ms"], r["p99_latency_ms"], r["mean_util"], wall / len(d["runs"])))
' "$js" "$(echo "$t1 - $t0" | bc -l)"
done
echo
echo "seed $SEED, $DUR s measured after 15 s warm-up, defaults of docs/PLACEMENT.md; wall s = the six runs' time / 6"
