#!/usr/bin/env bash
#  corrupt_ns: box 2 holds the package and serves every piece damaged (test
#  hook MW_TEST_PKG_CORRUPT=1); boxes 3 and 4 fetch from boxes 1 and 2: each
#  bad piece is rejected (hash), counted in /metrics' pieces_rejected and in
#  a pkg.bad_piece event naming box 2, box 2 is banned after its first one,
#  and both fetches complete with the source's bytes.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 180 "$@"
. "$SRC/tests/pkg/pkg_lib.sh"
tb_init corrupt_ns 107
tb_require_mw
tb_bridge
for i in 1 2 3 4; do tb_host "$i"; pk_shape "$i" 100; done
pk_keys
pk_build facedet 2.0 16 "$TB_DIR/facedet.mwpkg"
tb_start_agent 1 "TRUSTED_KEYS=$PK_PUB"
TB_AGENT_WRAPPER=(env MW_TEST_PKG_CORRUPT=1)
tb_start_agent 2 "TRUSTED_KEYS=$PK_PUB"
TB_AGENT_WRAPPER=()
for i in 3 4; do tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB" "METRICS_PORT=9109"; done
for i in 1 2 3 4; do tb_wait_ready "$i" 15; done
tb_wait_until 20 tb_all_alive 1 2 3 4 || tb_fail "the mesh did not form"
grep -q "event=pkg_test_corrupt_on" "$(tb_log_file 2)" || tb_fail "box 2 does not run the corrupting hook"
for i in 3 4; do pk_events_start "$i"; done

pk_publish 1 "$TB_DIR/facedet.mwpkg"
#  Box 2 gets it intact from box 1 (its hook only damages what it serves).
tb_wait_until 15 pk_state_is 2 facedet 2.0 available || tb_fail "box 2 did not learn the package"
timeout 60 "$TB_MW" pkg fetch facedet@2.0 --state-dir "$(tb_state_dir 2)" --timeout-s 50 >/dev/null \
    || tb_fail "box 2 could not fetch from box 1"
tb_wait_until 10 pk_state_is 3 facedet 2.0 available || tb_fail "box 3 did not learn the package"
tb_wait_until 10 pk_state_is 4 facedet 2.0 available || tb_fail "box 4 did not learn the package"
#  Both publisher and box 2 announce it complete before 3 and 4 start.
sleep 2.5
declare -a FPID
for i in 3 4; do
    ( timeout 90 "$TB_MW" pkg fetch facedet@2.0 --state-dir "$(tb_state_dir "$i")" --timeout-s 80 \
          > "$TB_DIR/fetch.$i" 2>&1; echo $? > "$TB_DIR/fetch.$i.rc" ) &
    FPID[$i]=$!
done
for i in 3 4; do wait "${FPID[$i]}"; done
sleep 0.5   # the last events on their way to the subscribers
want=$(pk_sha_tree "$TB_DIR/src-facedet-2.0")
bad_total=0
id2=$(tb_id 2)
for i in 3 4; do
    [ "$(cat "$TB_DIR/fetch.$i.rc")" = 0 ] || { cat "$TB_DIR/fetch.$i"; tb_fail "box $i: fetch failed"; }
    dir=$(tb_cli "$i" pkg path facedet@2.0 --state-dir "$(tb_state_dir "$i")") || tb_fail "box $i: no path"
    [ "$(pk_sha_tree "$dir")" = "$want" ] || tb_fail "box $i: files differ from the source"
    bad=$(tb_stat "$i" .packages.pieces_rejected.bad_hash)
    [ "$bad" -le 1 ] || tb_fail "box $i took $bad bad pieces: box 2 was not banned at the first"
    bad_total=$(( bad_total + bad ))
    m=$(tb_exec "$i" curl -sf --max-time 3 "http://127.0.0.1:9109/metrics" \
        | sed -n 's/^meshwatch_pkg_pieces_rejected_total{reason="bad_hash"} \([0-9]*\)$/\1/p')
    [ "$m" = "$bad" ] || tb_fail "box $i: /metrics says ${m:-nothing} pieces rejected (bad_hash), status $bad"
    ev=$(grep -c "\"event\":\"bad_piece\".*\"peer\":\"$id2\"" "$TB_DIR/events.$i" || true)
    [ "$ev" = "$bad" ] || tb_fail "box $i: $bad bad pieces counted, $ev pkg.bad_piece events naming box 2"
    tb_log "box $i: complete, $bad bad piece(s) from box 2 rejected"
done
[ "$bad_total" -ge 1 ] || tb_fail "no bad piece was ever offered: the test did not exercise the hook"
served2=$(tb_stat 2 .packages.pieces_served)
tb_log "box 2 served $served2 damaged pieces; $bad_total rejected"
tb_log "PASS"
