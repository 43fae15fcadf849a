#!/usr/bin/env bash
#  events_live_lo: the live event stream matches docs/EVENTS.md.
#
#  Three loopback agents (n1 runs jobs and escalates every result to an
#  analysis server, n2 and n3 plain) and the server, with fast SWIM
#  timings.  A recorder (tests/node/events_sub.py, libzmq through ctypes)
#  subscribes to every topic of all four streams, then the test makes each
#  documented kind of event happen: joins, an election, a job done (and
#  escalated, and its precise result), a job failed (not a JPEG), a
#  suspicion refuted (SIGSTOP, SIGCONT: member.suspect, member.alive), a
#  death (a longer SIGSTOP), a graceful leave, an environment report, the
#  server's load.  Each wait is for the event itself in the recording, not for a
#  view that stale state could satisfy.  tests/node/events_check.py then
#  checks every message against the document: documented topic, both
#  frames, the documented fields in order with the documented types, the
#  msgpack frame equal to its JSON twin, and every required topic seen.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/jobs/jobs_lib.sh"
. "$SRC/tests/node/node_lib.sh"
jb_require_models
tb_hard_timeout 90 "$@"
tb_init events_live_lo 80
TB_AGENT_WRAPPER=()
tb_require_mw
REC=$TB_DIR/events.rec
SP=$(( TB_PORTBASE + 150 ))   # analysis server VMS_PORT (events on +1)
JP=$(( TB_PORTBASE + 100 ))   # n1's JOB_PORT
tb_port_free "$JP" || tb_die "port $JP in use"
FAST=("PROBE_INTERVAL_MS=200" "PROBE_TIMEOUT_MS=100" "SUSPICION_MIN_MS=1500" "SUSPICION_MAX_MULT=2"
      "DEAD_REAP_MS=30000")
eps=("tcp://127.0.0.1:$(( SP + 1 ))")
for i in 1 2 3; do eps+=("tcp://127.0.0.1:$(( TB_PORTBASE + 2 * (i - 1) + 1 ))"); done
#  The recorder first: SUB connects (and reconnects) to ports not yet bound.
nd_record "$REC" "${eps[@]}"
sleep 0.3
nd_server_lo 9 "$SP" "MODELS_DIR=$MODELS" "ANALYSIS_WORKERS=1"
tb_start_agent_lo 1 "${FAST[@]}" "MODELS_DIR=$MODELS" "JOB_PORT=$JP" "VMS_URL=tcp://127.0.0.1" "VMS_PORT=$SP" \
    "ESCALATE_BELOW=0.99" "DEADLINE_MS=5000"
tb_wait_ready 1 20
tb_start_agent_lo 2 "${FAST[@]}"
tb_start_agent_lo 3 "${FAST[@]}"
tb_wait_until 20 tb_all_alive 1 2 3 || tb_fail "mesh of 3 did not converge"
tb_wait_until 10 nd_seen "$REC" json.coordinator.elected || jb_failc "no coordinator.elected within 10 s"
tb_wait_until 5 nd_seen "$REC" json.member.join || jb_failc "no member.join"

echo "---- jobs: one done (escalated, precise), one failed"
n0=$(nd_count "$REC" json.job.precise)
out=$(timeout 30 env "${TB_ENVU[@]}" "$TB_MW" submit --camera cam1 --image "$DEMO/sample1.jpg" --deadline-ms 5000 \
      --state-dir "$TB_DIR/n1/state" --json 2>&1); rc=$?
echo "      done: rc=$rc $(printf '%s' "$out" | jq -c '{state, path, escalated, confidence}' 2>/dev/null || echo "$out")"
head -c 3000 /dev/urandom > "$TB_DIR/junk.jpg"
out=$(timeout 30 env "${TB_ENVU[@]}" "$TB_MW" submit --camera cam1 --image "$TB_DIR/junk.jpg" --deadline-ms 5000 \
      --state-dir "$TB_DIR/n1/state" --json 2>&1); rc=$?
echo "      junk: rc=$rc $(printf '%s' "$out" | jq -c '{state, reason}' 2>/dev/null || echo "$out")"
tb_wait_until 15 nd_more "$REC" json.job.precise "$n0" || jb_failc "no job.precise within 15 s"

echo "---- suspicion refuted, then a death, then a leave"
#  Each wait is for one more event of the kind than before the action.
n0=$(nd_count "$REC" json.member.suspect)
tb_stop 2
tb_wait_until 10 nd_more "$REC" json.member.suspect "$n0" || jb_failc "no member.suspect within 10 s of SIGSTOP"
n0=$(nd_count "$REC" json.member.alive)
tb_cont 2
tb_wait_until 10 nd_more "$REC" json.member.alive "$n0" || jb_failc "no member.alive within 10 s of SIGCONT"
n0=$(nd_count "$REC" json.member.dead)
tb_stop 2
tb_wait_until 15 nd_more "$REC" json.member.dead "$n0" || jb_failc "no member.dead within 15 s of SIGSTOP"
tb_cont 2
n0=$(nd_count "$REC" json.member.leave)
tb_term 3 10 || jb_failc "n3 did not leave gracefully"
tb_wait_until 10 nd_more "$REC" json.member.leave "$n0" || jb_failc "no member.leave"
n0=$(nd_count "$REC" json.env.report)
timeout 10 env "${TB_ENVU[@]}" "$TB_MW" env report --result 4 --state-dir "$TB_DIR/n1/state" >/dev/null ||
    jb_failc "env report refused"
tb_wait_until 5 nd_more "$REC" json.env.report "$n0" || jb_failc "no env.report"
n0=$(nd_count "$REC" json.server.load)
tb_wait_until 5 nd_more "$REC" json.server.load "$n0" || jb_failc "no server.load"
sleep 0.3
nd_record_stop

echo "---- $(wc -l < "$REC") messages recorded; checked against docs/EVENTS.md"
req=()
for t in member.join member.suspect member.alive member.dead member.leave coordinator.elected \
         job.done job.failed job.escalated job.precise server.load env.report; do req+=(--require "$t"); done
if "$TB_PY" "$SRC/tests/node/events_check.py" --doc "$SRC/docs/EVENTS.md" "${req[@]}" "$REC"; then
    jb_pass "every event matches docs/EVENTS.md (topics, field order, types; msgpack = JSON)"
else
    jb_failc "events differ from docs/EVENTS.md"
fi
jb_finish
