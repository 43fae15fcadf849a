#!/bin/sh
# run-fuzz-manifest.sh [SECONDS] - build the weights-manifest fuzzer with
# libFuzzer + ASan + UBSan straight from the sources and run it for SECONDS
# (default 60) on a scratch copy of tests/fuzz/corpus/manifest.  Exits
# non-zero if the fuzzer finds a crash; the input is left in the work dir.
# Env: CC (default clang), MW_FUZZ_WORK, MW_FUZZ_ARGS.
set -eu
duration=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-clang}
work=${MW_FUZZ_WORK:-$(mktemp -d /tmp/mw-fuzz-manifest.XXXXXX)}
mkdir -p "$work/corpus"
cp "$root"/tests/fuzz/corpus/manifest/* "$work/corpus/"
# shellcheck disable=SC2046
$cc -g -O1 -std=gnu11 -D_GNU_SOURCE -I"$root" \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    $(pkg-config --cflags json-c openblas) \
    "$root/tests/fuzz/fuzz_manifest.c" "$root/inference/weights.c" "$root/inference/net.c" \
    "$root/inference/tiny_face.c" "$root/inference/ssd_mobilenet.c" \
    $(pkg-config --libs json-c) -lm \
    -o "$work/fuzz_manifest"
echo "run-fuzz-manifest: ${duration}s, work dir $work"
cd "$work"
# shellcheck disable=SC2086
./fuzz_manifest -max_total_time="$duration" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/" -print_final_stats=1 ${MW_FUZZ_ARGS:-} corpus
