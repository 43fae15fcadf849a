#!/usr/bin/env bash
#  registry_ns: the camera registry across a mesh of 4 boxes in network
#  namespaces, through a partition, a flood and a kill -9.  Asserts:
#    * a camera added on one box (the seed's JSON verbatim, and one in the
#      right spelling on another) reaches every box, with one version;
#    * bad documents (a missing gps.latitude, broken JSON) are refused
#      with the field named and reach no box;
#    * partitioned {1,2} | {3,4}: camA edited on each side (west first,
#      east a second later), camB removed on the east, camC added on the
#      west; after the heal every box holds the same registry: camA with
#      the later (east) edit, camB gone, camC there - within 20 s;
#    * a peer flooding 3200 new cameras (mw-inject cam-flood) cannot grow
#      any registry past 1024 entries; the box stays up and keeps the real
#      cameras;
#    * killed with -9 and restarted, a box has its registry back from the
#      state DB.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/camera/cam_lib.sh"
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
command -v jq >/dev/null 2>&1 || { echo "SKIP: no jq"; exit 77; }
tb_hard_timeout 150 "$@"
tb_init registry_ns 37
tb_require_netns
tb_require_mw
INJECT=${MW_BUILDDIR:-.}/tests/tools/mw-inject
[ -x "$INJECT" ] || tb_die "mw-inject not built ($INJECT)"
tb_bridge
for i in 1 2 3 4; do tb_host "$i"; done
TB_AGENT_DEFAULTS=("CAMERA_SYNC_MS=2000" "JOB_PORT=0")
for i in 1 2 3 4; do tb_start_agent "$i"; done
tb_wait_until 30 tb_all_alive 1 2 3 4 || tb_fail "the mesh did not converge"
reg () {   #  reg I: the registry of box I, one compact line
    tb_cli "$1" camera list --json --state-dir "$(tb_state_dir "$1")" 2>/dev/null |
        jq -c 'map({id, d: .camera.description, h: .version.hlc}) | sort_by(.id)'
}
same () {   #  same WANT_JQ BOXES...: every box's registry equal, and WANT true of it
    local want=$1 r0 r; shift
    r0=$(reg "$1") || return 1
    echo "$r0" | jq -e "$want" >/dev/null 2>&1 || return 1
    for i in "$@"; do r=$(reg "$i"); [ "$r" = "$r0" ] || return 1; done
}
URL="rtsp://root:root@192.0.2.10/axis-media/media.amp"

echo "---- add on two boxes, both spellings; everyone has both"
cam_add 1 "$(cam_doc camA 37.5700 126.9800 "$URL")" || cam_failc "add camA on 1"
DOC_B='{"name":"camB","type":"3","gps":{"latitude":37.571,"longitude":126.981},"ip":"192.0.2.11",'
DOC_B+='"isSupportAnalysis":"NO","url":"rtsp://192.0.2.11/onvif-media/media.amp","description":"b0"}'
cam_add 3 "$DOC_B" || cam_failc "add camB on 3"
t0=$(tb_now_ms)
if tb_wait_until 10 same 'length == 2' 1 2 3 4; then
    cam_pass "camA (seed spelling, on 1) and camB (isSupportAnalysis, on 3) on all 4 boxes in $(( $(tb_now_ms) - t0 )) ms"
else
    cam_failc "not replicated: $(for i in 1 2 3 4; do reg $i; done)"
fi
out=$(echo '{"name":"bad","type":1,"gps":{"longitude":1},"ip":"1.2.3.4","isSupportAnalysis":"YES","url":"rtsp://h/"}' |
      tb_cli 2 camera add --json - --state-dir "$(tb_state_dir 2)" 2>&1)
rc=$?
out2=$(printf '{"name":"bad2",' | tb_cli 2 camera add --json - --state-dir "$(tb_state_dir 2)" 2>&1)
rc2=$?
sleep 2
if [ $rc = 1 ] && [[ $out == *'field "gps.latitude": missing'* ]] && [ $rc2 = 1 ] && [[ $out2 == *'not JSON'* ]] &&
    same 'length == 2' 1 2 3 4; then
    cam_pass "bad documents refused ('$out' / '$out2'), on no box"
else
    cam_failc "bad documents: rc $rc '$out', rc $rc2 '$out2'"
fi

echo "---- partition {1,2} | {3,4}: an edit on each side"
tb_partition "1 2" "3 4"
split () { [ "$(tb_state 1 3)" = dead ] && [ "$(tb_state 3 1)" = dead ]; }
tb_wait_until 30 split || tb_fail "the partition was not detected"
cam_add 1 "$(cam_doc camA 37.5700 126.9800 "$URL" '"box":"n1"' | sed 's/camera camA/edit-west/')" || cam_failc "edit on 1"
cam_add 2 "$(cam_doc camC 37.5720 126.9820 "$URL")" || cam_failc "add camC on 2"
sleep 1.2
cam_add 4 "$(cam_doc camA 37.5700 126.9800 "$URL" | sed 's/camera camA/edit-east/')" || cam_failc "edit on 4"
tb_cli 3 camera rm camB --state-dir "$(tb_state_dir 3)" >/dev/null || cam_failc "rm camB on 3"
sleep 1
w=$(reg 1); e=$(reg 3)
[ "$w" != "$e" ] && [ "$(reg 2)" = "$w" ] && [ "$(reg 4)" = "$e" ] &&
    cam_pass "during the partition each side agrees with itself, the sides differ" ||
    cam_failc "during the partition: 1 $w / 3 $e"
th=$(tb_now_ms)
tb_partition_heal
want='(map(.id) == ["camA","camC"]) and (.[0].d == "edit-east")'
if tb_wait_until 25 same "$want" 1 2 3 4; then
    cam_pass "healed: all 4 converged on camA=edit-east (the later edit), camB removed, camC added, in $(( $(tb_now_ms) - th )) ms"
else
    cam_failc "after the heal: $(for i in 1 2 3 4; do echo; reg $i; done)"
fi

echo "---- a flood of new cameras from a peer"
for i in 1 2 3 4; do tb__idv "$i"; done
tb_exec 4 "$INJECT" --to "tcp://$(tb_ip 2):7946" --key "$TB_KEY" --to-id "$(tb_id 2)" --count 100 cam-flood >/dev/null ||
    cam_failc "mw-inject cam-flood"
flooded () { [ "$(tb_stat 2 .cameras.records_dropped_full)" -gt 0 ]; }
tb_wait_until 20 flooded || cam_failc "box 2 never reported a full registry"
sleep 3
max=0
for i in 1 2 3 4; do
    n=$(tb_stat "$i" .cameras.registry_entries)
    [ "$n" -gt $max ] && max=$n
done
real=$(tb_cli 2 camera list --json --state-dir "$(tb_state_dir 2)" | jq -c '[.[] | select(.id | startswith("flood") | not) | .id]')
if tb_alive_pid 2 && [ "$max" -le 1024 ] && [ "$(tb_stat 2 .cameras.registry_entries)" -ge 1000 ] &&
    [ "$real" = '["camA","camC"]' ]; then
    cam_pass "3200 flooded cameras: every registry at most 1024 (largest $max), box 2 up, camA and camC kept"
else
    cam_failc "flood: largest registry $max, box 2 alive $(tb_alive_pid 2 && echo yes || echo no), real $real"
fi

echo "---- kill -9 and restart: the registry comes back from the state DB"
before=$(tb_stat 2 .cameras.registry_entries)
tb_kill9 2
tb_restart_agent 2
tb_forget_id 2
tb_wait_ready 2 20
after=$(tb_stat 2 .cameras.registry_entries)
d=$(tb_cli 2 camera show camA --json --state-dir "$(tb_state_dir 2)" | jq -r .camera.description)
[ "$after" -ge "$before" ] && [ "$d" = edit-east ] &&
    cam_pass "after kill -9: $after entries (had $before), camA=$d" ||
    cam_failc "after kill -9: $after entries (had $before), camA=$d"
cam_finish
