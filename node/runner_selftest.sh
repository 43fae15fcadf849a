#!/bin/sh
# runner_selftest.sh - node_runner's selftest with the face-api models the
# inference tests use: MW_MODELS_DIR if set, else fetch-models.sh's cache
# (${MW_CACHE:-<repo>/.cache}, fetched there if need be, as
# tests/infer/models-env.sh does).  Without models the selftest still runs
# everything but the detection, and says so.
set -eu
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${MW_BUILDDIR:-$srcdir}
fetch=$srcdir/inference/models/fetch-models.sh
if [ -z "${MW_MODELS_DIR:-}" ] && [ -x "$fetch" ]; then
    if MODELS=$("$fetch"); then
        MW_MODELS_DIR=$MODELS
        export MW_MODELS_DIR
    else
        echo "runner_selftest.sh: fetch-models.sh failed; the detection run will be skipped" >&2
    fi
fi
exec "$BUILD/node/runner_selftest" "$@"
