#!/bin/sh
# `make check`: the generated sections of docs/PROTOCOL.md (message tables,
# header, update and box records, job limits) must be what
# gossip/mw-protodoc writes from the protocol's definition
# (gossip/wire_def.h).  On a difference: the diff, and the command that
# regenerates them.  MW_SRCDIR / MW_BUILDDIR come from AM_TESTS_ENVIRONMENT.
set -u
src=${MW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${MW_BUILDDIR:-.}
doc="$src/docs/PROTOCOL.md"
gen="$build/gossip/mw-protodoc"
[ -x "$gen" ] || { echo "ERROR: $gen not built"; exit 99; }
tmp=$(mktemp "${TMPDIR:-/tmp}/protodoc.XXXXXX") || exit 99
trap 'rm -f "$tmp" "$tmp.tmp"' EXIT INT TERM
cp "$doc" "$tmp" || exit 99
if ! "$gen" --update "$tmp"; then
    echo "FAIL: docs/PROTOCOL.md lacks a generated section (markers: <!-- BEGIN GENERATED: NAME --> ... <!-- END GENERATED: NAME -->)"
    exit 1
fi
if ! diff -u "$doc" "$tmp"; then
    echo "FAIL: docs/PROTOCOL.md disagrees with gossip/wire_def.h (diff above: - the document, + the definition)."
    echo "      Regenerate: $gen --update $doc"
    exit 1
fi
echo "docs/PROTOCOL.md: $(grep -c '<!-- BEGIN GENERATED: ' "$doc") generated sections match gossip/wire_def.h"
