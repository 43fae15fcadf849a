#!/bin/sh
# replay-pkg.sh - `make check` test: every file of the package fuzz corpus
# (tests/fuzz/corpus/pkg) through the fuzz entry (tests/fuzz/fuzz_pkg.c
# built with -DMW_FUZZ_REPLAY), under valgrind when it is there, so that a
# leak or an invalid read on malformed input fails the test.
set -eu
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MW_BUILDDIR:-.}
if [ -z "${MW_NO_VALGRIND:-}" ] && command -v valgrind >/dev/null 2>&1; then
    exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        "$builddir/tests/fuzz/fuzz_pkg_replay" "$srcdir/tests/fuzz/corpus/pkg"
fi
exec "$builddir/tests/fuzz/fuzz_pkg_replay" "$srcdir/tests/fuzz/corpus/pkg"
