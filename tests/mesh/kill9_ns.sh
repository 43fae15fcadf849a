#!/usr/bin/env bash
#  kill9_ns: kill -9 one of 5 namespaced agents: dead everywhere; restart with the same STATE_DIR: alive with a higher incarnation.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 180 "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init kill9_ns 12
sc_kill9 ns 5 3
