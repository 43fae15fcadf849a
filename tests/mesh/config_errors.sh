#!/usr/bin/env bash
#  config_errors: bad config files make `meshwatch agent` exit 2 with
#  exactly `FILE:LINE: reason` on stderr; a bad MESHWATCH_<KEY> override
#  exits 2 too.  No network: every config here would at most start a
#  loopback agent without beacon (no MESH_INTERFACE), killed after 5 s.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MW=${MESHWATCH:-${MW_BUILDDIR:-.}/meshwatch}
[ -x "$MW" ] || { echo "ERROR: meshwatch binary not found ($MW)"; exit 99; }
DIR=$(mktemp -d /tmp/tb-config_errors-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
KEY=$(head -c 32 /dev/urandom | base64)
SHORTKEY=$(head -c 16 /dev/urandom | base64)
PORT=$(( 10000 + 22 * 200 ))
fail=0
#  A valid base; each case changes one line.
base () {
    cat <<EOT
# config_errors base
CLUSTER_NAME=tb-cfg
CLUSTER_KEY=$KEY
NODE_NAME=cfg
STATE_DIR=$DIR/state
MESH_ADDR=127.0.0.1
MESH_PORT=$PORT
EVENTS_PORT=$(( PORT + 1 ))
EOT
}
#  case NAME LINE_EXPECTED CONTENT
run_case () {
    local name=$1 line=$2 content=$3
    local f="$DIR/$name.conf"
    printf '%s\n' "$content" > "$f"
    local err rc
    err=$(env -u MESHWATCH_ASAN timeout 5 "$MW" agent --config "$f" 2>&1 >/dev/null); rc=$?
    local want="$f:$line: "
    local match; match=$(printf '%s\n' "$err" | grep -F -- "$want" | head -1)
    if [ "$rc" = 2 ] && [ -n "$match" ] && [[ $match == "$want"?* ]] && [ "${match#"$want"}" != "" ]; then
        echo "PASS  $name: exit 2, \"$match\""
    else
        echo "FAIL  $name: exit $rc (want 2), want a stderr line \"$want<reason>\", got: $(printf '%s' "$err" | head -3 | tr '\n' '|')"
        fail=1
    fi
}
echo "CHECK: bad configs -> exit 2 and stderr line exactly 'FILE:LINE: reason'"
run_case unknown_key 9 "$(base)
BOGUS_KEY=1"
run_case bad_key_base64 3 "$(base | sed 's|^CLUSTER_KEY=.*|CLUSTER_KEY=not*base64*at*all!|')"
run_case key_wrong_length 3 "$(base | sed "s|^CLUSTER_KEY=.*|CLUSTER_KEY=$SHORTKEY|")"
run_case port_out_of_range 7 "$(base | sed 's|^MESH_PORT=.*|MESH_PORT=70000|')"
run_case port_zero_or_negative 7 "$(base | sed 's|^MESH_PORT=.*|MESH_PORT=-1|')"
run_case port_not_a_number 7 "$(base | sed 's|^MESH_PORT=.*|MESH_PORT=12ab|')"
run_case missing_equals 10 "$(base)
# comment
MESH_PORT_NO_EQUALS 7946"
run_case duplicate_key 10 "$(base)

NODE_NAME=again"
run_case bad_log_level 9 "$(base)
LOG_LEVEL=loud"
run_case bad_extra_key 9 "$(base)
CLUSTER_KEY_EXTRA=$KEY,garbage"
#  Env override with a bad value: exit 2, message names the variable.
f="$DIR/good.conf"; base > "$f"
err=$(env -u MESHWATCH_ASAN MESHWATCH_MESH_PORT=99999 timeout 5 "$MW" agent --config "$f" 2>&1 >/dev/null); rc=$?
if [ "$rc" = 2 ] && printf '%s\n' "$err" | grep -q 'MESHWATCH_MESH_PORT'; then
    echo "PASS  env MESHWATCH_MESH_PORT=99999: exit 2, \"$(printf '%s' "$err" | head -1)\""
else
    echo "FAIL  env MESHWATCH_MESH_PORT=99999: exit $rc, stderr: $(printf '%s' "$err" | head -3 | tr '\n' '|')"; fail=1
fi
#  VMS_URL without VMS_PORT (and the reverse): a config error naming both
#  keys, not a silent "no analysis server".
for kv in "VMS_URL=http://10.0.0.9" "VMS_PORT=7950"; do
    f="$DIR/vms_half.conf"; { base; echo "$kv"; } > "$f"
    err=$(env -u MESHWATCH_ASAN timeout 5 "$MW" agent --config "$f" 2>&1 >/dev/null); rc=$?
    if [ "$rc" = 2 ] && printf '%s' "$err" | grep -q 'VMS_URL' && printf '%s' "$err" | grep -q 'VMS_PORT'; then
        echo "PASS  only ${kv%%=*}: exit 2, \"$(printf '%s' "$err" | head -1)\""
    else
        echo "FAIL  only ${kv%%=*}: exit $rc (want 2, naming VMS_URL and VMS_PORT), stderr: $(printf '%s' "$err" | head -2 | tr '\n' '|')"; fail=1
    fi
done
#  The analysis server without its models refuses to start: one line
#  naming MODELS_DIR and what is missing.
mkdir -p "$DIR/nomodels" "$DIR/srvstate"
f="$DIR/server.conf"
printf 'CLUSTER_KEY=%s\nSTATE_DIR=%s\nMESH_ADDR=127.0.0.1\nVMS_PORT=%d\nEVENTS_PORT=%d\nMODELS_DIR=%s\nLOG_FILE=%s\n' \
    "$KEY" "$DIR/srvstate" $(( PORT + 2 )) $(( PORT + 3 )) "$DIR/nomodels" "$DIR/server.log" > "$f"
err=$(env -u MESHWATCH_ASAN timeout 10 "$MW" analysis-server --config "$f" 2>&1 >/dev/null); rc=$?
nl=$(printf '%s\n' "$err" | grep -c .)
if [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$nl" = 1 ] && printf '%s' "$err" | grep -q "MODELS_DIR=$DIR/nomodels" &&
   printf '%s' "$err" | grep -q 'tiny_face_detector_model-weights_manifest.json' &&
   printf '%s' "$err" | grep -q 'ssd_mobilenetv1_model-weights_manifest.json'; then
    echo "PASS  analysis server without models: exit $rc, \"$err\""
else
    echo "FAIL  analysis server without models: exit $rc, $nl lines: $(printf '%s' "$err" | head -3 | tr '\n' '|')"; fail=1
fi
#  Missing file.
err=$(env -u MESHWATCH_ASAN timeout 5 "$MW" agent --config "$DIR/nope.conf" 2>&1 >/dev/null); rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 124 ] && printf '%s' "$err" | grep -q nope.conf; then
    echo "PASS  missing config file: exit $rc, \"$(printf '%s' "$err" | head -1)\""
else echo "FAIL  missing config file: exit $rc, stderr: $(printf '%s' "$err" | head -2 | tr '\n' '|')"; fail=1; fi
[ $fail = 0 ] && echo "RESULT: PASS (config_errors)" || echo "RESULT: FAIL (config_errors)"
exit $fail
