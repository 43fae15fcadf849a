#!/usr/bin/env bash
#  hostile_strings_lo: strings from outside that break naive JSON, logs,
#  terminals and Prometheus labels - quotes, backslashes, a newline, braces,
#  an escape sequence - reach every output intact or are refused at the
#  door with a reason; no output ever breaks.
#
#  One loopback agent with the models, JOB_PORT and METRICS_PORT.
#    * A peer name from the wire: mw-inject hostile-name announces a fresh
#      member alive (again and again: its address answers no probe) under
#      HN = ev"il\na<newline>me}{<ESC>[1m with a resource digest.
#    * A camera id from the CLI: `meshwatch submit --camera` HC =
#      cam "7" \ x<newline>}{ .
#  Asserts:
#    * members --json (jq parses it) lists a member named exactly HN;
#    * submit --json and jobs --json (jq) carry the camera exactly HC;
#    * /metrics passes promtool (only known name lints) and
#      its meshwatch_peer_forecast_age_seconds sample for the peer has the
#      name label, unescaped by the exposition rules, exactly HN;
#    * the JSON event topic: every frame parses, a member event names HN
#      and job.done names HC; events_check.py finds every event as
#      docs/EVENTS.md says (both encodings);
#    * the members and jobs tables send no raw control character to the
#      terminal (the name and camera show escaped, cut to their columns);
#    * refused at the door, with the reason: a camera id that is not UTF-8,
#      one over 64 bytes; and NODE_NAME keeps its strict character set.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/jobs/jobs_lib.sh"
. "$SRC/tests/node/node_lib.sh"
jb_require_models
tb_hard_timeout 90 "$@"
tb_init hostile_strings_lo 81
TB_AGENT_WRAPPER=()
tb_require_mw
command -v promtool >/dev/null 2>&1 || tb_skip "promtool missing"
command -v curl >/dev/null 2>&1 || tb_skip "curl missing"
export HN=$'ev"il\\na\nme}{\x1b[1m'
export HC=$'cam "7" \\ x\n}{'
JP=$(( TB_PORTBASE + 100 )); MP=$(( TB_PORTBASE + 101 ))
tb_port_free "$JP" && tb_port_free "$MP" || tb_die "port $JP or $MP in use"
REC=$TB_DIR/events.rec
nd_record "$REC" "tcp://127.0.0.1:$(( TB_PORTBASE + 1 ))"   # n1's EVENTS_PORT (tb_start_agent_lo)
sleep 0.3
tb_start_agent_lo 1 "MODELS_DIR=$MODELS" "JOB_PORT=$JP" "METRICS_PORT=$MP" "ESCALATE_BELOW=0" "DEADLINE_MS=5000"
tb_wait_ready 1 20
STATE=$TB_DIR/n1/state
cli () { timeout 20 env "${TB_ENVU[@]}" "$TB_MW" "$@" --state-dir "$STATE"; }

echo "---- a peer name from the wire"
N1ID=$(cli status --json | jq -r .id)
[ ${#N1ID} = 16 ] || tb_fail "no node id from status --json: '$N1ID'"
#  Sealed for n1 (the envelope binds the receiver's id).
tb_bg "$JB_INJECT" --to "tcp://127.0.0.1:$(tb_mesh_port 1)" --to-id "$N1ID" --key "$TB_KEY" --name "$HN" \
    --count 300 --rate 10 hostile-name > "$TB_DIR/inject.out" 2>&1
named () { cli members --json | jq -e --arg n "$HN" 'map(select(.name == $n)) | length == 1' >/dev/null 2>&1; }
if tb_wait_until 10 named; then
    jb_pass "members --json parses and lists the hostile name intact ($TB_WAIT_MS ms)"
else
    jb_failc "members --json: no member named exactly HN: $(cli members --json 2>&1 | head -c 600)"
fi

echo "---- a camera id from the CLI"
out=$(cli submit --camera "$HC" --image "$DEMO/sample1.jpg" --deadline-ms 5000 --json 2>&1); rc=$?
if [ "$rc" = 0 ] && printf '%s' "$out" | jq -e --arg c "$HC" '.camera == $c and .state == "done"' >/dev/null 2>&1; then
    jb_pass "submit --json: done, camera intact"
else
    jb_failc "submit --json: rc=$rc $out"
fi
js=$(cli jobs --json)
if printf '%s' "$js" | jq -e --arg c "$HC" 'map(select(.camera == $c and .origin)) | length == 1' >/dev/null 2>&1; then
    jb_pass "jobs --json parses and lists the job with its camera intact"
else
    jb_failc "jobs --json: $js"
fi

echo "---- /metrics"
scrape () { curl -s --max-time 3 "http://127.0.0.1:$MP/metrics" > "$TB_DIR/metrics.txt" && grep -q '^meshwatch_peer_forecast_age_seconds{' "$TB_DIR/metrics.txt"; }
tb_wait_until 10 scrape || jb_failc "no peer sample in /metrics"
lint=$(promtool check metrics < "$TB_DIR/metrics.txt" 2>&1); prc=$?
#  Allowed: the seed's two camelCase names, and the job latency's unit
#  (milliseconds in the name: a known lint, renamed elsewhere).
other=$(printf '%s\n' "$lint" | grep -v -e '^node_memory_MemAvailable_bytes .*camelCase' \
        -e '^node_memory_MemTotal_bytes .*camelCase' -e '^meshwatch_job_latency_ms .*abbreviated units' -e '^$')
if [ -z "$other" ]; then
    jb_pass "promtool parses it; lints only the known names (rc=$prc)"
else
    jb_failc "promtool: $other"
fi
if "$TB_PY" - "$TB_DIR/metrics.txt" <<'PY'
import os, re, sys
want = os.environ["HN"]
found = []
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.startswith("meshwatch_peer_forecast_age_seconds{"):
        continue
    labels, i, s = {}, line.index("{") + 1, line
    while s[i] != "}":
        eq = s.index("=", i)
        name, i = s[i:eq], eq + 2          # skip ="
        v = []
        while s[i] != '"':
            if s[i] == "\\":
                i += 1
                v.append({"n": "\n", "\\": "\\", '"': '"'}[s[i]])
            else:
                v.append(s[i])
            i += 1
        labels[name] = "".join(v)
        i += 1
        if s[i] == ",":
            i += 1
    found.append(labels.get("name"))
sys.exit(0 if want in found else 1)
PY
then jb_pass "/metrics: the peer's name label unescapes to the hostile name exactly"
else jb_failc "/metrics: no sample whose name label is HN: $(grep '^meshwatch_peer_forecast_age_seconds{' "$TB_DIR/metrics.txt" | head -3)"
fi

echo "---- terminal tables"
cli members > "$TB_DIR/members.txt" 2>&1
cli jobs > "$TB_DIR/jobs.txt" 2>&1
if ! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$TB_DIR/members.txt" "$TB_DIR/jobs.txt" &&
   grep -qF 'ev"il\\na\nme}{\x1b' "$TB_DIR/members.txt" && grep -qF 'cam "7" \\ x' "$TB_DIR/jobs.txt"; then
    jb_pass "members and jobs tables: names escaped, no raw control character"
else
    jb_failc "tables: $(od -c "$TB_DIR/members.txt" | head -20)"
fi

echo "---- refused at the door"
out=$(cli submit --camera $'cam\xff' --image "$DEMO/sample1.jpg" 2>&1); rc=$?
[ "$rc" = 1 ] && [[ $out == *"camera id"* ]] && jb_pass "camera id not UTF-8 refused: $out" || jb_failc "non-UTF-8 camera: rc=$rc $out"
long=$(printf 'c%.0s' $(seq 1 65))
out=$(cli submit --camera "$long" --image "$DEMO/sample1.jpg" 2>&1); rc=$?
[ "$rc" = 1 ] && [[ $out == *"camera id"* ]] && jb_pass "65-byte camera id refused: $out" || jb_failc "long camera: rc=$rc $out"
out=$(timeout 10 env "${TB_ENVU[@]}" "$TB_MW" agent --cluster-key "$TB_KEY" --node-name 'bad"name' --mesh-addr 127.0.0.1 \
      --mesh-port $(( TB_PORTBASE + 110 )) --events-port 0 --state-dir "$TB_DIR/bad" 2>&1); rc=$?
[ "$rc" = 2 ] && [[ $out == *NODE_NAME* ]] && jb_pass "NODE_NAME with a quote refused: $out" || jb_failc "NODE_NAME: rc=$rc $out"

echo "---- the JSON event topic"
sleep 0.5
nd_record_stop
if "$TB_PY" - "$REC" <<'PY'
import json, os, sys
hn, hc = os.environ["HN"], os.environ["HC"]
named = done = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if not r["topic"].startswith("json."):
        continue
    e = json.loads(bytes.fromhex(r["body"]).decode("utf-8"))   # raises if a frame is broken
    named += r["topic"].startswith("json.member.") and e.get("name") == hn
    done += r["topic"] == "json.job.done" and e.get("camera") == hc
print("  member events naming HN: %d, job.done with HC: %d" % (named, done))
sys.exit(0 if named and done == 1 else 1)
PY
then jb_pass "JSON events parse; the member events carry HN, job.done carries HC, intact"
else jb_failc "JSON event topic"
fi
if "$TB_PY" "$SRC/tests/node/events_check.py" --doc "$SRC/docs/EVENTS.md" --require member.join --require job.done "$REC"; then
    jb_pass "every recorded event matches docs/EVENTS.md"
else
    jb_failc "recorded events differ from docs/EVENTS.md"
fi
tb_alive_pid 1 && jb_pass "agent alive" || jb_failc "agent died"
jb_finish
