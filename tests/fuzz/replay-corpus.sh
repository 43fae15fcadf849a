#!/bin/sh
# replay-corpus.sh - `make check` test: run every file of the wire fuzz
# corpus through the fuzz entry (built as a plain program with
# -DMW_FUZZ_REPLAY), under whatever sanitizers the build uses.  No libFuzzer
# needed.  MW_SRCDIR / MW_BUILDDIR come from AM_TESTS_ENVIRONMENT.
set -eu
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MW_BUILDDIR:-.}
# Under valgrind when it is there (the corpus is small), so that a leak or
# an invalid read on malformed input fails the test even in a build
# without sanitizers.  MW_NO_VALGRIND=1 skips that (e.g. an ASan build).
if [ -z "${MW_NO_VALGRIND:-}" ] && command -v valgrind >/dev/null 2>&1; then
    exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        "$builddir/tests/fuzz/fuzz_wire_replay" "$srcdir/tests/fuzz/corpus/wire"
fi
exec "$builddir/tests/fuzz/fuzz_wire_replay" "$srcdir/tests/fuzz/corpus/wire"
