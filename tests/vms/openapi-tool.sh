#!/bin/sh
# openapi-tool.sh - print the path of swagger-cli (@apidevtools/swagger-cli,
# an OpenAPI 3 validator from the npm registry), installing it first into
# ${MW_CACHE:-.cache}/npm-tools when it is not there yet, so that a second
# run needs no network.  Fails loudly (exit 1, the reason on stderr) when it
# cannot be had: the OpenAPI test must not pass by skipping.
set -eu
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cache=${MW_CACHE:-$srcdir/.cache}/npm-tools
bin=$cache/node_modules/.bin/swagger-cli
if [ ! -x "$bin" ]; then
    command -v npm >/dev/null 2>&1 || { echo "openapi-tool: npm is missing (scripts/install-deps.sh)" >&2; exit 1; }
    mkdir -p "$cache"
    echo "openapi-tool: installing @apidevtools/swagger-cli into $cache" >&2
    if ! npm install --prefix "$cache" --no-audit --no-fund --loglevel=error @apidevtools/swagger-cli@4.0.4 >&2; then
        echo "openapi-tool: npm install @apidevtools/swagger-cli failed (no registry?)" >&2
        exit 1
    fi
fi
[ -x "$bin" ] || { echo "openapi-tool: $bin missing after the install" >&2; exit 1; }
echo "$bin"
