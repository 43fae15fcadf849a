#!/bin/sh
# embed-text.sh NAME FILE - print a C file defining `const char NAME_text[]`
# (FILE's bytes, then a NUL) and `const size_t NAME_len`.  The build embeds
# docs/openapi.json this way, so the binary serves the document the tests
# validate, with no data file to install or to lose.  Bytes as hex: no
# quoting rule of any awk or sed can corrupt the text.
set -eu
name=$1
file=$2
printf '/* Generated from %s by node/embed-text.sh: do not edit. */\n#include <stddef.h>\n' "$(basename "$file")"
printf 'const char %s_text[] = {\n' "$name"
od -An -v -tx1 "$file" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/    /'
printf '    0x00};\nconst size_t %s_len = sizeof %s_text - 1;\n' "$name" "$name"
