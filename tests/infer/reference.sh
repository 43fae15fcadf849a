#!/bin/sh
# reference.sh - both detectors against the original face-api output
# (tests/fixtures/faceapi): see tests/infer/ref_check.c for the criteria.
set -eu
. "$(dirname "$0")/models-env.sh"
exec "$BUILD/tests/infer/ref_check" --models "$MODELS" --demo "$DEMO" --fixtures "$FIXTURES" "$@"
