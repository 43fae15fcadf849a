# shellcheck shell=bash
#  =========================================================================
#  wirebed.sh - what the mesh costs on the wire, measured on the test bed
#  (issue 17, "built for wireless links").  Sourced after testbed.sh by
#  tests/bench/wire.sh and the wireless acceptance tests.
#
#    * bytes a box received / sent: the host side of its veth pair counts
#      every frame the namespace's eth0 received (tx) or sent (rx), L2 and
#      TCP/IP headers included, as the issue measures them;
#    * beacon broadcasts: an nftables counter inside the namespace on UDP
#      packets to BEACON_PORT leaving (and entering) eth0;
#    * the memberlist yardstick: tests/bench/mlnode.go, built once per run.
#
#  Every nftables rule here is checked twice: `nft` must succeed, and the
#  table must list the counter afterwards (a rule with a syntax error is
#  silently absent otherwise).
#  =========================================================================

#  Bytes received / sent by host I's eth0 so far.
wb_rx_bytes () { cat "/sys/class/net/${TB_VH[$1]}/statistics/tx_bytes"; }
wb_tx_bytes () { cat "/sys/class/net/${TB_VH[$1]}/statistics/rx_bytes"; }

#  wb_snap FILE NODE... - "I RX TX" per node plus "t MS" into FILE.
wb_snap () {
    local f=$1 i; shift
    {
        echo "t $(tb_now_ms)"
        for i in "$@"; do echo "$i $(wb_rx_bytes "$i") $(wb_tx_bytes "$i")"; done
    } > "$f"
}
#  wb_rates A B - per node "I RX_BPS TX_BPS" between two snapshots.
wb_rates () {
    awk 'FNR == NR { if ($1 == "t") t0 = $2; else { r[$1] = $2; s[$1] = $3 }; next }
         $1 == "t" { dt = ($2 - t0) / 1000.0; next }
         { printf "%s %d %d\n", $1, ($2 - r[$1]) / dt, ($3 - s[$1]) / dt }' "$1" "$2"
}
#  wb_summary RATES - "MEAN MIN MAX" of the received column.
wb_summary () {
    awk 'NR == 1 { mn = $2; mx = $2 } { s += $2; if ($2 < mn) mn = $2; if ($2 > mx) mx = $2 }
         END { if (NR) printf "%d %d %d\n", s / NR, mn, mx; else print "0 0 0" }' "$1"
}

#  wb_bytype_snap FILE I - node I's per-type message counters (status --json
#  .stats.by_type) and the time into FILE.
wb_bytype_snap () {
    { echo "{\"t\": $(tb_now_ms), \"s\": "; tb_status "$2" | jq -c '.stats.by_type // {}'; echo "}"; } > "$1"
}
#  wb_bytype A B - per message type between two snapshots: "TYPE IN_MSGS/S
#  IN_B/S OUT_MSGS/S OUT_B/S" (sealed bytes: add 42 B of Ethernet/IPv4/UDP
#  per datagram for the wire), largest inbound first.
wb_bytype () {
    jq -rn --slurpfile a "$1" --slurpfile b "$2" '
        ($a[0]) as $A | ($b[0]) as $B | ((($B.t - $A.t) / 1000) | if . <= 0 then 1 else . end) as $dt |
        [$B.s | to_entries[] | . as $e | ($A.s[$e.key] // {msgs_in:0,bytes_in:0,msgs_out:0,bytes_out:0}) as $o |
         {k: $e.key, mi: (($e.value.msgs_in - $o.msgs_in) / $dt), bi: (($e.value.bytes_in - $o.bytes_in) / $dt),
          mo: (($e.value.msgs_out - $o.msgs_out) / $dt), bo: (($e.value.bytes_out - $o.bytes_out) / $dt)} |
         select(.mi > 0 or .mo > 0)] | sort_by(-.bi)[] |
        "\(.k) \(.mi * 100 | round / 100) \(.bi | round) \(.mo * 100 | round / 100) \(.bo | round)"'
}

#  Count beacons (UDP to BEACON_PORT, default 5670) in host I's namespace:
#  out = broadcasts this box sent, in = beacons it received.
wb_beacon_counter () {
    local i=$1 port=${2:-5670}
    ip netns exec "${TB_NS[$i]}" nft -f - <<EOF || tb_die "nft beacon counter in ${TB_NS[$i]}"
table inet wbcount {
    chain out {
        type filter hook output priority -10; policy accept;
        oifname "eth0" udp dport $port counter comment "beacons-out"
    }
    chain in {
        type filter hook input priority -10; policy accept;
        iifname "eth0" udp dport $port counter comment "beacons-in"
    }
}
EOF
    ip netns exec "${TB_NS[$i]}" nft list table inet wbcount 2>/dev/null | grep -q 'counter packets.*beacons-out' ||
        tb_die "beacon counter rule missing in ${TB_NS[$i]} after nft said ok"
}
#  wb_beacons I out|in - packets counted so far.
wb_beacons () {
    ip netns exec "${TB_NS[$1]}" nft list table inet wbcount 2>/dev/null |
        sed -n "s/.*counter packets \([0-9]*\) bytes.*beacons-$2.*/\1/p" | head -1
}

#  wb_loss_check I - the loss rule of host I exists and has dropped packets;
#  prints the count.  False when the rule is missing or never matched.
wb_loss_check () {
    local n; n=$(tb_loss_dropped "$1")
    echo "${n:-0}"
    [ -n "$n" ] && [ "$n" -gt 0 ]
}

# ---- memberlist ----------------------------------------------------------
WB_ML=""
#  Build tests/bench/mlnode.go into $TB_DIR (or WB_ML_DIR); false (and a
#  reason on stderr) when Go or Debian's memberlist package is missing.
wb_ml_build () {
    local out=${WB_ML_DIR:-$TB_DIR}/mlnode
    local src=/usr/share/gocode
    command -v go >/dev/null 2>&1 || { echo "go missing (apt-get install golang-go)" >&2; return 1; }
    [ -d "$src/src/github.com/hashicorp/memberlist" ] ||
        { echo "memberlist missing (apt-get install golang-github-hashicorp-memberlist-dev)" >&2; return 1; }
    if [ ! -x "$out" ]; then
        mkdir -p "$(dirname "$out")"
        GOPATH=$src GO111MODULE=off GOCACHE=${WB_ML_DIR:-$TB_DIR}/gocache GOFLAGS= \
            nice go build -o "$out" "$SRC/tests/bench/mlnode.go" || return 1
    fi
    WB_ML=$out
}
#  wb_ml_start I [SEED_IP] - memberlist node nI in host I's namespace on
#  eth0:7946 (tracked as TB_PID[I]: tb_kill9, tb_term and the cleanup work);
#  its event lines go to $TB_DIR/nI/ml.log.
wb_ml_start () {
    local i=$1 seed=${2:-}
    local d="$TB_DIR/n$i"
    mkdir -p "$d"
    local -a cmd=(ip netns exec "${TB_NS[$i]}" "$WB_ML" -name "n$i" -bind "$(tb_ip "$i")" -port 7946
                  -key "$(printf '%s' "$TB_KEY" | base64 -d | head -c 32 | base64)")
    [ -n "$seed" ] && cmd+=(-join "$seed:7946")
    ( exec setsid "${cmd[@]}" ) >>"$d/ml.log" 2>&1 </dev/null &
    TB_PID[$i]=$!
    echo "${TB_PID[$i]}" > "$d/pid"
}
#  wb_ml_converged NODE... - every node's log shows every node joined (and
#  none left since).
wb_ml_converged () {
    local i n=$#
    for i in "$@"; do
        [ "$(awk '{ if ($2 == "join") s[$3] = 1; else if ($2 == "leave") delete s[$3] }
                  END { n = 0; for (k in s) n++; print n }' "$TB_DIR/n$i/ml.log" 2>/dev/null)" = "$n" ] || return 1
    done
}
#  wb_ml_last WHAT NAME T0 NODE... - ms from T0 until the last of NODE...
#  logged WHAT (join|leave) for NAME; empty when one has not.
wb_ml_last () {
    local what=$1 name=$2 t0=$3 i t worst=-1; shift 3
    for i in "$@"; do
        t=$(awk -v w="$what" -v n="$name" -v t0="$t0" '$2 == w && $3 == n && $1 >= t0 { t = $1 } END { print t }' \
            "$TB_DIR/n$i/ml.log" 2>/dev/null)
        [ -n "$t" ] || return 1
        [ $(( t - t0 )) -gt "$worst" ] && worst=$(( t - t0 ))
    done
    echo "$worst"
}
#  wb_ml_count WHAT T0 T1 NODE... - WHAT lines logged in [T0, T1].
wb_ml_count () {
    local what=$1 t0=$2 t1=$3 i; shift 3
    for i in "$@"; do cat "$TB_DIR/n$i/ml.log"; done 2>/dev/null |
        awk -v w="$what" -v a="$t0" -v b="$t1" '$2 == w && $1 >= a && $1 <= b { n++ } END { print n + 0 }'
}

# ---- meshwatch logs ------------------------------------------------------
#  wb_log_count EVENT T0 T1 NODE... - `event=EVENT` lines in [T0, T1] (wall ms).
wb_log_count () {
    local ev=$1 t0=$2 t1=$3 i; shift 3
    local -a files=()
    for i in "$@"; do [ -f "$(tb_log_file "$i")" ] && files+=("$(tb_log_file "$i")"); done
    [ ${#files[@]} -gt 0 ] || { echo 0; return; }
    "$TB_PY" - "$ev" "$t0" "$t1" "${files[@]}" <<'EOF'
import sys, re, datetime
ev, lo, hi = "event=" + sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rx = re.compile(r"^ts=(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z ")
n = 0
for p in sys.argv[4:]:
    for line in open(p, errors="replace"):
        if ev not in line.split():
            continue
        m = rx.match(line)
        if not m:
            continue
        y, mo, d, h, mi, s, ms = map(int, m.groups())
        t = int(datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc).timestamp()) * 1000 + ms
        n += lo <= t <= hi
print(n)
EOF
}

#  pct P < numbers: nearest-rank percentile ("-" when empty).
wb_pct () {
    sort -n | awk -v p="$1" '{a[NR]=$1} END {if (NR==0) {print "-"; exit} i=int((NR*p+99)/100); if(i<1)i=1; if(i>NR)i=NR; print a[i]}'
}
