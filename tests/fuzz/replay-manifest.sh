#!/bin/sh
# replay-manifest.sh - `make check` test: every file of the manifest fuzz
# corpus through the fuzz entry (tests/fuzz/fuzz_manifest.c built with
# -DMW_FUZZ_REPLAY), under whatever sanitizers the build uses.
set -eu
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${MW_BUILDDIR:-.}
exec "$builddir/tests/fuzz/fuzz_manifest_replay" "$srcdir/tests/fuzz/corpus/manifest"
