#!/usr/bin/env bash
#  lo_join5: 5 agents on loopback (root namespace, JOIN seed, no beacon): all alive everywhere within the join bound.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 120 "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init lo_join5 19
sc_join lo 5
