# shellcheck shell=bash
#  =========================================================================
#  testbed.sh - a bash library that builds throw-away test hosts for the
#  mesh: Linux network namespaces on one private bridge (no address, no real
#  interface attached), agents started inside them, fault injection (kill -9,
#  SIGSTOP, link cut, random loss, partition, CPU quota) and membership
#  checks.  docs/TESTBED.md describes it; tests/mesh/*.sh use it.
#
#  Safety rules kept by every function here:
#    - traffic stays on 127.0.0.0/8 or on the test's own bridge; namespaces
#      get no default route and the bridge gets no address;
#    - agents with a beacon (MESH_INTERFACE) only ever run inside a test
#      namespace; root-namespace agents get JOIN seeds and no interface;
#    - every loop is bounded; tb_cleanup (trap EXIT) kills what the test
#      started by PID and removes veths, namespaces, bridges and cgroups.
#
#  Usage:   . "$MW_SRCDIR/tests/lib/testbed.sh"
#           tb_init join5_ns 11          # name, unique net id (1..110)
#           tb_bridge; for i in 1 2 3; do tb_host $i; tb_start_agent $i; done
#           tb_wait_until 5 tb_all_alive 1 2 3 || tb_fail "no convergence"
#  =========================================================================

# ---- globals -------------------------------------------------------------
TB_NAME=""          # test name
TB_NETID=""         # 1..110: subnet 10.77.NETID.0/24, loopback ports
TB_NET=""           # "10.77.NETID"
TB_TAG=""           # short unique prefix for interface names (<= 7 chars)
TB_DIR=""           # temp dir: configs, state dirs, logs
TB_BR=""            # main bridge
TB_BR2=""           # second bridge (partitions), created on demand
TB_KEY=""           # shared cluster key of the test
TB_PORTBASE=""      # loopback agents: MESH_PORT = base + 2*(I-1), EVENTS_PORT = +1
TB_CLEANED=0
TB_FAILED=0
TB_WAIT_MS=0        # set by tb_wait_until: how long the wait took
declare -a TB_NS=() TB_VH=() TB_PID=() TB_CG=() TB_KIND=() TB_CFG=()
declare -a TB_BG_PIDS=()
declare -a TB_CLEANUP_HOOKS=()   #  commands tb_cleanup runs (eval), last first
#  Extra config lines every agent of the test gets (KEY=VALUE; later wins).
declare -a TB_AGENT_DEFAULTS=()
#  Command prefix for agents (e.g. valgrind ...); empty = run directly.
declare -a TB_AGENT_WRAPPER=()
#  Agent binary if not $TB_MW (e.g. an ASan build); the CLI always uses TB_MW.
TB_AGENT_BIN=""

#  A python3 that starts fast (a pyenv shim can take a second per call).
if [ -x /usr/bin/python3 ]; then TB_PY=/usr/bin/python3; else TB_PY=python3; fi

tb_log () { printf '[tb %s] %s\n' "$(date +%H:%M:%S.%3N)" "$*"; }
tb_now_ms () { local t=${EPOCHREALTIME/./}; echo $(( t / 1000 )); }

#  Abort the test: 99 = hard error in the bed itself (automake: ERROR).
tb_die () { tb_log "ERROR: $*" >&2; TB_FAILED=1; exit 99; }
#  Fail the test (exit 1) after dumping the agents' log tails.
tb_fail () { tb_log "FAIL: $*"; TB_FAILED=1; tb_dump_logs; exit 1; }
tb_skip () { tb_log "SKIP: $*"; exit 77; }

#  Re-run the calling script under `timeout` (hard limit for the whole
#  test).  Call first, with "$@":  tb_hard_timeout 180 "$@"
tb_hard_timeout () {
    local limit=$1; shift
    if [ -z "${TB_UNDER_TIMEOUT:-}" ]; then
        export TB_UNDER_TIMEOUT=1
        exec timeout -k 20 "$limit" bash "$0" "$@"
    fi
}

# ---- binary --------------------------------------------------------------
tb_mw_bin () {
    if [ -n "${MESHWATCH:-}" ]; then echo "$MESHWATCH"
    elif [ -n "${MW_BUILDDIR:-}" ]; then echo "$MW_BUILDDIR/meshwatch"
    else echo "meshwatch"; fi
}
TB_MW=""
tb_require_mw () {
    TB_MW=$(tb_mw_bin)
    if ! command -v "$TB_MW" >/dev/null 2>&1; then
        tb_die "meshwatch binary not found ('$TB_MW'): set MESHWATCH or MW_BUILDDIR"
    fi
    TB_MW=$(command -v "$TB_MW")
}

#  The environment agents and CLI calls run with: no inherited MESHWATCH_*
#  overrides (MESHWATCH_ASAN etc. would be read as config keys).
#  (Computed once by tb_init into TB_ENVU: forks are slow on small boxes.)
declare -a TB_ENVU=()
tb_clean_env () {
    local v
    TB_ENVU=()
    for v in $(compgen -e); do
        case $v in MESHWATCH_*) TB_ENVU+=(-u "$v");; esac
    done
}

# ---- init / cleanup ------------------------------------------------------
#  tb_init NAME [NETID]  - NETID (1..110) must be unique per test script.
tb_init () {
    TB_NAME=$1
    TB_NETID=${2:-$(( $(printf '%s' "$1" | cksum | cut -d' ' -f1) % 110 + 1 ))}
    [ "$TB_NETID" -ge 1 ] && [ "$TB_NETID" -le 110 ] || tb_die "netid $TB_NETID out of 1..110"
    TB_NET="10.77.$TB_NETID"
    TB_PORTBASE=$(( 10000 + TB_NETID * 200 ))
    #  Two runs of the same script (two checkouts on one machine) would share
    #  loopback ports: the second waits for the first.
    if command -v flock >/dev/null 2>&1; then
        exec 8>"/tmp/meshwatch-tb-$TB_NETID.lock"
        if ! flock -n 8; then
            #  Say so: the wait counts against the test's hard timeout.
            echo "[tb $(date +%H:%M:%S.%3N)] net id $TB_NETID busy (another run of a test with this id on this machine): waiting"
            flock -w 1200 8 || { echo "testbed: netid $TB_NETID busy for 20 min" >&2; exit 99; }
            echo "[tb $(date +%H:%M:%S.%3N)] net id $TB_NETID free"
        fi
    fi
    local h; h=$(printf '%s.%s.%s' "$1" "$$" "$RANDOM" | cksum | cut -d' ' -f1)
    TB_TAG=$(printf 't%05x' $(( h % 1048576 )))
    TB_BR="${TB_TAG}br"
    if [ "$(id -u)" != 0 ]; then tb_skip "needs root (namespaces, veth, cgroups)"; fi
    command -v ip >/dev/null || tb_skip "iproute2 missing"
    command -v jq >/dev/null || tb_die "jq missing (apt-get install -y jq)"
    TB_DIR=$(mktemp -d "/tmp/tb-${TB_NAME}-XXXXXX") || tb_die "mktemp"
    trap tb_cleanup EXIT
    trap 'tb_log "interrupted"; TB_FAILED=1; exit 130' INT
    trap 'tb_log "terminated (timeout?)"; TB_FAILED=1; exit 124' TERM HUP
    TB_KEY=$(head -c 32 /dev/urandom | base64)
    tb_clean_env
    tb_sweep_stale
    tb_log "init $TB_NAME: net $TB_NET.0/24 tag $TB_TAG ports $TB_PORTBASE+ dir $TB_DIR"
}

#  Netns support check (exit 77 if the kernel/container cannot do it).
tb_require_netns () {
    local probe="tb-probe-$$"
    ip netns add "$probe" 2>/dev/null || tb_skip "no network namespace support"
    ip netns del "$probe"
}

#  Remove namespaces left by earlier runs whose test process is gone
#  (names are tb-NAME-PID-nI).
tb_sweep_stale () {
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        [[ $ns =~ ^tb-.*-([0-9]+)-n[0-9]+$ ]] || continue
        pid=${BASH_REMATCH[1]}
        kill -0 "$pid" 2>/dev/null && continue
        tb_log "removing stale namespace $ns"
        local p; for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
}

tb_cleanup () {
    local rc=$?
    [ "$TB_CLEANED" = 1 ] && return 0
    TB_CLEANED=1
    set +e
    trap - INT TERM HUP
    local i p
    #  Agents: CONT first (a stopped process cannot act on TERM), TERM, then KILL.
    for i in "${!TB_PID[@]}"; do
        p=${TB_PID[$i]}; [ -n "$p" ] || continue
        kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null
    done
    local deadline=$(( $(tb_now_ms) + 4000 ))
    for i in "${!TB_PID[@]}"; do
        p=${TB_PID[$i]}; [ -n "$p" ] || continue
        while kill -0 "$p" 2>/dev/null && [ "$(tb_now_ms)" -lt "$deadline" ]; do sleep 0.05; done
        if kill -0 "$p" 2>/dev/null; then tb_log "agent $i (pid $p) ignored SIGTERM: SIGKILL"; kill -9 "$p" 2>/dev/null; fi
        wait "$p" 2>/dev/null
        TB_PID[$i]=""
    done
    for p in "${TB_BG_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null; sleep 0.05; kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null
    done
    TB_BG_PIDS=()
    #  Anything else still inside our namespaces (CLI calls, helpers).
    for i in "${!TB_NS[@]}"; do
        for p in $(ip netns pids "${TB_NS[$i]}" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    done
    #  Host-side veths first (namespace deletion is asynchronous and can
    #  leave the pair behind for tens of seconds), then namespaces, bridges.
    for i in "${!TB_VH[@]}"; do ip link del "${TB_VH[$i]}" 2>/dev/null; done
    for i in "${!TB_NS[@]}"; do ip netns del "${TB_NS[$i]}" 2>/dev/null; done
    [ -n "$TB_BR2" ] && ip link del "$TB_BR2" 2>/dev/null
    [ -n "$TB_BR" ] && ip link del "$TB_BR" 2>/dev/null
    for i in "${!TB_CG[@]}"; do
        local n; for n in 1 2 3 4 5 6 7 8 9 10; do
            rmdir "${TB_CG[$i]}" 2>/dev/null && break; [ -d "${TB_CG[$i]}" ] || break; sleep 0.2
        done
        [ -d "${TB_CG[$i]}" ] && tb_log "WARN: cgroup ${TB_CG[$i]} not removed"
    done
    TB_NS=(); TB_VH=(); TB_CG=()
    #  Hooks a test registered (mounts, ...), last first.
    local h
    for (( h = ${#TB_CLEANUP_HOOKS[@]} - 1; h >= 0; h-- )); do eval "${TB_CLEANUP_HOOKS[$h]}"; done
    TB_CLEANUP_HOOKS=()
    if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then TB_FAILED=1; fi
    if [ -n "$TB_DIR" ] && [ -d "$TB_DIR" ]; then
        if [ "$TB_FAILED" = 1 ] || [ -n "${TB_KEEP:-}" ]; then
            tb_log "kept $TB_DIR (configs, state, logs)"
        else
            rm -rf "$TB_DIR"
        fi
    fi
    return 0
}

# ---- network -------------------------------------------------------------
tb_mkbridge () {
    local br=$1
    ip link add "$br" type bridge || tb_die "ip link add $br type bridge failed"
    #  No address at all: no IPv6 link-local either.
    sysctl -qw "net.ipv6.conf.$br.disable_ipv6=1" 2>/dev/null
    ip link set "$br" up || tb_die "bridge $br up"
}
tb_bridge () { tb_mkbridge "$TB_BR"; }

#  tb_host I - namespace tb-NAME-PID-nI with eth0 = 10.77.NETID.(10+I)/24.
tb_host () {
    local i=$1
    [ -n "$TB_BR" ] || tb_die "tb_host before tb_init"
    local ns="tb-${TB_NAME}-$$-n$i" vh="${TB_TAG}h$i" vp="${TB_TAG}p$i"
    ip netns add "$ns" || tb_die "ip netns add $ns failed"
    TB_NS[$i]=$ns
    ip link add "$vh" type veth peer name "$vp" || tb_die "ip link add $vh failed (leftover from an earlier test?)"
    TB_VH[$i]=$vh
    sysctl -qw "net.ipv6.conf.$vh.disable_ipv6=1" 2>/dev/null
    ip link set "$vp" netns "$ns" || tb_die "move $vp into $ns"
    ip -n "$ns" link set "$vp" name eth0 || tb_die "rename eth0 in $ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null
    ip -n "$ns" addr add "$(tb_ip "$i")/24" brd + dev eth0 || tb_die "addr in $ns"
    ip -n "$ns" link set lo up || tb_die "lo up in $ns"
    ip -n "$ns" link set eth0 up || tb_die "eth0 up in $ns"
    ip link set "$vh" master "$TB_BR" || tb_die "$vh master $TB_BR"
    ip link set "$vh" up || tb_die "$vh up"
    TB_KIND[$i]=ns
}
tb_ip () { echo "$TB_NET.$(( 10 + $1 ))"; }
tb_ns () { echo "${TB_NS[$1]}"; }
#  Run a command inside host I's namespace.
tb_exec () { local i=$1; shift; ip netns exec "${TB_NS[$i]}" "$@"; }

tb_cut ()  { ip link set "${TB_VH[$1]}" down || tb_die "cut $1"; }
tb_heal () { ip link set "${TB_VH[$1]}" up || tb_die "heal $1"; }

#  tb_partition "1 2 3" "4 5": the second group moves to a second bridge
#  (the two groups cannot reach each other; each group stays connected).
tb_partition () {
    local i
    if [ -z "$TB_BR2" ]; then TB_BR2="${TB_TAG}bs"; tb_mkbridge "$TB_BR2"; fi
    for i in $2; do ip link set "${TB_VH[$i]}" master "$TB_BR2" || tb_die "partition $i"; done
}
tb_partition_heal () {
    local i
    for i in "${!TB_VH[@]}"; do ip link set "${TB_VH[$i]}" master "$TB_BR" || tb_die "unpartition $i"; done
}

#  Random loss P % on every packet entering eth0, in every namespace host.
tb_loss_all () {
    local p=$1 i
    for i in "${!TB_NS[@]}"; do tb_loss "$i" "$p"; done
}
tb_loss () {
    local i=$1 p=$2
    tb_loss_clear_one "$i"
    ip netns exec "${TB_NS[$i]}" nft -f - <<EOF || tb_die "nft loss rule in ${TB_NS[$i]}"
table inet tbloss {
    chain in {
        type filter hook input priority 0; policy accept;
        iifname "eth0" numgen random mod 100 < $p counter drop
    }
}
EOF
}
tb_loss_clear_one () { ip netns exec "${TB_NS[$1]}" nft delete table inet tbloss 2>/dev/null; return 0; }
tb_loss_clear () { local i; for i in "${!TB_NS[@]}"; do tb_loss_clear_one "$i"; done; }
#  Packets dropped so far by the loss rule of host I.
tb_loss_dropped () {
    ip netns exec "${TB_NS[$1]}" nft list table inet tbloss 2>/dev/null |
        sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | head -1
}

# ---- cgroups -------------------------------------------------------------
#  tb_cgroup_cpu I PERCENT - a CPU quota for host I's agent (started before
#  or after this call).
tb_cgroup_cpu () {
    local i=$1 pct=$2 cg quota=$(( $2 * 1000 ))
    if [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
        cg="/sys/fs/cgroup/cpu/tb-${TB_TAG}-n$i"
        mkdir -p "$cg" || tb_die "mkdir $cg"
        TB_CG[$i]=$cg
        echo 100000 > "$cg/cpu.cfs_period_us" || tb_die "cfs_period_us"
        echo "$quota" > "$cg/cpu.cfs_quota_us" || tb_die "cfs_quota_us"
    elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control ||
            echo +cpu > /sys/fs/cgroup/cgroup.subtree_control || tb_die "enable cpu controller"
        cg="/sys/fs/cgroup/tb-${TB_TAG}-n$i"
        mkdir -p "$cg" || tb_die "mkdir $cg"
        TB_CG[$i]=$cg
        echo "$quota 100000" > "$cg/cpu.max" || tb_die "cpu.max"
    else
        tb_die "no cpu cgroup controller found"
    fi
    [ -n "${TB_PID[$i]:-}" ] && { echo "${TB_PID[$i]}" > "$cg/cgroup.procs" || tb_die "move pid into $cg"; }
    tb_log "node $i: cpu quota $pct % ($cg)"
}

# ---- agents --------------------------------------------------------------
tb_node_dir () { echo "$TB_DIR/n$1"; }
tb_state_dir () { echo "$TB_DIR/n$1/state"; }
tb_log_file () { echo "$TB_DIR/n$1/agent.log"; }
tb_mesh_port () {
    if [ "${TB_KIND[$1]:-}" = lo ]; then echo $(( TB_PORTBASE + 2 * ($1 - 1) )); else echo 7946; fi
}
tb_events_port () {
    if [ "${TB_KIND[$1]:-}" = lo ]; then echo $(( TB_PORTBASE + 2 * ($1 - 1) + 1 )); else echo 7947; fi
}
tb_host_addr () { if [ "${TB_KIND[$1]:-}" = lo ]; then echo 127.0.0.1; else tb_ip "$1"; fi; }

#  Write node I's config: base lines, then TB_AGENT_DEFAULTS, then the
#  arguments (KEY=VALUE; a later one replaces an earlier one; KEY= removes).
tb_write_config () {
    local i=$1; shift
    local d="$TB_DIR/n$i"
    mkdir -p "$d" && mkdir -p -m 700 "$d/state" || tb_die "mkdir $d"
    local -A kv=(); local -a order=(); local line k
    for line in "$@"; do
        [[ $line == *=* ]] || tb_die "bad config override '$line'"
        k=${line%%=*}
        [ -n "${kv[$k]+x}" ] || order+=("$k")
        kv[$k]=${line#*=}
    done
    {
        echo "# testbed config: $TB_NAME node $i"
        for k in "${order[@]}"; do
            [ -n "${kv[$k]}" ] && printf '%s=%s\n' "$k" "${kv[$k]}"
        done
    } > "$d/agent.conf"
    TB_CFG[$i]="$d/agent.conf"
}

#  Sets TB_BASE (array) to node I's base config lines.
tb_base_config () {
    local i=$1
    TB_BASE=("CLUSTER_NAME=tb-$TB_NETID" "CLUSTER_KEY=$TB_KEY" "NODE_NAME=n$i"
             "STATE_DIR=$TB_DIR/n$i/state" "LOG_FILE=$TB_DIR/n$i/agent.log" "LOG_LEVEL=${TB_LOG_LEVEL:-info}")
}

#  Launch an agent (internal): $1 = I, $2 = namespace or "" (root), rest = config lines.
tb__launch () {
    local i=$1 ns=$2; shift 2
    [ -z "${TB_PID[$i]:-}" ] || tb_die "agent $i already running (pid ${TB_PID[$i]})"
    tb_write_config "$i" "$@"
    local d="$TB_DIR/n$i"
    local -a cmd=(env "${TB_ENVU[@]}" "${TB_AGENT_WRAPPER[@]}" "${TB_AGENT_BIN:-$TB_MW}" agent --config "$d/agent.conf")
    [ -n "$ns" ] && cmd=(ip netns exec "$ns" "${cmd[@]}")
    local cg=${TB_CG[$i]:-}
    #  setsid: own session, so signals to the test's process group never hit
    #  it; with a cgroup the shell joins it before exec, so the agent never
    #  runs outside its quota.  setsid/sh/ip netns exec all exec: $! is the agent.
    if [ -n "$cg" ]; then
        ( exec setsid sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "${cmd[@]}" ) \
            >>"$d/stdout.log" 2>&1 </dev/null &
    else
        ( exec setsid "${cmd[@]}" ) >>"$d/stdout.log" 2>&1 </dev/null &
    fi
    TB_PID[$i]=$!
    echo "${TB_PID[$i]}" > "$d/pid"
}

#  tb_start_agent I [KEY=VALUE...] - agent in host I's namespace, beacon on eth0.
tb_start_agent () {
    local i=$1; shift
    [ "${TB_KIND[$i]:-}" = ns ] || tb_die "tb_start_agent $i: no namespace host $i (tb_host first)"
    [ -n "$TB_MW" ] || tb_require_mw
    tb_base_config "$i"
    tb__launch "$i" "${TB_NS[$i]}" "${TB_BASE[@]}" "MESH_INTERFACE=eth0" "${TB_AGENT_DEFAULTS[@]}" "$@"
}

#  tb_start_agent_lo I [KEY=VALUE...] - agent in the root namespace on
#  127.0.0.1, no interface (no beacon), JOIN = the first loopback agent.
TB_LO_FIRST=""
tb_start_agent_lo () {
    local i=$1; shift
    [ -n "$TB_MW" ] || tb_require_mw
    TB_KIND[$i]=lo
    [ -n "$TB_LO_FIRST" ] || TB_LO_FIRST=$i
    local mp=$(( TB_PORTBASE + 2 * (i - 1) )) ep=$(( TB_PORTBASE + 2 * (i - 1) + 1 ))
    tb_port_free "$mp" && tb_port_free "$ep" || tb_die "loopback port $mp or $ep already in use"
    local join=""
    [ "$TB_LO_FIRST" != "$i" ] && join="127.0.0.1:$(( TB_PORTBASE + 2 * (TB_LO_FIRST - 1) ))"
    tb_base_config "$i"
    local -a base=("${TB_BASE[@]}" "JOB_PORT=0")
    #  MESH_INTERFACE= (empty) removes the key: never a beacon in the root namespace.
    tb__launch "$i" "" "${base[@]}" "MESH_ADDR=127.0.0.1" "MESH_PORT=$mp" "EVENTS_PORT=$ep" \
        "JOIN=$join" "${TB_AGENT_DEFAULTS[@]}" "$@" "MESH_INTERFACE="
}

#  True if no TCP socket listens on port P in the root namespace (one grep
#  over /proc/net/tcp{,6}: a listener has an all-zero remote and state 0A).
tb_port_free () {
    local hex; printf -v hex '%04X' "$1"
    ! grep -qE "^ *[0-9]+: [0-9A-F]+:$hex [0:]+ 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

#  Restart a stopped/killed agent with its last config (same STATE_DIR).
tb_restart_agent () {
    local i=$1
    [ -z "${TB_PID[$i]:-}" ] || tb_die "agent $i still running"
    local -a lines; mapfile -t lines < <(grep -v '^#' "${TB_CFG[$i]}")
    local ns=""; [ "${TB_KIND[$i]}" = ns ] && ns=${TB_NS[$i]}
    tb__launch "$i" "$ns" "${lines[@]}"
}

tb_pid () { echo "${TB_PID[$1]:-}"; }
tb_alive_pid () { [ -n "${TB_PID[$1]:-}" ] && kill -0 "${TB_PID[$1]}" 2>/dev/null; }
tb_kill9 () {
    local p=${TB_PID[$1]:-}; [ -n "$p" ] || tb_die "kill9: agent $1 not running"
    kill -9 "$p"; wait "$p" 2>/dev/null; TB_PID[$1]=""
}
tb_stop () { kill -STOP "${TB_PID[$1]}" || tb_die "SIGSTOP $1"; }
tb_cont () { kill -CONT "${TB_PID[$1]}" || tb_die "SIGCONT $1"; }
#  Graceful stop: SIGTERM, wait up to T s (default 10); returns the exit code
#  (124 if it had to be killed).
tb_term () {
    local i=$1 t=${2:-10} p=${TB_PID[$1]:-} rc
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null
    local deadline=$(( $(tb_now_ms) + t * 1000 ))
    while kill -0 "$p" 2>/dev/null && [ "$(tb_now_ms)" -lt "$deadline" ]; do sleep 0.05; done
    if kill -0 "$p" 2>/dev/null; then kill -9 "$p"; wait "$p" 2>/dev/null; TB_PID[$i]=""; return 124; fi
    wait "$p"; rc=$?
    TB_PID[$i]=""
    return $rc
}

#  Run a background helper (tracked, killed by tb_cleanup).
tb_bg () { "$@" & TB_BG_PIDS+=($!); }

# ---- queries -------------------------------------------------------------
#  Run the meshwatch CLI for node I (inside its namespace if it has one).
#  The control socket is a path in STATE_DIR, so the CLI needs no network
#  namespace; entering it (ip netns exec) costs ~50 ms a call and makes the
#  polls coarse.  TB_CLI_NETNS=1 runs it inside the node's namespace anyway.
tb_cli () {
    local i=$1; shift
    if [ "${TB_KIND[$i]:-}" = ns ] && [ "${TB_CLI_NETNS:-0}" = 1 ]; then
        timeout 5 ip netns exec "${TB_NS[$i]}" env "${TB_ENVU[@]}" "$TB_MW" "$@"
    else
        timeout 5 env "${TB_ENVU[@]}" "$TB_MW" "$@"
    fi
}
tb_members () { tb_cli "$1" members --state-dir "$TB_DIR/n$1/state" --json 2>/dev/null; }
tb_status () { tb_cli "$1" status --state-dir "$TB_DIR/n$1/state" --json 2>/dev/null; }
#  tb_stat I JQPATH - one number from status, e.g. tb_stat 1 .stats.rejected.auth
tb_stat () { tb_status "$1" | jq -r "$2 // 0" 2>/dev/null; }

#  Node id of I (asked once and kept in $TB_DIR/nI/id, so that calls in
#  $(...) subshells cache it too; the id survives restarts with the same
#  STATE_DIR).  tb_forget_id I after wiping a STATE_DIR.
tb_id () { tb__idv "$1" && echo "$TB_IDV"; }
#  Same, into TB_IDV without a subshell (for loops).
tb__idv () {
    local i=$1 f="$TB_DIR/n$1/id"
    TB_IDV=""
    if [ -s "$f" ]; then read -r TB_IDV < "$f"; return 0; fi
    #  No control socket yet: do not wait out the CLI's 2 s timeout.
    [ -S "$TB_DIR/n$i/state/control.sock" ] || return 1
    local id; id=$(tb_status "$i" | jq -r '.id // empty' 2>/dev/null)
    [ -n "$id" ] || return 1
    echo "$id" > "$f"
    TB_IDV=$id
}
tb_forget_id () { rm -f "$TB_DIR/n$1/id"; }
#  Wait until node I answers its control socket and know its id.
tb_wait_ready () {
    local i=$1 t=${2:-10}
    tb_wait_until "$t" tb_id "$i" >/dev/null || tb_fail "agent $i never answered 'status' within $t s (pid ${TB_PID[$i]:-none})"
    tb_id "$i" >/dev/null
}

#  State of J in I's view: alive|suspect|dead|left, "absent", or "error".
tb_state () {
    local i=$1 j=$2 id js
    tb__idv "$j" || { echo error; return; }
    id=$TB_IDV
    js=$(tb_members "$i") || { echo error; return; }
    printf '%s' "$js" | jq -r --arg id "$id" \
        '[.[] | select(.id == $id) | .state] | if length == 0 then "absent" else .[0] end' 2>/dev/null || echo error
}
#  Incarnation of J in I's view (empty if absent).
tb_incarnation () {
    local id; id=$(tb_id "$2") || return 1
    tb_members "$1" | jq -r --arg id "$id" '.[] | select(.id == $id) | .incarnation' 2>/dev/null
}
#  tb_sees I J STATE - true if node I lists node J as STATE ("absent" too).
tb_sees () { [ "$(tb_state "$1" "$2")" = "$3" ]; }
#  tb_fetch_views NODE... - every node's members JSON, fetched in parallel,
#  into $TB_DIR/view.I; false if any CLI call failed.
tb_fetch_views () {
    local i p ok=0 par=${TB_FETCH_PAR:-8}; local -a pids=()
    for i in "$@"; do
        tb_members "$i" > "$TB_DIR/view.$i" & pids+=($!)
        if [ ${#pids[@]} -ge "$par" ]; then
            for p in "${pids[@]}"; do wait "$p" || ok=1; done
            pids=()
        fi
    done
    for p in "${pids[@]}"; do wait "$p" || ok=1; done
    return $ok
}
#  tb_states_of J VIEWER... - J's state in each viewer's view, one per line
#  (alive|suspect|dead|left|absent), in viewer order; false on any error.
tb_states_of () {
    local j=$1 i; shift
    tb__idv "$j" || return 1
    local id=$TB_IDV
    tb_fetch_views "$@" || return 1
    local -a files=()
    for i in "$@"; do files+=("$TB_DIR/view.$i"); done
    local out; out=$(jq -r -s --arg id "$id" --argjson n $# \
        'if length != $n then error("missing view") else .[] | ([.[] | select(.id == $id) | .state] | .[0] // "absent") end' \
        "${files[@]}" 2>/dev/null) || return 1
    printf '%s\n' "$out"
}
#  tb_all_see J STATE VIEWER... - every viewer lists J as STATE.
#  A dead/left member may also be reaped: with TB_DEAD_OR_ABSENT=1 "absent"
#  counts as dead.
tb_all_see () {
    local j=$1 st=$2 s out; shift 2
    out=$(tb_states_of "$j" "$@") || return 1
    for s in $out; do
        if [ "$s" != "$st" ]; then
            [ "$st" = dead ] && [ "$s" = absent ] && [ "${TB_DEAD_OR_ABSENT:-0}" = 1 ] && continue
            return 1
        fi
    done
}
#  Sets TB_IDJ to the JSON array of the ids of NODE...
tb__ids_json () {
    local i sep=""
    TB_IDJ="["
    for i in "$@"; do tb__idv "$i" || return 1; TB_IDJ+="$sep\"$TB_IDV\""; sep=","; done
    TB_IDJ+="]"
}
#  tb_all_alive NODE... - every listed node's view lists every listed node
#  (itself included) as alive.
tb_all_alive () {
    local i; local -a files=()
    tb__ids_json "$@" || return 1
    tb_fetch_views "$@" || return 1
    for i in "$@"; do files+=("$TB_DIR/view.$i"); done
    jq -e -s --argjson ids "$TB_IDJ" --argjson n $# \
        'length == $n and all(.[]; [.[] | select(.state == "alive") | .id] as $a | all($ids[]; . as $x | $a | index($x) != null))' \
        "${files[@]}" >/dev/null 2>&1
}
#  tb_view_problems NODE... - prints "nI:nJ=state" for every non-alive
#  (or missing) member among NODE... in any of their views (one parallel
#  fetch, one jq per view).
tb_view_problems () {
    local i j ids="[" nums="[" sep=""
    for j in "$@"; do
        tb__idv "$j" || TB_IDV="?"
        ids+="$sep\"$TB_IDV\""; nums+="$sep$j"; sep=","
    done
    ids+="]"; nums+="]"
    tb_fetch_views "$@"
    for i in "$@"; do
        [ -s "$TB_DIR/view.$i" ] || { echo "n$i:error"; continue; }
        jq -r --arg me "$i" --argjson ids "$ids" --argjson nums "$nums" '
            . as $v | range(0; $ids | length) as $k
            | ([$v[] | select(.id == $ids[$k]) | .state] | .[0] // "absent") as $s
            | select($s != "alive") | "n\($me):n\($nums[$k])=\($s)"' "$TB_DIR/view.$i" 2>/dev/null
    done
}
#  Print every node's view compactly (for failure reports).
tb_show_views () {
    local i
    for i in "$@"; do
        printf 'view n%s: ' "$i"
        tb_members "$i" | jq -rc '[.[] | "\(.name)=\(.state)/\(.incarnation)"] | join(" ")' 2>/dev/null || echo "(no answer)"
    done
}

#  tb_wait_until TIMEOUT_S CMD... - poll CMD every 100 ms until it succeeds
#  or TIMEOUT_S passes.  Sets TB_WAIT_MS to the time it took.
tb_wait_until () {
    #  Locals with names no caller uses: bash scopes dynamically, so a
    #  condition function reading its caller's `n` or `t` would see these.
    local _tbw_t=$1; shift
    local _tbw_start; _tbw_start=$(tb_now_ms)
    local _tbw_deadline=$(( _tbw_start + ${_tbw_t%.*} * 1000 ))
    local _tbw_n=0
    while :; do
        if "$@"; then TB_WAIT_MS=$(( $(tb_now_ms) - _tbw_start )); return 0; fi
        _tbw_n=$(( _tbw_n + 1 ))
        if [ "$(tb_now_ms)" -ge "$_tbw_deadline" ] || [ "$_tbw_n" -gt 100000 ]; then
            TB_WAIT_MS=$(( $(tb_now_ms) - _tbw_start )); return 1
        fi
        sleep 0.1
    done
}
tb_secs () { printf '%d.%03d' $(( $1 / 1000 )) $(( $1 % 1000 )); }

# ---- logs ----------------------------------------------------------------
#  tb_events_between FROM_MS TO_MS EVENTS [NODE...] - print the lines of the
#  agents' LOG_FILEs whose `event=` is one of EVENTS (comma-separated) and
#  whose ts lies in [FROM_MS, TO_MS] (wall ms), as "path: line"; the exit
#  status is 0 when there is none.
tb_events_between () {
    local from=$1 to=$2 events=$3; shift 3
    local i files=()
    if [ $# -eq 0 ]; then for i in "${!TB_KIND[@]}"; do set -- "$@" "$i"; done; fi
    for i in "$@"; do [ -f "$(tb_log_file "$i")" ] && files+=("$(tb_log_file "$i")"); done
    [ ${#files[@]} -gt 0 ] || return 0
    "$TB_PY" - "$from" "$to" "$events" "${files[@]}" <<'EOF'
import sys, re, datetime
lo, hi = int(sys.argv[1]), int(sys.argv[2])
want = set(sys.argv[3].split(","))
found = 0
for path in sys.argv[4:]:
    with open(path, errors="replace") as f:
        for line in f:
            ev = re.search(r" event=(\S+)", line)
            if not ev or ev.group(1) not in want:
                continue
            m = re.match(r"ts=(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z", line)
            if not m:
                continue
            y, mo, d, h, mi, s, ms = map(int, m.groups())
            t = datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc)
            tms = int(t.timestamp()) * 1000 + ms
            if lo <= tms <= hi:
                found += 1
                print(f"{path}: {line.rstrip()}")
sys.exit(1 if found else 0)
EOF
}
#  tb_dead_events FROM_MS TO_MS [NODE...] - the member_dead lines, as above.
tb_dead_events () { local from=$1 to=$2; shift 2; tb_events_between "$from" "$to" member_dead "$@"; }
tb_wall_ms () { tb_now_ms; }

#  tb_last_line_ms EVENT NODE... - wall ms of the latest `event=EVENT` line
#  over the nodes' logs (the last such line of each node); false if a node
#  has none yet.  E.g. tb_last_line_ms agent_started 1 2 3.
tb_last_line_ms () {
    local ev=$1 i; shift
    local -a files=()
    for i in "$@"; do files+=("$TB_DIR/n$i/agent.log"); done
    "$TB_PY" - "$ev" "${files[@]}" <<'EOF2'
import sys, re, datetime
ev = "event=" + sys.argv[1]
rx = re.compile(r"^ts=(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z ")
best = 0
for path in sys.argv[2:]:
    last = None
    try:
        with open(path, errors="replace") as fh:
            for line in fh:
                if ev in line.split():
                    m = rx.match(line)
                    if m:
                        y, mo, d, h, mi, s, ms = map(int, m.groups())
                        last = int(datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc).timestamp()) * 1000 + ms
    except OSError:
        pass
    if last is None:
        sys.exit(1)
    best = max(best, last)
print(best)
EOF2
}

#  tb_last_event_ms T0_MS T1_MS EVENTS "PEERS" "VIEWERS" - when (ms after T0)
#  the views reached their final state, from the agents' own log lines: for
#  each viewer and each peer (not itself), the LAST line `event=E` (E in the
#  comma list EVENTS, e.g. member_join,member_alive) with peer=<id of peer>
#  and ts in [T0, T1]; prints "MAX_MS MISSING": the maximum over all pairs
#  (0 when none: the state was already there before T0) and how many pairs
#  had no such line.  Log ts has ms resolution, so this
#  is not blurred by the poll loop or by slow CLI calls.
tb_last_event_ms () {
    local t0=$1 t1=$2 events=$3 peers=$4 viewers=$5 v p args=()
    for v in $viewers; do
        local pids=""
        for p in $peers; do [ "$p" = "$v" ] || { tb__idv "$p"; pids="$pids,$TB_IDV"; }; done
        args+=("$TB_DIR/n$v/agent.log" "${pids#,}")
    done
    "$TB_PY" - "$t0" "$t1" "$events" "${args[@]}" <<'EOF2'
import sys, re, datetime
t0, t1 = int(sys.argv[1]), int(sys.argv[2])
evs = set("event=" + e for e in sys.argv[3].split(","))
rx = re.compile(r"^ts=(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z ")
best = 0
missing = 0
a = sys.argv[4:]
for k in range(0, len(a), 2):
    path, ids = a[k], set(x for x in a[k + 1].split(",") if x)
    last = {}
    try:
        fh = open(path, errors="replace")
    except OSError:
        missing += len(ids)
        continue
    for line in fh:
        w = line.split()
        if not any(x in evs for x in w):
            continue
        peer = next((x[5:] for x in w if x.startswith("peer=")), None)
        if peer not in ids:
            continue
        m = rx.match(line)
        if not m:
            continue
        y, mo, d, h, mi, s, ms = map(int, m.groups())
        t = int(datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc).timestamp()) * 1000 + ms
        if t0 <= t <= t1:
            last[peer] = t
    for t in last.values():
        best = max(best, t - t0)
    missing += len(ids) - len(last)
print(best, missing)
EOF2
}

#  Tail of every agent's logs (for failure reports).
tb_dump_logs () {
    local i d n=${TB_DUMP_LINES:-15}
    [ -n "$TB_DIR" ] || return 0
    for i in "${!TB_KIND[@]}"; do
        d=$(tb_node_dir "$i")
        [ -d "$d" ] || continue
        echo "---- n$i: $(tb_log_file "$i") (last $n lines)"
        tail -n "$n" "$(tb_log_file "$i")" 2>/dev/null
        if [ -s "$d/stdout.log" ]; then echo "---- n$i: stdout/stderr"; tail -n "$n" "$d/stdout.log"; fi
    done
}

# ---- memory / traffic ----------------------------------------------------
#  PSS of node I's agent in kB.
tb_pss_kb () {
    local p=${TB_PID[$1]:-}; [ -n "$p" ] || return 1
    awk '/^Pss:/ {print $2; exit}' "/proc/$p/smaps_rollup" 2>/dev/null
}
#  tb_anon_kb I - node I's anonymous memory in kB (heap, stacks, anonymous
#  maps: where a leak shows).  For growth checks, not PSS: PSS splits the
#  shared libraries' pages among the processes mapping them, so it jumps
#  by megabytes when another agent of a parallel test starts or exits.
tb_anon_kb () {
    local p=${TB_PID[$1]:-}; [ -n "$p" ] || return 1
    awk '/^Anonymous:/ {print $2; exit}' "/proc/$p/smaps_rollup" 2>/dev/null
}

# ---- analysis server (jobs tests) -----------------------------------------
#  tb_start_server I [KEY=VALUE...] - `meshwatch analysis-server` in host
#  I's namespace (under TB_AGENT_WRAPPER, like the agents) (I is a tb_host, with or without tb_cgroup_cpu before),
#  bound to its eth0 address: CLUSTER_KEY of the test, VMS_PORT=7950,
#  EVENTS_PORT=7947, STATE_DIR/LOG_FILE in $TB_DIR/nI/ like an agent's.
#  It is tracked like an agent (TB_PID[I]): tb_kill9, tb_term, tb_status,
#  tb_log_file and tb_cleanup work on it.  It is not a mesh member.
TB_SERVER_PORT=7950
tb_start_server () {
    local i=$1; shift
    [ "${TB_KIND[$i]:-}" = ns ] || tb_die "tb_start_server $i: no namespace host $i (tb_host first)"
    [ -n "$TB_MW" ] || tb_require_mw
    [ -z "${TB_PID[$i]:-}" ] || tb_die "server $i already running (pid ${TB_PID[$i]})"
    tb_write_config "$i" "CLUSTER_KEY=$TB_KEY" "NODE_NAME=server$i" "STATE_DIR=$TB_DIR/n$i/state" \
        "LOG_FILE=$TB_DIR/n$i/agent.log" "LOG_LEVEL=${TB_LOG_LEVEL:-info}" "MESH_ADDR=$(tb_ip "$i")" \
        "VMS_PORT=$TB_SERVER_PORT" "EVENTS_PORT=7947" "$@"
    local d="$TB_DIR/n$i"
    local -a cmd=(ip netns exec "${TB_NS[$i]}" env "${TB_ENVU[@]}" "${TB_AGENT_WRAPPER[@]}" "$TB_MW" analysis-server --config "$d/agent.conf")
    local cg=${TB_CG[$i]:-}
    if [ -n "$cg" ]; then
        ( exec setsid sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "${cmd[@]}" ) \
            >>"$d/stdout.log" 2>&1 </dev/null &
    else
        ( exec setsid "${cmd[@]}" ) >>"$d/stdout.log" 2>&1 </dev/null &
    fi
    TB_PID[$i]=$!
    echo "${TB_PID[$i]}" > "$d/pid"
}
#  The VMS_URL / VMS_PORT lines agents need to reach the server on host I.
tb_server_keys () { echo "VMS_URL=http://$(tb_ip "$1")" "VMS_PORT=$TB_SERVER_PORT"; }
