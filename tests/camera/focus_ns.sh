#!/usr/bin/env bash
#  focus_ns: scenario 4 on 5 boxes in network namespaces.  Ten cameras
#  100 m apart on a north-south line, two on each box ("box": "nI"); one of
#  them looks east (heading 90, fov 60), so events north or south of it are
#  outside its view.  Twenty trials, each a `meshwatch focus --camera C
#  --radius-m 250 --ttl-s 1` on a different box at a different camera,
#  one after the other.  The boxes' event streams are recorded and judged
#  by tests/camera/focus_check.py, which computes on its own which cameras
#  must join (distance within 250 m, the bearing within the field of view
#  where known).  Asserts:
#    * every camera that must join has exactly one focus.started and one
#      focus.ended (about a second later) on its box; no other camera has
#      any (the ones further away, and the east-looking one, untouched);
#    * fan-out from the origin's focus.requested to each box's
#      focus.started: p99 <= 1 s over all the trials' camera starts;
#    * every camera is back to normal mode after the trials;
#    * a peer flooding 1000 focuses (mw-inject focus-flood) cannot grow a
#      box's focus table past 64; the box stays up.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/camera/cam_lib.sh"
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
command -v jq >/dev/null 2>&1 || { echo "SKIP: no jq"; exit 77; }
tb_hard_timeout "${FOCUS_TIMEOUT:-150}" "$@"
tb_init focus_ns 38
tb_require_netns
tb_require_mw
INJECT=${MW_BUILDDIR:-.}/tests/tools/mw-inject
[ -x "$INJECT" ] || tb_die "mw-inject not built ($INJECT)"
#  FOCUS_BOXES / FOCUS_TRIALS: the benchmark (tests/bench/cameras.sh) runs
#  this with 20 boxes.  Two cameras per box, 100 m apart on a line.
N=${FOCUS_BOXES:-5}
TRIALS=${FOCUS_TRIALS:-20}
M=$(( 2 * N ))
tb_bridge
for i in $(seq 1 "$N"); do tb_host "$i"; done
TB_AGENT_DEFAULTS=("JOB_PORT=0")
for i in $(seq 1 "$N"); do tb_start_agent "$i"; done
# shellcheck disable=SC2046
tb_wait_until 40 tb_all_alive $(seq 1 "$N") || tb_fail "the mesh did not converge"
for i in $(seq 1 "$N"); do cam_events "$i" "$TB_DIR/ev$i.jsonl" json.focus.; done

#  Cameras on a line, 100 m apart (0.0009 deg of latitude ~ 100.1 m).
CAMS="$TB_DIR/cameras.json"
echo "[" > "$CAMS"
for k in $(seq 0 $(( M - 1 ))); do
    lat=$(awk -v k="$k" 'BEGIN { printf "%.6f", 37.57 + k * 0.0009 }')
    box=n$(( k % N + 1 ))
    extra="\"box\":\"$box\""
    [ $k = 5 ] && extra="$extra,\"heading_deg\":90,\"fov_deg\":60"
    doc=$(cam_doc "cam$k" "$lat" 126.9800 "rtsp://192.0.2.$(( 20 + k % 200 ))/axis-media/media.amp" "$extra")
    cam_add 1 "$doc" || cam_failc "add cam$k"
    printf '%s{"id":"cam%d","lat":%s,"lon":126.98%s}\n' "$([ $k = 0 ] || echo ,)" "$k" "$lat" \
        "$([ $k = 5 ] && echo ',"heading_deg":90,"fov_deg":60')" >> "$CAMS"
done
echo "]" >> "$CAMS"
placed () {   #  every box ingests its two cameras
    local i
    for i in $(seq 1 "$N"); do
        [ "$(tb_cli "$i" focus list --json --state-dir "$(tb_state_dir "$i")" 2>/dev/null | jq '.cameras | length')" = 2 ] ||
            return 1
    done
}
tb_wait_until 30 placed && cam_pass "$M cameras replicated and placed, 2 on each box" ||
    cam_failc "placement: $(for i in $(seq 1 "$N"); do tb_cli $i focus list --json --state-dir "$(tb_state_dir $i)" | jq -c '[.cameras[].camera]'; done)"
sleep 0.5

echo "---- $TRIALS trials"
TR="$TB_DIR/trials.jsonl"
: > "$TR"
for t in $(seq 0 $(( TRIALS - 1 ))); do
    box=$(( t % N + 1 )); k=$(( (t * 3) % M ))
    out=$(tb_cli "$box" focus --camera "cam$k" --radius-m 250 --ttl-s 1 --json --state-dir "$(tb_state_dir "$box")")
    fid=$(echo "$out" | jq -r .focus)
    [ "$(echo "$out" | jq -r .coalesced)" = false ] || cam_failc "trial $t coalesced with a running focus: $out"
    printf '{"focus":"%s","camera":"cam%d","radius_m":250}\n' "$fid" "$k" >> "$TR"
    #  The next trial once this focus is over everywhere (no coalescing).
    sleep 1.3
done
sleep 0.5
out=$("$CAM_PY" "$SRC/tests/camera/focus_check.py" --cameras "$CAMS" --trials "$TR" --ttl-ms 1000 \
      --max-p99-ms 1000 "$TB_DIR"/ev*.jsonl)
rc=$?
echo "$out"
[ $rc = 0 ] && cam_pass "every covered camera focused and released, no other; fan-out p99 <= 1 s" ||
    cam_failc "focus check failed"
modes=$(for i in $(seq 1 "$N"); do tb_cli "$i" focus list --json --state-dir "$(tb_state_dir "$i")" |
        jq -r '.cameras[].mode'; done | sort -u | tr '\n' ' ')
[ "$modes" = "normal " ] && cam_pass "every camera back to normal" || cam_failc "modes after the trials: $modes"

echo "---- a flood of focuses"
tb_exec 2 "$INJECT" --to "tcp://$(tb_ip 1):7946" --key "$TB_KEY" --to-id "$(tb_id 1)" --count 1000 --lat 10 --lon 10 focus-flood \
    >/dev/null || cam_failc "mw-inject focus-flood"
sleep 2
f=$(tb_stat 1 .cameras.focuses)
rej=$(tb_stat 1 .cameras.focus_rejected)
tb_alive_pid 1 && [ "$f" -le 64 ] && [ "$rej" -gt 0 ] &&
    cam_pass "1000 flooded focuses: box 1 holds $f (at most 64), $rej refused, still up" ||
    cam_failc "focus flood: $f focuses, $rej refused, alive $(tb_alive_pid 1 && echo yes || echo no)"
cam_finish
