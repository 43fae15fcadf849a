#!/usr/bin/env bash
#  join5_ns: 5 agents in namespaces, beacon discovery only (no JOIN): all alive everywhere within the join bound.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 120 "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init join5_ns 11
sc_join ns 5
