#!/usr/bin/env bash
#  silent_cut_ns: cut the link of one of 5 namespaced agents: dead everywhere; relink: alive again with a higher incarnation.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 180 "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init silent_cut_ns 14
sc_silent ns cut 5 4
