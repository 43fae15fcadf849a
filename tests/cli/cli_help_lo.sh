#!/usr/bin/env bash
#  cli_help_lo: `meshwatch X --help` is harmless for every subcommand X,
#  and every subcommand refuses what it does not know (exit 2, one line).
#
#  The subcommands are read from `meshwatch --help`, so a new one is
#  covered at once.  Two loopback agents (root namespace, JOIN, no beacon).
#  Each X runs with --help:
#    - against the live agent 1 (MESHWATCH_STATE_DIR points at it, and
#      `leave --help` once made it leave);
#    - with every target pointed at a decoy: a STATE_DIR whose control
#      socket and a TCP port are a listener that records each connection,
#      and a valid agent config whose ports and STATE_DIR must stay unused;
#  and must exit 0 with its usage on stdout, nothing on stderr, no key
#  printed, no file created in its working directory, no connection to the
#  decoy.  Afterwards agent 1 is the same process, answers with the same
#  id, its control socket and node key are untouched, and agent 2 still
#  lists it alive at the same incarnation, never suspect/dead/left.
#  Then each X with an unknown option exits 2 naming it; misspellings,
#  abbreviations, missing values, stray arguments and bad numbers too; and
#  the usual command lines still work.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 150 "$@"
. "$SRC/tests/cli/cli_lib.sh"
tb_init cli_help_lo 85
tb_require_mw
command -v python3 >/dev/null || tb_skip "python3 missing"

tb_start_agent_lo 1
tb_start_agent_lo 2
tb_wait_ready 1
tb_wait_ready 2
tb_wait_until 20 tb_all_alive 1 2 || tb_fail "the two agents did not converge"
S1=$(tb_state_dir 1)
PID1=$(tb_pid 1)
ID1=$(tb_id 1)
INC1=$(cl_view 2 1 | awk '{print $2}')
SOCK_INODE=$(stat -c %i "$S1/control.sock")
KEY_SUM=$(sha256sum < "$S1/node.key")
tb_log "agent 1: pid $PID1 id $ID1, incarnation $INC1 in agent 2's view"

#  The decoy: records every connection to its unix socket and TCP port.
DECOY="$TB_DIR/decoy"
DPORT=$(( TB_PORTBASE + 150 ))
mkdir -m 700 "$DECOY"
cat > "$TB_DIR/decoy.py" <<'EOF'
import select, socket, sys
path, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
u.bind(path)
u.listen(64)
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", port))
t.listen(64)
open(out, "a").close()
while True:
    r, _, _ = select.select([u, t], [], [], 1.0)
    for s in r:
        c, _ = s.accept()
        with open(out, "a") as f:
            f.write(("unix" if s is u else "tcp") + "\n")
        c.close()
EOF
tb_bg timeout 140 "$TB_PY" "$TB_DIR/decoy.py" "$DECOY/control.sock" "$DPORT" "$DECOY/conns"
decoy_up () { [ -S "$DECOY/control.sock" ] && [ -f "$DECOY/conns" ] && ! tb_port_free "$DPORT"; }
tb_wait_until 10 decoy_up || tb_fail "decoy listener did not start"
decoy_conns () { wc -l < "$DECOY/conns"; }
#  The decoy must see what a real command does, or its silence below
#  would prove nothing.
cl_run "$TB_MW" status --state-dir "$DECOY"
timeout 1 env "${TB_ENVU[@]}" "$TB_MW" events --connect "tcp://127.0.0.1:$DPORT" --count 1 >/dev/null 2>&1
n=$(decoy_conns)
if grep -q unix "$DECOY/conns" && grep -q tcp "$DECOY/conns"; then
    cl_pass "decoy records real commands ($n connections from status and events)"
else
    tb_fail "decoy saw no connection from a real status/events: $(tr '\n' ' ' < "$DECOY/conns")"
fi
: > "$DECOY/conns"

#  A valid agent config whose STATE_DIR and ports must stay untouched.
GOOD="$TB_DIR/good.conf"
GOOD_PORT=$(( TB_PORTBASE + 160 ))
cat > "$GOOD" <<EOT
CLUSTER_KEY=$TB_KEY
STATE_DIR=$TB_DIR/good-state
MESH_ADDR=127.0.0.1
MESH_PORT=$GOOD_PORT
EVENTS_PORT=$(( GOOD_PORT + 1 ))
JOB_PORT=0
VMS_PORT=$(( GOOD_PORT + 3 ))
MODELS_DIR=$TB_DIR
EOT

cmds=$(env "${TB_ENVU[@]}" "$TB_MW" --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
n_cmds=$(echo "$cmds" | wc -w)
echo "---- subcommands from meshwatch --help ($n_cmds): $(echo $cmds)"
[ "$n_cmds" -ge 14 ] && cl_pass "meshwatch --help lists $n_cmds subcommands" ||
    cl_failc "meshwatch --help lists only $n_cmds subcommands"

WORK="$TB_DIR/cwd"
mkdir -p "$WORK"
KEYRE='^[A-Za-z0-9+/]{43}=$'
check_help () {   #  NAME CMD...: exit 0, usage on stdout, nothing else
    local name=$1; shift
    cd "$WORK" || tb_die "cd $WORK"
    cl_run "$@"
    cd "$TB_DIR" || tb_die "cd $TB_DIR"
    local files; files=$(ls -A "$WORK")
    if [ "$CL_RC" = 0 ] && [[ $CL_OUT == "usage: meshwatch $c"* ]] && [ -z "$CL_ERR" ] &&
        ! printf '%s\n' "$CL_OUT" | grep -qE "$KEYRE" && [ -z "$files" ]; then
        return 0
    fi
    cl_failc "$name: exit $CL_RC, stdout '$(printf '%s' "$CL_OUT" | head -1)', stderr '$(cl_err1)', files '$files'"
    rm -rf "${WORK:?}"/* 2>/dev/null
    return 1
}
echo "---- X --help, X -h, help X"
for c in $cmds; do
    ok=1
    check_help "$c --help (live agent)" env MESHWATCH_STATE_DIR="$S1" "$TB_MW" "$c" --help || ok=0
    check_help "$c -h (live agent)" env MESHWATCH_STATE_DIR="$S1" "$TB_MW" "$c" -h || ok=0
    before=$(decoy_conns)
    check_help "$c with every target at the decoy" env MESHWATCH_STATE_DIR="$DECOY" MESHWATCH_CONFIG="$GOOD" \
        "$TB_MW" "$c" --state-dir "$DECOY" --connect "tcp://127.0.0.1:$DPORT" --config "$GOOD" --help || ok=0
    check_help "$c --help after a bad option" env MESHWATCH_STATE_DIR="$S1" "$TB_MW" "$c" --no-such-opt --help || ok=0
    check_help "help $c" env MESHWATCH_STATE_DIR="$S1" "$TB_MW" help "$c" || ok=0
    sleep 0.1   #  a connection would be accepted and logged by now
    if [ "$(decoy_conns)" != "$before" ]; then cl_failc "$c --help connected to the decoy"; ok=0; fi
    if ! tb_port_free "$GOOD_PORT" || [ -e "$TB_DIR/good-state" ]; then
        cl_failc "$c --help started something on the decoy config"; ok=0
    fi
    tb_alive_pid 1 || { cl_failc "agent 1 died after $c --help"; ok=0; }
    [ "$ok" = 1 ] && cl_pass "$c --help / -h / help $c: usage only, exit 0"
done

echo "---- agent 1 and the mesh afterwards"
[ "$(tb_pid 1)" = "$PID1" ] && tb_alive_pid 1 && cl_pass "agent 1 is the same process ($PID1)" ||
    cl_failc "agent 1 is not the same running process"
[ "$(tb_status 1 | jq -r .id)" = "$ID1" ] && [ "$(stat -c %i "$S1/control.sock")" = "$SOCK_INODE" ] &&
    [ "$(sha256sum < "$S1/node.key")" = "$KEY_SUM" ] &&
    cl_pass "agent 1 answers with its id; control socket and node key untouched" ||
    cl_failc "agent 1's id, control socket or node key changed"
grep -q "event=agent_leaving" "$(tb_log_file 1)" && cl_failc "agent 1 logged agent_leaving" ||
    cl_pass "agent 1 never started to leave"

echo "---- X --no-such-option-zz: exit 2, one line naming it"
for c in $cmds; do
    before=$(decoy_conns)
    cl_run env MESHWATCH_STATE_DIR="$S1" "$TB_MW" "$c" --no-such-option-zz
    want="meshwatch $c: unknown option '--no-such-option-zz'"
    if [ "$CL_RC" = 2 ] && [ "$CL_ERR" = "$want" ] && [ -z "$CL_OUT" ]; then
        cl_pass "$c --no-such-option-zz: exit 2, \"$CL_ERR\""
    else
        cl_failc "$c --no-such-option-zz: exit $CL_RC, stderr '$CL_ERR', stdout '$(printf '%s' "$CL_OUT" | head -1)'"
    fi
done

echo "---- misspelt, abbreviated, missing, stray, bad numbers: exit 2"
bad () {   #  WANT_IN_STDERR ARGS...
    local want=$1; shift
    cl_run env MESHWATCH_STATE_DIR="$S1" "$TB_MW" "$@"
    if [ "$CL_RC" = 2 ] && [[ $CL_ERR == *"$want"* ]] && [ "$(printf '%s\n' "$CL_ERR" | wc -l)" = 1 ] &&
        ! printf '%s\n' "$CL_OUT" | grep -qE "$KEYRE"; then
        cl_pass "$*: exit 2, \"$CL_ERR\""
    else
        cl_failc "$*: exit $CL_RC (want 2 and '$want'), stderr '$CL_ERR'"
    fi
}
bad "unknown option '--stat-dir'" status --stat-dir "$S1"
bad "unknown option '--jsno'" status --jsno
bad "unknown option '--js'" members --js
bad "unknown option '--state'" members --state "$S1"
bad "option '--json' takes no value" jobs --json=yes
bad "option '--state-dir' needs a value" status --state-dir
bad "option '--state-dir' needs a value" members --state-dir --json
bad "option '--state-dir' needs a value" leave --state-dir=
bad "unexpected argument 'now'" leave now
bad "--timeout-s: '0' is not an integer" leave --timeout-s 0
bad "--timeout-s: 'ten' is not an integer" leave --timeout-s ten
bad "unexpected argument 'x'" keygen x
bad "unknown option '-x'" version -x
bad "QUEUE 'x' is not an integer" load x 1
bad "QUEUE '-1'" load -- -1 1
bad "RATE '1e9' is not a number" load 1 1e9
bad "needs QUEUE and RATE" load 1
bad "unexpected argument '3'" load 1 2 3
bad "--count: 'many' is not an integer" events --connect "tcp://127.0.0.1:$DPORT" --count many
bad "--connect tcp://HOST:PORT is required" events --json
bad "--priority: '10' is not an integer" submit --camera c --image /dev/null --priority 10
bad "option '--camera' needs a value" submit --camera --image /dev/null
bad "--camera and --image are required" submit --image /dev/null
bad "--mesh-port: MESH_PORT=99999 is out of range" agent --config "$GOOD" --mesh-port 99999
bad "unknown option '--no-such-key'" agent --config "$GOOD" --no-such-key 1
bad "option '--config' needs a value" analysis-server --config
bad "unexpected argument 'extra'" agent --config "$GOOD" extra
bad "unknown command 'stauts'" stauts
bad "unknown option '--frobnicate'" infer --model tiny-face --image x --frobnicate 1
bad "--horizon" forecast --trace x --horizon 0
bad "bad value for --nodes" simulate --nodes lots --policy all --seed 1
[ "$(decoy_conns)" = 0 ] && cl_pass "no refused command connected to the decoy" ||
    cl_failc "$(decoy_conns) connections to the decoy from refused commands"
tb_port_free "$GOOD_PORT" && [ ! -e "$TB_DIR/good-state" ] && cl_pass "no refused agent started" ||
    cl_failc "a refused agent command started an agent"

echo "---- the usual command lines still work"
ok () {
    cl_run "$TB_MW" "$@"
    [ "$CL_RC" = 0 ] && cl_pass "$*: exit 0" || cl_failc "$*: exit $CL_RC, stderr '$(cl_err1)'"
}
ok status --state-dir "$S1" --json
ok members --state-dir="$S1"
ok members --json --state-dir "$S1"
ok load 3 1.5 --state-dir "$S1"
#  (This agent runs no jobs, JOB_PORT=0: the agent says so, exit 1.)
cl_run "$TB_MW" jobs --state-dir "$S1" --json
[ "$CL_RC" = 1 ] && [ -n "$CL_OUT" ] && cl_pass "jobs --state-dir DIR --json: parsed, the agent answered" ||
    cl_failc "jobs --state-dir DIR --json: exit $CL_RC, stderr '$(cl_err1)'"
ok version
ok help
cl_run env MESHWATCH_STATE_DIR="$S1" "$TB_MW" status
[ "$CL_RC" = 0 ] && [[ $CL_OUT == *"$ID1"* ]] && cl_pass "status via \$MESHWATCH_STATE_DIR" ||
    cl_failc "status via MESHWATCH_STATE_DIR: exit $CL_RC"

echo "---- the mesh did not notice anything"
#  A leave or restart would show as left/dead or a new incarnation in agent
#  2's view; give a late LEFT update time to arrive before judging.
sleep 1
v=$(cl_view 2 1)
cl_still_member 2 1 "$INC1" && cl_pass "agent 2 lists agent 1 $v (incarnation unchanged), never suspect/dead/left" ||
    cl_failc "agent 2 lists agent 1 as '$v' (was alive $INC1), $(cl_left_events 2 1) suspect/dead/left lines"
tb_alive_pid 1 && [ "$(tb_pid 1)" = "$PID1" ] && cl_pass "agent 1 still running (pid $PID1)" ||
    cl_failc "agent 1 is gone"
cl_finish
