#!/usr/bin/env bash
#  ingest_lo: two RTSP cameras on one box, end to end.  A real RTSP server
#  (GStreamer, started here on loopback) serves an H.264 video of the
#  face-api demo pictures at the seed's Axis and ONVIF paths; one loopback
#  agent with the real models.  Asserts:
#    * `camera add` takes the seed's JSON in both spellings (numbers as
#      strings and as numbers); a document without a url is refused with
#      the field named, and nothing of it is stored;
#    * both cameras come online (camera.online) and deliver frames at their
#      configured rates (4 and 2 fps, measured over 8 s by the stream's own
#      clock) and every delivered frame becomes a job or a counted drop
#      (drops only under load, and most frames analysed);
#    * the jobs are done with the detections themselves: faces with score,
#      box in pixels of the camera's 1280x720 frame and normalised, the
#      capture time, the camera id and its registry name (jobs --json,
#      job.done events and submit --json); every recorded event matches docs/EVENTS.md;
#    * `meshwatch focus --camera` (ttl 10 s) switches both cameras (50 m
#      apart, radius 100 m) to focus: every decoded frame delivered (above
#      both configured rates),
#      focus.started for each; after the ttl focus.ended and back to the
#      configured rate;
#    * restarted with FOCUS_ON=face>=0.5, the agent (registry read back
#      from its state DB) starts a focus by itself from a real detection:
#      focus.requested with trigger "rule" at one of the cameras.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/camera/cam_lib.sh"
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
# shellcheck source=/dev/null
. "$SRC/tests/infer/models-env.sh"
cam_require_tools
tb_hard_timeout 120 "$@"
tb_init ingest_lo 35
tb_require_mw
VIDEO=$(cam_video 90)
RP=$(( TB_PORTBASE + 150 ))
JP=$(( TB_PORTBASE + 100 ))
MP=$(( TB_PORTBASE + 101 ))
AP=$(( TB_PORTBASE + 102 ))
tb_port_free "$RP" && tb_port_free "$JP" && tb_port_free "$MP" && tb_port_free "$AP" ||
    tb_die "port $RP, $JP, $MP or $AP in use"
cam_server cam "$RP" "$VIDEO"
AXIS="rtsp://root:root@127.0.0.1:$RP/axis-media/media.amp"
ONVIF="rtsp://127.0.0.1:$RP/onvif-media/media.amp"
tb_start_agent_lo 1 "MODELS_DIR=$MODELS" "JOB_PORT=$JP" "DEADLINE_MS=3000" "ESCALATE_BELOW=0" \
    "FOCUS_RADIUS_M=100" "FOCUS_MODEL=tiny-face" "CAMERA_INFLIGHT=16" "METRICS_PORT=$MP" "API_PORT=$AP"
tb_wait_ready 1 20
S1=$(tb_state_dir 1)
EV="$TB_DIR/events1.jsonl"
cam_events 1 "$EV"
sleep 0.5

echo "---- registry: both spellings, a bad document"
DOC_A=$(cam_doc camA 37.5700 126.9800 "$AXIS" '"fps":"4"')
#  The right spelling, numbers as numbers.
DOC_B='{"name":"Lobby","id":"camB","type":2,"gps":{"latitude":37.57045,"longitude":126.98},"ip":"127.0.0.1",'
DOC_B+='"isSupportAnalysis":"YES","url":"'$ONVIF'","fps":2}'
cam_add 1 "$DOC_A" && cam_add 1 "$DOC_B" || cam_failc "camera add refused a valid document"
out=$(printf '%s' '{"name":"camC","type":1,"gps":{"latitude":1,"longitude":2},"ip":"127.0.0.1","isSupportAnalysis":"YES"}' |
      tb_cli 1 camera add --json - --state-dir "$S1" 2>&1)
rc=$?
list=$(tb_cli 1 camera list --json --state-dir "$S1")
if [ $rc = 1 ] && [[ $out == *'field "url": missing'* ]] && [ "$(echo "$list" | jq length)" = 2 ]; then
    cam_pass "a document without url refused ('$out'), nothing stored; seed spelling and the right one accepted"
else
    cam_failc "bad document: rc=$rc out='$out' cameras=$(echo "$list" | jq -c 'map(.id)')"
fi
[ "$(echo "$list" | jq -r '.[] | select(.id=="camA") | .url')" = "rtsp://root:***@127.0.0.1:$RP/axis-media/media.amp" ] &&
    cam_pass "the camera's password is masked in the views" || cam_failc "url shown: $(echo "$list" | jq -c '.[0].url')"

echo "---- both cameras online, frames at their rates, every frame a job"
online () { [ "$(cam_ev "$EV" | jq -r 'select(.topic=="camera.online") | .camera' | sort -u | wc -l)" = 2 ]; }
tb_wait_until 15 online && cam_pass "camera.online for camA and camB" ||
    cam_failc "camera.online: $(cam_ev "$EV" | jq -c 'select(.topic|startswith("camera."))' | head -3)"
snap () { tb_cli 1 camera list --json --state-dir "$S1" | jq -r --arg c "$1" --arg k "$2" '.[] | select(.id==$c) | .ingest[$k]'; }
sleep 2
a0=$(snap camA frames_delivered); b0=$(snap camB frames_delivered); t0=$(tb_now_ms)
sleep 8
a1=$(snap camA frames_delivered); b1=$(snap camB frames_delivered); t1=$(tb_now_ms)
ms=$(( t1 - t0 ))
ra=$(( a1 - a0 )); rb=$(( b1 - b0 ))
wa=$(( 4 * ms / 1000 )); wb=$(( 2 * ms / 1000 ))
#  +-3 frames: the two snapshots are CLI calls, each some tens of ms late.
if [ $ra -ge $(( wa - 3 )) ] && [ $ra -le $(( wa + 3 )) ] && [ $rb -ge $(( wb - 3 )) ] && [ $rb -le $(( wb + 3 )) ]; then
    cam_pass "frames in $ms ms: camA $ra (fps 4: $wa), camB $rb (fps 2: $wb)"
else
    cam_failc "frames in $ms ms: camA $ra (want ~$wa), camB $rb (want ~$wb)"
fi
#  Every frame the loop got becomes a job or a drop counted with its
#  reason (inflight, refused; "sink" drops never reached the loop).  Drops
#  happen only when the loop or the runner falls behind: none on a quiet
#  box, some when the machine is loaded far beyond its cores; most frames
#  are analysed still.
read -r del an late drops <<< "$(tb_cli 1 camera list --json --state-dir "$S1" |
    jq -r '"\([.[].ingest.frames_delivered] | add) \([.[].ingest.frames_analysed] | add) \([.[].ingest.frames_dropped_by | .inflight + .refused] | add) \([.[].ingest.frames_dropped] | add)"')"
[ "$an" -gt 0 ] && [ $(( an + late )) = "$del" ] && [ $(( drops * 4 )) -le "$an" ] &&
    cam_pass "$del frames delivered: $an analysed, $drops dropped (counted)" ||
    cam_failc "$del frames delivered: $an analysed, $drops dropped"

echo "---- results carry the detections"
js=$(tb_cli 1 jobs --json --state-dir "$S1")
now=$(tb_now_ms)
good=$(echo "$js" | jq --argjson now "$now" '[.[] | select(.origin and .state=="done" and .boxes > 0
    and (.detections|length) == .boxes and .width == 1280 and .height == 720
    and .capture_ms > ($now - 60000) and .capture_ms <= $now
    and ((.camera=="camA" and .camera_name=="camA") or (.camera=="camB" and .camera_name=="Lobby"))
    and (.detections[0] | .class=="face" and .score > 0.3 and .box.w > 10 and .box_norm.w > 0 and .box_norm.w < 1
         and (.box.x - .box_norm.x * 1280 | fabs) < 1))] | length')
cams=$(echo "$js" | jq -r '[.[] | select(.state=="done" and .boxes > 0) | .camera] | unique | join(",")')
if [ "$good" -ge 10 ] && [ "$cams" = "camA,camB" ]; then
    cam_pass "$good jobs done with faces (pixels and normalised, score, class), capture time, camera and name"
else
    cam_failc "jobs with detections: $good ($cams): $(echo "$js" | jq -c '[.[] | select(.state=="done")][0]')"
fi
ev_done=$(cam_ev "$EV" | jq -c 'select(.topic=="job.done" and .boxes > 0 and (.detections|length) == .boxes
    and .camera_name != null and .capture_ms != null)' | head -1)
[ -n "$ev_done" ] && cam_pass "job.done events carry the detections: $(echo "$ev_done" | jq -c '.detections[0]')" ||
    cam_failc "no job.done event with detections"
#  submit --json (a picture from the CLI) carries them the same way, and
#  the camera's registry name; no capture time (docs/EVENTS.md: null).
out=$(tb_cli 1 submit --camera camA --image "$DEMO/sample1.jpg" --deadline-ms 5000 --json --state-dir "$S1" 2>&1)
if printf '%s' "$out" | jq -e '.state == "done" and .camera == "camA" and .camera_name == "camA" and .capture_ms == null
        and (.detections | length) > 0 and (.detections | length) == .boxes
        and (.detections[0] | .class == "face" and .score > 0.3 and .box.w > 1 and .box_norm.w > 0 and .box_norm.w < 1)' >/dev/null 2>&1; then
    cam_pass "submit --json: $(printf '%s' "$out" | jq -c '{boxes, camera_name, d0: .detections[0]}' | cut -c1-160)"
else
    cam_failc "submit --json without the detections: $(printf '%s' "$out" | jq -c '{state, camera, camera_name, capture_ms, boxes, d: .detections[0]}' 2>/dev/null || printf '%s' "$out" | cut -c1-300)"
fi

echo "---- /metrics per camera; camera assign"
m=$(curl -s --max-time 5 "http://127.0.0.1:$MP/metrics")
if echo "$m" | grep -q '^meshwatch_camera_frames_decoded_total{camera="camA"} [1-9]' &&
    echo "$m" | grep -q '^meshwatch_camera_state{camera="camB",state="streaming"} 1' &&
    echo "$m" | grep -q '^meshwatch_camera_reconnects_total{camera="camA"} 0' &&
    echo "$m" | grep -q '^meshwatch_camera_frames_dropped_total{camera="camA",reason="inflight"}'; then
    cam_pass "/metrics: frames decoded, dropped, reconnects and state per camera"
else
    cam_failc "/metrics: $(echo "$m" | grep meshwatch_camera | head -5)"
fi
v0=$(tb_cli 1 camera show camB --json --state-dir "$S1" | jq .version.hlc)
tb_cli 1 camera assign camB --box gone-box --state-dir "$S1" >/dev/null || cam_failc "camera assign"
r=$(tb_cli 1 camera show camB --json --state-dir "$S1")
#  The named box is not in the mesh: the camera stays with a live one (here).
[ "$(echo "$r" | jq -r .box)" = gone-box ] && [ "$(echo "$r" | jq .version.hlc)" -gt "$v0" ] &&
    [ "$(echo "$r" | jq -r .analysed_by)" = n1 ] && [ "$(echo "$r" | jq -r .ingest.state)" = streaming ] &&
    cam_pass "camera assign: box recorded with a new version; a box not in the mesh leaves it with a live one" ||
    cam_failc "assign: $(echo "$r" | jq -c '{box, version, analysed_by, st: .ingest.state}')"
tb_cli 1 camera assign camB --any --state-dir "$S1" >/dev/null &&
    [ "$(tb_cli 1 camera show camB --json --state-dir "$S1" | jq -r .box)" = null ] &&
    cam_pass "camera assign --any: any box again" || cam_failc "assign --any"

echo "---- the VMS's HTTP API: /api/v1/cameras, latest.jpg, /api/v1/focus"
TOK=$(tb_cli 1 token create --name cams --state-dir "$S1" --json | jq -r .token)
api () { local m=$1 path=$2; shift 2
         curl -s -m 10 -o "$TB_DIR/api.body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $TOK" "$@" \
             "http://127.0.0.1:$AP$path"; }
c=$(api GET /api/v1/cameras)
[ "$c" = 200 ] && [ "$(jq 'map(.id) | sort | join(",")' "$TB_DIR/api.body")" = '"camA,camB"' ] &&
    cam_pass "GET /api/v1/cameras: camA, camB" || cam_failc "GET /api/v1/cameras -> $c $(head -c 300 "$TB_DIR/api.body")"
c=$(api GET /api/v1/cameras/camA/latest.jpg)
[ "$c" = 200 ] && [ "$(head -c 2 "$TB_DIR/api.body" | od -An -tx1 | tr -d ' ')" = ffd8 ] &&
    [ "$(ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$TB_DIR/api.body")" = "1280,720" ] &&
    cam_pass "GET /api/v1/cameras/camA/latest.jpg: a 1280x720 JPEG of the stream" ||
    cam_failc "latest.jpg -> $c"
DOC_C=$(cam_doc camC 37.5800 126.9800 "rtsp://127.0.0.1:$RP/other")
c=$(api POST /api/v1/cameras -H 'Content-Type: application/json' -d "$DOC_C")
c2=$(api POST /api/v1/cameras -H 'Content-Type: application/json' -d '{"name":"x","type":1}')
[ "$c" = 201 ] && [ "$c2" = 400 ] && jq -e '.detail | test("gps")' "$TB_DIR/api.body" >/dev/null &&
    cam_pass "POST /api/v1/cameras: 201 for the seed's JSON, 400 naming the field for a bad one" ||
    cam_failc "POST -> $c, bad POST -> $c2: $(cat "$TB_DIR/api.body")"
c=$(api PUT /api/v1/cameras/camC -H 'Content-Type: application/json' -d "$(echo "$DOC_C" | sed 's/camera camC/moved/')")
[ "$c" = 200 ] && [ "$(tb_cli 1 camera show camC --json --state-dir "$S1" | jq -r .camera.description)" = moved ] &&
    cam_pass "PUT /api/v1/cameras/camC replaces it" || cam_failc "PUT -> $c $(cat "$TB_DIR/api.body")"
c=$(api DELETE /api/v1/cameras/camC); c2=$(api GET /api/v1/cameras/camC)
[ "$c" = 200 ] && [ "$c2" = 404 ] && cam_pass "DELETE /api/v1/cameras/camC, then 404" || cam_failc "DELETE -> $c, GET -> $c2"
c=$(api POST /api/v1/focus -H 'Content-Type: application/json' -d '{"lat":10,"lon":10,"radius_m":50,"ttl_s":1}')
[ "$c" = 202 ] && jq -e '.focus | length == 32' "$TB_DIR/api.body" >/dev/null &&
    cam_pass "POST /api/v1/focus: 202 with the focus id" || cam_failc "POST /api/v1/focus -> $c"
sleep 1.2

echo "---- focus by hand: every frame for the ttl, then back"
tf=$(tb_now_ms)
tb_cli 1 focus --camera camA --ttl-s 10 --state-dir "$S1" || cam_failc "meshwatch focus failed"
#  Full rate is "every decoded frame delivered": how many frames the
#  decoder gets through depends on the CPU left to it (the machine may be
#  loaded far beyond its cores), the share delivered does not.  One
#  snapshot of both cameras' counters and modes at each end: both ends
#  must show both cameras in focus.
counts () { tb_cli 1 camera list --json --state-dir "$S1" |
            jq -r 'map({(.id): .ingest}) | add | "\(.camA.frames_delivered) \(.camA.frames_decoded) \(.camA.frames_dropped_by.sink) \(.camB.frames_delivered) \(.camB.frames_decoded) \(.camB.frames_dropped_by.sink) \(.camA.mode)\(.camB.mode)"'; }
sleep 0.3
read -r a0 ad0 ax0 b0 bd0 bx0 m0 <<< "$(counts)"; t0=$(tb_now_ms)
sleep 2
read -r a1 ad1 ax1 b1 bd1 bx1 m1 <<< "$(counts)"; t1=$(tb_now_ms)
ms=$(( t1 - t0 ))
ra=$(( (a1 - a0) * 1000 / ms )); rb=$(( (b1 - b0) * 1000 / ms ))
da=$(( ad1 - ad0 )); db=$(( bd1 - bd0 ))
#  Every decoded frame is handed on: delivered, or dropped and counted
#  when the loop has no room (the machine loaded beyond its cores); in
#  normal mode most are skipped instead.  Counted after decoded: up to 3
#  frames (2 per camera waiting for the loop) may fall between.  Above the configured rates (4 and 2 fps): the
#  rate limit is off.
xa=$(( a1 - a0 + ax1 - ax0 )); xb=$(( b1 - b0 + bx1 - bx0 ))
if [ "$m0$m1" = focusfocusfocusfocus ] && [ $(( xa + 3 )) -ge $da ] && [ $(( xb + 3 )) -ge $db ] &&
    [ $(( (a1 - a0) * 1000 )) -gt $(( 4 * ms + 1000 )) ] && [ $(( (b1 - b0) * 1000 )) -gt $(( 2 * ms + 1000 )) ]; then
    cam_pass "in focus: camA $ra fps, camB $rb fps delivered: every decoded frame handed on ($da, $db in $ms ms; $(( ax1 - ax0 + bx1 - bx0 )) of them dropped at the sink)"
else
    cam_failc "in focus: camA $ra fps, camB $rb fps; delivered or dropped $xa/$da, $xb/$db decoded in $ms ms; modes $m0 $m1 (want focus, every frame, above 4 and 2 fps)"
fi
started=$(cam_ev "$EV" | jq -r --argjson t "$tf" 'select(.topic=="focus.started" and .ts_ms >= $t) | .camera' | sort | tr '\n' ' ')
[ "$started" = "camA camB " ] && cam_pass "focus.started for camA and camB" || cam_failc "focus.started: '$started'"
ended () { [ "$(cam_ev "$EV" | jq -r --argjson t "$tf" 'select(.topic=="focus.ended" and .ts_ms >= $t) | .camera' | wc -l)" = 2 ]; }
tb_wait_until 15 ended && cam_pass "focus.ended for both after the ttl" || cam_failc "no focus.ended"
sleep 1
a0=$(snap camA frames_delivered); t0=$(tb_now_ms)
sleep 3
a1=$(snap camA frames_delivered); t1=$(tb_now_ms)
ra=$(( (a1 - a0) * 1000 / (t1 - t0) ))
[ $ra -le 6 ] && cam_pass "back to normal: camA $ra fps" || cam_failc "after the focus camA delivers $ra fps"
mode=$(snap camA mode)
[ "$mode" = normal ] && cam_pass "camA mode normal again" || cam_failc "camA mode $mode"

echo "---- FOCUS_ON: a real detection starts a focus"
tb_term 1 || cam_failc "agent 1 did not stop on SIGTERM"
tb_forget_id 1   #  so that tb_wait_ready asks the new process
tr=$(tb_now_ms)
TB_AGENT_DEFAULTS=("FOCUS_ON=face>=0.5" "FOCUS_TTL_S=2")
tb_start_agent_lo 1 "MODELS_DIR=$MODELS" "JOB_PORT=$JP" "DEADLINE_MS=3000" "ESCALATE_BELOW=0" "FOCUS_RADIUS_M=100" \
    "FOCUS_MODEL=tiny-face"
tb_wait_ready 1 20
[ "$(tb_cli 1 camera list --json --state-dir "$S1" | jq length)" = 2 ] && cam_pass "registry read back after a restart" ||
    cam_failc "registry after restart: $(tb_cli 1 camera list --json --state-dir "$S1" | jq -c 'map(.id)')"
rule () { grep -q 'event=focus_requested .*camera=cam[AB]' "$(tb_log_file 1)"; }
if tb_wait_until 20 rule; then
    cam_pass "FOCUS_ON started a focus: $(grep -m1 'event=focus_requested .*camera=cam[AB]' "$(tb_log_file 1)" | sed 's/.*event=//' | cut -c1-160)"
else
    cam_failc "no focus from FOCUS_ON=face>=0.5"
fi

echo "---- every recorded event against docs/EVENTS.md"
out=$("$CAM_PY" "$SRC/tests/node/events_check.py" --doc "$SRC/docs/EVENTS.md" --require camera.online \
      --require job.done --require focus.started --require focus.ended --require focus.requested "$EV" 2>&1) &&
    cam_pass "events match docs/EVENTS.md ($(echo "$out" | tail -1))" || cam_failc "events: $out"
cam_finish
