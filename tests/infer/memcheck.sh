#!/bin/sh
# memcheck.sh - both detectors once under valgrind (memcheck, full leak
# check).  Not part of `make check` (a few minutes: SSD is 6 GFLOP on one
# emulated thread); run it as `make memcheck-infer`.  The bad-input test is
# covered by an ASan build instead (configure --enable-asan; make check).  Valgrind hides AVX-512, so the
# vector kernels run their AVX2 clone; OpenBLAS is dynamic-arch.
set -u
. "$(dirname "$0")/models-env.sh"
command -v valgrind >/dev/null || { echo "SKIP: valgrind not installed"; exit 77; }
vg="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
[ -f "$srcdir/tests/valgrind.supp" ] && vg="$vg --suppressions=$srcdir/tests/valgrind.supp"
fail=0
for args in "--model tiny-face --input-size 416 --image $DEMO/sample1.jpg" \
            "--model ssd-mobilenet --image $DEMO/sample2.jpg" \
            "--model tiny-face --input-size 608 --threads 1 --image $FIXTURES/pixels/small3.ppm"; do
    printf '%-70s ' "$args"
    # shellcheck disable=SC2086
    if $vg "$BUILD/inference/mw-infer" $args --json >/dev/null 2>"$BUILD/infer-memcheck.log"; then
        echo clean
    else
        echo "FAILED"; cat "$BUILD/infer-memcheck.log"; fail=1
    fi
done
exit $fail
