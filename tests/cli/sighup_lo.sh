#!/usr/bin/env bash
#  sighup_lo: SIGHUP reopens LOG_FILE (logrotate's rename + postrotate
#  HUP) and never stops the agent.
#
#  Two loopback agents.  Rename agent 1's log, send SIGHUP: a new file of
#  the old name appears with `log_reopened`; then a third agent joins and
#  agent 1 logs that join in the new file, not in the renamed one (lines
#  after the HUP go to the new file).  A burst of 50 SIGHUPs.  A name that
#  cannot be opened (a directory in its place): agent 1 keeps writing to
#  the file it has and says log_reopen_failed there; once the name is
#  free again, the next HUP reopens it.  Throughout: the same process,
#  answering, and agent 2 lists it alive at the same incarnation, never
#  suspect, dead or left.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 120 "$@"
. "$SRC/tests/cli/cli_lib.sh"
tb_init sighup_lo 88
tb_require_mw

tb_start_agent_lo 1
tb_start_agent_lo 2
tb_wait_ready 1
tb_wait_ready 2
tb_wait_until 20 tb_all_alive 1 2 || tb_fail "the two agents did not converge"
PID1=$(tb_pid 1)
INC1=$(cl_view 2 1 | awk '{print $2}')
LOG=$(tb_log_file 1)
unaffected () {   #  WHEN
    if [ "$(tb_pid 1)" = "$PID1" ] && tb_alive_pid 1 && [ -n "$(tb_status 1 | jq -r '.id // empty')" ] &&
        cl_still_member 2 1 "$INC1"; then
        cl_pass "$1: agent 1 same process, answering, alive at incarnation $INC1 in agent 2's view"
    else
        cl_failc "$1: agent 1 pid $(tb_pid 1) alive=$(tb_alive_pid 1 && echo yes || echo no), in agent 2's view '$(cl_view 2 1)'"
    fi
}

echo "---- logrotate: rename, HUP"
mv "$LOG" "$LOG.1"
kill -HUP "$PID1"
reopened () { grep -q "event=log_reopened" "$LOG" 2>/dev/null; }
tb_wait_until 5 reopened && cl_pass "a new $LOG with log_reopened ($TB_WAIT_MS ms)" ||
    cl_failc "no log_reopened in a new $LOG"
#  Real work after the HUP: a third agent joins; agent 1 must log it in
#  the new file.
tb_start_agent_lo 3
tb_wait_ready 3
ID3=$(tb_id 3)
joined () { grep -q "event=member_join peer=$ID3 " "$LOG" 2>/dev/null; }
tb_wait_until 20 joined && cl_pass "agent 3's join is logged in the new file" ||
    cl_failc "agent 3's join is not in the new file"
grep -q "peer=$ID3 " "$LOG.1" && cl_failc "the renamed file got lines after the HUP" ||
    cl_pass "the renamed file got no line about agent 3"
unaffected "after one HUP"

echo "---- a burst of 50 HUPs"
n0=$(grep -c "event=log_reopened" "$LOG")
for _ in $(seq 50); do kill -HUP "$PID1" || break; done
more () { [ "$(grep -c "event=log_reopened" "$LOG")" -gt "$n0" ]; }
tb_wait_until 5 more && cl_pass "burst handled ($(( $(grep -c "event=log_reopened" "$LOG") - n0 )) reopens for 50 signals)" ||
    cl_failc "no reopen after the burst"
unaffected "after 50 HUPs"

echo "---- the name cannot be opened"
mv "$LOG" "$LOG.2"
mkdir "$LOG"
kill -HUP "$PID1"
failed () { grep -q "event=log_reopen_failed" "$LOG.2"; }
tb_wait_until 5 failed && cl_pass "log_reopen_failed written to the file still in use" ||
    cl_failc "no log_reopen_failed in $LOG.2"
unaffected "after a failed reopen"
rmdir "$LOG"
kill -HUP "$PID1"
tb_wait_until 5 reopened && cl_pass "the next HUP reopens the freed name" || cl_failc "no reopen after the name was freed"
unaffected "at the end"
cl_finish
