#!/usr/bin/env bash
#  simulate_smoke: `mw-simulate --nodes 100 --policy all --duration 20 --json`
#  (the code behind `meshwatch simulate`).  Checks, each of which can fail:
#    - the JSON has a "runs" array of the four policies in order, each with
#      the documented fields; shares and the miss rate lie in [0, 1];
#    - local + peer + server shares sum to 1; messages_per_job >= 0;
#    - the local policy never hands off (peer_share 0, no offers) and the
#      hand-off policies do;
#    - every policy saw the same jobs (same seed, same input);
#    - determinism: a second run with the same seed prints the same bytes,
#      another seed does not.
#  Bounded: four 20 s simulations of 100 boxes take about a second.
set -u
SIM=${MW_SIMULATE:-${MW_BUILDDIR:-.}/scheduler/mw-simulate}
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
run () { timeout 120 "$SIM" --nodes 100 --policy all --duration 20 --seed "$1" --json; }
run 11 > "$tmp/a.json" || { echo "FAIL: mw-simulate exit $?"; exit 1; }
run 11 > "$tmp/b.json" || { echo "FAIL: second run"; exit 1; }
run 12 > "$tmp/c.json" || { echo "FAIL: third run"; exit 1; }
fail=0
cmp -s "$tmp/a.json" "$tmp/b.json" || { echo "FAIL: same seed, different output"; fail=1; }
cmp -s "$tmp/a.json" "$tmp/c.json" && { echo "FAIL: another seed, same output"; fail=1; }
python3 - "$tmp/a.json" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
bad = []
runs = d.get("runs")
if not isinstance(runs, list) or [r.get("policy") for r in runs] != ["local", "reactive", "random", "forecast"]:
    print("FAIL: runs missing or not local, reactive, random, forecast"); sys.exit(1)
fields = ["policy", "nodes", "seed", "duration", "jobs", "deadline_miss_rate", "server_share",
          "peer_share", "local_share", "messages_per_job", "p50_latency_ms", "p99_latency_ms"]
for r in runs:
    p = r["policy"]
    for f in fields:
        if f not in r: bad.append(f"{p}: no {f}")
    if bad: continue
    for f in ["deadline_miss_rate", "server_share", "peer_share", "local_share"]:
        if not 0 <= r[f] <= 1: bad.append(f"{p}: {f} = {r[f]} outside [0, 1]")
    s = r["local_share"] + r["peer_share"] + r["server_share"]
    if abs(s - 1) > 1e-4: bad.append(f"{p}: shares sum to {s}")
    if r["messages_per_job"] < 0: bad.append(f"{p}: messages_per_job < 0")
    if r["nodes"] != 100 or r["duration"] != 20 or r["jobs"] <= 0: bad.append(f"{p}: nodes/duration/jobs")
    if not 0 < r["p50_latency_ms"] <= r["p99_latency_ms"]: bad.append(f"{p}: latency order")
    if r["jobs"] != runs[0]["jobs"]: bad.append(f"{p}: {r['jobs']} jobs, local saw {runs[0]['jobs']}")
    print(f"info  {p:8s} miss {r['deadline_miss_rate']:.4f} server {r['server_share']:.4f} "
          f"peer {r['peer_share']:.4f} msg/job {r['messages_per_job']:.3f} p99 {r['p99_latency_ms']} ms")
loc = runs[0]
if loc.get("peer_share") != 0 or loc.get("offers") != 0: bad.append("local policy handed off")
for r in runs[1:]:
    if not r.get("peer_share", 0) > 0: bad.append(f"{r['policy']}: never handed off")
for b in bad: print("FAIL: " + b)
sys.exit(1 if bad else 0)
PY
#  Bad usage: exit 2, no crash.
"$SIM" --nodes 1 --policy all --seed 1 >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL: --nodes 1"; fail=1; }
"$SIM" --nodes 10 --policy best --seed 1 >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL: bad policy"; fail=1; }
"$SIM" --nodes 10 --policy local >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL: no seed"; fail=1; }
[ $fail = 0 ] && echo "RESULT: PASS (simulate_smoke)" || echo "RESULT: FAIL (simulate_smoke)"
exit $fail
