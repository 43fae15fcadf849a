# shellcheck shell=bash
#  =========================================================================
#  vms_lib.sh - helpers of the VMS interface tests (tests/vms/): tokens,
#  API addresses, pass/fail lines.  Sourced after tests/lib/testbed.sh.
#  Net ids 30-34 (docs/TESTBED.md).
#  =========================================================================
VM_RESULT=0
vm_pass () { echo "PASS  $*"; }
vm_failc () { echo "FAIL  $*"; VM_RESULT=1; }
vm_finish () {
    if [ "$VM_RESULT" = 0 ]; then echo "RESULT: PASS ($TB_NAME, $SECONDS s)"; exit 0; fi
    echo "RESULT: FAIL ($TB_NAME, $SECONDS s)"
    TB_FAILED=1
    TB_DUMP_LINES=${TB_DUMP_LINES:-25} tb_dump_logs
    exit 1
}

#  vm_token I NAME [--read-only]: a new API token of agent I, its text on
#  stdout (also kept in $TB_DIR/token-NAME).
vm_token () {
    local i=$1 name=$2; shift 2
    local t
    t=$(tb_cli "$i" token create --name "$name" "$@" --state-dir "$(tb_state_dir "$i")" --json | jq -r .token)
    [[ $t == mwt_* ]] || tb_die "token create $name on agent $i failed"
    printf '%s\n' "$t" > "$TB_DIR/token-$name"
    chmod 600 "$TB_DIR/token-$name"
    echo "$t"
}

#  vm_get URL TOKEN [CURL ARGS...]: the HTTP status on stdout; the body in
#  the file $TB_DIR/vm.body (vm_body prints it): a file, because callers run
#  vm_get in $(...), where a variable set would be lost.
vm_get () {
    local url=$1 tok=$2; shift 2
    curl -s -m 10 -o "$TB_DIR/vm.body" -w '%{http_code}' ${tok:+-H "Authorization: Bearer $tok"} "$@" "$url"
}
vm_body () { cat "$TB_DIR/vm.body" 2>/dev/null; }
#  vm_has JQ: true when the last body is JSON and JQ holds on it (an empty
#  body never passes: jq -e alone would call "no input" a success).
vm_has () { [ -s "$TB_DIR/vm.body" ] && jq -e "$1" "$TB_DIR/vm.body" >/dev/null 2>&1; }

#  vm_log_last URL TOKEN: the last seq committed in a box's log (its API).
vm_log_last () {
    curl -s -m 5 -H "Authorization: Bearer $2" "$1/api/v1/events?limit=1" | jq -r '.last // 0' 2>/dev/null
}

#  vm_out_last FILE: the highest seq in a subscriber's output (0: none).
vm_out_last () {
    "$TB_PY" - "$1" <<'PY'
import json, sys
hi = 0
try:
    for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        hi = max(hi, d.get("seq", 0))
except FileNotFoundError:
    pass
print(hi)
PY
}
