#!/bin/sh
# The tree's C sources follow .clang-format (czmq-like layout).  Fails with
# the list of files that differ; fix with:
#     clang-format -i $(git ls-files '*.c' '*.h' '*.cu')
# Skips (77) where clang-format is missing, so a bare build machine can
# still run `make check`; tests/run-all.sh installs it.
set -u
src=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v clang-format >/dev/null 2>&1 || { echo "SKIP: clang-format not installed"; exit 77; }
cd "$src" || exit 99
if [ -d .git ] && command -v git >/dev/null 2>&1; then
    files=$(git ls-files '*.c' '*.h' '*.cu')
else
    files=$(find . -name '*.c' -o -name '*.h' -o -name '*.cu' | grep -v -e '^./build' -e '/\.cache/')
fi
bad=""
n=0
for f in $files; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
    echo "not formatted (clang-format -i FILE):"
    for f in $bad; do echo "  $f"; done
    exit 1
fi
echo "$n files formatted"
