#!/bin/sh
# run-fuzz-vms.sh [SECONDS] - build the VMS-interface parsers' fuzzer
# (tests/fuzz/fuzz_vms.c) with libFuzzer + ASan + UBSan straight from the
# sources and run it for SECONDS (default 60) on a scratch copy of
# tests/fuzz/corpus/vms.  Exits non-zero if the fuzzer finds a crash; the
# input is left in the work dir it prints.  Env: CC (default clang),
# MW_FUZZ_WORK, MW_FUZZ_ARGS.
set -eu
duration=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-clang}
work=${MW_FUZZ_WORK:-$(mktemp -d /tmp/mw-fuzz-vms.XXXXXX)}
mkdir -p "$work/corpus"
cp "$root"/tests/fuzz/corpus/vms/* "$work/corpus/"
sh "$root/node/embed-text.sh" node_api_openapi "$root/docs/openapi.json" > "$work/api_openapi.c"
# shellcheck disable=SC2046
$cc -g -O1 -std=gnu11 -D_GNU_SOURCE -I"$root" \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    $(pkg-config --cflags json-c libmicrohttpd libsodium sqlite3 libcurl libczmq libzmq) \
    "$root/tests/fuzz/fuzz_vms.c" "$root/node/api.c" "$root/node/tokens.c" "$root/node/evlog.c" \
    "$root/node/outbox.c" "$root/node/loop.c" "$root/common/json.c" "$root/common/log.c" "$work/api_openapi.c" \
    $(pkg-config --libs json-c libmicrohttpd libsodium sqlite3 libcurl libczmq libzmq) -lpthread -lm \
    -o "$work/fuzz_vms"
echo "run-fuzz-vms: ${duration}s, work dir $work"
cd "$work"
# shellcheck disable=SC2086
./fuzz_vms -max_total_time="$duration" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/" -print_final_stats=1 ${MW_FUZZ_ARGS:-} corpus
