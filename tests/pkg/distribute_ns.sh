#!/usr/bin/env bash
#  distribute_ns: 5 boxes on 100 Mbit/s links (tbf); a 64 MiB package
#  published on box 1 reaches boxes 2..5 at once; every file's SHA-256 equals
#  the source's; the time is compared with one single transfer on the same
#  links (HTTP, box 1 -> box 2) and must be under 2x (target: ~1.1x); box
#  1 sends about one copy; nobody is suspected meanwhile.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 240 "$@"
. "$SRC/tests/pkg/pkg_lib.sh"
tb_init distribute_ns 110
tb_require_mw
N=5
MB=${PK_MB:-64}
RATE=${PK_RATE:-100}
tb_bridge
for i in $(seq 1 $N); do tb_host "$i"; pk_shape "$i" "$RATE"; done
pk_keys
pk_build facedet 1.0 "$MB" "$TB_DIR/facedet.mwpkg"
for i in $(seq 1 $N); do tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB"; done
for i in $(seq 1 $N); do tb_wait_ready "$i" 15; done
tb_wait_until 20 tb_all_alive $(seq 1 $N) || tb_fail "the mesh did not form"

#  One transfer of the same bytes on the same links: HTTP from box 1 to 2.
tb_bg tb_exec 1 python3 -m http.server 8000 --bind "$(tb_ip 1)" --directory "$TB_DIR/src-facedet-1.0/weights"
tb_wait_until 10 tb_exec 2 curl -sf -o /dev/null "http://$(tb_ip 1):8000/manifest.json" || tb_fail "http server"
t0=$(tb_now_ms)
tb_exec 2 curl -sf -o /dev/null "http://$(tb_ip 1):8000/model.bin" || tb_fail "single transfer"
single=$(( $(tb_now_ms) - t0 ))
tb_log "one transfer of $MB MiB on ${RATE} Mbit/s links: $(tb_secs $single) s"

#  Publish on box 1; the mesh learns it.
pk_publish 1 "$TB_DIR/facedet.mwpkg"
for i in $(seq 2 $N); do
    tb_wait_until 15 pk_state_is "$i" facedet 1.0 available || tb_fail "box $i did not learn the package"
done
start=$(tb_now_ms)
declare -a FPID
for i in $(seq 2 $N); do
    ( timeout 150 "$TB_MW" pkg fetch facedet@1.0 --state-dir "$(tb_state_dir "$i")" --timeout-s 120 --json \
          > "$TB_DIR/fetch.$i" 2>&1; echo $? > "$TB_DIR/fetch.$i.rc"; date +%s%3N > "$TB_DIR/fetch.$i.end" ) &
    FPID[$i]=$!
done
for i in $(seq 2 $N); do wait "${FPID[$i]}"; done
last=0
for i in $(seq 2 $N); do
    [ "$(cat "$TB_DIR/fetch.$i.rc")" = 0 ] || { cat "$TB_DIR/fetch.$i"; tb_fail "box $i: fetch failed"; }
    t=$(( $(cat "$TB_DIR/fetch.$i.end") - start ))
    tb_log "box $i complete after $(tb_secs $t) s"
    [ $t -gt $last ] && last=$t
done

#  Every file as published.
want=$(pk_sha_tree "$TB_DIR/src-facedet-1.0")
for i in $(seq 2 $N); do
    dir=$(tb_cli "$i" pkg path facedet@1.0 --state-dir "$(tb_state_dir "$i")") || tb_fail "box $i: no path"
    got=$(pk_sha_tree "$dir")
    [ "$got" = "$want" ] || tb_fail "box $i: files differ from the source ($got != $want)"
done

#  A complete package still lists where else it lives: the other 4 boxes.
pk_sources () { pk_list "$1" | jq -r '[.[] | select(.name == "facedet") | .sources] | .[0] // 0'; }
pk_sources_are () { [ "$(pk_sources "$1")" = "$2" ]; }
tb_wait_until 10 pk_sources_are 5 $(( N - 1 )) || tb_fail "box 5 lists $(pk_sources 5) sources, not $(( N - 1 ))"

served=$(tb_stat 1 .packages.bytes_served)
ratio=$(awk -v a=$last -v b=$single 'BEGIN { printf "%.2f", a / b }')
egress=$(awk -v s=$served -v m=$MB 'BEGIN { printf "%.2f", s / (m * 1048576) }')
tb_log "RESULT: $N boxes, $MB MiB: all complete in $(tb_secs $last) s = ${ratio}x one transfer; publisher sent ${egress}x the package"
awk -v r=$ratio 'BEGIN { exit !(r <= 2.0) }' || tb_fail "distribution took ${ratio}x one transfer (limit 2x)"
tb_all_alive $(seq 1 $N) || tb_fail "a member was not alive after the distribution: $(tb_view_problems $(seq 1 $N))"
problems=$(grep -h "event=member_suspect\|event=member_dead" "$TB_DIR"/n*/agent.log || true)
[ -z "$problems" ] || tb_fail "members were suspected during the distribution: $problems"
tb_log "PASS"
