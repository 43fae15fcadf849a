#!/usr/bin/env bash
#  Long variant of tests/mesh/election_forged_ns.sh: the key holder forges
#  in the name of every member, the coordinator included, adds counters
#  highest+2, 2^40 (the largest plausible) and 2^40+1 (the smallest
#  absurd), and floods as a stranger (each stranger injection 50 times).
#  Same checks: each injection reaches the rules, a real member
#  coordinates, the term grows by at most 2, no forged id named; restart
#  of every box; again.  Exit 0/1/77 like the mesh test.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export FORGE_AS_ALL=1 FORGE_STRANGER_COUNT=50 FORGE_EXTRA_TERMS="+2 1099511627776 1099511627777"
exec bash "$SRC/tests/mesh/election_forged_ns.sh" "$@"
