#!/usr/bin/env bash
#  pkg-swarm.sh [--quick] [--sizes "10 20"] [--mb 256] [--mbps 100]
#               [--no-single] [--net ID] - the package distribution
#  benchmark (not in make check; needs root).
#
#  For each N: N boxes in namespaces on MBPS Mbit/s links (tbf, both
#  directions; 100 by default).  --mbps 20 --mb 64 is the CPU-feasible
#  variant for a 2-core machine that cannot seal and hash 20 x 100 Mbit/s:
#  the same transfer time per box, a fifth of the bytes per second.
#  --no-single skips the N-way HTTP run (it takes ~N transfers; one
#  transfer is still measured); --net: the first testbed net id.
#  The same package (MB MiB of weights) is distributed twice:
#    * single source: the seed's way - box 1 serves the file over HTTP
#      (python3 http.server, what a registry amounts to) and boxes 2..N
#      download it at once (curl);
#    * swarm: box 1 publishes it (meshwatch pkg publish) and boxes 2..N
#      fetch it at once (meshwatch pkg fetch: exits when the package is
#      complete, every piece and blob verified, unpacked).
#  Each is reported as the time for all boxes to finish, as a ratio to one
#  transfer (box 2 alone from box 1 over HTTP, same links): max and p50
#  over boxes; for the swarm also the time until every piece was in (the
#  agents' pkg_pieces_complete, before the final check and unpacking), the
#  bytes the publisher sent (x the package) and the pieces rejected.
#  While the swarm runs, box 3 hands inference jobs to box 2 (frames from
#  face-api's demo, tiny-face); their latency is compared with the same
#  jobs before the distribution (p50 / p99 total ms), and any member
#  suspected meanwhile is reported.
#  Targets (issue 12): <= 1.2x one transfer at N = 10 and 20; publisher
#  egress <= 1.5x the package.
#  PK_SHAPER=htb: links that honour DSCP (the package plane is CS1, sent
#  after everything else, like Wi-Fi WMM's background queue) instead of a
#  plain tbf FIFO; compare the job latencies.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MW_BUILDDIR=${MW_BUILDDIR:-$SRC/build}
export MW_SRCDIR=$SRC MW_BUILDDIR
SIZES="10 20"; MB=256; NET0=25; MBPS=100; SINGLE=1
while [ $# -gt 0 ]; do
    case $1 in
        --quick) SIZES="5"; MB=64 ;;
        --sizes) SIZES=$2; shift ;;
        --mb) MB=$2; shift ;;
        --mbps) MBPS=$2; shift ;;
        --net) NET0=$2; shift ;;
        --no-single) SINGLE=0 ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        *) echo "pkg-swarm.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$(id -u)" = 0 ] || { echo "pkg-swarm.sh: needs root (namespaces)"; exit 77; }
RESULTS=$(mktemp /tmp/pkg-swarm-results.XXXXXX)

run_one () {   # run_one N NETID
    local N=$1 NETID=$2
    (
    . "$SRC/tests/lib/testbed.sh"
    . "$SRC/tests/pkg/pkg_lib.sh"
    . "$SRC/tests/infer/models-env.sh"
    tb_init "bench-pkg-$N" "$NETID"
    tb_require_mw
    tb_bridge
    local i t
    for i in $(seq 1 "$N"); do tb_host "$i"; pk_shape "$i" "$MBPS"; done
    pk_keys
    pk_build bench 1.0 "$MB" "$TB_DIR/bench.mwpkg"
    for i in $(seq 1 "$N"); do
        case $i in
            2) tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB" "MODELS_DIR=$MODELS" "INFER_WORKERS=1" ;;
            3) tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB" "MODELS_DIR=$MODELS" "INFER_WORKERS=0" "DEADLINE_MS=3000" ;;
            *) tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB" ;;
        esac
    done
    for i in $(seq 1 "$N"); do tb_wait_ready "$i" 30; done
    tb_wait_until 60 tb_all_alive $(seq 1 "$N") || tb_fail "the mesh did not form"
    #  Job latency, box 3 -> box 2: JOBS frames, one every 250 ms.
    jobs_run () {   # jobs_run OUT COUNT
        local k
        for k in $(seq 1 "$2"); do
            tb_cli 3 submit --camera bench --image "$DEMO/sample1.jpg" --deadline-ms 3000 \
                --state-dir "$(tb_state_dir 3)" --json 2>/dev/null | jq -r '"\(.state) \(.total_ms) \(.path)"' >> "$1"
            sleep 0.25
        done
    }
    sleep 3   # box 2's job capacity reaches box 3 in its digest
    jobs_run "$TB_DIR/jobs.before" 20

    #  Single source over HTTP.
    tb_bg tb_exec 1 python3 -m http.server 8000 --bind "$(tb_ip 1)" --directory "$TB_DIR/src-bench-1.0/weights" \
        > "$TB_DIR/http.log" 2>&1
    tb_wait_until 10 tb_exec 2 curl -sf -o /dev/null "http://$(tb_ip 1):8000/manifest.json" || tb_fail "http"
    t=$(tb_now_ms)
    tb_exec 2 curl -sf -o /dev/null "http://$(tb_ip 1):8000/model.bin" || tb_fail "one transfer"
    local one=$(( $(tb_now_ms) - t ))
    local start=$(tb_now_ms); local -a p=()
    if [ "$SINGLE" = 1 ]; then
        for i in $(seq 2 "$N"); do
            ( tb_exec "$i" curl -sf -o /dev/null "http://$(tb_ip 1):8000/model.bin"; date +%s%3N > "$TB_DIR/http.$i" ) &
            p+=($!)
        done
        wait "${p[@]}"
        for i in $(seq 2 "$N"); do echo $(( $(cat "$TB_DIR/http.$i") - start )); done | sort -n > "$TB_DIR/http.times"
    fi

    #  The swarm.
    pk_publish 1 "$TB_DIR/bench.mwpkg"
    for i in $(seq 2 "$N"); do tb_wait_until 30 pk_state_is "$i" bench 1.0 available || tb_fail "box $i never learned it"; done
    local from_ms; from_ms=$(date +%s%3N)
    #  This machine's load as the swarm starts: 2 shared cores carry every
    #  box's sealing, hashing and veth traffic (a real box carries its own).
    local load0; load0=$(cut -d' ' -f1 /proc/loadavg)
    start=$(tb_now_ms); p=()
    for i in $(seq 2 "$N"); do
        ( timeout 1200 env "${TB_ENVU[@]}" "$TB_MW" pkg fetch bench@1.0 --state-dir "$(tb_state_dir "$i")" \
              --timeout-s 1100 >/dev/null 2>"$TB_DIR/fetch.$i.err"; echo $? > "$TB_DIR/fetch.$i.rc"
          date +%s%3N > "$TB_DIR/swarm.$i" ) &
        p+=($!)
    done
    jobs_run "$TB_DIR/jobs.during" 20 &
    local jp=$!
    wait "${p[@]}"
    wait "$jp"
    for i in $(seq 2 "$N"); do
        [ "$(cat "$TB_DIR/fetch.$i.rc")" = 0 ] || tb_fail "box $i: fetch failed: $(cat "$TB_DIR/fetch.$i.err")"
        echo $(( $(cat "$TB_DIR/swarm.$i") - start ))
    done | sort -n > "$TB_DIR/swarm.times"
    #  Pieces in: the agents' own log line (seconds since their fetch began).
    grep -h "event=pkg_pieces_complete" "$TB_DIR"/n*/agent.log | sed 's/.*seconds=\([0-9.]*\).*/\1/' | sort -n \
        > "$TB_DIR/pieces.times"
    #  A loaded machine can make one `status` miss tb_cli's 5 s: ask again.
    stat_of () {   # stat_of I JQEXPR
        local k v
        for k in 1 2 3 4 5; do
            v=$(tb_status "$1" | jq -r "$2" 2>/dev/null)
            [ -n "$v" ] && [ "$v" != null ] && { echo "$v"; return 0; }
            sleep 1
        done
        tb_log "box $1: no answer to status ($2)"; echo ""
    }
    local served rejected=0 late=0 r
    served=$(stat_of 1 .packages.bytes_served)
    for i in $(seq 2 "$N"); do
        r=$(stat_of "$i" '.packages.pieces_rejected | .bad_hash + .bad_size'); rejected=$(( rejected + ${r:-0} ))
        r=$(stat_of "$i" '.packages.pieces_rejected.unsolicited'); late=$(( late + ${r:-0} ))
    done
    local suspects; suspects=$(grep -h "event=member_suspect" "$TB_DIR"/n*/agent.log | wc -l)
    python3 - "$N" "$MB" "$one" "$served" "$rejected" "$late" "$suspects" "$TB_DIR" "$load0" >> "$RESULTS" <<'PY' || tb_fail "no summary line"
import sys, statistics as st
n, mb, one, served, rejected, late, suspects, d, load0 = sys.argv[1:]
n = int(n); one = int(one)
def load(f):
    try: return [float(x) for x in open(f) if x.strip()]
    except OSError: return []
http = load(f"{d}/http.times") or [float('nan')]; sw = load(f"{d}/swarm.times"); pc = [x * 1000 for x in load(f"{d}/pieces.times")]
def jobs(f):
    ok, bad = [], 0
    try:
        for line in open(f):
            p = line.split()
            if len(p) == 3 and p[0] == "done": ok.append(float(p[1]))
            else: bad += 1
    except OSError: pass
    return ok, bad
(jb, jbf), (jd, jdf) = jobs(f"{d}/jobs.before"), jobs(f"{d}/jobs.during")
def pct(v, q):
    v = sorted(v); return v[min(len(v) - 1, int(q * len(v)))] if v else float('nan')
size = int(mb) * 1048576
print(f"N={n} MB={mb} one={one/1000:.2f}s "
      f"http_max={max(http)/one:.2f} http_p50={st.median(http)/one:.2f} "
      f"swarm_max={max(sw)/one:.2f} swarm_p50={st.median(sw)/one:.2f} "
      f"pieces_max={max(pc)/one:.2f} pieces_p50={st.median(pc)/one:.2f} "
      f"egress={(int(served)/size if served else float('nan')):.2f} rejected={rejected} late={late} "
      f"jobs_before_p50={pct(jb,.5):.1f} jobs_before_p99={pct(jb,.99):.1f} jobs_before_failed={jbf} "
      f"jobs_during_p50={pct(jd,.5):.1f} jobs_during_p99={pct(jd,.99):.1f} jobs_during_failed={jdf} "
      f"suspected={suspects} load={load0} "
      f"agg_mbs={((n - 1) * int(mb) * 1.048576 / (max(sw) / 1000)) if sw else float('nan'):.0f}")
PY
    tb_log "N=$N done: $(tail -1 "$RESULTS")"
    )
}

k=0; failed=0
for N in $SIZES; do
    run_one "$N" $(( NET0 + k )) || { echo "pkg-swarm.sh: N=$N failed" >&2; failed=1; }
    k=$(( k + 1 ))
done
echo
echo "Package distribution, ${MB} MiB on ${MBPS} Mbit/s links (${PK_SHAPER:-tbf}), ratios to one transfer (HTTP, one box):"
printf '%-4s %-8s | %-17s | %-17s %-17s | %-9s %-10s | %-24s %-24s | %-10s | %-9s | %s\n' N "one (s)" "single source" \
    "swarm: verified" "swarm: pieces in" "publisher" "pieces" "jobs before: p50/p99 ms" "jobs during: p50/p99 ms" \
    "suspicions" "host load" "swarm MB/s"
printf '%-4s %-8s | %-17s | %-17s %-17s | %-9s %-10s | %-24s %-24s | %-10s | %-9s | %s\n' "" "" "max / p50" "max / p50" \
    "max / p50" "egress" "bad / late" "(failed)" "(failed)" "" "(1 min)" "(all boxes)"
while read -r line; do
    eval "$(echo "$line" | tr ' ' '\n' | sed 's/^/R_/')"
    printf '%-4s %-8s | %-17s | %-17s %-17s | %-9s %-10s | %-24s %-24s | %-10s | %-9s | %s\n' "${R_N}" "${R_one%s}" \
        "${R_http_max}x / ${R_http_p50}x" "${R_swarm_max}x / ${R_swarm_p50}x" "${R_pieces_max}x / ${R_pieces_p50}x" \
        "${R_egress}x" "$R_rejected / $R_late" "${R_jobs_before_p50} / ${R_jobs_before_p99} (${R_jobs_before_failed})" \
        "${R_jobs_during_p50} / ${R_jobs_during_p99} (${R_jobs_during_failed})" "$R_suspected" "$R_load" "$R_agg_mbs"
done < "$RESULTS"
rm -f "$RESULTS"
exit $failed
