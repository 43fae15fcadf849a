#!/bin/sh
# bad_input.sh - broken images and manifests give clear errors (tests/infer/bad_input.c).
set -eu
. "$(dirname "$0")/models-env.sh"
exec "$BUILD/tests/infer/bad_input" --models "$MODELS" --demo "$DEMO" "$@"
