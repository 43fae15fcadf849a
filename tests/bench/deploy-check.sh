#!/usr/bin/env bash
#  deploy-check.sh [--mb 256] [--secs 15] - does the periodic check of an
#  installed package stall the agent's loop?  (not in make check; root.)
#  One box runs an exec package of MB MiB (two data files) with
#  DEPLOY_CHECK_S=1, so a check (re-hash every piece, compare every
#  installed file) is always due; for SECS seconds the benchmark asks the
#  agent for `status` in a loop and prints the round trips (p50, p99, max):
#  a check on the loop shows up as round trips of one hashing of the
#  package.  MW_BUILDDIR picks the build to measure (compare two builds on
#  the same machine, one after the other).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MW_BUILDDIR=${MW_BUILDDIR:-$SRC/build}
export MW_SRCDIR=$SRC MW_BUILDDIR
MB=256; SECS=15
ARGS=("$@")
while [ $# -gt 0 ]; do
    case $1 in
        --mb) MB=$2; shift ;;
        --secs) SECS=$2; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "deploy-check.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 300 "${ARGS[@]}"
. "$SRC/tests/pkg/pkg_lib.sh"
. "$SRC/tests/deploy/deploy_lib.sh"
tb_init bench_deploy_check 61
tb_require_mw
tb_bridge
tb_host 1
pk_keys
dp_build_exec big 1.0 "$TB_DIR/big.mwpkg" ok $(( MB * 1024 / 2 ))
tb_start_agent 1 "TRUSTED_KEYS=$PK_PUB" "DEPLOY_CHECK_S=1"
tb_wait_ready 1 20
tb_cli 1 pkg publish "$TB_DIR/big.mwpkg" --state-dir "$(tb_state_dir 1)" >/dev/null || tb_fail "publish"
dp_deploy 1 big@1.0 --all --wait-s 120 >/dev/null || tb_fail "deploy"
tb_wait_until 60 dp_running 1 big 1.0 1 || tb_fail "not running"
sleep 2
end=$(( $(tb_now_ms) + SECS * 1000 ))
: > "$TB_DIR/rtt"
while [ "$(tb_now_ms)" -lt "$end" ]; do
    t0=$(tb_now_ms)
    tb_status 1 >/dev/null
    echo $(( $(tb_now_ms) - t0 )) >> "$TB_DIR/rtt"
    sleep 0.05
done
sort -n "$TB_DIR/rtt" > "$TB_DIR/rtt.sorted"
n=$(wc -l < "$TB_DIR/rtt.sorted")
pick () { sed -n "$(( ($1 * n + 99) / 100 ))p" "$TB_DIR/rtt.sorted"; }
checks=$(grep -c 'event=deploy_check_failed\|event=deploy_repair' "$(tb_log_file 1)")
printf '\n%-14s %s\n' "package" "$MB MiB, checked every second"
printf '%-14s %s\n' "status rtt" "p50 $(pick 50) ms, p99 $(pick 99) ms, max $(tail -1 "$TB_DIR/rtt.sorted") ms ($n calls in $SECS s)"
printf '%-14s %s\n' "load average" "$(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
[ "$checks" = 0 ] || tb_log "unexpected: $checks check warnings or repairs in the log"
tb_log "done"
