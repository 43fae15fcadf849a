# shellcheck shell=bash
#  =========================================================================
#  node_lib.sh - helpers of the tests in tests/node/ (the agent's outputs:
#  the event stream, the control protocol's JSON, /metrics).  Sourced after
#  tests/lib/testbed.sh and tests/jobs/jobs_lib.sh (models, pass/fail).
#  =========================================================================

#  nd_server_lo I PORT [KEY=VALUE...]: `meshwatch analysis-server` on
#  127.0.0.1:PORT (EVENTS_PORT = PORT + 1), tracked as node I (tb_cleanup
#  stops it, tb_log_file/tb_status work on it).
nd_server_lo () {
    local i=$1 port=$2; shift 2
    TB_KIND[$i]=lo
    tb_port_free "$port" && tb_port_free $(( port + 1 )) || tb_die "loopback port $port or $(( port + 1 )) in use"
    tb_write_config "$i" "CLUSTER_KEY=$TB_KEY" "NODE_NAME=server$i" "STATE_DIR=$TB_DIR/n$i/state" \
        "LOG_FILE=$TB_DIR/n$i/agent.log" "LOG_LEVEL=info" "MESH_ADDR=127.0.0.1" "VMS_PORT=$port" \
        "EVENTS_PORT=$(( port + 1 ))" "$@"
    local d="$TB_DIR/n$i"
    ( exec setsid env "${TB_ENVU[@]}" "$TB_MW" analysis-server --config "$d/agent.conf" ) \
        >>"$d/stdout.log" 2>&1 </dev/null &
    TB_PID[$i]=$!
    echo "${TB_PID[$i]}" > "$d/pid"
}

#  nd_record OUT ENDPOINT...: record every event of the endpoints into OUT
#  (tests/node/events_sub.py; stopped by tb_cleanup or nd_record_stop).
ND_REC_PID=""
nd_record () {
    local out=$1; shift
    local -a args=()
    local ep
    for ep in "$@"; do args+=(--connect "$ep"); done
    "$TB_PY" "$SRC/tests/node/events_sub.py" --out "$out" --seconds 120 "${args[@]}" &
    ND_REC_PID=$!
    TB_BG_PIDS+=("$ND_REC_PID")
}
nd_record_stop () {
    [ -n "$ND_REC_PID" ] || return 0
    kill -TERM "$ND_REC_PID" 2>/dev/null
    wait "$ND_REC_PID" 2>/dev/null
    ND_REC_PID=""
}

#  nd_seen OUT TOPIC: true once OUT holds a message with that topic.
nd_seen () { grep -q "\"topic\": \"$2\"" "$1" 2>/dev/null; }
#  nd_count OUT TOPIC: how many messages of that topic OUT holds.
nd_count () { grep -c "\"topic\": \"$2\"" "$1" 2>/dev/null; }
#  nd_more OUT TOPIC N: true once OUT holds more than N of them (wait for a
#  new event after an action, never for one an earlier moment produced).
nd_more () { [ "$(nd_count "$1" "$2")" -gt "$3" ]; }
