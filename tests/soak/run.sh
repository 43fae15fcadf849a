#!/bin/sh
# The soak command: long variants of the acceptance tests (floods at full
# size, long loss runs), too slow for `make check`.  Runs every
# tests/soak/*.sh other than this one (or the ones named), each with the
# build's environment, and ends with "N passed, N failed".
#
#   tests/soak/run.sh [NAME ...]        (build first: tests/run-all.sh or make)
#
# BUILD_DIR selects the build (default ./build).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$top/build}
[ -x "$build/meshwatch" ] || { echo "no build in $build (run tests/run-all.sh or make first)"; exit 2; }
export MW_SRCDIR="$top" MW_BUILDDIR="$build" MW_CACHE="${MW_CACHE:-$top/.cache}"
pass=0 fail=0
if [ $# -gt 0 ]; then
    set -- $(for n in "$@"; do echo "$top/tests/soak/${n%.sh}.sh"; done)
else
    set -- $(ls "$top"/tests/soak/*.sh | grep -v '/run\.sh$')
fi
for t in "$@"; do
    [ -f "$t" ] || { echo "no such soak: $t"; fail=$((fail + 1)); continue; }
    name=$(basename "$t" .sh)
    log="$build/soak-$name.log"
    printf '%-40s ' "$name"
    start=$(date +%s)
    if bash "$t" >"$log" 2>&1; then
        echo "PASS ($(( $(date +%s) - start )) s)"; pass=$((pass + 1))
    else
        rc=$?
        if [ $rc -eq 77 ]; then echo "SKIP"; else echo "FAIL (rc $rc, log $log)"; fail=$((fail + 1)); fi
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
