# shellcheck shell=bash
#  =========================================================================
#  scenarios.sh - acceptance scenarios shared by the namespace (ns) and
#  loopback (lo) variants.  Sourced by tests/mesh/*.sh after testbed.sh.
#
#  Bounds (seconds; docs/TESTBED.md states them; env can loosen them for a
#  slow machine, never in CI):
#    TB_JOIN_BOUND    5   agents started -> every view lists all N alive
#    TB_DEAD_BOUND    8   failure -> every survivor lists the victim dead
#    TB_REFUTE_BOUND  8   victim back -> alive everywhere, higher incarnation
#  =========================================================================
TB_JOIN_BOUND=${TB_JOIN_BOUND:-5}
TB_DEAD_BOUND=${TB_DEAD_BOUND:-8}
TB_REFUTE_BOUND=${TB_REFUTE_BOUND:-8}
SC_RESULT=0

#  sc_check LABEL BOUND_S MAXWAIT_S CMD...: wait for CMD (up to MAXWAIT_S, so
#  that a slow success is still measured), print the time, and record a
#  failure if it took longer than BOUND_S or never happened.
sc_check () {
    local label=$1 bound=$2 maxwait=$3; shift 3
    if tb_wait_until "$maxwait" "$@"; then
        if [ "$TB_WAIT_MS" -le $(( bound * 1000 )) ]; then
            echo "PASS  $label: $(tb_secs "$TB_WAIT_MS") s (bound $bound s)"
            return 0
        fi
        echo "FAIL  $label: $(tb_secs "$TB_WAIT_MS") s > bound $bound s"
    else
        echo "FAIL  $label: not reached within $maxwait s"
    fi
    SC_RESULT=1
    return 1
}
#  sc_check_ev T0_MS LABEL BOUND_S MAXWAIT_S EVENTS "PEERS" "VIEWERS" CMD...
#  Poll CMD (the views) until it holds; then take the time the views really
#  reached that state from the agents' log lines (tb_last_event_ms: the last
#  EVENTS line per viewer/peer pair), which the poll loop and slow CLI calls
#  cannot blur.  Pass when that time is within BOUND_S.  Both are printed.
#  SC_STRICT=1 (default): every viewer/peer pair must have such a line (the
#  state changed for all of them); SC_STRICT=0 for "all alive" checks where
#  most pairs were already alive before T0.
sc_check_ev () {
    local t0=$1 label=$2 bound=$3 maxwait=$4 events=$5 peers=$6 viewers=$7; shift 7
    tb_wait_until "$maxwait" "$@"
    local ok=$? t1; t1=$(tb_now_ms)
    local seen=$(( t1 - t0 ))
    if [ $ok != 0 ]; then
        echo "FAIL  $label: not reached within $(tb_secs "$seen") s"
        TB_WAIT_MS=$seen; SC_RESULT=1; return 1
    fi
    local r lm miss; r=$(tb_last_event_ms "$t0" "$t1" "$events" "$peers" "$viewers")
    lm=${r% *}; miss=${r#* }
    if [ -z "$lm" ] || { [ "${SC_STRICT:-1}" = 1 ] && [ "$miss" != 0 ]; }; then
        #  Some pair changed without a log line: fall back to the poll time.
        echo "note  $label: $miss viewer/peer pairs without a ${events} log line; using the poll time"
        lm=$seen
    fi
    TB_WAIT_MS=$lm
    if [ "$lm" -le $(( bound * 1000 )) ]; then
        echo "PASS  $label: $(tb_secs "$lm") s by the agents' logs, seen by polling at $(tb_secs "$seen") s (bound $bound s)"
        return 0
    fi
    echo "FAIL  $label: $(tb_secs "$lm") s by the agents' logs (seen at $(tb_secs "$seen") s) > bound $bound s"
    SC_RESULT=1
    return 1
}

sc_finish () {
    if [ "$SC_RESULT" = 0 ]; then
        echo "RESULT: PASS ($TB_NAME)"
        exit 0
    fi
    echo "RESULT: FAIL ($TB_NAME)"
    tb_show_views "$@"
    TB_FAILED=1
    tb_dump_logs
    exit 1
}

#  Start an N-node cluster of KIND (ns|lo) and wait for convergence;
#  prints the join time.  Sets SC_NODES.
sc_start_cluster () {
    local kind=$1 n=$2 i
    tb_require_mw
    SC_NODES=$(seq 1 "$n" | tr '\n' ' ')
    if [ "$kind" = ns ]; then
        tb_require_netns
        tb_bridge
        for i in $SC_NODES; do tb_host "$i"; done
    fi
    #  Optional hook: the test's own setup before any agent starts.
    [ -n "${SC_PRE_AGENTS:-}" ] && "$SC_PRE_AGENTS"
    local tl; tl=$(tb_now_ms)
    for i in $SC_NODES; do
        if [ "$kind" = ns ]; then tb_start_agent "$i"; else tb_start_agent_lo "$i"; fi
    done
    #  The join bound is the mesh's: it runs from the moment the last agent is
    #  up (its agent_started line), so slow process start-up on a loaded CI box
    #  (key generation, sqlite, fsync) does not count; it is printed apart.
    # shellcheck disable=SC2086
    tb_wait_until 30 tb_last_line_ms agent_started $SC_NODES >/dev/null ||
        { echo "FAIL  not every agent logged agent_started within 30 s"; SC_RESULT=1; sc_finish $SC_NODES; }
    local t0; t0=$(tb_last_line_ms agent_started $SC_NODES)
    echo "info  start-up: first launch -> last agent_started $(tb_secs $(( t0 - tl ))) s"
    # shellcheck disable=SC2086
    SC_STRICT=0 sc_check_ev "$t0" "join: all $n agents up -> every view lists all $n alive" \
        "$TB_JOIN_BOUND" $(( TB_JOIN_BOUND * 4 )) member_join,member_alive "$SC_NODES" "$SC_NODES" \
        tb_all_alive $SC_NODES ||
        { tb_view_problems $SC_NODES | head -20; sc_finish $SC_NODES; }
}

#  Survivors = SC_NODES minus the victim.
sc_survivors () { local v=$1 i out=""; for i in $SC_NODES; do [ "$i" = "$v" ] || out="$out $i"; done; echo "$out"; }

#  Lowest incarnation of V over the survivors' views (for the "higher
#  incarnation" check).
sc_min_inc () {
    local v=$1 i inc min=""; shift
    for i in "$@"; do
        inc=$(tb_incarnation "$i" "$v"); [ -n "$inc" ] || return 1
        if [ -z "$min" ] || [ "$inc" -lt "$min" ]; then min=$inc; fi
    done
    echo "$min"
}
#  Every viewer lists V alive with incarnation > INC.
sc_all_alive_above () {
    local v=$1 inc0=$2 i inc; shift 2
    for i in "$@"; do
        [ "$(tb_state "$i" "$v")" = alive ] || return 1
        inc=$(tb_incarnation "$i" "$v"); [ -n "$inc" ] && [ "$inc" -gt "$inc0" ] || return 1
    done
}
#  Victim's own incarnation from its status.
sc_self_inc () { tb_stat "$1" .incarnation; }

# ---- scenario: join ------------------------------------------------------
sc_join () {
    local kind=$1 n=${2:-5}
    echo "CHECK: $n agents ($kind) with only a cluster key$([ "$kind" = ns ] && echo ' + MESH_INTERFACE (beacon discovery, no JOIN)' || echo ' + JOIN seed on 127.0.0.1')"
    echo "       -> every view lists all $n alive within $TB_JOIN_BOUND s"
    sc_start_cluster "$kind" "$n"
    #  And it stays that way for a few seconds (no flapping right after join).
    local i bad=0
    for i in 1 2 3 4 5 6; do
        # shellcheck disable=SC2086
        tb_all_alive $SC_NODES || { bad=1; break; }
        sleep 0.5
    done
    if [ $bad = 0 ]; then echo "PASS  stable: all alive for 3 s after convergence"
    else echo "FAIL  views changed after convergence:"; tb_view_problems $SC_NODES; SC_RESULT=1; fi
    # shellcheck disable=SC2086
    sc_finish $SC_NODES
}

# ---- scenario: kill -9 and restart ---------------------------------------
sc_kill9 () {
    local kind=$1 n=${2:-5} v=${3:-3}
    echo "CHECK: kill -9 one of $n agents ($kind) -> every survivor lists it dead within $TB_DEAD_BOUND s;"
    echo "       restart with the same STATE_DIR -> alive everywhere, same id, higher incarnation, within $TB_REFUTE_BOUND s"
    sc_start_cluster "$kind" "$n"
    local surv; surv=$(sc_survivors "$v")
    local id_before inc_before
    id_before=$(tb_id "$v")
    # shellcheck disable=SC2086
    inc_before=$(sc_min_inc "$v" $SC_NODES) || inc_before=$(sc_self_inc "$v")
    echo "victim n$v id=$id_before incarnation=$inc_before"
    local t0; t0=$(tb_now_ms)
    tb_kill9 "$v"
    # shellcheck disable=SC2086
    sc_check_ev "$t0" "kill -9 n$v -> dead in all survivors" "$TB_DEAD_BOUND" $(( TB_DEAD_BOUND * 5 )) \
        member_dead "$v" "$surv" tb_all_see "$v" dead $surv
    # shellcheck disable=SC2086
    tb_show_views $surv
    t0=$(tb_now_ms)
    tb_forget_id "$v"
    tb_restart_agent "$v"
    tb_wait_until 10 tb_id "$v" >/dev/null || { echo "FAIL  restarted n$v never answered"; SC_RESULT=1; sc_finish $SC_NODES; }
    local id_after; id_after=$(tb_id "$v")
    if [ "$id_after" = "$id_before" ]; then echo "PASS  restart kept the node id ($id_after)"
    else echo "FAIL  restart changed the node id: $id_before -> $id_after"; SC_RESULT=1; fi
    # shellcheck disable=SC2086
    sc_check_ev "$t0" "restart n$v -> alive everywhere with incarnation > $inc_before" \
        "$TB_REFUTE_BOUND" $(( TB_REFUTE_BOUND * 5 )) member_alive,member_join "$v" "$surv" \
        sc_all_alive_above "$v" "$inc_before" $SC_NODES
    # shellcheck disable=SC2086
    SC_STRICT=0 sc_check_ev "$t0" "restart n$v -> every view (its own too) lists all $n alive" \
        "$TB_REFUTE_BOUND" $(( TB_REFUTE_BOUND * 5 )) member_alive,member_join "$SC_NODES" "$SC_NODES" \
        tb_all_alive $SC_NODES
    echo "n$v incarnation now: $(sc_self_inc "$v") (was $inc_before)"
    # shellcheck disable=SC2086
    sc_finish $SC_NODES
}

# ---- scenario: silent failure (SIGSTOP or link cut) ----------------------
#  how = stop | cut
sc_silent () {
    local kind=$1 how=$2 n=${3:-5} v=${4:-2}
    local what; [ "$how" = stop ] && what="SIGSTOP" || what="link cut"
    echo "CHECK: $what on one of $n agents ($kind) -> every survivor lists it dead within $TB_DEAD_BOUND s;"
    echo "       $([ "$how" = stop ] && echo SIGCONT || echo relink) -> it refutes: alive everywhere with a higher incarnation within $TB_REFUTE_BOUND s"
    sc_start_cluster "$kind" "$n"
    local surv; surv=$(sc_survivors "$v")
    local inc_before
    # shellcheck disable=SC2086
    inc_before=$(sc_min_inc "$v" $SC_NODES) || inc_before=$(sc_self_inc "$v")
    echo "victim n$v id=$(tb_id "$v") incarnation=$inc_before"
    local t0; t0=$(tb_now_ms)
    if [ "$how" = stop ]; then tb_stop "$v"; else tb_cut "$v"; fi
    # shellcheck disable=SC2086
    sc_check_ev "$t0" "$what n$v -> dead in all survivors" "$TB_DEAD_BOUND" $(( TB_DEAD_BOUND * 5 )) \
        member_dead "$v" "$surv" tb_all_see "$v" dead $surv
    if [ "$how" = cut ]; then
        #  The cut node's own view: the others should be gone for it too
        #  (informational; SWIM may take longer there since it is alone).
        printf 'isolated n%s sees: ' "$v"; tb_members "$v" | jq -rc '[.[] | "\(.name)=\(.state)"] | join(" ")' 2>/dev/null || echo "(no answer)"
    fi
    # shellcheck disable=SC2086
    tb_show_views $surv
    t0=$(tb_now_ms)
    if [ "$how" = stop ]; then tb_cont "$v"; else tb_heal "$v"; fi
    # shellcheck disable=SC2086
    sc_check_ev "$t0" "$([ "$how" = stop ] && echo SIGCONT || echo relink) n$v -> alive everywhere with incarnation > $inc_before" \
        "$TB_REFUTE_BOUND" $(( TB_REFUTE_BOUND * 5 )) member_alive,member_join "$v" "$surv" \
        sc_all_alive_above "$v" "$inc_before" $SC_NODES
    # shellcheck disable=SC2086
    SC_STRICT=0 sc_check_ev "$t0" "$([ "$how" = stop ] && echo SIGCONT || echo relink) n$v -> every view (its own too) lists all $n alive" \
        "$TB_REFUTE_BOUND" $(( TB_REFUTE_BOUND * 5 )) member_alive,member_join "$SC_NODES" "$SC_NODES" \
        tb_all_alive $SC_NODES
    echo "n$v incarnation now: $(sc_self_inc "$v") (was $inc_before)"
    # shellcheck disable=SC2086
    sc_finish $SC_NODES
}
