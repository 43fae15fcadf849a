#!/usr/bin/env bash
#  lo_kill9: kill -9 one of 5 loopback agents; restart with the same STATE_DIR.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 180 "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init lo_kill9 20
sc_kill9 lo 5 3
