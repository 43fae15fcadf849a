#!/usr/bin/env bash
#  sign.sh - CPU cost of node-key signatures (not part of make check).
#  Usage: tests/bench/sign.sh [ROUNDS]   (or: make bench-sign)
#  Needs the built tests/bench/sign_bench (MW_BUILDDIR, default .).
B=${MW_BUILDDIR:-.}/tests/bench/sign_bench
case ${1:-} in -h|--help) sed -n '2,4p' "$0"; exit 0;; esac
[ -x "$B" ] || { echo "sign.sh: $B not built (make tests/bench/sign_bench)" >&2; exit 1; }
echo "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
exec "$B" "${1:-21}"
