#!/usr/bin/env bash
#  pkg_lib.sh - helpers of the package tests (sourced after testbed.sh).
#
#  pk_keys                 a publisher key pair in $TB_DIR/pub.{key,pub}
#  pk_build NAME VER MB F  a model package of MB MiB of random weights -> F
#                          (its source folder stays in $TB_DIR/src-NAME-VER)
#  pk_shape I MBIT         tbf on both directions of host I's link
#  pk_list I               `pkg list --json` of node I
#  pk_have I NAME VER      pieces node I holds of NAME@VER (its catalog)
#  pk_state I NAME VER     its state (available|fetching|complete|corrupt), "" if unknown
#  pk_events_start I       follow node I's event stream (JSON) into $TB_DIR/events.I
#  pk_sha_tree DIR         one sha256 over every file of DIR (names and bytes)

pk_keys () {
    "$TB_MW" pkg keygen --out "$TB_DIR/pub" >/dev/null || tb_die "pkg keygen"
    PK_PUB="$TB_DIR/pub.pub"
    PK_KEY="$TB_DIR/pub.key"
}

pk_build () {
    local name=$1 ver=$2 mb=$3 out=$4
    local src="$TB_DIR/src-$name-$ver"
    mkdir -p "$src/weights" || tb_die "mkdir $src"
    head -c $(( mb * 1024 * 1024 )) /dev/urandom > "$src/weights/model.bin" || tb_die "weights"
    echo '{"format":"test"}' > "$src/weights/manifest.json"
    "$TB_MW" pkg build --name "$name" --version "$ver" --kind model --model-family tiny-face --input-size 416 \
        --key "$PK_KEY" --out "$out" "$src/weights" >/dev/null || tb_die "pkg build $name@$ver"
}

#  Shape host I's link to MBIT in both directions: on the veth's host side
#  (what it downloads) and on eth0 inside the namespace (what it uploads).
#  Default: tbf (latency bounds its queue).  PK_SHAPER=htb: an htb link of
#  the same rate whose DSCP CS1 class (the package plane's TOS 0x20) only
#  gets what the rest leaves - a shaper that honours DSCP, as a Wi-Fi
#  access point's WMM queues do (CS1 = background).
pk_shape () {
    local i=$1 rate=$2 dev
    for dev in "host:${TB_VH[$i]}" "ns:eth0"; do
        local -a tcx=(tc)
        [ "${dev%%:*}" = ns ] && tcx=(ip netns exec "${TB_NS[$i]}" tc)
        dev=${dev#*:}
        if [ "${PK_SHAPER:-tbf}" = htb ]; then
            "${tcx[@]}" qdisc replace dev "$dev" root handle 1: htb default 10 || tb_die "htb on $dev (host $i)"
            "${tcx[@]}" class add dev "$dev" parent 1: classid 1:1 htb rate "${rate}mbit" ceil "${rate}mbit" \
                burst 64kb || tb_die "htb class"
            "${tcx[@]}" class add dev "$dev" parent 1:1 classid 1:10 htb rate "$(( rate * 990 ))kbit" \
                ceil "${rate}mbit" prio 0 burst 64kb || tb_die "htb class"
            "${tcx[@]}" class add dev "$dev" parent 1:1 classid 1:20 htb rate "$(( rate * 10 ))kbit" \
                ceil "${rate}mbit" prio 1 burst 64kb || tb_die "htb class"
            "${tcx[@]}" filter add dev "$dev" parent 1: protocol ip prio 1 u32 match ip tos 0x20 0xfc flowid 1:20 \
                || tb_die "filter on $dev (host $i)"
        else
            "${tcx[@]}" qdisc replace dev "$dev" root tbf rate "${rate}mbit" burst 64kb latency 50ms \
                || tb_die "tbf on $dev (host $i)"
        fi
    done
}

pk_list () { tb_cli "$1" pkg list --state-dir "$TB_DIR/n$1/state" --json 2>/dev/null; }
pk_have () {
    pk_list "$1" | jq -r --arg n "$2" --arg v "$3" \
        '[.[] | select(.name == $n and .version == $v) | .pieces_have] | .[0] // 0' 2>/dev/null
}
pk_state () {
    pk_list "$1" | jq -r --arg n "$2" --arg v "$3" \
        '[.[] | select(.name == $n and .version == $v) | .state] | .[0] // ""' 2>/dev/null
}

#  True once node I's agent answers `status` (tb_wait_ready trusts the id
#  it cached before a restart).
pk_answers () { tb_status "$1" > /dev/null; }

#  (EVENTS_BIND defaults to loopback: 127.0.0.1 inside the box's namespace.)
pk_events_start () {
    local i=$1
    tb_bg tb_exec_or_root "$i" "$TB_MW" events --connect "tcp://127.0.0.1:$(tb_events_port "$i")" --json \
        > "$TB_DIR/events.$i" 2>/dev/null
}
#  The event stream is read where the agent listens: inside its namespace.
tb_exec_or_root () {
    local i=$1; shift
    if [ "${TB_KIND[$i]:-}" = ns ]; then ip netns exec "${TB_NS[$i]}" "$@"; else "$@"; fi
}

pk_sha_tree () {
    (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}
#  pk_state_is I NAME VER STATE (for tb_wait_until)
pk_state_is () { [ "$(pk_state "$1" "$2" "$3")" = "$4" ]; }
#  pk_publish I FILE - publish on node I (copying and hashing take a while:
#  not tb_cli's 5 s).
pk_publish () {
    timeout 120 env "${TB_ENVU[@]}" "$TB_MW" pkg publish "$2" --state-dir "$TB_DIR/n$1/state" >/dev/null \
        || tb_fail "publish $2 on box $1"
}
#  pk_union_complete NAME VER NODE... - true if the nodes' saved bitmaps
#  together hold every piece of NAME@VER.
pk_union_complete () {
    local name=$1 ver=$2 i; shift 2
    local -a maps=()
    for i in "$@"; do
        maps+=("$(tb_cli "$i" pkg show "$name@$ver" --state-dir "$TB_DIR/n$i/state" --json 2>/dev/null \
                  | jq -r '"\(.pieces) \(.bitmap)"')") || return 1
    done
    python3 - "${maps[@]}" <<'PY'
import sys
n = None; acc = 0
for m in sys.argv[1:]:
    parts = m.split()
    if len(parts) != 2: sys.exit(1)
    n = int(parts[0]); acc |= int(parts[1], 16) if parts[1] else 0
bits = (n + 7) // 8 * 8
want = ((1 << n) - 1) << (bits - n)
sys.exit(0 if acc & want == want else 1)
PY
}
