#!/usr/bin/env bash
#  jobs_bad_input: one loopback agent (root namespace, JOIN seed, no beacon;
#  JOB_PORT set: loopback agents default to JOB_PORT=0) with real models, no
#  peer and no analysis server.  Hostile and malformed job traffic from
#  mw-inject and the CLI:
#    1. a valid, sealed JOB_OFFER for model "nope" -> JOB_REPLY refused,
#       reason unknown_model (mw-inject listens on the reply-to address);
#       the same offer for tiny-face -> accepted (the agent does answer);
#    2. the same offer sent to the MESH port -> no reply, counted as
#       rejected `plane` (status .stats.rejected.plane);
#       a valid GOSSIP sent to the DATA port -> status
#       .jobs.data_plane.rejected.plane +3 and 3 `packet_rejected
#       reason=plane` log lines;
#    3. 300 sealed job messages with broken bodies (truncated, bit flips,
#       15-byte job id, trailing junk) -> .jobs.data_plane.rejected.malformed
#       (>= 100: a flip can leave a valid message); 60 valid REPLYs/RESULTs
#       for unknown job ids -> dropped, no job event; 300 raw garbage
#       messages and 20 raw TCP connections -> >= 200 data-plane rejects;
#    4. a raw 5 MiB frame to the data port (over its ZMQ_MAXMSGSIZE) and to
#       the mesh port -> dropped by ZeroMQ, the agent lives;
#    5. `submit` of a 5 MiB file -> refused by the CLI with the limit, exit
#       != 0; `submit --model nope` -> refused with "unknown model", exit
#       != 0; neither makes a job event (done, failed, handed_off, ...:
#       the refusals at the door are `job_refused` warnings only);
#  then: the agent is alive, answers status, serves a normal submit (state
#  done, exactly one job_done in its log: nothing above made a job event),
#  and exits 0 on SIGTERM.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/jobs/jobs_lib.sh"
jb_require_models
tb_hard_timeout 90 "$@"
tb_init jobs_bad_input 54
TB_AGENT_WRAPPER=()
JP=$(( TB_PORTBASE + 100 )); RP=$(( TB_PORTBASE + 101 ))
tb_port_free "$JP" && tb_port_free "$RP" || tb_die "port $JP or $RP in use"
tb_start_agent_lo 1 "MODELS_DIR=$MODELS" "JOB_PORT=$JP"
tb_wait_ready 1 20
MP=$(tb_mesh_port 1)
DATA=tcp://127.0.0.1:$JP MESH=tcp://127.0.0.1:$MP
log=$(tb_log_file 1)
#  Envelopes are sealed for their receiver (docs/SECURITY.md): agent 1.
ID1=$(tb_id 1)
inj () { "$JB_INJECT" --key "$TB_KEY" --to-id "$ID1" "$@"; }
cnt () { grep -c "$1" "$log"; }

echo "---- 1. offers"
out=$(inj --to "$DATA" --reply "tcp://127.0.0.1:$RP" --model nope --capture-ms 3000 job-offer); echo "      $out"
[[ $out == *"reply=refused"* && $out == *'reason="unknown_model"'* ]] &&
    jb_pass "offer for model nope -> refused, reason unknown_model" || jb_failc "offer for model nope: $out"
out=$(inj --to "$DATA" --reply "tcp://127.0.0.1:$RP" --model tiny-face --capture-ms 3000 job-offer); echo "      $out"
[[ $out == *"reply=accepted"* ]] && jb_pass "offer for tiny-face -> accepted" || jb_failc "offer for tiny-face: $out"

echo "---- 2. wrong plane"
#  The plane is bound into the envelope: an offer sealed for the data plane
#  does not even open on the mesh port (auth); one sealed for the mesh
#  plane opens, and its type is refused there (plane).
au0=$(tb_stat 1 .stats.rejected.auth)
out=$(inj --to "$MESH" --reply "tcp://127.0.0.1:$RP" --model tiny-face --capture-ms 1500 job-offer); rc=$?
au1=$(tb_stat 1 .stats.rejected.auth)
[ "$rc" = 2 ] && [ "$au1" -gt "$au0" ] &&
    jb_pass "data-plane offer on the mesh port: no reply, rejected auth $au0 -> $au1" || jb_failc "data-plane offer on the mesh port: rc=$rc ($out), auth $au0 -> $au1"
pl0=$(tb_stat 1 .stats.rejected.plane)
out=$(inj --to "$MESH" --plane mesh --reply "tcp://127.0.0.1:$RP" --model tiny-face --capture-ms 1500 job-offer); rc=$?
pl1=$(tb_stat 1 .stats.rejected.plane)
[ "$rc" = 2 ] && [ "$pl1" -gt "$pl0" ] &&
    jb_pass "job offer sealed for the mesh plane: no reply, rejected plane $pl0 -> $pl1" || jb_failc "job offer sealed for the mesh plane: rc=$rc ($out), plane $pl0 -> $pl1"
dp0=$(cnt "event=packet_rejected reason=plane type=gossip")
dps0=$(tb_stat 1 .jobs.data_plane.rejected.plane)
inj --to "$DATA" --plane data --count 3 valid >/dev/null
_dp () { [ "$(cnt "event=packet_rejected reason=plane type=gossip")" -ge $(( dp0 + 3 )) ]; }
tb_wait_until 5 _dp
dps1=$(tb_stat 1 .jobs.data_plane.rejected.plane)
[ "$(( $(cnt "event=packet_rejected reason=plane type=gossip") - dp0 ))" = 3 ] && [ $(( dps1 - dps0 )) = 3 ] &&
    jb_pass "3 GOSSIP on the data port: status .jobs.data_plane.rejected.plane $dps0 -> $dps1, 3 'packet_rejected reason=plane' lines" ||
    jb_failc "GOSSIP on the data port: data_plane.rejected.plane $dps0 -> $dps1, $(( $(cnt "event=packet_rejected reason=plane type=gossip") - dp0 )) log lines, expected 3"

echo "---- 3. malformed and stray job messages, garbage"
rej () { tb_status 1 | jq -c '.jobs.data_plane.rejected'; }
rsum () { tb_status 1 | jq '[.jobs.data_plane.rejected[]] | add'; }
m0=$(tb_stat 1 .jobs.data_plane.rejected.malformed)
echo "      data plane rejects before: $(rej)"
inj --to "$DATA" --count 300 --seed 7 job-garbage | sed 's/^/      /'
#  Wait for the counter to move by what we check, not for a fixed time.
_mal () { m1=$(tb_stat 1 .jobs.data_plane.rejected.malformed); [ $(( m1 - m0 )) -ge 100 ]; }
tb_wait_until 5 _mal
m1=$(tb_stat 1 .jobs.data_plane.rejected.malformed)
echo "info  malformed rejects: $(( m1 - m0 )) of 300 broken job messages (a flip in a frame byte or a score can leave a valid message)"
[ $(( m1 - m0 )) -ge 100 ] && jb_pass "broken job messages counted as data_plane.rejected.malformed ($(( m1 - m0 )))" ||
    jb_failc "only $(( m1 - m0 )) malformed rejects for 300 broken job messages"
in0=$(tb_stat 1 .jobs.data_plane.msgs_in)
inj --to "$DATA" --count 60 job-stray | sed 's/^/      /'
s0=$(rsum)
inj --to "$DATA" --count 300 --seed 8 garbage | sed 's/^/      /'
inj --to "$DATA" --count 20 rawtcp | sed 's/^/      /'
_rej () { s1=$(rsum); [ $(( s1 - s0 )) -ge 200 ]; }
tb_wait_until 5 _rej
s1=$(rsum)
echo "      data plane after: $(rej)"
[ $(( s1 - s0 )) -ge 200 ] && jb_pass "raw garbage counted in the data plane's rejects (+$(( s1 - s0 )) for 300)" ||
    jb_failc "raw garbage: data plane rejects +$(( s1 - s0 )) for 300 messages"
tb_alive_pid 1 && jb_pass "agent alive after the garbage" || jb_failc "agent died on the garbage"

echo "---- 4. oversized frames"
inj --to "$DATA" --size $(( 5 * 1024 * 1024 )) oversize | sed 's/^/      /'
inj --to "$MESH" --size $(( 5 * 1024 * 1024 )) oversize | sed 's/^/      /'
sleep 0.5
tb_alive_pid 1 && jb_pass "agent alive after 5 MiB raw frames on the data and mesh ports" || jb_failc "agent died on an oversized frame"

echo "---- 5. CLI: oversized frame, unknown model"
big="$TB_DIR/big.jpg"
{ cat "$DEMO/sample1.jpg"; head -c $(( 5 * 1024 * 1024 )) /dev/zero; } > "$big"
sub () { timeout 20 env "${TB_ENVU[@]}" "$TB_MW" submit --camera c1 --state-dir "$TB_DIR/n1/state" "$@"; }
out=$(sub --image "$big" 2>&1); rc=$?
echo "      rc=$rc: $out"
[ "$rc" != 0 ] && [[ $out == *"4194304"* ]] && jb_pass "submit of a 5 MiB file refused by the CLI (exit $rc) with the limit" ||
    jb_failc "submit of a 5 MiB file: rc=$rc"
out=$(sub --image "$DEMO/sample1.jpg" --model nope 2>&1); rc=$?
echo "      rc=$rc: $out"
[ "$rc" != 0 ] && [[ $out == *"unknown model"* ]] && jb_pass "submit --model nope refused (exit $rc) with a reason" ||
    jb_failc "submit --model nope: rc=$rc"
out=$(sub --image "$DEMO/sample1.jpg" --model nope --json 2>&1); rc=$?
[ "$rc" != 0 ] && [ "$(printf '%s' "$out" | jq -r .state 2>/dev/null)" = refused ] &&
    jb_pass "submit --model nope --json: state refused, reason \"$(printf '%s' "$out" | jq -r .reason)\"" ||
    jb_failc "submit --model nope --json: rc=$rc $out"
LIFE='event=job_\(done\|failed\|handed_off\|fallback_vms\|escalated\|precise\|escalation_failed\|redispatched\) '
ev=$(cnt "$LIFE")
[ "$ev" = 0 ] && jb_pass "no job event from any of the above ($(cnt "event=job_refused") 'job_refused' warnings: the door's refusals)" ||
    { jb_failc "$ev job events:"; grep "$LIFE" "$log" | head -5; }

echo "---- afterwards"
ms=$(jb_status_ms 1)
[ "$ms" -lt 2000 ] && jb_pass "status answers ($ms ms)" || jb_failc "status took $ms ms"
out=$(sub --image "$DEMO/sample1.jpg" --json 2>&1); rc=$?
echo "      $(printf '%s' "$out" | jq -c '{state, path, boxes, confidence, total_ms}' 2>/dev/null || echo "$out")"
[ "$rc" = 0 ] && [ "$(printf '%s' "$out" | jq -r .state)" = done ] && [ "$(cnt "event=job_done")" = 1 ] &&
    jb_pass "a normal submit is served: done, one job_done in the log" || jb_failc "normal submit: rc=$rc"
tb_term 1 10; rc=$?
[ "$rc" = 0 ] && jb_pass "SIGTERM -> exit 0" || jb_failc "SIGTERM -> exit $rc"
jb_finish
