#!/bin/sh
# infer-bench.sh - the inference benchmark: per model and input size, batch 1,
# on 1 thread and on all cores: forward-pass latency p50/p99, whole-frame
# (preprocess + forward + decode) p50/p99, frames/s and achieved GFLOP/s
# (FLOPs counted per layer).  Then a per-layer profile of TinyFaceDetector
# 416 and SSD on all cores, and, if tests/bench/tfjs-bench.js and its
# node_modules are there, the tfjs-wasm numbers for the ratio.
#
# Env: REPEAT (default 100 for tiny-face, 30 for SSD), MW_BUILDDIR, MW_SRCDIR.
# Run it on an otherwise idle machine: other load shows up in p99 first.
set -u
. "$(dirname "$0")/../infer/models-env.sh"
bench=$BUILD/tests/bench/infer_bench
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
img=$DEMO/sample1.jpg
echo "# $(uname -m), $ncpu cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //')"
echo "# image $img; times in ms; frame = preprocess + forward + decode (JPEG decode excluded)"
printf '%-13s %5s %7s %8s %8s %9s %9s %8s %8s %7s  %s\n' model input threads "fwd p50" "fwd p99" \
    "frame p50" "frame p99" "frames/s" "GFLOP/s" GFLOP backend
for threads in 1 "$ncpu"; do
    for size in 320 416 608; do
        "$bench" --models-dir "$MODELS" --model tiny-face --input-size $size --threads "$threads" \
            --repeat "${REPEAT:-100}" --image "$img" || exit 1
    done
    "$bench" --models-dir "$MODELS" --model ssd-mobilenet --threads "$threads" --repeat "${REPEAT:-30}" \
        --image "$img" || exit 1
    [ "$ncpu" -gt 1 ] || break
done
echo
echo "# per-layer profile, $ncpu threads"
"$bench" --models-dir "$MODELS" --model tiny-face --input-size 416 --threads "$ncpu" --repeat "${REPEAT:-100}" \
    --image "$img" --profile | tail -n +2
"$bench" --models-dir "$MODELS" --model ssd-mobilenet --threads "$ncpu" --repeat "${REPEAT:-30}" \
    --image "$img" --profile | tail -n +2
tfjs=$srcdir/tests/bench/tfjs-bench.sh
if [ -f "$tfjs" ] && command -v node >/dev/null && [ -d "${MW_CACHE:-$srcdir/.cache}/node-ref/node_modules" ]; then
    echo
    echo "# tfjs-wasm reference, same image (tests/bench/tfjs-bench.sh; one JSON line per model/mode)"
    sh "$tfjs" "$img" -- --modes net,incl_resize || echo "# (tfjs-bench.sh failed)"
fi
