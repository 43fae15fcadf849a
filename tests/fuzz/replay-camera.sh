#!/bin/sh
# replay-camera.sh - `make check` test: every file of the camera-registry fuzz
# corpus through the fuzz entry (tests/fuzz/fuzz_camera.c built with
# -DMW_FUZZ_REPLAY), under valgrind when it is there (a leak or an invalid
# read on a malformed document fails the test even without sanitizers).
set -eu
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MW_BUILDDIR:-.}
if [ -z "${MW_NO_VALGRIND:-}" ] && command -v valgrind >/dev/null 2>&1; then
    exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        "$builddir/tests/fuzz/fuzz_camera_replay" "$srcdir/tests/fuzz/corpus/camera"
fi
exec "$builddir/tests/fuzz/fuzz_camera_replay" "$srcdir/tests/fuzz/corpus/camera"
