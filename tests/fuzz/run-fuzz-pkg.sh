#!/bin/sh
# run-fuzz-pkg.sh [SECONDS] - build the package-parsers fuzzer with
# libFuzzer + ASan + UBSan straight from the sources and run it for SECONDS
# (default 60) on a scratch copy of tests/fuzz/corpus/pkg.  Exits non-zero
# if the fuzzer finds a crash; the input is left in the work dir.
# Env: CC (default clang), MW_FUZZ_WORK, MW_FUZZ_ARGS.
set -eu
duration=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-clang}
work=${MW_FUZZ_WORK:-$(mktemp -d /tmp/mw-fuzz-pkg.XXXXXX)}
mkdir -p "$work/corpus"
cp "$root"/tests/fuzz/corpus/pkg/* "$work/corpus/"
#  pkg_service_index_parse is the one function fuzzed from service.c: a
#  stub file keeps the rest of the agent (sockets, threads) out.
cat > "$work/index_parse.c" <<'C'
#include "pkg/service.h"
#include <stddef.h>
int
pkg_service_index_parse (const uint8_t *data, size_t len, pkg_index_entry_fn *fn, void *ctx)
{
    if (len % MW_PKG_INDEX_ENTRY != 0 || len / MW_PKG_INDEX_ENTRY > MW_PKG_INDEX_MAX || (len && !data))
        return -1;
    for (size_t i = 0; i < len / MW_PKG_INDEX_ENTRY; i++) {
        const uint8_t *e = data + i * MW_PKG_INDEX_ENTRY;
        uint64_t seq = 0;
        for (int b = 0; b < 8; b++)
            seq = seq << 8 | e[32 + b];
        fn (ctx, e, seq, e[40] & 7);
    }
    return 0;
}
C
# shellcheck disable=SC2046
$cc -g -O1 -std=gnu11 -D_GNU_SOURCE -I"$root" \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    $(pkg-config --cflags json-c libczmq) \
    "$root/tests/fuzz/fuzz_pkg.c" "$root/pkg/meta.c" "$root/pkg/desc.c" "$root/pkg/layout.c" \
    "$root/pkg/sign.c" "$root/pkg/file.c" "$work/index_parse.c" \
    $(pkg-config --libs json-c libarchive libsodium libcrypto) \
    -o "$work/fuzz_pkg"
echo "run-fuzz-pkg: ${duration}s, work dir $work"
cd "$work"
# shellcheck disable=SC2086
./fuzz_pkg -max_total_time="$duration" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/" -print_final_stats=1 ${MW_FUZZ_ARGS:-} corpus
