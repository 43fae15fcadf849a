#!/usr/bin/env bash
#  Long variant of tests/mesh/session_poison_ns.sh: TB_POISON_SECS=120 (make check runs a
#  shorter one).  Run through tests/soak/run.sh.
top=$(cd "$(dirname "$0")/../.." && pwd)
export MW_SRCDIR=${MW_SRCDIR:-$top} MW_BUILDDIR=${MW_BUILDDIR:-$top/build}
exec env TB_POISON_SECS=120 bash "$top/tests/mesh/session_poison_ns.sh" "$@"
