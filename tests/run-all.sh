#!/bin/sh
# The test command: install dependencies, build, run `make check`, and print
# one closing line "N passed, N failed, N skipped" counted from the real
# results (automake's test-suite.log).  Exit 0 only when nothing failed and
# something ran.  Use BUILD_DIR to build elsewhere (default ./build).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
jobs=${JOBS:-2}
cd "$top" || exit 1
if [ "$(id -u)" = 0 ]; then
    scripts/install-deps.sh || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }
fi
# Fetch the model package before the tests (once; cached under .cache/).
inference/models/fetch-models.sh >/dev/null || echo "warning: model fetch failed; inference tests will fail" >&2
[ -x configure ] || ./autogen.sh >/dev/null 2>&1 || { echo "autogen failed"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$build" && cd "$build" || exit 1
if [ ! -f Makefile ]; then
    "$top/configure" -q ${CONFIGURE_FLAGS:-} || { echo "configure failed"; echo "0 passed, 1 failed"; exit 1; }
fi
make -j"$jobs" >/dev/null || { make 2>&1 | tail -30; echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
make -j"$jobs" check ${TESTS:+TESTS="$TESTS"}
rc=$?
log=test-suite.log
count() { sed -n "s/^# $1: *\([0-9]*\).*/\1/p" "$log" 2>/dev/null | head -n1; }
pass=$(count PASS); fail=$(count FAIL); err=$(count ERROR); xpass=$(count XPASS); skip=$(count SKIP)
pass=${pass:-0}; fail=$((${fail:-0} + ${err:-0} + ${xpass:-0})); skip=${skip:-0}
if [ ! -f "$log" ] || [ $((pass + fail)) -eq 0 ]; then
    echo "no test ran"
    fail=$((fail + 1))
fi
if [ "$fail" -gt 0 ] || [ $rc -ne 0 ]; then
    # Show what failed, briefly.
    for f in $(find . -name '*.log' ! -name test-suite.log ! -name config.log); do
        t=${f%.log}.trs
        [ -f "$t" ] && grep -qE '^:test-result: (FAIL|ERROR|XPASS)' "$t" && {
            # The verdict lines first (they say which check failed and by how
            # much), then the end of the log (the agents' last words).
            echo "=== $f: checks"; grep -aE '^(FAIL|PASS|SKIP|----|not ok|ok) |: FAIL|check.*FAIL' "$f" | tail -40
            echo "=== $f: last lines"; tail -25 "$f"; }
    done
    [ "$fail" -eq 0 ] && fail=1
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
