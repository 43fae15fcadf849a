#!/usr/bin/env bash
#  Soak: tests/mesh/flood_members_ns.sh at full size, for longer: 10 rounds
#  of 10^6 forged member ids from one sender and 10^6 from 5,000 sender ids
#  (2 x 10^7 ids), same checks (RSS, fds, status latency, table cap, no
#  suspicion of the victim).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export FLOOD_IDS=${FLOOD_IDS:-1000000} FLOOD_SENDERS=${FLOOD_SENDERS:-5000} FLOOD_ROUNDS=${FLOOD_ROUNDS:-10}
export FLOOD_TIMEOUT=${FLOOD_TIMEOUT:-900}
exec bash "$SRC/tests/mesh/flood_members_ns.sh" "$@"
