#!/usr/bin/env bash
#  events_confined_ns: the read surfaces.  n1 runs with the defaults (event
#  stream and /metrics on loopback), n2 with EVENTS_BIND=mesh and a CURVE
#  allow-list holding one VMS key pair; n3 leaves and rejoins during the
#  window (TB_EVENTS_SECS, default 20; the soak variant 60) so that both
#  streams carry member events.  From another host (n4, no agent):
#    - keyless subscribers to n1 and to n2, and a subscriber with a CURVE
#      key pair n2 does not list, receive nothing;
#    - the allow-listed VMS receives n3's leave and join from n2;
#  inside n1's own namespace a subscriber on loopback receives them from
#  n1 (so n1 did publish during the window); /metrics answers on n1's
#  loopback and not from n4; EVENTS_BIND=mesh without an allow-list stops
#  an agent at start with the reason.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
SECS=${TB_EVENTS_SECS:-20}
tb_hard_timeout $(( SECS + 120 )) "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init events_confined_ns 74
tb_require_mw
echo "CHECK: over $SECS s with member events flowing, keyless and unlisted CURVE subscribers on another host"
echo "       receive nothing from n1 (loopback) or n2 (mesh + CURVE); the listed VMS does; /metrics is loopback-only"
tb_require_netns
tb_bridge
for i in 1 2 3 4 5; do tb_host "$i"; done
mw () { timeout 10 env "${TB_ENVU[@]}" "$TB_MW" "$@"; }
mw events --keygen "$TB_DIR/vms.cert" >/dev/null || tb_die "keygen vms"
mw events --keygen "$TB_DIR/rogue.cert" >/dev/null || tb_die "keygen rogue"
[ -s "$TB_DIR/vms.cert_secret" ] && [ "$(stat -c %a "$TB_DIR/vms.cert_secret")" = 600 ] &&
    echo "PASS  meshwatch events --keygen: public cert and a 0600 secret" ||
    { echo "FAIL  keygen output"; SC_RESULT=1; }
tb_start_agent 1 "METRICS_PORT=9101"
tb_start_agent 2 "EVENTS_BIND=mesh" "EVENTS_CURVE_CLIENTS=$TB_DIR/vms.cert"
tb_start_agent 3
SC_NODES="1 2 3"
for i in 1 2 3; do tb_wait_ready "$i" 20; done
sc_check "n1 n2 n3 alive" 5 20 tb_all_alive 1 2 3 || sc_finish 1 2 3
SERVER_CERT="$(tb_state_dir 2)/events.cert"
[ -s "$SERVER_CERT" ] && echo "PASS  n2 created its CURVE certificate ($SERVER_CERT)" ||
    { echo "FAIL  no $SERVER_CERT"; SC_RESULT=1; }
#  The VMS needs n2's public certificate, not its secret.
cp "$SERVER_CERT" "$TB_DIR/n2-events.cert"

sub () {   #  sub NAME HOST ENDPOINT [CURVE ARGS...]: a subscriber for the window
    local name=$1 h=$2 ep=$3; shift 3
    tb_bg tb_exec "$h" timeout $(( SECS + 15 )) env "${TB_ENVU[@]}" "$TB_MW" events --connect "$ep" --json "$@" \
        > "$TB_DIR/sub.$name" 2> "$TB_DIR/sub.$name.err"
}
sub keyless_n1 4 "tcp://$(tb_ip 1):7947"
sub keyless_n2 4 "tcp://$(tb_ip 2):7947"
sub rogue_n2 4 "tcp://$(tb_ip 2):7947" --server-key "$TB_DIR/n2-events.cert" --client-cert "$TB_DIR/rogue.cert"
sub vms_n2 4 "tcp://$(tb_ip 2):7947" --server-key "$TB_DIR/n2-events.cert" --client-cert "$TB_DIR/vms.cert"
sub local_n1 1 "tcp://127.0.0.1:7947"
sleep 2
id3=$(tb_id 3)
#  Events: n3 leaves and comes back, twice, during the window.
t0=$(tb_now_ms)
for k in 1 2; do
    tb_term 3 10
    sleep 2
    tb_restart_agent 3
    sleep 3
done
rest=$(( SECS * 1000 - ($(tb_now_ms) - t0) ))
[ "$rest" -gt 0 ] && sleep $(( rest / 1000 ))
sleep 3
for f in keyless_n1 keyless_n2 rogue_n2 vms_n2 local_n1; do
    printf '%-11s %3d events  %s\n' "$f" "$(wc -l < "$TB_DIR/sub.$f")" "$(head -c 120 "$TB_DIR/sub.$f.err" | tr '\n' ' ')"
done
n3ev () { grep -c "\"id\":\"$id3\"" "$TB_DIR/sub.$1"; }
[ "$(n3ev local_n1)" -ge 2 ] && echo "PASS  n1 published n3's events: $(n3ev local_n1) seen on n1's loopback" ||
    { echo "FAIL  n1's loopback subscriber saw $(n3ev local_n1) events about n3"; SC_RESULT=1; }
[ "$(n3ev vms_n2)" -ge 2 ] && echo "PASS  the allow-listed VMS received n3's events from n2 ($(n3ev vms_n2))" ||
    { echo "FAIL  the allow-listed VMS saw $(n3ev vms_n2) events about n3"; SC_RESULT=1; }
for f in keyless_n1 keyless_n2 rogue_n2; do
    [ ! -s "$TB_DIR/sub.$f" ] && echo "PASS  $f: nothing received in $SECS s" ||
        { echo "FAIL  $f received $(wc -l < "$TB_DIR/sub.$f") events"; SC_RESULT=1; }
done
#  /metrics: loopback only.
if tb_exec 1 curl -sf --max-time 3 "http://127.0.0.1:9101/metrics" | grep -q '^meshwatch_'; then
    echo "PASS  /metrics answers on n1's loopback"
else echo "FAIL  /metrics does not answer on n1's loopback"; SC_RESULT=1; fi
if tb_exec 4 curl -s --max-time 3 -o /dev/null "http://$(tb_ip 1):9101/metrics"; then
    echo "FAIL  /metrics answered another host"; SC_RESULT=1
else echo "PASS  /metrics refused from another host"; fi
#  A stream on the mesh address without an allow-list is refused at start.
tb_start_agent 5 "EVENTS_BIND=mesh"
_exited () { ! tb_alive_pid 5; }
if tb_wait_until 10 _exited && grep -q "EVENTS_BIND=mesh needs EVENTS_CURVE_CLIENTS" "$TB_DIR/n5/stdout.log"; then
    echo "PASS  EVENTS_BIND=mesh without EVENTS_CURVE_CLIENTS: the agent refuses to start, with the reason"
    TB_PID[5]=""
else
    echo "FAIL  EVENTS_BIND=mesh without an allow-list: $(head -3 "$TB_DIR/n5/stdout.log")"; SC_RESULT=1
fi
sc_finish 1 2 3
