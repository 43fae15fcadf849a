#!/bin/sh
# tfjs-bench.sh - time the original face-api 1.7.15 detectors on tfjs-wasm (SIMD, 1 thread).
#
# Usage: tests/bench/tfjs-bench.sh [IMAGE] [-- tfjs-bench.js options]
#   IMAGE: a .jpg (decoded with jpeg-js) or binary .ppm; default: face-api demo sample1.jpg
#   options passed through, e.g. --runs 20 --warmup 3 --only tiny-face --modes net,incl_resize,detect
#   (also: BENCH_RUNS=N in the environment sets --runs)
#
# stdout: one JSON line per model/size/mode, e.g.
#   {"model":"tiny-face","input_size":416,"mode":"net","p50_ms":..,"p99_ms":..,"mean_ms":..,...}
# Uses the pinned install in ${MW_CACHE:-<repo root>/.cache}/node-ref (created by
# tests/fixtures/faceapi/make-reference.sh --install-only) and the weights from
# inference/models/fetch-models.sh.
set -eu

die() {
	echo "tfjs-bench.sh: error: $*" >&2
	exit 1
}

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P) || die "cannot locate script dir"
repo_root=$(CDPATH='' cd -- "$here/../.." && pwd -P) || die "cannot locate repo root"

image=
if [ $# -gt 0 ]; then
	case "$1" in
	--) ;;
	-h | --help)
		sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 0
		;;
	-*) ;;
	*)
		image=$1
		shift
		;;
	esac
fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift

command -v node >/dev/null 2>&1 || die "node not found"
node_ref=$("$repo_root/tests/fixtures/faceapi/make-reference.sh" --install-only) ||
	die "cannot install the reference implementation"
models=$("$repo_root/inference/models/fetch-models.sh") || die "fetch-models.sh failed"
if [ -z "$image" ]; then
	image=$("$repo_root/inference/models/fetch-models.sh" --demo)/sample1.jpg
fi
[ -r "$image" ] || die "cannot read image '$image'"

if [ -n "${BENCH_RUNS:-}" ]; then
	set -- --runs "$BENCH_RUNS" "$@"
fi
exec node "$here/tfjs-bench.js" --node-ref "$node_ref" --models "$models" --image "$image" "$@"
