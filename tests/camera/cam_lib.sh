# shellcheck shell=bash
#  =========================================================================
#  cam_lib.sh - shared helpers of the camera tests (tests/camera/, net ids
#  35-40, docs/CAMERAS.md).  Sourced after tests/lib/testbed.sh.
#
#  A real camera here is GStreamer's RTSP server (tests/camera/rtsp_server.py)
#  serving an H.264 file at the seed's Axis and ONVIF paths; the file is
#  made by the test from the face-api demo images with the ffmpeg CLI (six
#  faces pictures, one a second, 1280x720 at 25 fps, a keyframe a second),
#  cached under $MW_CACHE/camera.  Servers are started by the test, tracked
#  by PID and stopped by tb_cleanup.
#  =========================================================================
CAM_RESULT=0
CAM_PY=/usr/bin/python3
declare -A CAM_SRV_PID=() CAM_SRV_ARGS=()

cam_pass () { echo "PASS  $*"; }
cam_failc () { echo "FAIL  $*"; CAM_RESULT=1; }
cam_finish () {
    if [ "$CAM_RESULT" = 0 ]; then echo "RESULT: PASS ($TB_NAME, $SECONDS s)"; exit 0; fi
    echo "RESULT: FAIL ($TB_NAME, $SECONDS s)"
    TB_FAILED=1
    TB_DUMP_LINES=${TB_DUMP_LINES:-30} tb_dump_logs
    exit 1
}

#  The RTSP server and the encoder, or exit 77 (before tb_init).
cam_require_tools () {
    if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
    command -v ffmpeg >/dev/null 2>&1 || { echo "SKIP: no ffmpeg (scripts/install-deps.sh)"; exit 77; }
    "$CAM_PY" -c 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer' \
        2>/dev/null || { echo "SKIP: no GStreamer RTSP server for python3 (scripts/install-deps.sh)"; exit 77; }
    command -v jq >/dev/null 2>&1 || { echo "SKIP: no jq"; exit 77; }
}

#  cam_video SECONDS [SIZE] [STYLE]: print the path of a face video lasting
#  at least SECONDS (SIZE 1280x720 by default), made once and cached.
#  STYLE "still" (default): each picture held a second, a keyframe a
#  second; "camera": the pictures scroll (every frame changes, as in a
#  real scene) and a keyframe comes every 2 s exactly (GOP 50, no scene-cut
#  keyframes: x264 would put one at every change of picture, where a
#  camera keeps its fixed GOP).  Needs DEMO (tests/infer/models-env.sh).
cam_video () {
    local secs=$1 size=${2:-1280x720} style=${3:-still}
    local dir=${MW_CACHE:-$SRC/.cache}/camera
    local tag=$style
    [ "$style" = camera ] && tag=camera-gop50   #  (not the cached files of an earlier GOP)
    local base="$dir/faces-$size-$tag.mp4" out="$dir/faces-$size-$tag-$secs.mp4"
    mkdir -p "$dir" || tb_die "mkdir $dir"
    if [ ! -s "$base" ]; then
        local w=${size%x*} h=${size#*x} motion="" gop=25 sc=40
        [ "$style" = camera ] && motion=",scroll=horizontal=0.002" && gop=50 && sc=0
        ffmpeg -loglevel error -y -framerate 1 -i "$DEMO/sample%d.jpg" \
            -vf "scale=$w:$h:force_original_aspect_ratio=decrease,pad=$w:$h:(ow-iw)/2:(oh-ih)/2,format=yuv420p" \
            -r 25 -fps_mode cfr -c:v libx264 -preset veryfast -g 25 -bf 0 "$base.$$.still.mp4" >&2 &&
            ffmpeg -loglevel error -y -i "$base.$$.still.mp4" -vf "null$motion" -c:v libx264 -preset veryfast \
                -g "$gop" -sc_threshold "$sc" -bf 0 "$base.$$.mp4" >&2 &&
            rm -f "$base.$$.still.mp4" && mv -f "$base.$$.mp4" "$base" || tb_die "ffmpeg: cannot make $base"
    fi
    if [ ! -s "$out" ]; then
        #  Six seconds a loop; stream copy, no re-encoding.
        ffmpeg -loglevel error -y -stream_loop $(( secs / 6 + 1 )) -i "$base" -c copy "$out.$$.mp4" >&2 &&
            mv -f "$out.$$.mp4" "$out" || tb_die "ffmpeg: cannot loop $base"
    fi
    echo "$out"
}

#  cam_server NAME PORT FILE [HOST]: start an RTSP server (in host HOST's
#  namespace, on its address; else on 127.0.0.1) and wait until it listens.
cam_server () {
    local name=$1 port=$2 file=$3 host=${4:-}
    local ready="$TB_DIR/rtsp-$name.ready" log="$TB_DIR/rtsp-$name.log"
    rm -f "$ready"
    local -a cmd=("$CAM_PY" "$SRC/tests/camera/rtsp_server.py" --port "$port" --file "$file" --ready "$ready")
    if [ -n "$host" ]; then
        cmd=(ip netns exec "${TB_NS[$host]}" "${cmd[@]}" --addr "$(tb_ip "$host")")
    fi
    CAM_SRV_ARGS[$name]="$port $file $host"
    ( exec setsid "${cmd[@]}" ) >>"$log" 2>&1 </dev/null &
    CAM_SRV_PID[$name]=$!
    TB_BG_PIDS+=("${CAM_SRV_PID[$name]}")
    local i
    for i in $(seq 1 200); do
        [ -f "$ready" ] && return 0
        kill -0 "${CAM_SRV_PID[$name]}" 2>/dev/null || break
        sleep 0.05
    done
    tail -5 "$log" >&2
    tb_die "RTSP server $name did not start on port $port"
}

#  The wall-clock ms at which server NAME's ready file was written (it
#  listens from then on).
cam_server_ready_ms () {
    "$CAM_PY" -c 'import os,sys; print(int(os.stat(sys.argv[1]).st_mtime * 1000))' "$TB_DIR/rtsp-$1.ready"
}

cam_server_kill () {
    local p=${CAM_SRV_PID[$1]:-}
    [ -n "$p" ] || return 0
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    CAM_SRV_PID[$1]=""
}

cam_server_restart () {
    local name=$1 args
    read -r -a args <<< "${CAM_SRV_ARGS[$name]}"
    cam_server_kill "$name"
    cam_server "$name" "${args[@]}"
}

#  cam_doc ID LAT LON URL [EXTRA]: a camera document in the seed's format
#  (numbers as strings, the seed's spelling); EXTRA is more JSON members.
cam_doc () {
    local id=$1 lat=$2 lon=$3 url=$4 extra=${5:-}
    printf '{"name":"%s","type":1,"gps":{"latitude":"%s","longitude":"%s"},"address":"test site",' \
        "$id" "$lat" "$lon"
    printf '"ip":"127.0.0.1","isSupportAnnalysis":"YES","url":"%s","description":"%s"%s}\n' \
        "$url" "camera $id" "${extra:+,$extra}"
}

#  cam_add I DOC: `meshwatch camera add --json -` on agent I.
cam_add () {
    printf '%s' "$2" | tb_cli "$1" camera add --json - --state-dir "$(tb_state_dir "$1")" >/dev/null
}

#  cam_events I OUT [PREFIX]: record agent I's event stream (JSON topics)
#  into OUT, inside its namespace for a namespace host.
cam_events () {
    local i=$1 out=$2 prefix=${3:-}
    local -a cmd=("$CAM_PY" "$SRC/tests/node/events_sub.py" --out "$out" --prefix "$prefix" --seconds 600)
    if [ "${TB_KIND[$i]:-}" = ns ]; then
        tb_bg ip netns exec "${TB_NS[$i]}" "${cmd[@]}" --connect "tcp://127.0.0.1:7947"
    else
        tb_bg "${cmd[@]}" --connect "tcp://127.0.0.1:$(tb_events_port "$i")"
    fi
}

#  cam_ev FILE: the recorded JSON events as one JSON object a line,
#  with "topic" added.
cam_ev () {
    "$CAM_PY" - "$@" <<'EOF'
import json, sys
for path in sys.argv[1:]:
    for line in open(path, errors="replace"):
        try:
            r = json.loads(line)
            if not r["topic"].startswith("json."):
                continue
            e = json.loads(bytes.fromhex(r["body"]).decode("utf-8"))
            e["topic"] = r["topic"][5:]
            print(json.dumps(e))
        except (ValueError, KeyError):
            pass
EOF
}

#  Threads and fds of process P.
cam_threads () { ls "/proc/$1/task" 2>/dev/null | wc -l; }
cam_fds () { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
