# shellcheck shell=bash
#  =========================================================================
#  election_lib.sh - helpers for the coordinator election scenarios
#  (tests/mesh/election_*.sh) and the benchmark (tests/bench/election.sh).
#  Sourced after testbed.sh and scenarios.sh.  Every fault goes into a
#  timeline ($TB_DIR/timeline) that election_check.py reads with the logs.
#
#  Bounds (ms; docs/ELECTION.md states them):
#    EL_FAILOVER_BOUND  1000  fault -> every survivor logged one new coordinator
#    EL_REJOIN_BOUND   12000  restart/thaw/relink -> all name one coordinator,
#                              the old one a follower (SWIM must re-admit it)
#    EL_HEAL_BOUND     12000  partition healed -> exactly one coordinator
#  =========================================================================
EL_FAILOVER_BOUND=${EL_FAILOVER_BOUND:-1000}
EL_REJOIN_BOUND=${EL_REJOIN_BOUND:-12000}
EL_HEAL_BOUND=${EL_HEAL_BOUND:-12000}

el_tl () { echo "$(tb_now_ms) $*" >> "$TB_DIR/timeline"; }
el_tl_nodes () { local i; for i in "$@"; do el_tl node "$i" "$(tb_id "$i")"; done; }

#  "coordinator role term" of node I, from its status (empty on no answer).
el_state () { tb_status "$1" | jq -r '"\(.coordinator // "none") \(.role) \(.term)"' 2>/dev/null; }

#  el_agreed NODE... : true when every node answers, all name the same
#  coordinator, and exactly one of them (or none, if the coordinator is not
#  among NODE) holds the role.  Sets EL_COORD (id) and EL_TERM.
EL_COORD=""; EL_TERM=""
el_agreed () {
    local i s c="" roles=0 st cid term t=""
    local -a out
    for i in "$@"; do
        s=$(el_state "$i") || return 1
        read -r cid st term <<<"$s"
        [ -n "$cid" ] && [ "$cid" != none ] && [ "$cid" != null ] || return 1
        [ -z "$c" ] || [ "$c" = "$cid" ] || return 1
        [ -z "$t" ] || [ "$t" = "$term" ] || return 1
        c=$cid; t=$term
        [ "$st" = coordinator ] && roles=$(( roles + 1 ))
        out+=("$i")
    done
    [ "$roles" -le 1 ] || return 1
    EL_COORD=$c; EL_TERM=$t
}
#  el_own_new TERM0 NODE... : NODE... agree on a coordinator that is one
#  of them, with a term above TERM0: a side's OWN, NEW ballot.  (After a
#  split the side without the coordinator still names the old one until
#  its lease lapses; "they agree" alone is true at once, from stale state.)
el_own_new () {
    local t0=$1; shift
    el_agreed "$@" && el_index_of "$EL_COORD" "$@" >/dev/null && [ "$EL_TERM" -gt "$t0" ]
}
#  Index of the node whose id is ID among NODE...
el_index_of () { local id=$1 i; shift; for i in "$@"; do [ "$(tb_id "$i")" = "$id" ] && { echo "$i"; return 0; }; done; return 1; }

#  el_log_named TERM T0_MS NODE... : ms from T0 until the last of NODE...
#  logged coordinator_elected for TERM (from the agents' logs, so a slow
#  CLI on a loaded box does not count); empty if one has not.
el_log_named () {
    local term=$1 t0=$2 i files=(); shift 2
    for i in "$@"; do files+=("$(tb_log_file "$i")"); done
    python3 - "$term" "$t0" "${files[@]}" <<'PY'
import sys, re, datetime
term, t0 = sys.argv[1], int(sys.argv[2])
worst = -1
for path in sys.argv[3:]:
    best = None
    for line in open(path, errors="replace"):
        if "event=coordinator_elected" in line and (" term=%s " % term) in line:
            m = re.match(r"ts=(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z", line)
            y, mo, d, h, mi, s, ms = map(int, m.groups())
            t = int(datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc).timestamp()) * 1000 + ms
            if t >= t0 - 5 and (best is None or t < best):
                best = t
    if best is None:
        sys.exit(0)
    worst = max(worst, best - t0)
print(max(worst, 0))
PY
}

#  el_wait_new OLD_ID BOUND_MS MAXWAIT_S LABEL NODE... : wait until NODE...
#  agree on a coordinator other than OLD_ID; the time is taken from the
#  agents' logs (fault -> the last survivor logged the new coordinator)
#  and checked against the bound.  Sets EL_TOOK.
el_wait_new () {
    local old=$1 bound=$2 maxw=$3 label=$4; shift 4
    local t0=${EL_T0:-$(tb_now_ms)}
    _el_new () { el_agreed "$@" && [ "$EL_COORD" != "$old" ]; }
    if tb_wait_until "$maxw" _el_new "$@"; then
        local took; took=$(el_log_named "$EL_TERM" "$t0" "$@")
        [ -n "$took" ] || took=$(( $(tb_now_ms) - t0 ))
        EL_TOOK=$took
        if [ "$took" -le "$bound" ]; then echo "PASS  $label: $took ms by the logs (bound $bound ms) -> $EL_COORD term $EL_TERM"; return 0; fi
        echo "FAIL  $label: $took ms > bound $bound ms"
    else
        echo "FAIL  $label: not reached within $maxw s"
    fi
    SC_RESULT=1; return 1
}

#  Run the log checker over every node's log with the timeline.
el_check_logs () {
    local i files=()
    for i in "${!TB_KIND[@]}"; do files+=("$(tb_log_file "$i")"); done
    if python3 "$SRC/tests/mesh/election_check.py" --grace "${EL_GRACE_MS:-900}" --timeline "$TB_DIR/timeline" "${files[@]}"; then
        echo "PASS  log checker: no ballot claimed twice, no coexistence beyond one election timeout"
    else
        echo "FAIL  log checker"; SC_RESULT=1
    fi
}
