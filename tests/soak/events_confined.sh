#!/usr/bin/env bash
#  Long variant of tests/mesh/events_confined_ns.sh: TB_EVENTS_SECS=60 (make check runs a
#  shorter one).  Run through tests/soak/run.sh.
top=$(cd "$(dirname "$0")/../.." && pwd)
export MW_SRCDIR=${MW_SRCDIR:-$top} MW_BUILDDIR=${MW_BUILDDIR:-$top/build}
exec env TB_EVENTS_SECS=60 bash "$top/tests/mesh/events_confined_ns.sh" "$@"
