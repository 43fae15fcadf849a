#!/usr/bin/env bash
#  Long variant of tests/mesh/flood_reply_ns.sh: FL_SECS=100 FLOOD_N=500000 (make check runs a
#  shorter one).  Run through tests/soak/run.sh.
top=$(cd "$(dirname "$0")/../.." && pwd)
export MW_SRCDIR=${MW_SRCDIR:-$top} MW_BUILDDIR=${MW_BUILDDIR:-$top/build}
exec env FL_SECS=100 FLOOD_N=500000 bash "$top/tests/mesh/flood_reply_ns.sh" "$@"
