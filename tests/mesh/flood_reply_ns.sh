#!/usr/bin/env bash
#  flood_reply_ns: a key holder sends n1 (fd limit 1024) requests that each
#  name another reply address - PINGs on the mesh port, JOB_OFFERs on the
#  data port, FLOOD_N of each (default 100000) within FL_SECS, from 1000
#  sender ids.  Each distinct address used to get its own DEALER socket
#  (and ~1,100 of them crashed the agent at czmq's socket limit).  Now n1
#  answers each on the connection it came in on, opens no connection to any
#  of those addresses, and its tables stay bounded; the flood verdict
#  (tests/mesh/flood_lib.sh) holds throughout.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/mesh/scenarios.sh"
. "$SRC/tests/mesh/flood_lib.sh"
FLOOD_N=${FLOOD_N:-100000}
tb_hard_timeout $(( FL_SECS + 120 )) "$@"
fl_setup flood_reply_ns 71
NET="$TB_NET"
echo "CHECK: $FLOOD_N PINGs and $FLOOD_N JOB_OFFERs to n1, each with its own reply address $NET.200-249:*,"
echo "       in at most $FL_SECS s: answered on the injector's connection; no connection to any of them;"
echo "       routes, connections and replay state bounded; flood verdict (flood_lib.sh)"
ID1=$(tb_id 1)
in0=$(tb_stat 1 .stats.msgs_in); din0=$(tb_stat 1 .jobs.data_plane.msgs_in)
fl_start
tb_exec 3 timeout $(( FL_SECS + 30 )) "$FL_INJECT" --to "tcp://$(tb_ip 1):7946" --key "$TB_KEY" --to-id "$ID1" \
    --count "$FLOOD_N" --senders 1000 --reply-net "$NET" --secs "$FL_SECS" reply-flood > "$TB_DIR/inj.mesh" 2>&1 &
p1=$!
tb_exec 3 timeout $(( FL_SECS + 30 )) "$FL_INJECT" --to "tcp://$(tb_ip 1):7948" --key "$TB_KEY" --to-id "$ID1" \
    --plane data --count "$FLOOD_N" --senders 1000 --reply-net "$NET" --secs "$FL_SECS" reply-flood \
    > "$TB_DIR/inj.data" 2>&1 &
p2=$!
TB_BG_PIDS+=("$p1" "$p2")
#  While it runs: never a connection towards the named addresses.
maxc=0
while kill -0 "$p1" 2>/dev/null || kill -0 "$p2" 2>/dev/null; do
    c=$(fl_conns_towards "$NET.2"); [ "$c" -gt "$maxc" ] && maxc=$c
    sleep 1
done
wait "$p1"; wait "$p2"
fl_stop 3
echo "mesh injector: $(cat "$TB_DIR/inj.mesh")"
echo "data injector: $(cat "$TB_DIR/inj.data")"
fl_verdict
st=$(tb_status 1)
sent_m=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' "$TB_DIR/inj.mesh"); rep_m=$(sed -n 's/.*replies=\([0-9]*\).*/\1/p' "$TB_DIR/inj.mesh")
sent_d=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' "$TB_DIR/inj.data"); rep_d=$(sed -n 's/.*replies=\([0-9]*\).*/\1/p' "$TB_DIR/inj.data")
in1=$(printf '%s' "$st" | jq .stats.msgs_in); din1=$(printf '%s' "$st" | jq .jobs.data_plane.msgs_in)
echo "info  mesh: sent $sent_m, n1 read $(( in1 - in0 )), answers back $rep_m; data: sent $sent_d, n1 read $(( din1 - din0 )), answers back $rep_d"
printf '%s' "$st" | jq -c '{mesh: {peers_open: .stats.peers_open, peers_known: .stats.peers_known, routes: .stats.routes, send_refused: .stats.send_refused, send_dropped: .stats.send_dropped, replay_senders: .stats.replay_senders}, data: (.jobs.data_plane | {peers_open, peers_known, routes, send_refused, send_dropped, replay_senders}), fds}'
#  The flood did real work: a tenth of it at least was read and
#  authenticated (the bounded per-connection inbound queues, 16 messages on
#  the mesh and 4 on the data plane, shed a full-speed flood, as they
#  should: how much depends on how busy the host is; 45-100 % were read in
#  runs on a loaded 2-core box), and answers came back on the injector's
#  own connection.
[ "${sent_m:-0}" -ge $(( FLOOD_N / 10 )) ] && [ $(( in1 - in0 )) -ge $(( sent_m / 10 )) ] && [ "${rep_m:-0}" -gt 0 ] &&
    echo "PASS  mesh flood processed: $sent_m sent, $(( in1 - in0 )) read, $rep_m answered on the injector's connection" ||
    { echo "FAIL  mesh flood: sent ${sent_m:-?}, read $(( in1 - in0 )), answers ${rep_m:-?}"; SC_RESULT=1; }
[ "${sent_d:-0}" -ge $(( FLOOD_N / 10 )) ] && [ $(( din1 - din0 )) -ge $(( sent_d / 10 )) ] && [ "${rep_d:-0}" -gt 0 ] &&
    echo "PASS  data flood processed: $sent_d sent, $(( din1 - din0 )) read, $rep_d answered on the injector's connection" ||
    { echo "FAIL  data flood: sent ${sent_d:-?}, read $(( din1 - din0 )), answers ${rep_d:-?}"; SC_RESULT=1; }
[ "$maxc" = 0 ] && echo "PASS  n1 never had a connection towards $NET.200-249 (polled each second)" ||
    { echo "FAIL  n1 had up to $maxc connections towards the flood's addresses"; SC_RESULT=1; }
printf '%s' "$st" | jq -e '.stats.peers_open <= 64 and .stats.routes <= 1024 and .stats.replay_senders <= 4096
    and .jobs.data_plane.peers_open <= 64 and .jobs.data_plane.routes <= 1024 and .jobs.data_plane.replay_senders <= 4096' >/dev/null &&
    echo "PASS  bounded: connections <= 64, routes <= 1024, replay senders <= 4096 on both planes" ||
    { echo "FAIL  a table outgrew its bound"; SC_RESULT=1; }
sc_finish 1 2
