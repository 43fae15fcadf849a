#!/bin/sh
# runner_selftest.sh [PROGRAM] - a node selftest that runs real inference
# (node_runner's by default; node/jobs_selftest.sh and analysis_selftest.sh
# pass theirs) with the face-api models the inference tests use:
# MW_MODELS_DIR if set, else fetch-models.sh's cache (${MW_CACHE:-<repo>/.cache},
# fetched there if need be, as tests/infer/models-env.sh does); MW_DEMO_DIR
# (the sample JPEGs) the same way.  Without models the selftest still runs
# everything but the detection, and says so.
set -eu
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${MW_BUILDDIR:-$srcdir}
prog=runner_selftest
case "${1:-}" in *_selftest) prog=$1; shift ;; esac
fetch=$srcdir/inference/models/fetch-models.sh
if [ -z "${MW_MODELS_DIR:-}" ] && [ -x "$fetch" ]; then
    if MODELS=$("$fetch"); then
        MW_MODELS_DIR=$MODELS
        export MW_MODELS_DIR
    else
        echo "$prog: fetch-models.sh failed; the detection run will be skipped" >&2
    fi
fi
if [ -z "${MW_DEMO_DIR:-}" ] && [ -x "$fetch" ] && DEMO=$("$fetch" --demo 2>/dev/null); then
    MW_DEMO_DIR=$DEMO
    export MW_DEMO_DIR
fi
exec "$BUILD/node/$prog" "$@"
