#!/usr/bin/env bash
#  traces: `meshwatch forecast` on the shipped traces.
#  Synthetic traces (tests/traces/synth-*.csv, fixed seeds): at the 5 s
#  horizon Holt's MAE must be below the naive (last value) MAE on the ramp
#  and the periodic trace, and at 5 s and 30 s the upper bound must cover
#  at least 90 % of the scored samples of every synthetic trace.
#  The real traces (tests/traces/real-*.csv) are scored and printed only
#  (their targets are the benchmark's: tests/bench/forecast.sh).
set -u
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MW=${MESHWATCH:-${MW_BUILDDIR:-.}/meshwatch}
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
fail=0
for t in step ramp periodic; do
    f="$SRC/tests/traces/synth-$t.csv"
    for h in 5 30; do
        js=$("$MW" forecast --trace "$f" --horizon "$h" --json) || { echo "FAIL  $t h=$h: forecast failed"; fail=1; continue; }
        read -r hm nm ab < <(jq -r '"\(.holt.mae) \(.naive.mae) \(.holt.above_bound)"' <<<"$js")
        line="$t h=${h}s: MAE holt $hm naive $nm, above bound $(awk -v a="$ab" 'BEGIN{printf "%.1f", 100*a}') %"
        ok=1
        awk -v a="$ab" 'BEGIN{exit !(a <= 0.10)}' || ok=0
        if [ "$h" = 5 ] && [ "$t" != step ]; then awk -v x="$hm" -v y="$nm" 'BEGIN{exit !(x < y)}' || ok=0; fi
        if [ $ok = 1 ]; then echo "PASS  $line"; else echo "FAIL  $line"; fail=1; fi
    done
done
for f in "$SRC"/tests/traces/real-*.csv; do
    [ -f "$f" ] || continue
    js=$("$MW" forecast --trace "$f" --horizon 5 --json) || { echo "FAIL  $f: forecast failed"; fail=1; continue; }
    jq -r '"info  \(.trace | split("/") | last) h=5s: MAE holt \(.holt.mae) naive \(.naive.mae) (\(.mae_gain_pct) % lower), above bound \(.holt.above_bound * 100 | floor) %"' <<<"$js"
done
#  Bad input: clean errors, no crash.
printf 'timestamp,value\n1,2\n' > /tmp/fc-trace-short.$$.csv
"$MW" forecast --trace /tmp/fc-trace-short.$$.csv >/dev/null 2>&1; rc=$?
rm -f /tmp/fc-trace-short.$$.csv
[ $rc = 1 ] || { echo "FAIL  short trace: exit $rc, want 1"; fail=1; }
"$MW" forecast --trace /nonexistent.csv >/dev/null 2>&1; [ $? = 1 ] || { echo "FAIL  missing file"; fail=1; }
"$MW" forecast --horizon 0 --trace x >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL  --horizon 0"; fail=1; }
[ $fail = 0 ] && echo "RESULT: PASS (traces)" || echo "RESULT: FAIL (traces)"
exit $fail
