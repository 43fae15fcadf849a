#!/usr/bin/env bash
#  lo_diskfull: STATE_DIR fills up under a running agent, then space
#  returns; then a restart with a full STATE_DIR (README, "Disk full").
#  n1's STATE_DIR is a 2 MiB tmpfs; n2 and n3 are ordinary loopback agents.
#    1. Fill the tmpfs, let a new peer (n3) join: n1's state DB writes fail;
#       n1 keeps serving from memory (status answers, every view all alive),
#       says so in status (statedb.degraded, failures counted) and logs the
#       failure once (statedb_flush_failed or _write_failed: once a minute,
#       not once a turn).
#    2. Free the space: n1 recovers by itself (statedb_recovered, nothing
#       pending, n3's row on disk).
#    3. kill -9 n1, fill again, restart: it refuses to start, with one line
#       naming STATE_DIR and the recovery step; free the space, restart: it
#       joins again with a higher incarnation.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 150 "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init lo_diskfull 95
command -v mount >/dev/null && command -v python3 >/dev/null || tb_skip "mount or python3 missing"
tb_require_mw
MNT="$TB_DIR/n1/state"
mkdir -p "$MNT"
mount -t tmpfs -o size=2m,mode=0700 "tb-$TB_TAG" "$MNT" || tb_skip "cannot mount a tmpfs here"
#  Unmount (lazily: the agent may still hold it open) before tb_cleanup
#  stops the agents and removes TB_DIR; the logs are outside the tmpfs.
df_cleanup () {
    local rc=$?
    umount -l "$MNT" 2>/dev/null
    (exit "$rc")
    tb_cleanup
}
trap df_cleanup EXIT
fill () { dd if=/dev/zero of="$MNT/fill.$1" bs=4k 2>/dev/null; sync; }
free_kb () { df -k --output=avail "$MNT" | tail -1 | tr -d ' '; }
st () { tb_status 1 | jq -r "$1" 2>/dev/null; }
lines () { grep -c "event=$1 " "$(tb_log_file 1)"; }

echo "CHECK: STATE_DIR full under a running agent: serves from memory, degraded in status, one log line"
echo "CHECK: space back: recovers by itself; restart on a full STATE_DIR: refused with the recovery step"
tb_start_agent_lo 1
tb_wait_ready 1
tb_start_agent_lo 2
tb_wait_ready 2
tb_wait_until 10 tb_all_alive 1 2 || tb_fail "n1 and n2 did not converge"
INC1=$(tb_incarnation 2 1)
fill a
echo "filled STATE_DIR: $(free_kb) kB free"
[ "$(free_kb)" = 0 ] || tb_fail "the tmpfs is not full"
F0=$(st .statedb.flush_failures)
tb_start_agent_lo 3
tb_wait_ready 3
sc_check "n3 joins while n1's STATE_DIR is full: all alive" 10 15 tb_all_alive 1 2 3
failing () { [ "$(st .statedb.degraded)" = true ] && [ "$(st .statedb.flush_failures)" -ge $(( F0 + 3 )) ]; }
if tb_wait_until 30 failing; then
    echo "PASS  n1's write-behind fails and retries with back-off: $(tb_status 1 | jq -c '.statedb')"
else
    echo "FAIL  n1's state DB never reported 3 failed flushes: $(tb_status 1 | jq -c '.statedb')"; SC_RESULT=1
fi
#  Write-behind flushes and synchronous writes (the election's) share one
#  "once a minute" line: whichever failed first is the one logged.
n=$(grep -cE "event=statedb_(flush|write)_failed " "$(tb_log_file 1)")
if [ "$n" = 1 ]; then echo "PASS  one failure line for $(st '.statedb.flush_failures + .statedb.sync_failures') failed writes"
else echo "FAIL  $n statedb_*_failed lines (want 1: once a minute)"; SC_RESULT=1; fi
grep -E "event=statedb_(flush|write)_failed " "$(tb_log_file 1)" | head -1 | sed 's/^/      /'
t0=$(tb_now_ms); tb_status 1 >/dev/null; t1=$(tb_now_ms)
if [ $(( t1 - t0 )) -lt 1000 ]; then echo "PASS  status answers in $(( t1 - t0 )) ms while degraded"
else echo "FAIL  status took $(( t1 - t0 )) ms"; SC_RESULT=1; fi
sc_check "n1 still serves from memory: all alive in every view" 5 5 tb_all_alive 1 2 3

rm -f "$MNT"/fill.*
echo "freed STATE_DIR: $(free_kb) kB free"
recovered () { [ "$(st .statedb.degraded)" = false ] && [ "$(st .statedb.pending)" = 0 ]; }
if tb_wait_until 75 recovered; then
    echo "PASS  n1 recovered by itself $(tb_secs "$TB_WAIT_MS") s after space returned: $(tb_status 1 | jq -c '.statedb')"
else
    echo "FAIL  n1 did not recover: $(tb_status 1 | jq -c '.statedb')"; SC_RESULT=1
fi
if [ "$(lines statedb_recovered)" -ge 1 ]; then echo "PASS  statedb_recovered logged"
else echo "FAIL  no statedb_recovered line"; SC_RESULT=1; fi
ID3=$(tb_id 3)
rows=$(python3 - "$MNT/state.db" "$ID3" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print(db.execute("SELECT count(*) FROM peers WHERE id=?", (sys.argv[2],)).fetchone()[0])
PY
)
if [ "$rows" = 1 ]; then echo "PASS  n3 (joined while the disk was full) is in n1's peers table now"
else echo "FAIL  n3 not in n1's peers table ($rows rows)"; SC_RESULT=1; fi

#  Restart on a full STATE_DIR.
tb_kill9 1
fill b
echo "killed n1, filled STATE_DIR again: $(free_kb) kB free"
: > "$TB_DIR/n1/stdout.log"
tb_restart_agent 1
P1=$(tb_pid 1)
exited () { ! kill -0 "$P1" 2>/dev/null; }
if tb_wait_until 10 exited; then
    wait "$P1"; rc=$?; TB_PID[1]=""
    msg=$(cat "$TB_DIR/n1/stdout.log")
    nl=$(printf '%s\n' "$msg" | grep -c .)
    if [ "$rc" != 0 ] && [ "$nl" = 1 ] && printf '%s' "$msg" | grep -q "free space in STATE_DIR=$MNT"; then
        echo "PASS  restart on a full STATE_DIR refused (exit $rc), one line: $msg"
    else
        echo "FAIL  restart on a full STATE_DIR: exit $rc, $nl lines: $msg"; SC_RESULT=1
    fi
else
    echo "FAIL  n1 started on a full STATE_DIR without saving its incarnation"; SC_RESULT=1
    tb_kill9 1
fi
rm -f "$MNT"/fill.*
tb_forget_id 1   #  so that tb_wait_ready asks the new process
tb_restart_agent 1
tb_wait_ready 1
back () { local i; i=$(tb_incarnation 2 1); [ -n "$i" ] && [ "$i" -gt "$INC1" ] && tb_all_alive 1 2 3; }
sc_check "space back, restarted: n1 alive everywhere with incarnation > $INC1" 10 15 back
sc_finish 1 2 3
