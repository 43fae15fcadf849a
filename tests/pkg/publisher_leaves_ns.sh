#!/usr/bin/env bash
#  publisher_leaves_ns: box 1 publishes a 32 MiB package, boxes 2..4 fetch
#  it on 100 Mbit/s links; as soon as the pieces they have saved cover the
#  whole package between them, box 1 is killed (-9) while they are still
#  fetching; they finish from each other, with the source's bytes.
#  Rate caps (PKG_MAX_MBPS) make that window wide enough to hit on a loaded
#  machine: the publisher serves at 25 Mbit/s (every piece once, super-
#  seeding: the union is whole after ~11 s) and boxes 2..4 at 5 Mbit/s each,
#  so none can be complete before ~20 s; after the kill they need ~25 s.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 180 "$@"
. "$SRC/tests/pkg/pkg_lib.sh"
tb_init publisher_leaves_ns 109
tb_require_mw
tb_bridge
for i in 1 2 3 4; do tb_host "$i"; pk_shape "$i" 100; done
pk_keys
pk_build facedet 4.0 32 "$TB_DIR/facedet.mwpkg"
tb_start_agent 1 "TRUSTED_KEYS=$PK_PUB" "PKG_MAX_MBPS=25"
for i in 2 3 4; do tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB" "PKG_MAX_MBPS=5"; done
for i in 1 2 3 4; do tb_wait_ready "$i" 15; done
tb_wait_until 20 tb_all_alive 1 2 3 4 || tb_fail "the mesh did not form"
pk_publish 1 "$TB_DIR/facedet.mwpkg"
for i in 2 3 4; do tb_wait_until 15 pk_state_is "$i" facedet 4.0 available || tb_fail "box $i did not learn it"; done
declare -a FPID
for i in 2 3 4; do
    ( timeout 120 "$TB_MW" pkg fetch facedet@4.0 --state-dir "$(tb_state_dir "$i")" --timeout-s 110 \
          > "$TB_DIR/fetch.$i" 2>&1; echo $? > "$TB_DIR/fetch.$i.rc" ) &
    FPID[$i]=$!
done
tb_wait_until 60 pk_union_complete facedet 4.0 2 3 4 || tb_fail "boxes 2..4 never held every piece between them"
tb_kill9 1
#  What each box holds once the kill is certain to be in its saved bitmap
#  (checkpoints every 250 ms): every piece it lacks now can only come from
#  the others.
sleep 0.6
incomplete=0; held=""
total=$(pk_list 2 | jq -r '[.[] | select(.name == "facedet") | .pieces] | .[0]')
for i in 2 3 4; do
    h=$(pk_have "$i" facedet 4.0); held="$held$h "
    [ "$h" -lt "$total" ] && incomplete=$(( incomplete + 1 ))
done
tb_log "publisher killed with boxes 2..4 holding: ${held}of $total pieces"
[ "$incomplete" -ge 1 ] || tb_fail "every box held every piece before the publisher left: nothing tested"
for i in 2 3 4; do wait "${FPID[$i]}"; done
want=$(pk_sha_tree "$TB_DIR/src-facedet-4.0")
for i in 2 3 4; do
    [ "$(cat "$TB_DIR/fetch.$i.rc")" = 0 ] || { cat "$TB_DIR/fetch.$i"; tb_fail "box $i: fetch failed"; }
    dir=$(tb_cli "$i" pkg path facedet@4.0 --state-dir "$(tb_state_dir "$i")") || tb_fail "box $i: no path"
    [ "$(pk_sha_tree "$dir")" = "$want" ] || tb_fail "box $i: files differ from the source"
done
tb_log "PASS: $incomplete of boxes 2..4 completed from each other after the publisher left"
