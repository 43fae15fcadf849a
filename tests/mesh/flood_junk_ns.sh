#!/usr/bin/env bash
#  flood_junk_ns: an outsider floods n1 (fd limit 1024) with forged frames
#  as fast as n1 takes them, for FL_SECS: FLOOD_FRAME bytes (default 4 MiB,
#  the data plane's largest) on FLOOD_CONNS connections (default 8) to the
#  data port, and 256 KiB frames on 4 connections to the mesh port.  The
#  frames carry a real envelope header with the cluster's key id (visible
#  on the wire), so each one that n1 lets into the AEAD costs a full
#  authentication.  It used to allocate and authenticate all of them on its
#  loop (RSS 18 -> 158 MB, peers suspected the box).  Now connections that
#  never sent an authenticated message get a fixed allowance of
#  authentication (8 MiB/s data, 2 MiB/s mesh; the rest is dropped unread),
#  per-connection queues are short, the gate yields to the loop's timers,
#  and the flood verdict (tests/mesh/flood_lib.sh) holds throughout.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/mesh/scenarios.sh"
. "$SRC/tests/mesh/flood_lib.sh"
FLOOD_FRAME=${FLOOD_FRAME:-4194304}
FLOOD_CONNS=${FLOOD_CONNS:-8}
tb_hard_timeout $(( FL_SECS + 120 )) "$@"
fl_setup flood_junk_ns 73
echo "CHECK: forged $FLOOD_FRAME-byte frames on $FLOOD_CONNS connections to n1's data port and 256 KiB frames on 4"
echo "       to its mesh port, as fast as n1 takes them, for $FL_SECS s: flood verdict (flood_lib.sh)"
st0=$(tb_status 1)
fl_start
tb_exec 3 timeout $(( FL_SECS + 30 )) "$FL_INJECT" --to "tcp://$(tb_ip 1):7948" --key "$TB_KEY" \
    --conns "$FLOOD_CONNS" --size "$FLOOD_FRAME" --secs "$FL_SECS" junk-flood > "$TB_DIR/inj.data" 2>&1 &
p1=$!
tb_exec 3 timeout $(( FL_SECS + 30 )) "$FL_INJECT" --to "tcp://$(tb_ip 1):7946" --key "$TB_KEY" \
    --conns 4 --size $(( 262144 + 44 )) --secs "$FL_SECS" junk-flood > "$TB_DIR/inj.mesh" 2>&1 &
p2=$!
TB_BG_PIDS+=("$p1" "$p2")
wait "$p1"; wait "$p2"
fl_stop 3
echo "data injector: $(cat "$TB_DIR/inj.data")"
echo "mesh injector: $(cat "$TB_DIR/inj.mesh")"
fl_verdict
st=$(tb_status 1)
d () { echo $(( $(printf '%s' "$st" | jq "$1") - $(printf '%s' "$st0" | jq "$1") )); }
bytes_d=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$TB_DIR/inj.data"); bytes_m=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$TB_DIR/inj.mesh")
in_d=$(d .jobs.data_plane.bytes_in); in_m=$(d .stats.bytes_in)
au_d=$(d .jobs.data_plane.rejected.auth); bu_d=$(d .jobs.data_plane.rejected.budget)
au_m=$(d .stats.rejected.auth); bu_m=$(d .stats.rejected.budget)
echo "info  data port: injected $(( ${bytes_d:-0} / 1048576 )) MiB, n1 read $(( in_d / 1048576 )) MiB: $au_d frames authenticated (auth), $bu_d dropped unread (budget)"
echo "info  mesh port: injected $(( ${bytes_m:-0} / 1048576 )) MiB, n1 read $(( in_m / 1048576 )) MiB: $au_m frames authenticated (auth), $bu_m dropped unread (budget)"
printf '%s' "$st" | jq -c '{mesh_budget_yields: .stats.budget_yields, data_budget_yields: .jobs.data_plane.budget_yields, connections: .connections | {mesh: .mesh | {open, accepted, cut_per_ip}, data: .data | {open, accepted, cut_per_ip}}}'
#  The flood was real (gigabytes reached n1 and were read), and what an
#  outsider made n1 authenticate stayed within the allowance (8 MiB/s on
#  the data plane, 2 MiB/s on the mesh plane, plus the bursts).
secs=$(( (FL_T1 - FL_T0) / 1000 + 1 ))
[ "$in_d" -ge $(( 1024 * 1048576 )) ] && [ "$in_m" -ge $(( 256 * 1048576 )) ] &&
    echo "PASS  the flood reached n1: $(( in_d / 1048576 )) MiB read on the data port, $(( in_m / 1048576 )) MiB on the mesh port" ||
    { echo "FAIL  too little of the flood reached n1 (data $(( in_d / 1048576 )) MiB, mesh $(( in_m / 1048576 )) MiB)"; SC_RESULT=1; }
[ "$au_d" -ge 1 ] && [ $(( au_d * FLOOD_FRAME )) -le $(( (8 * secs + 16) * 1048576 )) ] && [ "$bu_d" -ge 1 ] &&
    [ "$au_m" -ge 1 ] && [ $(( au_m * 262188 )) -le $(( (2 * secs + 4) * 1048576 )) ] && [ "$bu_m" -ge 1 ] &&
    echo "PASS  authentication held to the outsiders' allowance: data $(( au_d * FLOOD_FRAME / 1048576 )) MiB, mesh $(( au_m * 262188 / 1048576 )) MiB in $secs s; the rest dropped unread" ||
    { echo "FAIL  authentication outside the allowance: data $au_d frames (budget $bu_d), mesh $au_m (budget $bu_m) in $secs s"; SC_RESULT=1; }
sc_finish 1 2
