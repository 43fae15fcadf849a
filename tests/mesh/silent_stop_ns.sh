#!/usr/bin/env bash
#  silent_stop_ns: SIGSTOP one of 5 namespaced agents: dead everywhere; SIGCONT: it refutes (alive, higher incarnation).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 180 "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init silent_stop_ns 13
sc_silent ns stop 5 2
