#!/usr/bin/env bash
#  testbed_selftest: the test bed itself, without the daemon: 3 hosts reach
#  each other (UDP echo), the loss rule drops about P %, cut/heal and
#  partition work, agents launch in their namespace and cgroup with the
#  right PID, and cleanup leaves no namespace, veth, bridge or cgroup.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}

if [ "${1:-}" != inner ]; then
    [ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
    ip netns add "tb-probe-$$" 2>/dev/null || { echo "SKIP: no netns"; exit 77; }
    ip netns del "tb-probe-$$"
    out=$(mktemp)
    timeout -k 10 120 bash "$0" inner > "$out" 2>&1
    rc=$?
    cat "$out"
    tag=$(sed -n 's/.* tag \(t[0-9a-f]*\) .*/\1/p' "$out" | head -1)
    inner_pid=$(sed -n 's/^inner pid \([0-9]*\)$/\1/p' "$out" | head -1)
    rm -f "$out"
    [ "$rc" = 0 ] || { echo "FAIL: inner bed test rc=$rc"; exit 1; }
    [ -n "$tag" ] && [ -n "$inner_pid" ] || { echo "FAIL: no tag/pid in output"; exit 1; }
    left=""
    ip netns list | grep -q -- "-$inner_pid-n" && left="$left netns"
    ip -o link | grep -q "$tag" && left="$left links"
    ls -d /sys/fs/cgroup/cpu/tb-"$tag"* /sys/fs/cgroup/tb-"$tag"* 2>/dev/null | grep -q . && left="$left cgroups"
    pgrep -f "tb-fake-agent-$inner_pid" >/dev/null && left="$left processes"
    if [ -n "$left" ]; then
        echo "FAIL: cleanup left:$left"; ip netns list; ip -o link | grep "$tag"; exit 1
    fi
    echo "PASS: cleanup left nothing (tag $tag)"
    exit 0
fi

. "$SRC/tests/lib/testbed.sh"
echo "inner pid $$"
tb_init testbed_selftest 10
tb_bridge
for i in 1 2 3; do tb_host "$i"; done

#  UDP echo server in host 3; client in host 1 sends COUNT datagrams and
#  prints how many came back.
ECHO='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9999))
s.settimeout(60)
while True:
    try:
        d, a = s.recvfrom(2048)
    except socket.timeout:
        break
    s.sendto(d, a)
'
PROBE='
import socket, sys, time
dst, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.02)
got = 0
for k in range(n):
    s.sendto(str(k).encode(), (dst, 9999))
    try:
        while True:
            s.recvfrom(2048); got += 1
    except socket.timeout:
        pass
time.sleep(0.2)
try:
    while True:
        s.recvfrom(2048); got += 1
except socket.timeout:
    pass
print(got)
'
tb_bg tb_exec 3 "$TB_PY" -c "$ECHO"
tb_bg tb_exec 2 "$TB_PY" -c "$ECHO"
#  Probe only once both echo servers are bound (not after a fixed sleep).
echo_up () { tb_exec "$1" ss -Hlun "sport = :9999" 2>/dev/null | grep -q 9999; }
tb_wait_until 5 echo_up 2 && tb_wait_until 5 echo_up 3 || tb_fail "echo servers did not start"
probe () { tb_exec "$1" "$TB_PY" -c "$PROBE" "$2" "$3" 2>/dev/null; }

got=$(probe 1 "$(tb_ip 3)" 20); echo "n1 -> n3: $got/20 echoed"
[ "$got" -ge 19 ] || tb_fail "no connectivity n1 -> n3"
got=$(probe 1 "$(tb_ip 2)" 20); echo "n1 -> n2: $got/20 echoed"
[ "$got" -ge 19 ] || tb_fail "no connectivity n1 -> n2"

#  No default route anywhere in the namespaces.
tb_exec 1 ip route | grep -q default && tb_fail "namespace has a default route"
ip addr show dev "$TB_BR" | grep -q inet && tb_fail "bridge has an address"

#  Loss: 30 % on input in every namespace: the echo path crosses two inputs,
#  so about 1-0.7^2 = 51 % of round trips fail.
tb_loss_all 30
got=$(probe 1 "$(tb_ip 3)" 200); echo "loss 30 %: $got/200 round trips (expect ~98)"
[ "$got" -ge 60 ] && [ "$got" -le 135 ] || tb_fail "loss rule not effective ($got/300)"
echo "n3 dropped $(tb_loss_dropped 3) packets"
tb_loss_clear
got=$(probe 1 "$(tb_ip 3)" 20); [ "$got" -ge 19 ] || tb_fail "loss not cleared ($got/20)"

#  Cut / heal.
tb_cut 3
got=$(probe 1 "$(tb_ip 3)" 10); echo "cut n3: $got/10"
[ "$got" = 0 ] || tb_fail "cut did not isolate n3"
tb_heal 3
sleep 0.3
tb_wait_until 5 bash -c '[ "$(ip netns exec '"$(tb_ns 1)"' '"$TB_PY"' -c "$1" '"$(tb_ip 3)"' 5)" -ge 4 ]' _ "$PROBE" ||
    tb_fail "heal did not restore n3"
echo "heal n3: reachable after $(tb_secs "$TB_WAIT_MS") s"

#  Partition {1,2} | {3}.
tb_partition "1 2" "3"
got=$(probe 1 "$(tb_ip 3)" 10); echo "partition: n1 -> n3 $got/10"
[ "$got" = 0 ] || tb_fail "partition leaks"
got=$(probe 1 "$(tb_ip 2)" 10); [ "$got" -ge 9 ] || tb_fail "partition broke the majority side ($got/10)"
tb_partition_heal
tb_wait_until 5 bash -c '[ "$(ip netns exec '"$(tb_ns 1)"' '"$TB_PY"' -c "$1" '"$(tb_ip 3)"' 5)" -ge 4 ]' _ "$PROBE" ||
    tb_fail "partition heal failed"
echo "partition healed"

#  Agent launch with a fake binary: PID, namespace, cgroup, SIGSTOP/CONT.
fake="$TB_DIR/tb-fake-agent-$$"
printf '#!/bin/sh\nexec sleep 300\n' > "$fake"; chmod +x "$fake"
MESHWATCH=$fake; TB_MW=$fake
tb_cgroup_cpu 2 20
tb_start_agent 2
tb_start_agent 1 PROBE_INTERVAL_MS=500
p=$(tb_pid 2)
#  The launcher execs (setsid, sh, ip netns exec) into the agent: wait
#  until it has, instead of hoping half a second is enough.
is_agent () { [ "$(readlink /proc/"$p"/exe)" = /usr/bin/sleep ]; }
tb_wait_until 5 is_agent
[ "$(readlink /proc/"$p"/exe)" = /usr/bin/sleep ] || tb_fail "pid $p is not the agent ($(readlink /proc/"$p"/exe))"
[ "$(readlink /proc/"$p"/ns/net)" = "$(ip netns exec "$(tb_ns 2)" readlink /proc/self/ns/net)" ] || tb_fail "agent not in its namespace"
grep -qx "$p" "${TB_CG[2]}/cgroup.procs" || tb_fail "agent not in its cgroup"
[ "$(cat "${TB_CG[2]}/cpu.cfs_quota_us" 2>/dev/null || echo 20000)" = 20000 ] || tb_fail "quota"
grep -q '^PROBE_INTERVAL_MS=500$' "$(tb_node_dir 1)/agent.conf" || tb_fail "extra config key"
grep -q '^MESH_INTERFACE=eth0$' "$(tb_node_dir 1)/agent.conf" || tb_fail "MESH_INTERFACE"
[ "$(ps -o sid= -p "$p" | tr -d ' ')" = "$p" ] || tb_fail "agent not in its own session"
tb_stop 2
is_stopped () { [ "$(ps -o stat= -p "$p" | cut -c1)" = T ]; }
tb_wait_until 5 is_stopped || tb_fail "SIGSTOP"
#  Leave it stopped: cleanup must CONT + kill it.
tb_kill9 1
tb_alive_pid 1 && tb_fail "kill9"
tb_restart_agent 1
tb_alive_pid 1 || tb_fail "restart"
echo "agent launch: pid/netns/cgroup/session/stop/kill9/restart ok"
echo "PASS (inner)"
exit 0
