#!/usr/bin/env bash
#  jobs_image_bomb_ns: a ~1 MiB JPEG whose header says 8192 x 8192 (a real
#  one, made by mw-mkjpeg: decoding it as RGB takes 192 MB) against three
#  namespaced agents with real models (50 % CPU each).
#    1. `meshwatch submit` of the bomb on n3 (default MAX_FRAME_PIXELS,
#       16.7 MP): refused at the door, exit != 0, the reason names
#       MAX_FRAME_PIXELS; n3's peak RSS (VmHWM, reset just before) grows by
#       less than 32 MB.
#    2. The same on n1, whose door lets it through (MAX_FRAME_PIXELS=64 MP,
#       INFER_WORKERS=0: it runs nothing itself): n1 hands it to a peer as a
#       JOB on the data plane; that peer's runner refuses it from the header
#       ("bad_jpeg: frame too large ... MAX_FRAME_PIXELS"), the job fails
#       with that reason (path peer, ran on n2 or n3), and neither peer's
#       peak RSS grows by 32 MB.
#    3. A normal frame through n1 afterwards is done by a peer.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/jobs/jobs_lib.sh"
jb_require_models
tb_hard_timeout 120 "$@"
tb_init jobs_image_bomb_ns 96
MKJPEG=${MW_BUILDDIR:-.}/tests/tools/mw-mkjpeg
[ -x "$MKJPEG" ] || tb_die "mw-mkjpeg not found at $MKJPEG"
PCT=50
LIMIT_KB=$(( 32 * 1024 ))
BOMB="$TB_DIR/bomb.jpg"
"$MKJPEG" 8192 8192 1048576 "$BOMB" || tb_die "mw-mkjpeg failed"
echo "CHECK: a $(stat -c %s "$BOMB")-byte 8192x8192 JPEG: refused at submit (n3) and on the data plane (n1 -> peer),"
echo "CHECK:   with a reason naming MAX_FRAME_PIXELS; peak RSS of the refusing agents grows < 32 MB"

jb_bed 3 "$PCT"
TB_AGENT_DEFAULTS=("MODELS_DIR=$MODELS" "OFFER_TIMEOUT_MS=$JB_OFFER_TIMEOUT_MS")
JB_NODES="2 3" jb_start
#  random placement: n1 needs no forecast of its peers to hand a job off.
tb_start_agent 1 "INFER_WORKERS=0" "MAX_FRAME_PIXELS=67108864" "PLACEMENT_POLICY=random"
tb_wait_ready 1
tb_wait_until 20 tb_all_alive 1 2 3 || tb_fail "n1 did not join"
JB_NODES="1 2 3"
jb_warm 2 3   #  models loaded; n1 meanwhile gets the peers' digests (job port, service time)

hwm_kb () { awk '/^VmHWM:/ {print $2}' "/proc/$(tb_pid "$1")/status"; }
rss_kb () { awk '/^VmRSS:/ {print $2}' "/proc/$(tb_pid "$1")/status"; }
#  Peak RSS from now on: writing 5 to clear_refs resets VmHWM to VmRSS.
reset_hwm () { echo 5 > "/proc/$(tb_pid "$1")/clear_refs"; }
declare -A R0
mark () { local i; for i in "$@"; do reset_hwm "$i"; R0[$i]=$(rss_kb "$i"); done; }
grown () { echo $(( $(hwm_kb "$1") - R0[$1] )); }
submit () {   #  I IMAGE: submit on node I, JSON on stdout, rc in SUB_RC
    local i=$1 img=$2
    SUB_OUT=$(timeout 30 env "${TB_ENVU[@]}" "$TB_MW" submit --camera "n$i-cam" --image "$img" --deadline-ms 3000 \
              --state-dir "$TB_DIR/n$i/state" --json 2>"$TB_DIR/submit.err"); SUB_RC=$?
}

echo "---- 1. submit of the bomb on n3 (default limit)"
mark 3
submit 3 "$BOMB"
g=$(grown 3)
echo "      rc=$SUB_RC $SUB_OUT; n3 peak RSS +$g kB"
if [ "$SUB_RC" != 0 ] && [ "$(printf '%s' "$SUB_OUT" | jq -r .state)" = refused ] &&
   printf '%s' "$SUB_OUT" | jq -r .reason | grep -q "MAX_FRAME_PIXELS"; then
    jb_pass "refused at submit: $(printf '%s' "$SUB_OUT" | jq -r .reason)"
else
    jb_failc "the bomb was not refused at submit on n3"
fi
[ "$g" -lt "$LIMIT_KB" ] && jb_pass "n3's peak RSS grew $g kB (< 32 MB)" || jb_failc "n3's peak RSS grew $g kB (>= 32 MB)"

echo "---- 2. the bomb through n1's open door, as a JOB on the data plane"
mark 2 3
submit 1 "$BOMB"
id=$(printf '%s' "$SUB_OUT" | jq -r '.id // empty')
echo "      rc=$SUB_RC $(printf '%s' "$SUB_OUT" | jq -c '{id, state, path, ran_on, reason}' 2>/dev/null || echo "$SUB_OUT")"
[ -n "$id" ] && echo "$id" >> "$TB_DIR/ids.1"
line=$(grep "event=job_failed job=$id " "$(tb_log_file 1)")
handed=$(grep "event=job_handed_off job=$id " "$(tb_log_file 1)")
echo "      ${handed:-no job_handed_off line for $id}"
echo "      ${line:-no job_failed line for $id}"
ID2=$(tb_id 2); ID3=$(tb_id 3)
if [ -n "$id" ] && [[ $line == *" path=peer "* ]] && [[ $line == *"frame too large"* ]] && [[ $line == *"MAX_FRAME_PIXELS"* ]] &&
   { [[ $handed == *" ran_on=$ID2 "* ]] || [[ $handed == *" ran_on=$ID3 "* ]]; }; then
    jb_pass "handed to a peer on the data plane and refused there from the header"
else
    jb_failc "job $id: expected job_handed_off to n2/n3, then job_failed path=peer, reason frame too large (MAX_FRAME_PIXELS)"
fi
g2=$(grown 2); g3=$(grown 3)
if [ "$g2" -lt "$LIMIT_KB" ] && [ "$g3" -lt "$LIMIT_KB" ]; then jb_pass "peak RSS of the peers grew $g2 / $g3 kB (< 32 MB)"
else jb_failc "peak RSS of the peers grew $g2 / $g3 kB (>= 32 MB)"; fi

echo "---- 3. a normal frame through n1"
submit 1 "$DEMO/sample1.jpg"
id=$(printf '%s' "$SUB_OUT" | jq -r '.id // empty'); [ -n "$id" ] && echo "$id" >> "$TB_DIR/ids.1"
if [ "$SUB_RC" = 0 ] && [ "$(printf '%s' "$SUB_OUT" | jq -r '.state + " " + .path')" = "done peer" ]; then
    jb_pass "sample1 through n1: done by a peer ($(printf '%s' "$SUB_OUT" | jq -c '{boxes, total_ms}'))"
else
    jb_failc "sample1 through n1: rc=$SUB_RC $SUB_OUT"
fi
for i in 1 2 3; do tb_alive_pid "$i" || jb_failc "n$i died"; done
jb_check --expect 'failed==1'
jb_finish
