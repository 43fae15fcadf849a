#!/bin/sh
# replay-corpus.sh - `make check` test: run every file of the wire fuzz
# corpus through the fuzz entry (built as a plain program with
# -DMW_FUZZ_REPLAY), under whatever sanitizers the build uses.  No libFuzzer
# needed.  MW_SRCDIR / MW_BUILDDIR come from AM_TESTS_ENVIRONMENT.
set -eu
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MW_BUILDDIR:-.}
exec "$builddir/tests/fuzz/fuzz_wire_replay" "$srcdir/tests/fuzz/corpus/wire"
