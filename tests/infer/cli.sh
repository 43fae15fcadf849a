#!/bin/sh
# cli.sh - `meshwatch infer` (inference/mw-infer): JSON and table output on a
# demo image, and the error paths (exit 2 for usage, 1 for runtime errors,
# one message on stderr).
set -u
. "$(dirname "$0")/models-env.sh"
cli=$BUILD/inference/mw-infer
fail=0
tmp=$(mktemp -d /tmp/mw-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
check() {   # check NAME EXPECTED_RC CMD...  (stdout -> $tmp/out, stderr -> $tmp/err)
    name=$1 want=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL $name: exit $rc, expected $want"; sed 's/^/    /' "$tmp/err"; fail=1
    else
        echo "ok   $name (exit $rc)"
    fi
}
check "json tiny-face" 0 "$cli" --model tiny-face --models-dir "$MODELS" --image "$DEMO/sample1.jpg" --json
grep -q '^{"model":"tiny-face","width":1920,"height":1280,"detections":\[{"x":' "$tmp/out" || { echo "FAIL json shape"; cat "$tmp/out"; fail=1; }
[ "$(grep -o '"score"' "$tmp/out" | wc -l)" -eq 3 ] || { echo "FAIL expected 3 faces"; cat "$tmp/out"; fail=1; }
grep -q '"ms":[0-9.]*}$' "$tmp/out" || { echo "FAIL json ms"; fail=1; }
check "table ssd --repeat 2 --threads 1" 0 "$cli" --model ssd-mobilenet --image "$DEMO/sample2.jpg" --repeat 2 --threads 1
grep -q '^faces: 3 ' "$tmp/out" || { echo "FAIL ssd table"; cat "$tmp/out"; fail=1; }
check "tiny-face 608 threshold 0.7" 0 "$cli" --model tiny-face --input-size 608 --threshold 0.7 --image "$FIXTURES/pixels/small1.ppm"
check "missing --image" 2 "$cli" --model tiny-face
check "unknown model" 2 "$cli" --model yolo --image "$DEMO/sample1.jpg"
check "bad input size" 2 "$cli" --model tiny-face --input-size abc --image "$DEMO/sample1.jpg"
check "input size not /32" 1 "$cli" --model tiny-face --input-size 100 --image "$DEMO/sample1.jpg"
check "threshold out of range" 2 "$cli" --model tiny-face --threshold 1.5 --image "$DEMO/sample1.jpg"
check "unknown option" 2 "$cli" --model tiny-face --frobnicate 1 --image "$DEMO/sample1.jpg"
printf 'not a jpeg' >"$tmp/x.jpg"
check "non-image file" 1 "$cli" --model tiny-face --image "$tmp/x.jpg"
grep -q 'not a JPEG' "$tmp/err" || { echo "FAIL message"; fail=1; }
check "missing models dir" 1 "$cli" --model ssd-mobilenet --models-dir "$tmp/none" --image "$DEMO/sample1.jpg"
grep -q 'cannot open' "$tmp/err" || { echo "FAIL message"; fail=1; }
check "cuda when unavailable or auto" 0 "$cli" --model tiny-face --backend auto --image "$DEMO/sample1.jpg"
exit $fail
