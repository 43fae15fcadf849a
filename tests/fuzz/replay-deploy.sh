#!/bin/sh
# replay-deploy.sh - `make check` test: every file of the deployment fuzz
# corpus (plans, reports, commands) through the fuzz entry
# (tests/fuzz/fuzz_deploy.c built with -DMW_FUZZ_REPLAY), under valgrind
# when it is there (MW_NO_VALGRIND=1 skips that).
set -eu
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MW_BUILDDIR:-.}
if [ -z "${MW_NO_VALGRIND:-}" ] && command -v valgrind >/dev/null 2>&1; then
    exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        "$builddir/tests/fuzz/fuzz_deploy_replay" "$srcdir/tests/fuzz/corpus/deploy"
fi
exec "$builddir/tests/fuzz/fuzz_deploy_replay" "$srcdir/tests/fuzz/corpus/deploy"
