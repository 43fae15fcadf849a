#!/usr/bin/env bash
#  vms_api_lo: the HTTP API's doors - tokens, errors, limits, conditional
#  GETs, the routes other modules own, TLS.
#
#  Agent 1 (loopback) with API_PORT, a 4 KiB body limit, at most 64
#  connections per client address and a 5 s idle timeout:
#    - GET /api/v1/health answers without a token; every other route needs
#      one: none, a forged one and a revoked one get 401 (JSON, WWW-
#      Authenticate); a read-only token reads but gets 403 on POST;
#    - a malformed JSON body gets 400 naming the problem, a missing field
#      400 naming the field, a 5 KiB body 413, a text body 415;
#    - GET /api/v1/state has an ETag; If-None-Match gets 304 until the
#      state changes (a member joins), then 200 with a new ETag;
#    - agent 1's GET /api/v1/boxes lists agent 2 with agent 2's API address
#      (from its digest), and that address answers as agent 2;
#    - an unknown path 404, a wrong method 405 with Allow, the camera
#      camera routes answer (empty registry, unknown camera), all as {error, detail};
#    - 1,000 idle connections (from 20 client addresses) are accepted and do
#      not stop a normal client: 20 GETs each answered in under 1 s; the
#      idle ones are closed after the idle timeout; from one address at
#      most 64 are served;
#  Agent 2 serves its API over TLS (a self-signed certificate made here):
#  curl with that certificate as CA gets 200, plain HTTP to it gets nothing.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/vms/vms_lib.sh"
tb_hard_timeout 120 "$@"
tb_init vms_api_lo 32
tb_require_mw
command -v curl >/dev/null || tb_skip "curl missing"
command -v openssl >/dev/null || tb_die "openssl missing (scripts/install-deps.sh)"
AP=$(( TB_PORTBASE + 100 )) AP2=$(( TB_PORTBASE + 101 )) AP3=$(( TB_PORTBASE + 102 ))
for p in "$AP" "$AP2" "$AP3"; do tb_port_free "$p" || tb_die "port $p in use"; done
API="http://127.0.0.1:$AP"
#  API_BIND=mesh: on MESH_ADDR (127.0.0.1 here), announced in the digest.
tb_start_agent_lo 1 "API_PORT=$AP" "API_BIND=mesh" "API_MAX_BODY=4096" "API_MAX_PER_IP=64" "API_TIMEOUT_S=5"
tb_wait_ready 1 20
RW=$(vm_token 1 vms)
RO=$(vm_token 1 dashboard --read-only)
GONE=$(vm_token 1 old)
tb_cli 1 token revoke --name old --state-dir "$(tb_state_dir 1)" >/dev/null || vm_failc "token revoke"
ok () { if [ "$1" = "$2" ]; then vm_pass "$3 -> $1"; else vm_failc "$3 -> $1 (want $2): $(vm_body)"; fi; }
has () { if vm_has "$1"; then vm_pass "$2"; else vm_failc "$2: $(vm_body)"; fi; }

echo "---- tokens"
ok "$(vm_get "$API/api/v1/health" "")" 200 "GET /api/v1/health without a token"
ok "$(vm_get "$API/api/v1/state" "")" 401 "GET /api/v1/state without a token"
has '.error == "unauthorized" and (.detail | length > 0)' "401 is {error, detail}"
hdr=$(curl -s -m 5 -D - -o /dev/null "$API/api/v1/state")
grep -qi '^WWW-Authenticate: Bearer' <<<"$hdr" && vm_pass "401 says WWW-Authenticate: Bearer" ||
    vm_failc "no WWW-Authenticate on 401"
ok "$(vm_get "$API/api/v1/state" "mwt_${RW:4:20}forgedforgedforgedforged")" 401 "a forged token"
ok "$(vm_get "$API/api/v1/state" "$GONE")" 401 "a revoked token"
ok "$(vm_get "$API/api/v1/events/stream?access_token=$GONE" "")" 401 "a revoked token in ?access_token="
ok "$(vm_get "$API/api/v1/state" "$RO")" 200 "a read-only token reads"
ok "$(vm_get "$API/api/v1/env" "$RO" -X POST -H 'Content-Type: application/json' -d '{"result":"4"}')" 403 \
    "a read-only token POSTs"
has '.error == "forbidden"' "403 is {error, detail}"
ok "$(vm_get "$API/api/v1/env" "$RW" -X POST -H 'Content-Type: application/json' -d '{"result":"4"}')" 202 \
    "a read-write token POSTs"
has '.id | test("^[0-9]+-[0-9]+$")' "202 carries the event's id"

echo "---- bodies"
ok "$(vm_get "$API/api/v1/env" "$RW" -X POST -H 'Content-Type: application/json' -d '{"result": "4",}')" 400 \
    "malformed JSON"
has '.error == "bad_request" and (.detail | test("not valid JSON"))' "400 names the problem ($(jq -r .detail "$TB_DIR/vm.body"))"
ok "$(vm_get "$API/api/v1/env" "$RW" -X POST -H 'Content-Type: application/json' -d '{"res":"4"}')" 400 \
    "a body without result"
has '.detail | test("result")' "400 names the field"
ok "$(vm_get "$API/api/v1/env" "$RW" -X POST -H 'Content-Type: application/json' -d '{"result":"12345"}')" 400 \
    "a result out of range"
big=$(head -c 5000 /dev/zero | tr '\0' ' ')
ok "$(vm_get "$API/api/v1/env" "$RW" -X POST -H 'Content-Type: application/json' -d "{\"result\":\"4\"$big}")" 413 \
    "a 5 KiB body (API_MAX_BODY=4096)"
ok "$(vm_get "$API/api/v1/env" "$RW" -X POST -H 'Content-Type: text/plain' -d 'result=4')" 415 "a text body"
hbig=$(head -c 40000 /dev/zero | tr '\0' 'a')
st=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "X-Big: $hbig" "$API/api/v1/health")
[[ $st == 4* ]] && vm_pass "a 40 KB header -> $st" || vm_failc "a 40 KB header -> $st"

echo "---- conditional GETs"
tb_wait_until 5 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $RW' $API/api/v1/state) = 200 ]"
#  The state carries each box's load digest, which moves with the box's
#  readings: on a loaded machine it can change between two requests.  So:
#  a fresh ETag, then at once the conditional GET; 304 in one of 5 tries.
st304=""
for _try in 1 2 3 4 5; do
    etag=$(curl -s -m 5 -D - -o /dev/null -H "Authorization: Bearer $RW" "$API/api/v1/state" | tr -d '\r' |
           sed -n 's/^ETag: //Ip')
    [ -n "$etag" ] || continue
    st304=$(vm_get "$API/api/v1/state" "$RW" -H "If-None-Match: $etag")
    [ "$st304" = 304 ] && break
done
[ -n "$etag" ] && vm_pass "GET /api/v1/state has an ETag ($etag)" || vm_failc "no ETag"
ok "$st304" 304 "If-None-Match with it (state unchanged; try $_try of 5)"
tb_start_agent_lo 2 "API_PORT=$AP3" "API_BIND=mesh"
tb_wait_until 20 tb_all_alive 1 2 || tb_fail "agents 1 and 2 did not converge"
changed () { [ "$(vm_get "$API/api/v1/state" "$RW" -H "If-None-Match: $etag")" = 200 ]; }
tb_wait_until 5 changed && vm_pass "after agent 2 joined: 200 and a new document" || vm_failc "still 304 after a join"
has '.members | length == 2' "the new state lists both members"
ok "$(vm_get "$API/api/v1/boxes" "$RO")" 200 "GET /api/v1/boxes"
has '(.boxes | length == 2) and (.boxes | map(select(.self)) | length == 1)' "boxes: both, one of them self"
#  A VMS that knows one box finds the others: agent 2's API address comes
#  from its digest, and answers as agent 2.
ID2=$(tb_id 2)
api2 () { [ "$(vm_get "$API/api/v1/boxes" "$RO")" = 200 ] &&
          [ "$(jq -r ".boxes[] | select(.id == \"$ID2\") | .api" "$TB_DIR/vm.body")" = "http://127.0.0.1:$AP3" ]; }
tb_wait_until 10 api2 && vm_pass "agent 1's /boxes gives agent 2's API: http://127.0.0.1:$AP3" ||
    vm_failc "agent 2's API address not in agent 1's /boxes: $(vm_body)"
ok "$(vm_get "http://127.0.0.1:$AP3/api/v1/health" "")" 200 "agent 2's API found that way"
has ".node == \"$ID2\"" "it is agent 2 ($ID2)"

echo "---- routes"
ok "$(vm_get "$API/api/v1/nothing" "$RW")" 404 "an unknown path"
has '.error == "not_found"' "404 is {error, detail}"
ok "$(vm_get "$API/api/v1/state" "$RW" -X DELETE)" 405 "DELETE /api/v1/state"
#  The camera module is in the build (tests/camera/ingest_lo.sh tries its
#  routes on real streams): an empty registry, an unknown camera.
ok "$(vm_get "$API/api/v1/cameras" "$RW")" 200 "GET /api/v1/cameras (the camera registry, empty)"
has 'type == "array" and length == 0' "an empty array"
ok "$(vm_get "$API/api/v1/cameras/cam7/latest.jpg" "$RW")" 404 "GET /api/v1/cameras/cam7/latest.jpg (no such camera)"
ok "$(vm_get "$API/api/v1/focus" "$RW" -X POST -H 'Content-Type: application/json' -d '{"camera":"cam7"}')" 400 \
    "POST /api/v1/focus at an unknown camera"
has '.error == "bad_request" and (.detail | test("cam7"))' "400 names the camera"
ok "$(vm_get "$API/api/v1/jobs" "$RW")" 501 "GET /api/v1/jobs on a box with JOB_PORT=0"
ok "$(vm_get "$API/api/v1/events?after=1-1" "$RW")" 410 "a cursor of another epoch"
has '.error == "gone"' "410 is {error, detail}"

echo "---- 1,000 idle connections"
fd0=$(ls /proc/"$(tb_pid 1)"/fd | wc -l)
if out=$("$TB_PY" "$SRC/tests/vms/idle_conns.py" --port "$AP" --token-file "$TB_DIR/token-vms" --conns 1000 \
         --sources 20 --hold-s 8 --per-ip-probe 100); then
    vm_pass "$(echo "$out" | sed -n 2p)"
else
    vm_failc "$(echo "$out" | tr '\n' ' ')"
fi
closed=$(echo "$out" | sed -n 's/after 8 s idle: \([0-9]*\) of \([0-9]*\) closed.*/\1 \2/p')
[ -n "$closed" ] && [ "${closed% *}" -ge $(( ${closed#* } * 9 / 10 )) ] &&
    vm_pass "idle connections closed by the 5 s timeout: $closed" || vm_failc "idle timeout: $(echo "$out" | tail -1)"
served=$(echo "$out" | sed -n 's/per-address: \([0-9]*\) connections from one address, \([0-9]*\) answered/\2/p')
[ -n "$served" ] && [ "$served" -le 64 ] && [ "$served" -ge 32 ] &&
    vm_pass "from one address: $served of 100 served (API_MAX_PER_IP=64)" || vm_failc "per-address cap: $served"
sleep 1
fd1=$(ls /proc/"$(tb_pid 1)"/fd | wc -l)
[ "$fd1" -le $(( fd0 + 20 )) ] && vm_pass "descriptors back to $fd1 (were $fd0)" || vm_failc "fds $fd0 -> $fd1"
tb_alive_pid 1 && ok "$(vm_get "$API/api/v1/health" "")" 200 "agent 1 serves after it all"

echo "---- TLS"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TB_DIR/api.key" -out "$TB_DIR/api.crt" -days 2 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1 || tb_die "openssl"
chmod 600 "$TB_DIR/api.key"
tb_start_agent_lo 3 "API_PORT=$AP2" "API_TLS_CERT=$TB_DIR/api.crt" "API_TLS_KEY=$TB_DIR/api.key"
tb_wait_ready 3 20
T3=$(vm_token 3 vms3)
ok "$(vm_get "https://127.0.0.1:$AP2/api/v1/state" "$T3" --cacert "$TB_DIR/api.crt")" 200 \
    "HTTPS with the box's certificate"
st=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AP2/api/v1/health")
[ "$st" != 200 ] && vm_pass "plain HTTP to the TLS port: no answer ($st)" || vm_failc "plain HTTP served on TLS"
st=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$AP2/api/v1/health")
[ "$st" = 000 ] && vm_pass "an unknown certificate is refused by curl" || vm_failc "curl accepted the certificate: $st"
vm_finish
