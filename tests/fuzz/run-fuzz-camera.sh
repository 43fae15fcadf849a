#!/bin/sh
# run-fuzz-camera.sh [SECONDS] - build the camera-registry fuzzer with
# libFuzzer + ASan + UBSan straight from the sources and run it for SECONDS
# (default 60) on a scratch copy of tests/fuzz/corpus/camera.  Exits
# non-zero if the fuzzer finds a crash; the input is left in the work dir.
# Env: CC (default clang), MW_FUZZ_WORK, MW_FUZZ_ARGS.
set -eu
duration=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-clang}
work=${MW_FUZZ_WORK:-$(mktemp -d /tmp/mw-fuzz-camera.XXXXXX)}
mkdir -p "$work/corpus"
cp "$root"/tests/fuzz/corpus/camera/* "$work/corpus/"
# shellcheck disable=SC2046
$cc -g -O1 -std=gnu11 -D_GNU_SOURCE -I"$root" \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    $(pkg-config --cflags json-c) \
    "$root/tests/fuzz/fuzz_camera.c" "$root/camera/cam_registry.c" "$root/common/json.c" \
    $(pkg-config --libs json-c) -lm \
    -o "$work/fuzz_camera"
echo "run-fuzz-camera: ${duration}s, work dir $work"
cd "$work"
# shellcheck disable=SC2086
./fuzz_camera -max_total_time="$duration" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/" -print_final_stats=1 ${MW_FUZZ_ARGS:-} corpus
