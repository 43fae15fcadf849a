#!/usr/bin/env bash
#  partition_ns: 5 hosts split 3 / 2 (the 2 hosts' veths move to a second
#  bridge): each side lists the other side dead and its own side alive;
#  heal -> every view lists all 5 alive again.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 180 "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init partition_ns 16
A="1 2 3"; B="4 5"
TB_HEAL_BOUND=${TB_HEAL_BOUND:-$TB_REFUTE_BOUND}
echo "CHECK: partition {$A} | {$B} -> each side lists the other dead within $TB_DEAD_BOUND s, own side alive;"
echo "       heal -> every view lists all 5 alive within $TB_HEAL_BOUND s"
sc_start_cluster ns 5
#  side_sees VIEWERS MEMBERS STATE
side_sees () {
    local j
    # shellcheck disable=SC2086
    for j in $2; do tb_all_see "$j" "$3" $1 || return 1; done
}
tb_partition "$A" "$B"
t0=$(tb_now_ms)
sc_check_ev "$t0" "majority {$A} lists {$B} dead" "$TB_DEAD_BOUND" $(( TB_DEAD_BOUND * 5 )) \
    member_dead "$B" "$A" side_sees "$A" "$B" dead
sc_check_ev "$t0" "minority {$B} lists {$A} dead" "$TB_DEAD_BOUND" $(( TB_DEAD_BOUND * 5 )) \
    member_dead "$A" "$B" side_sees "$B" "$A" dead
# shellcheck disable=SC2086
if tb_all_alive $A; then echo "PASS  majority side still all alive among itself"; else echo "FAIL  majority side lost members of its own side"; SC_RESULT=1; fi
# shellcheck disable=SC2086
if tb_all_alive $B; then echo "PASS  minority side still all alive among itself"; else echo "FAIL  minority side lost members of its own side"; SC_RESULT=1; fi
# shellcheck disable=SC2086
tb_show_views $SC_NODES
t0=$(tb_now_ms)
tb_partition_heal
# shellcheck disable=SC2086
SC_STRICT=0 sc_check_ev "$t0" "heal -> every view lists all 5 alive" "$TB_HEAL_BOUND" $(( TB_HEAL_BOUND * 4 )) \
    member_alive,member_join "$SC_NODES" "$SC_NODES" tb_all_alive $SC_NODES ||
    tb_view_problems $SC_NODES | head
# shellcheck disable=SC2086
tb_show_views $SC_NODES
# shellcheck disable=SC2086
sc_finish $SC_NODES
