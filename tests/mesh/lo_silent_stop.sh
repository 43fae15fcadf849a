#!/usr/bin/env bash
#  lo_silent_stop: SIGSTOP / SIGCONT one of 5 loopback agents.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 180 "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init lo_silent_stop 21
sc_silent lo stop 5 2
