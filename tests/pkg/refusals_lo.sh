#!/usr/bin/env bash
#  refusals_lo: every way a package can be wrong is refused with its reason,
#  changes nothing in the catalog, leaves nothing runnable, and is reported
#  as a pkg.refused event by the box's agent:
#    unsigned, wrong key (untrusted_key), bad signature, rollback (a seq
#    below one seen), expired, tampered manifest, tampered blob.
#  And over the mesh: box 2 trusts another key; what box 1 publishes is
#  refused there (untrusted_key, naming box 1) and its catalog stays empty.
#  Trust state survives kill -9: box 3 learns facedet@2.0 (seq 20) over the
#  mesh, is killed -9 and restarted, and still refuses seq 10 (rollback).
#  Loopback agents (ports only).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 120 "$@"
. "$SRC/tests/pkg/pkg_lib.sh"
tb_init refusals_lo 23
tb_require_mw
pk_keys
"$TB_MW" pkg keygen --out "$TB_DIR/evil" >/dev/null || tb_die "keygen"
P1=$(( TB_PORTBASE + 50 )); P2=$(( TB_PORTBASE + 51 )); P3=$(( TB_PORTBASE + 52 ))
tb_start_agent_lo 1 "TRUSTED_KEYS=$PK_PUB" "PKG_PORT=$P1"
tb_start_agent_lo 2 "TRUSTED_KEYS=$TB_DIR/evil.pub" "PKG_PORT=$P2"
tb_start_agent_lo 3 "TRUSTED_KEYS=$PK_PUB" "PKG_PORT=$P3"
tb_wait_ready 1 15; tb_wait_ready 2 15; tb_wait_ready 3 15
tb_wait_until 20 tb_all_alive 1 2 3 || tb_fail "the mesh did not form"
tb_bg "$TB_MW" events --connect "tcp://127.0.0.1:$(tb_events_port 1)" --json > "$TB_DIR/events.1" 2>/dev/null
tb_bg "$TB_MW" events --connect "tcp://127.0.0.1:$(tb_events_port 2)" --json > "$TB_DIR/events.2" 2>/dev/null
sleep 0.5

mk () {   # mk VERSION SEQ KEY OUT [build options]
    local v=$1 seq=$2 key=$3 out=$4; shift 4
    mkdir -p "$TB_DIR/src/w" && head -c 300000 /dev/urandom > "$TB_DIR/src/w/model.bin"
    "$TB_MW" pkg build --name facedet --version "$v" --kind model --seq "$seq" --key "$key" --out "$out" \
        "$@" "$TB_DIR/src/w" >/dev/null || tb_die "build $v"
}
#  Unpack FILE into a folder, let a command change it, pack it again.
retar () {   # retar IN OUT CMD...
    local in=$1 out=$2 d="$TB_DIR/retar"; shift 2
    rm -rf "$d" && mkdir -p "$d" && tar xf "$in" -C "$d" || tb_die "untar $in"
    (cd "$d" && "$@") || tb_die "modify $in"
    tar cf "$out" -C "$d" . || tb_die "tar $out"
}
manifest_blob () { echo "blobs/sha256/$(jq -r '.manifests[0].digest' index.json | cut -d: -f2)"; }
largest_blob () { ls -S blobs/sha256 | head -1 | sed 's|^|blobs/sha256/|'; }
export -f manifest_blob largest_blob

mk 2.0 20 "$PK_KEY" "$TB_DIR/good.mwpkg"
mk 2.1 21 "$PK_KEY" "$TB_DIR/v21.mwpkg"
retar "$TB_DIR/v21.mwpkg" "$TB_DIR/unsigned.mwpkg" rm meshwatch/metadata.json.minisig
mk 2.2 22 "$TB_DIR/evil.key" "$TB_DIR/wrongkey.mwpkg"
mk 2.3 23 "$PK_KEY" "$TB_DIR/v23.mwpkg"
retar "$TB_DIR/v23.mwpkg" "$TB_DIR/badsig.mwpkg" sed -i 's/"seq":23/"seq":24/' meshwatch/metadata.json
mk 1.0 10 "$PK_KEY" "$TB_DIR/rollback.mwpkg"
mk 3.0 30 "$PK_KEY" "$TB_DIR/expired.mwpkg" --expires-at $(( $(date +%s) + 1 ))
mk 3.1 31 "$PK_KEY" "$TB_DIR/v31.mwpkg"
retar "$TB_DIR/v31.mwpkg" "$TB_DIR/tampered_manifest.mwpkg" bash -c 'sed -i "s/facedet.tar/facedeX.tar/" $(manifest_blob)'
mk 3.2 32 "$PK_KEY" "$TB_DIR/v32.mwpkg"
retar "$TB_DIR/v32.mwpkg" "$TB_DIR/tampered_blob.mwpkg" bash -c 'f=$(largest_blob); dd if=/dev/zero of=$f bs=1 seek=200000 count=1 conv=notrunc status=none'

pk_publish 1 "$TB_DIR/good.mwpkg"
before=$(pk_list 1 | jq -c '[.[] | {name, version, digest, state}]')
sleep 1.5   # the expired one is past its expiry now
n=0
for c in unsigned:unsigned wrongkey:untrusted_key badsig:bad_signature rollback:rollback expired:expired \
         tampered_manifest:tampered_manifest tampered_blob:tampered_blob; do
    f=${c%%:*}; want=${c#*:}
    out=$(timeout 60 "$TB_MW" pkg publish "$TB_DIR/$f.mwpkg" --state-dir "$(tb_state_dir 1)" --json 2>/dev/null)
    rc=$?
    [ "$rc" = 1 ] || tb_fail "$f: publish exit $rc, want 1 (refused)"
    got=$(printf '%s' "$out" | jq -r .reason)
    [ "$got" = "$want" ] || tb_fail "$f: refused as '$got', want '$want' ($(printf '%s' "$out" | jq -r .detail))"
    [ "$(pk_list 1 | jq -c '[.[] | {name, version, digest, state}]')" = "$before" ] || tb_fail "$f: the catalog changed"
    ver=$(tar xOf "$TB_DIR/$f.mwpkg" ./meshwatch/metadata.json meshwatch/metadata.json 2>/dev/null | jq -r .version)
    if tb_cli 1 pkg path "facedet@$ver" --state-dir "$(tb_state_dir 1)" >/dev/null 2>&1; then
        tb_fail "$f: facedet@$ver is runnable"
    fi
    [ ! -e "$(tb_state_dir 1)/pkg/files/facedet@$ver" ] || tb_fail "$f: files of facedet@$ver exist"
    n=$(( n + 1 ))
    tb_log "$f: refused ($want), catalog unchanged, nothing runnable"
done
#  The agent reports each of them (the CLI noted them in the catalog).
#  Wait for each reason itself (a count can be reached by one reason
#  reported twice before the last one arrives).
_refusals_seen () {
    local w
    for w in unsigned untrusted_key bad_signature rollback expired tampered_manifest tampered_blob; do
        grep -q "\"event\":\"refused\".*\"reason\":\"$w\"" "$TB_DIR/events.1" 2>/dev/null || return 1
    done
}
tb_wait_until 10 _refusals_seen || true   #  (the checks below name what is missing)
for want in unsigned untrusted_key bad_signature rollback expired tampered_manifest tampered_blob; do
    grep -q "\"event\":\"refused\".*\"reason\":\"$want\"" "$TB_DIR/events.1" \
        || tb_fail "no pkg.refused event with reason $want from box 1's agent"
done
#  Over the mesh: box 2 refused facedet@2.0 (signed by a key it does not trust).
id1=$(tb_id 1)
grep -q "\"event\":\"refused\".*\"reason\":\"untrusted_key\".*\"peer\":\"$id1\"" "$TB_DIR/events.2" \
    || tb_fail "box 2 did not report refusing box 1's package"
[ "$(pk_list 2 | jq length)" = 0 ] || tb_fail "box 2's catalog is not empty"

#  Box 3 learned facedet@2.0 (seq 20) from box 1's metadata; after kill -9
#  and a restart it still knows seq 20 and refuses seq 10.
tb_wait_until 15 pk_state_is 3 facedet 2.0 available || tb_fail "box 3 did not learn facedet@2.0"
tb_kill9 3
tb_restart_agent 3
tb_wait_until 20 pk_answers 3 || tb_fail "box 3 did not answer after its restart"
out=$(timeout 60 "$TB_MW" pkg publish "$TB_DIR/rollback.mwpkg" --state-dir "$(tb_state_dir 3)" --json 2>/dev/null)
[ "$(printf '%s' "$out" | jq -r .reason)" = rollback ] || tb_fail "box 3 after kill -9: rollback not refused: $out"
tb_log "box 3: seq 20 learned over the mesh survived kill -9; seq 10 refused (rollback)"
tb_log "PASS: $n refusals, each with its reason; box 2 refused the untrusted publisher's package; trust survived kill -9"
