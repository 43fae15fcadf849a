#!/bin/sh
# run-fuzz.sh [SECONDS] - build the wire/crypto fuzzer with libFuzzer + ASan +
# UBSan straight from the sources (no autotools) and run it for SECONDS
# (default 60) on a scratch copy of tests/fuzz/corpus/wire, so the committed
# corpus is never touched.  Exits non-zero if the fuzzer finds a crash; the
# crashing input is left in the work directory it prints.
#
# Env: CC (default clang), MW_FUZZ_WORK (work dir; default a fresh temp dir),
#      MW_FUZZ_ARGS (extra libFuzzer flags, e.g. "-jobs=4 -workers=4").
set -eu

duration=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-clang}
work=${MW_FUZZ_WORK:-$(mktemp -d /tmp/mw-fuzz.XXXXXX)}
mkdir -p "$work/corpus"

cp "$root"/tests/fuzz/corpus/wire/* "$work/corpus/"

# shellcheck disable=SC2046
$cc -g -O1 -std=gnu11 -D_GNU_SOURCE -I"$root" \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -fno-omit-frame-pointer \
    $(pkg-config --cflags msgpack libsodium) \
    "$root/tests/fuzz/fuzz_wire.c" "$root/gossip/wire.c" "$root/gossip/crypto.c" "$root/gossip/sign.c" \
    "$root/scheduler/handoff.c" "$root/scheduler/placement.c" "$root/node/msgmap.c" "$root/sim/netsim.c" \
    "$root/common/log.c" \
    $(pkg-config --libs msgpack libsodium) -lpthread -lm \
    -o "$work/fuzz_wire"

echo "run-fuzz: ${duration}s, work dir $work"
cd "$work"
# -max_len: real messages are far smaller than MW_MSG_MAX, and short inputs
# keep the exec rate high; a few large ones are covered by the selftest.
# shellcheck disable=SC2086
./fuzz_wire -max_total_time="$duration" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/" -print_final_stats=1 ${MW_FUZZ_ARGS:-} corpus
