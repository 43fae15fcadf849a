#!/bin/sh
# run-fuzz-deploy.sh [SECONDS] - build the deployment-plan fuzzer with
# libFuzzer + ASan + UBSan straight from the sources and run it for SECONDS
# (default 60) on a scratch copy of tests/fuzz/corpus/deploy.  Exits
# non-zero if the fuzzer finds a crash; the input is left in the work dir.
# Env: CC (default clang), MW_FUZZ_WORK, MW_FUZZ_ARGS.
set -eu
duration=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-clang}
work=${MW_FUZZ_WORK:-$(mktemp -d /tmp/mw-fuzz-deploy.XXXXXX)}
mkdir -p "$work/corpus"
cp "$root"/tests/fuzz/corpus/deploy/* "$work/corpus/"
$cc -g -O1 -std=gnu11 -D_GNU_SOURCE -I"$root" \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    "$root/tests/fuzz/fuzz_deploy.c" "$root/scheduler/deploy_plan.c" "$root/scheduler/election.c" \
    "$root/sim/netsim.c" "$root/common/log.c" "$root/common/sanitize.c" -lm \
    -o "$work/fuzz_deploy"
echo "run-fuzz-deploy: ${duration}s, work dir $work"
cd "$work"
# shellcheck disable=SC2086
./fuzz_deploy -max_total_time="$duration" -max_len=90000 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/" -print_final_stats=1 ${MW_FUZZ_ARGS:-} corpus
