#!/bin/sh
# jobs_selftest.sh - node_jobs's selftest with the face-api models and demo
# images (node/runner_selftest.sh finds or fetches them).
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
exec sh "$srcdir/node/runner_selftest.sh" jobs_selftest "$@"
