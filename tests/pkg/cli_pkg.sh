#!/usr/bin/env bash
#  cli_pkg: `meshwatch pkg ...` as people and scripts use it.
#   * every command's --help prints its usage, exits 0 and touches nothing
#     (no file, no STATE_DIR, no key), even with other arguments;
#   * an unknown option, a missing value or argument, a stray argument:
#     exit 2, one line;
#   * --json everywhere, valid JSON with the documented fields; the pinned
#     list fields {name, version, kind, variant, digest, size, state,
#     pieces, pieces_have, sources};
#   * a round trip: keygen, build, publish, list, show, path, verify (a
#     file, and what is held: one damaged byte makes the package corrupt
#     and takes its path away), export (publishes elsewhere), rm (the
#     trust state stays: an older seq of the line is still a rollback).
#  No agent, no network.
set -u
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MW_BUILDDIR:-$SRC}
MW=$(readlink -f "${MW_BIN:-$BUILD/meshwatch}")
[ -x "$MW" ] || { echo "no meshwatch binary at $MW"; exit 99; }
T=$(mktemp -d /tmp/cli_pkg.XXXXXX) || exit 99
trap 'rm -rf "$T"' EXIT
fail () { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 99
unset MESHWATCH_STATE_DIR MESHWATCH_TRUSTED_KEYS

cmds=$("$MW" pkg --help | awk '/^  [a-z]/ {print $1}')
[ "$(echo $cmds | wc -w)" -ge 11 ] || fail "pkg --help lists $(echo $cmds | wc -w) commands"
for c in $cmds; do
    mkdir -p "h-$c" && cd "h-$c" || exit 99
    out=$("$MW" pkg "$c" --help --out x --state-dir sd NAME@1 2>&1); rc=$?
    [ $rc = 0 ] || fail "pkg $c --help: exit $rc"
    case $out in usage:*) ;; *) fail "pkg $c --help: no usage ($out)";; esac
    [ -z "$(ls -A)" ] || fail "pkg $c --help created $(ls -A)"
    "$MW" pkg "$c" --no-such-option >/dev/null 2>err; rc=$?
    [ $rc = 2 ] || fail "pkg $c --no-such-option: exit $rc"
    [ "$(wc -l < err)" = 1 ] || fail "pkg $c: a bad option gives $(wc -l < err) lines"
    cd .. || exit 99
done
"$MW" pkg --bogus >/dev/null 2>&1; [ $? = 2 ] || fail "pkg --bogus"
"$MW" pkg nosuch >/dev/null 2>&1; [ $? = 2 ] || fail "pkg nosuch"
"$MW" pkg build --name a --version 1 --kind model --key k --out o >/dev/null 2>&1; [ $? = 2 ] || fail "build without PATH"
"$MW" pkg build --name A --version 1 --kind model --key k --out o x >/dev/null 2>&1; [ $? = 2 ] || fail "bad name"
"$MW" pkg build --name a --version 1 --kind daemon --key k --out o x >/dev/null 2>&1; [ $? = 2 ] || fail "bad kind"
"$MW" pkg build --name a --version 1 --kind model --input-size 0 --key k --out o x >/dev/null 2>&1; [ $? = 2 ] || fail "bad size"
"$MW" pkg fetch >/dev/null 2>&1; [ $? = 2 ] || fail "fetch without NAME@VERSION"
"$MW" pkg fetch nover --state-dir sd >/dev/null 2>&1; [ $? = 2 ] || fail "fetch NAME without @VERSION"
"$MW" pkg fetch a@1 --timeout-s x --state-dir sd >/dev/null 2>&1; [ $? = 2 ] || fail "bad timeout"
"$MW" pkg fetch a@1 --state-dir "$T/none" >/dev/null 2>&1; [ $? = 3 ] || fail "fetch with no agent: not 3"
"$MW" pkg list extra --state-dir sd >/dev/null 2>&1; [ $? = 2 ] || fail "list with a stray argument"
"$MW" pkg export a@1 --state-dir sd >/dev/null 2>&1; [ $? = 2 ] || fail "export without --out"
"$MW" pkg export a@1 --out o --format zip --state-dir sd >/dev/null 2>&1; [ $? = 2 ] || fail "export --format zip"
"$MW" help pkg >/dev/null || fail "meshwatch help pkg"

#  The round trip, in JSON.
"$MW" pkg keygen --out pub --json > keygen.json || fail "keygen"
jq -e '.key and .pub and (.key_id | length == 16)' keygen.json >/dev/null || fail "keygen --json: $(cat keygen.json)"
"$MW" pkg keygen --out pub >/dev/null 2>&1 && fail "keygen overwrote a key"
[ "$(stat -c %a pub.key)" = 600 ] || fail "secret key mode $(stat -c %a pub.key)"
mkdir -p w/sub && head -c 150000 /dev/urandom > w/model.bin && echo x > w/sub/y.txt
"$MW" pkg build --name facedet --version 1.0 --kind model --variant weather=sunny --variant arch=arm64 \
    --model-family tiny-face --input-size 416 --input-size 608 --key pub.key --out f.mwpkg w --json > build.json \
    || fail "build"
jq -e '.name == "facedet" and .version == "1.0" and .variant == "arch=arm64,weather=sunny" and .pieces >= 1' \
    build.json >/dev/null || fail "build --json: $(cat build.json)"
"$MW" pkg verify f.mwpkg --trusted pub.pub --json | jq -e '.ok == true' >/dev/null || fail "verify file"
"$MW" pkg publish f.mwpkg --state-dir sd --trusted pub.pub --json | jq -e '.ok and .result == "published"' >/dev/null \
    || fail "publish"
"$MW" pkg list --state-dir sd --json > list.json || fail "list"
jq -e 'length == 1 and (.[0] | keys == (["digest","kind","name","pieces","pieces_have","size","sources","state","variant","version"]))' \
    list.json >/dev/null || fail "list --json fields: $(cat list.json)"
jq -e '.[0].state == "complete" and .[0].pieces == .[0].pieces_have' list.json >/dev/null || fail "list: $(cat list.json)"
"$MW" pkg list --state-dir sd | grep -q "^facedet  *1.0  *model  *arch=arm64,weather=sunny" || fail "list table"
"$MW" pkg show facedet@1.0 --state-dir sd --json | jq -e '.config.model.input_sizes == [416,608] and (.layers | length) == 1' \
    >/dev/null || fail "show --json"
"$MW" pkg show facedet@1.0 --state-dir sd | grep -q "input sizes 416 608" || fail "show"
p=$("$MW" pkg path facedet@1.0 --state-dir sd) || fail "path"
cmp -s "$p/w/model.bin" w/model.bin && cmp -s "$p/w/sub/y.txt" w/sub/y.txt || fail "unpacked files differ"
"$MW" pkg path facedet@1.0 --state-dir sd --json | jq -e --arg p "$p" '.path == $p' >/dev/null || fail "path --json"
"$MW" pkg verify facedet@1.0 --state-dir sd --json | jq -e '.ok and .pieces_bad == 0' >/dev/null || fail "verify held"
"$MW" pkg export facedet@1.0 --state-dir sd --out e.mwpkg --json | jq -e '.format == "mwpkg"' >/dev/null || fail "export"
"$MW" pkg publish e.mwpkg --state-dir sd2 --trusted pub.pub >/dev/null || fail "the export does not publish elsewhere"
#  Damage one byte of the data held: verify finds it, the package is corrupt.
d=$(ls sd/pkg/data/*.data)
printf 'Z' | dd of="$d" bs=1 seek=1000 conv=notrunc status=none
"$MW" pkg verify facedet@1.0 --state-dir sd --json > v.json; [ $? = 1 ] || fail "verify of damaged data: exit 0"
jq -e '.pieces_bad == 1' v.json >/dev/null || fail "verify: $(cat v.json)"
[ "$(jq -r '.[0].state' <("$MW" pkg list --state-dir sd --json))" = corrupt ] || fail "not corrupt"
"$MW" pkg path facedet@1.0 --state-dir sd >/dev/null 2>&1 && fail "a corrupt package has a path"
#  rm; an older seq of the line is still a rollback.
"$MW" pkg rm facedet@1.0 --state-dir sd --json | jq -e '.removed == "facedet"' >/dev/null || fail "rm"
[ "$("$MW" pkg list --state-dir sd --json | jq length)" = 0 ] || fail "rm left it listed"
"$MW" pkg build --name facedet --version 0.9 --kind model --variant weather=sunny --variant arch=arm64 --seq 5 \
    --key pub.key --out old.mwpkg w >/dev/null || fail "build old"
"$MW" pkg publish old.mwpkg --state-dir sd --trusted pub.pub --json > r.json 2>/dev/null; [ $? = 1 ] || fail "rollback accepted after rm"
jq -e '.reason == "rollback"' r.json >/dev/null || fail "rollback: $(cat r.json)"
echo "PASS: $(echo $cmds | wc -w) commands: harmless --help, bad options exit 2, JSON, round trip"
