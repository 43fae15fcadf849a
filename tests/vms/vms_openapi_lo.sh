#!/usr/bin/env bash
#  vms_openapi_lo: the API's OpenAPI document is valid and complete.
#
#  A loopback agent with the API.  GET /api/v1/openapi.json (with a token)
#  is byte for byte docs/openapi.json (built into the binary), has an
#  ETag and answers 304 to it; @apidevtools/swagger-cli (from the npm
#  registry, cached under .cache/npm-tools by tests/vms/openapi-tool.sh;
#  an install that fails fails this test) validates it as OpenAPI 3.  Every
#  operation it documents is served by the running agent: each path (with
#  {id} = cam7) and method answers something other than 404 or 405.  The
#  other direction - every route of the code's table is documented, with
#  its method - is node/api_selftest's check.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/vms/vms_lib.sh"
tb_hard_timeout 150 "$@"
tb_init vms_openapi_lo 33
tb_require_mw
command -v curl >/dev/null || tb_skip "curl missing"
TOOL=$(sh "$SRC/tests/vms/openapi-tool.sh") || { tb_log "ERROR: no OpenAPI validator (see above)"; exit 99; }
AP=$(( TB_PORTBASE + 100 ))
tb_port_free "$AP" || tb_die "port $AP in use"
API="http://127.0.0.1:$AP"
tb_start_agent_lo 1 "API_PORT=$AP"
tb_wait_ready 1 20
TOK=$(vm_token 1 vms)

st=$(vm_get "$API/api/v1/openapi.json" "$TOK")
cp "$TB_DIR/vm.body" "$TB_DIR/served.json"
[ "$st" = 200 ] && cmp -s "$TB_DIR/served.json" "$SRC/docs/openapi.json" &&
    vm_pass "GET /api/v1/openapi.json is docs/openapi.json ($(wc -c < "$TB_DIR/served.json") bytes)" ||
    vm_failc "served document ($st) differs from docs/openapi.json"
etag=$(curl -s -m 5 -D - -o /dev/null -H "Authorization: Bearer $TOK" "$API/api/v1/openapi.json" | tr -d '\r' |
       sed -n 's/^ETag: //Ip')
[ "$(vm_get "$API/api/v1/openapi.json" "$TOK" -H "If-None-Match: $etag")" = 304 ] &&
    vm_pass "and 304 to its ETag" || vm_failc "no 304 for the document's ETag"
[ "$(vm_get "$API/api/v1/openapi.json" "")" = 401 ] && vm_pass "the document needs a token too" ||
    vm_failc "the document without a token"
if out=$("$TOOL" validate "$TB_DIR/served.json" 2>&1); then
    vm_pass "swagger-cli validate: $out"
else
    vm_failc "swagger-cli validate: $out"
fi

echo "---- every documented operation is served"
ops=$(jq -r '.paths | to_entries[] | .key as $p | .value | keys[] | select(. != "parameters") | "\(ascii_upcase) \($p)"' \
      "$TB_DIR/served.json")
n=0
while read -r method path; do
    [ -n "$method" ] || continue
    n=$(( n + 1 ))
    url="$API${path//\{id\}/cam7}"
    args=(-X "$method")
    [ "$method" = POST ] || [ "$method" = PUT ] && args+=(-H 'Content-Type: application/json' -d '{"result":"1"}')
    [ "$path" = /api/v1/events/stream ] && args+=(-m 1)
    st=$(vm_get "$url" "$TOK" "${args[@]}")
    #  A route's own 404 about the id it was given (no camera "cam7") is an
    #  answer from the route, not a missing route.
    [ "$st" = 404 ] && vm_has '.detail | test("cam7")' && continue
    case $st in
        404|405|000) [ "$path" = /api/v1/events/stream ] && [ "$st" = 000 ] && continue
                     vm_failc "$method $path -> $st: documented but not served" ;;
    esac
done <<<"$ops"
[ "$n" -ge 15 ] && vm_pass "$n documented operations, each served (none answered 404/405)" ||
    vm_failc "only $n operations documented"
vm_finish
