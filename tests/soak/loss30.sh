#!/usr/bin/env bash
#  Long variant of tests/mesh/loss30_ns.sh (issue 17): 30 % random inbound
#  loss on every box for 10 minutes, at N = 5 and then N = 20: no false
#  death, the coordinator never changes, every loss rule counted drops.
#  TB_LOSS_SECS / LOSS30_SIZES change it.  Exit 0/1/77 like the mesh test.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
rc=0
for n in ${LOSS30_SIZES:-5 20}; do
    TB_N=$n TB_LOSS_SECS=${TB_LOSS_SECS:-600} LOSS30_NETID=$(( 45 + (n > 5) )) \
        bash "$SRC/tests/mesh/loss30_ns.sh" "$@"
    r=$?
    [ "$r" = 77 ] && exit 77
    [ "$r" = 0 ] || rc=1
done
exit $rc
