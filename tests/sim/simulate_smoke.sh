#!/usr/bin/env bash
#  simulate_smoke: `mw-simulate --nodes 100 --policy all --duration 20 --json`
#  (the code behind `meshwatch simulate`).  Checks, each of which can fail:
#    - the JSON has a "runs" array of the six policies in order, each with
#      the documented fields; shares and the miss rate lie in [0, 1];
#    - the capacity floor is at most every policy's miss rate;
#    - local + peer + server shares sum to 1; messages_per_job >= 0;
#    - the local policy never hands off (peer_share 0, no offers) and the
#      hand-off policies do;
#    - every policy saw the same jobs (same seed, same input);
#    - determinism: a second run with the same seed prints the same bytes,
#      another seed does not.
#    - `--sweep` on a one-cell grid prints the cell with its four policies
#      and five verdicts, exits 0 (all pass) or 3 (one failed), and refuses
#      bad lists and --policy with exit 2.
#  Bounded: six 20 s simulations of 100 boxes take a few seconds.
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
order = ["local", "reactive", "random", "forecast", "probe", "oracle"]
if not isinstance(runs, list) or [r.get("policy") for r in runs] != order:
    print("FAIL: runs missing or not " + ", ".join(order)); sys.exit(1)
fields = ["policy", "nodes", "seed", "duration", "jobs", "deadline_miss_rate", "server_share",
          "peer_share", "local_share", "messages_per_job", "p50_latency_ms", "p99_latency_ms",
          "floor_miss_rate"]
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
    if r["floor_miss_rate"] > r["deadline_miss_rate"] + 1e-3:
        bad.append(f"{p}: misses {r['deadline_miss_rate']} below the capacity floor {r['floor_miss_rate']}")
    print(f"info  {p:8s} miss {r['deadline_miss_rate']:.4f} server {r['server_share']:.4f} "
          f"peer {r['peer_share']:.4f} msg/job {r['messages_per_job']:.3f} p99 {r['p99_latency_ms']} ms")
loc = runs[0]
if loc.get("peer_share") != 0 or loc.get("offers") != 0: bad.append("local policy handed off")
for r in runs[1:]:
    if not r.get("peer_share", 0) > 0: bad.append(f"{r['policy']}: never handed off")
for b in bad: print("FAIL: " + b)
sys.exit(1 if bad else 0)
PY
#  The sweep on one small cell.
"$SIM" --sweep --nodes 30 --load 0.7 --deadline-ms 300 --seeds 1 --duration 5 --warmup 3 --json \
    > "$tmp/s.json" 2> "$tmp/s.err"; src=$?
[ $src = 0 ] || [ $src = 3 ] || { echo "FAIL: --sweep exit $src"; cat "$tmp/s.err"; fail=1; }
python3 - "$tmp/s.json" "$src" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1])); src = int(sys.argv[2])
cells = d.get("cells", [])
ok = len(cells) == 1
c = cells[0] if ok else {}
ok = ok and [p.get("policy") for p in c.get("policies", [])] == ["oracle", "probe", "random", "forecast"]
ok = ok and set(c.get("verdicts", {})) == {"miss", "half", "server", "msgs", "oracle"}
ok = ok and all(v in ("pass", "fail", "n/a") for v in c["verdicts"].values())
ok = ok and (d.get("cells_failed") == 0) == (src == 0) and c.get("nodes") == 30 and c.get("load") == 0.7
print("info  sweep cell: " + json.dumps(c.get("verdicts")))
if not ok: print("FAIL: --sweep JSON: " + json.dumps(d)[:400])
sys.exit(0 if ok else 1)
PY
for args in "--sweep --policy random" "--sweep --load 0.5,,0.6" "--sweep --seeds 0" "--sweep --nodes 1"; do
    "$SIM" $args >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL: $args: not exit 2"; fail=1; }
done
#  Bad usage: exit 2, no crash.
"$SIM" --nodes 1 --policy all --seed 1 >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL: --nodes 1"; fail=1; }
"$SIM" --nodes 10 --policy best --seed 1 >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL: bad policy"; fail=1; }
"$SIM" --nodes 10 --policy local >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL: no seed"; fail=1; }
[ $fail = 0 ] && echo "RESULT: PASS (simulate_smoke)" || echo "RESULT: FAIL (simulate_smoke)"
exit $fail
