#!/usr/bin/env bash
#  resume_kill9_ns: box 2 fetches a 64 MiB package from box 1 on 100 Mbit/s
#  links and is killed with -9 half-way; restarted on the same STATE_DIR it
#  resumes by itself (the wish is in its catalog) and completes, fetching
#  only the pieces it was missing: the bytes it downloads after the
#  restart (its own counter) are the missing pieces' bytes, give or take an
#  endgame copy; the pieces saved before the kill are never fetched again.
#  Then a repair: one damaged byte, `pkg verify` drops that piece, `pkg
#  fetch` gets that one piece back from the mesh.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 180 "$@"
. "$SRC/tests/pkg/pkg_lib.sh"
tb_init resume_kill9_ns 108
tb_require_mw
tb_bridge
for i in 1 2; do tb_host "$i"; pk_shape "$i" 100; done
pk_keys
pk_build facedet 3.0 64 "$TB_DIR/facedet.mwpkg"
for i in 1 2; do tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB"; done
for i in 1 2; do tb_wait_ready "$i" 15; done
tb_wait_until 20 tb_all_alive 1 2 || tb_fail "the mesh did not form"
pk_publish 1 "$TB_DIR/facedet.mwpkg"
tb_wait_until 15 pk_state_is 2 facedet 3.0 available || tb_fail "box 2 did not learn the package"
pieces=$(pk_list 2 | jq -r '.[0].pieces')
size=$(pk_list 2 | jq -r '.[0].size')
piece=$(( (size + pieces - 1) / pieces ))
( timeout 60 "$TB_MW" pkg fetch facedet@3.0 --state-dir "$(tb_state_dir 2)" --timeout-s 50 >/dev/null 2>&1 ) &
fpid=$!
half () { [ "$(pk_have 2 facedet 3.0)" -ge $(( pieces / 2 )) ]; }
tb_wait_until 30 half || tb_fail "box 2 never got half of the package"
tb_kill9 2
wait "$fpid"   # the CLI notices that the agent is gone
before=$(pk_have 2 facedet 3.0)
tb_log "killed box 2 with $before of $pieces pieces saved"
[ "$before" -lt "$pieces" ] || tb_fail "box 2 finished before the kill: the test did not exercise a resume"

tb_restart_agent 2
tb_wait_until 20 pk_answers 2 || tb_fail "box 2 did not answer after its restart"
timeout 60 "$TB_MW" pkg fetch facedet@3.0 --state-dir "$(tb_state_dir 2)" --timeout-s 50 >/dev/null \
    || tb_fail "box 2 did not complete after its restart"
#  What the restarted agent found it had, and what it downloaded.
at_restart=$(grep "event=pkg_fetch_started" "$(tb_log_file 2)" | tail -1 | sed 's/.* have=\([0-9]*\).*/\1/')
fetched=$(tb_stat 2 .packages.bytes_fetched)
missing=$(( pieces - at_restart ))
tb_log "restart: $at_restart pieces held ($before saved + $(( at_restart - before )) found again on disk), $missing missing; fetched $fetched bytes = $(( fetched / piece )) pieces"
[ "$at_restart" -ge "$before" ] || tb_fail "pieces saved before the kill were lost ($at_restart < $before)"
max=$(( (missing + 2) * piece ))
[ "$fetched" -le "$max" ] || tb_fail "fetched $fetched bytes after the restart, more than the $missing missing pieces (+2)"
[ "$fetched" -ge $(( (missing - 1) * piece )) ] || tb_fail "fetched only $fetched bytes for $missing missing pieces?"
dir=$(tb_cli 2 pkg path facedet@3.0 --state-dir "$(tb_state_dir 2)") || tb_fail "no path"
[ "$(pk_sha_tree "$dir")" = "$(pk_sha_tree "$TB_DIR/src-facedet-3.0")" ] || tb_fail "files differ from the source"

#  Repair (what part 2 relies on): one byte of box 2's data damaged; verify
#  drops that piece (corrupt, no path); a fetch gets that piece alone back.
data=$(ls "$(tb_state_dir 2)"/pkg/data/*.data)
printf 'Z' | dd of="$data" bs=1 seek=$(( piece * 7 + 1000 )) conv=notrunc status=none
"$TB_MW" pkg verify facedet@3.0 --state-dir "$(tb_state_dir 2)" --json > "$TB_DIR/verify.json"
[ "$(jq -r .pieces_bad "$TB_DIR/verify.json")" = 1 ] || tb_fail "verify: $(cat "$TB_DIR/verify.json")"
pk_state_is 2 facedet 3.0 corrupt || tb_fail "box 2 is not corrupt after verify"
f0=$(tb_stat 2 .packages.bytes_fetched)
timeout 60 "$TB_MW" pkg fetch facedet@3.0 --state-dir "$(tb_state_dir 2)" --timeout-s 50 >/dev/null \
    || tb_fail "box 2 was not repaired"
f1=$(tb_stat 2 .packages.bytes_fetched)
tb_log "repair: fetched $(( f1 - f0 )) bytes for 1 damaged piece of $piece"
[ $(( f1 - f0 )) -le $(( 2 * piece )) ] && [ $(( f1 - f0 )) -gt 0 ] || tb_fail "repair fetched $(( f1 - f0 )) bytes"
dir=$(tb_cli 2 pkg path facedet@3.0 --state-dir "$(tb_state_dir 2)") || tb_fail "no path after the repair"
[ "$(pk_sha_tree "$dir")" = "$(pk_sha_tree "$TB_DIR/src-facedet-3.0")" ] || tb_fail "files differ after the repair"
tb_log "PASS"
