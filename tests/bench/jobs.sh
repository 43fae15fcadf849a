#!/usr/bin/env bash
#  jobs.sh - the jobs benchmark (not in `make check`; needs root and the
#  face-api models).  A real mesh of 5 namespaced agents (25 % CPU each) and
#  an analysis server (50 %); every box warmed up, forecasts ready; then
#  boxes 1 and 2 get a burst of FACTOR x their capacity (capacity = quota /
#  the agent's CPU per job, measured on box 1 from its /proc stat) for SECS
#  seconds while boxes 3-5 idle.
#
#  Several policies and factors in one run (issue 16: the real-mesh check of
#  docs/PLACEMENT.md's sweep): for each policy the agents are restarted with
#  PLACEMENT_POLICY set (the bed, the server and the calibration stay), the
#  forecasts are let ready again, and the factors run one after the other,
#  each burst judged on its own jobs and log lines.  Prints one markdown
#  table, a row per policy and factor: jobs, the share that finished within
#  the deadline (done, late=0), where they ran, failures, latency p50/p99,
#  data-plane messages per job (every agent's and the server's msgs_out),
#  and the failure reasons; the load of the host before and after (the
#  numbers are only comparable on a quiet machine).  Percentiles are
#  nearest rank.
#
#  usage: tests/bench/jobs.sh [--secs S] [--factor F[,F..]] [--policy P[,P..]]
#                             [--deadline-ms D]
#  defaults: --secs 60 --factor 2 --policy forecast --deadline-ms 1000; the
#  issue's run: --secs 40 --factor 1.5,2,3 --policy random,probe,forecast
#  --deadline-ms 500.  (MW_BUILDDIR=/path/to/build, or MESHWATCH and
#  MW_INJECT)
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SECS=60 FACTORS=2 POLICIES=forecast DEADLINE=1000
usage () {
    echo "usage: $0 [--secs S] [--factor F[,F..]] [--policy local|reactive|random|forecast|probe[,..]] [--deadline-ms D]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
        --secs) SECS=$2; shift 2 ;;
        --factor) FACTORS=$2; shift 2 ;;
        --policy) POLICIES=$2; shift 2 ;;
        --deadline-ms) DEADLINE=$2; shift 2 ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) usage ;;
    esac
done
POLICIES=${POLICIES//,/ } FACTORS=${FACTORS//,/ }
for p in $POLICIES; do
    case $p in local|reactive|random|forecast|probe) ;; *) usage ;; esac
done
for f in $FACTORS; do [[ $f =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage; done
[[ $SECS =~ ^[0-9]+$ && $DEADLINE =~ ^[0-9]+$ ]] || usage
np=$(echo $POLICIES | wc -w) nf=$(echo $FACTORS | wc -w)
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/jobs/jobs_lib.sh"
jb_require_models
tb_hard_timeout $(( np * (nf * (SECS + 90) + 150) + 120 )) --secs "$SECS" --factor "$FACTORS" \
    --policy "$POLICIES" --deadline-ms "$DEADLINE"
tb_init jobs_bench 55
PCT=25
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
jb_bed 5 "$PCT" 50

#  Data-plane messages sent so far by every agent and the server.
msgs_out () {
    local i s=0 v
    for i in $JB_NODES $JB_SERVER; do
        v=$(tb_stat "$i" .jobs.data_plane.msgs_out); s=$(( s + ${v%.*} ))
    done
    echo "$s"
}
#  Mark every log: the next segment's lines start after this.
mark_logs () {
    local i
    for i in $JB_NODES $JB_SERVER; do wc -l < "$(tb_log_file "$i")" > "$TB_DIR/n$i/skip"; done
    rm -f "$TB_DIR"/ids.*
}
#  (Re)start the agents with policy P.
start_agents () {
    local p=$1 i
    TB_AGENT_DEFAULTS=("MODELS_DIR=$MODELS" $(tb_server_keys "$JB_SERVER") "ESCALATE_BELOW=0"
                       "OFFER_TIMEOUT_MS=$JB_OFFER_TIMEOUT_MS" "PLACEMENT_POLICY=$p" "DEADLINE_MS=$DEADLINE")
    if [ -z "${STARTED:-}" ]; then
        jb_start
        STARTED=1
    else
        for i in $JB_NODES; do tb_term "$i" 10 >/dev/null; done
        for i in $JB_NODES; do tb_start_agent "$i"; done
        # shellcheck disable=SC2086
        tb_wait_until 40 tb_all_alive $JB_NODES || tb_fail "mesh did not converge again in 40 s ($p)"
        sleep "${JB_DIGEST_WAIT:-3}"
    fi
    # shellcheck disable=SC2086
    jb_warm $JB_NODES
    jb_wait_forecasts 1 2 3 4 5
}

ROWS=() DETAILS=()
for policy in $POLICIES; do
    start_agents "$policy"
    [ -n "${JB_CAPACITY:-}" ] || jb_calibrate 1 8
    for factor in $FACTORS; do
        rate=$(jb_rate "$factor" 4 40)
        n=$(( rate * SECS ))
        mark_logs
        m0=$(msgs_out)
        echo "info  $policy, ${factor}x: boxes 1 and 2 at $rate jobs/s each for $SECS s ($n each), deadline $DEADLINE ms"
        jb_submit_bg 1 "$n" "$rate" "$DEMO/sample1.jpg"; a=$JB_BG_LAST
        jb_submit_bg 2 "$n" "$rate" "$DEMO/sample3.jpg"; b=$JB_BG_LAST
        wait "$a" "$b"
        # shellcheck disable=SC2086
        jb_wait_ended 60 $JB_NODES
        m1=$(msgs_out)
        seg="$TB_DIR/seg-$policy-$factor"
        mkdir -p "$seg"
        for i in $JB_NODES $JB_SERVER; do
            tail -n +$(( $(cat "$TB_DIR/n$i/skip") + 1 )) "$(tb_log_file "$i")" > "$seg/n$i.log"
        done
        cat "$TB_DIR"/ids.* > "$seg/ids"
        "$TB_PY" "$SRC/tests/jobs/job_check.py" --ids "$seg/ids" --json "$seg/check.json" \
            $(for i in $JB_NODES $JB_SERVER; do echo "$seg/n$i.log"; done) > "$seg/check.txt"; crc=$?
        j () { jq -r "$1" "$seg/check.json"; }
        ms () { local v; v=$(j "$1"); [ "$v" = null ] && echo "-" || printf '%.0f' "$v"; }
        ended=$(j .ended)
        ROWS+=("| $policy | ${factor}x ($rate/s) | $(j .submitted_ids) | $(awk -v a="$(j .in_deadline)" -v b="$ended" 'BEGIN { printf "%.1f %%", b ? 100 * a / b : 0 }') | $(j .local) / $(j .peer) / $(j .server) | $(j .failed) | $(ms .latency_ms.all.p50) / $(ms .latency_ms.all.p99) | $(awk -v m=$(( m1 - m0 )) -v b="$ended" 'BEGIN { printf "%.2f", b ? m / b : 0 }') | $(j '.fail_reasons | to_entries | map("\(.value)x \(.key)") | join("; ")' | sed 's/^$/-/') |")
        DETAILS+=("$policy ${factor}x:" "$(sed 's/^/    /' "$seg/check.txt")")
        if [ "$crc" != 0 ]; then
            echo "job_check found problems in $policy ${factor}x:"
            sed 's/^/    /' "$seg/check.txt"
            TB_FAILED=1
            exit 1
        fi
        sleep 3   #  the burst's digests settle before the next one
    done
done
echo
echo "### jobs benchmark: 5 boxes at $PCT % CPU, boxes 1-2 bursting for $SECS s at each factor x capacity ($JB_CAPACITY jobs/s), boxes 3-5 idle, deadline $DEADLINE ms"
echo
echo "| policy | burst | jobs | within deadline | local / peer / server | failed | p50 / p99 ms | msgs/job | failures |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "load average at the start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
echo
printf '%s\n' "${DETAILS[@]}"
exit 0
