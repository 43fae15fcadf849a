#!/bin/sh
# replay-manifest.sh - `make check` test: every file of the manifest fuzz
# corpus through the fuzz entry (tests/fuzz/fuzz_manifest.c built with
# -DMW_FUZZ_REPLAY), under whatever sanitizers the build uses.
set -eu
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MW_BUILDDIR:-.}
# Under valgrind when it is there (the corpus is small), so that a leak or
# an invalid read on malformed input fails the test even in a build
# without sanitizers.  MW_NO_VALGRIND=1 skips that (e.g. an ASan build).
if [ -z "${MW_NO_VALGRIND:-}" ] && command -v valgrind >/dev/null 2>&1; then
    exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        "$builddir/tests/fuzz/fuzz_manifest_replay" "$srcdir/tests/fuzz/corpus/manifest"
fi
exec "$builddir/tests/fuzz/fuzz_manifest_replay" "$srcdir/tests/fuzz/corpus/manifest"
