#!/usr/bin/env bash
#  interop_lo: what the site already has, both ways.
#   * minisign 0.11: `minisign -V` checks meshwatch's signatures (prehashed
#     and legacy, key file and -P base64); meshwatch checks metadata signed
#     by `minisign -S` (both forms) and publishes it; keys made by either
#     tool sign with the other.
#   * a real registry (Debian's docker-registry, registry:2 of the seed) on
#     loopback, an image pushed to it with skopeo: `pkg import
#     registry:...` (every blob checked), published, exported as a Docker
#     and an OCI archive that `skopeo inspect` and `skopeo copy` accept with
#     the same image config; `docker-archive:` and `oci-archive:` imports
#     of skopeo's own archives give the same image.
#  Ports only (net id 24); no agent.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 150 "$@"
. "$SRC/tests/pkg/pkg_lib.sh"
tb_init interop_lo 24
tb_require_mw
command -v minisign >/dev/null || tb_fail "minisign is not installed (scripts/install-deps.sh)"
command -v skopeo >/dev/null || tb_fail "skopeo is not installed (scripts/install-deps.sh)"
command -v docker-registry >/dev/null || tb_fail "docker-registry is not installed (scripts/install-deps.sh)"
TB_MW=$(readlink -f "$TB_MW"); MW=$TB_MW
cd "$TB_DIR" || tb_die "cd"
pk_keys
mkdir -p w && head -c 200000 /dev/urandom > w/model.bin

#  ---- minisign, both ways --------------------------------------------------
minisign -G -W -p ms.pub -s ms.key >/dev/null || tb_fail "minisign -G"
meta () {   # meta PKG DIR - unpack a package's metadata into DIR
    rm -rf "$2" && mkdir -p "$2" && tar xf "$1" -C "$2" || tb_fail "untar $1"
}
#  meshwatch signs (prehashed, then legacy); minisign checks.
$MW pkg build --name a --version 1 --kind model --key "$PK_KEY" --out a.mwpkg w >/dev/null || tb_fail "build a"
meta a.mwpkg x
minisign -V -q -p "$PK_PUB" -m x/meshwatch/metadata.json -x x/meshwatch/metadata.json.minisig \
    || tb_fail "minisign -V refuses meshwatch's prehashed signature"
minisign -V -q -P "$(sed -n 2p "$PK_PUB")" -m x/meshwatch/metadata.json -x x/meshwatch/metadata.json.minisig \
    || tb_fail "minisign -V -P refuses meshwatch's signature"
$MW pkg build --name a --version 2 --kind model --legacy-signature --key "$PK_KEY" --out a2.mwpkg w >/dev/null \
    || tb_fail "build a2"
meta a2.mwpkg x2
head -c 10 <(sed -n 2p x2/meshwatch/metadata.json.minisig | base64 -d) | head -c 2 | grep -q Ed || tb_fail "not legacy"
minisign -V -q -p "$PK_PUB" -m x2/meshwatch/metadata.json -x x2/meshwatch/metadata.json.minisig \
    || tb_fail "minisign -V refuses meshwatch's legacy signature"
#  A minisign key signs packages; minisign's own signatures (both forms)
#  are checked and published by meshwatch.
$MW pkg build --name b --version 1 --kind model --key ms.key --out b.mwpkg w >/dev/null \
    || tb_fail "meshwatch cannot sign with a minisign -G -W key"
$MW pkg verify b.mwpkg --trusted ms.pub >/dev/null || tb_fail "b.mwpkg"
for form in "" -l; do
    meta b.mwpkg y
    minisign -S $form -s ms.key -m y/meshwatch/metadata.json -x y/meshwatch/metadata.json.minisig \
        -t "signed by hand" >/dev/null || tb_fail "minisign -S $form"
    tar cf "b$form.mwpkg" -C y . || tb_fail "tar"
    out=$($MW pkg verify "b$form.mwpkg" --trusted ms.pub --json) || tb_fail "meshwatch refuses minisign -S $form: $out"
    $MW pkg verify "b$form.mwpkg" --trusted "$PK_PUB" >/dev/null 2>&1 && tb_fail "a key not trusted was accepted"
done
$MW pkg publish b-l.mwpkg --state-dir sd --trusted ms.pub >/dev/null || tb_fail "publish minisign-signed package"
#  meshwatch's secret key file works in minisign.
echo hello > f.txt
minisign -S -s "$PK_KEY" -m f.txt >/dev/null </dev/null || tb_fail "minisign cannot use meshwatch's key"
minisign -V -q -p "$PK_PUB" -m f.txt || tb_fail "minisign -V with meshwatch's public key"
tb_log "minisign: both directions, both signature forms, both key files"

#  ---- a registry on loopback ----------------------------------------------
RP=$(( TB_PORTBASE + 60 ))
mkdir -p reg
cat > reg/config.yml <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $TB_DIR/reg/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$RP
YML
tb_bg docker-registry serve reg/config.yml > reg/log 2>&1
tb_wait_until 15 curl -sf -o /dev/null "http://127.0.0.1:$RP/v2/" || tb_fail "the registry did not start ($(tail -3 reg/log))"

#  An OCI image made by hand: one gzip layer, a config naming its diff id.
mkdir -p rootfs/app && echo 'echo hello from the image' > rootfs/app/run.sh
tar cf layer.tar -C rootfs . && gzip -9n -c layer.tar > layer.tar.gz
sha () { sha256sum "$1" | cut -d' ' -f1; }
mkdir -p oci/blobs/sha256
diff_id=$(sha layer.tar)
cp layer.tar.gz "oci/blobs/sha256/$(sha layer.tar.gz)"
printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/bin/sh","/app/run.sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')" "$diff_id" > config.json
cp config.json "oci/blobs/sha256/$(sha config.json)"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
    "$(sha config.json)" "$(stat -c %s config.json)" "$(sha layer.tar.gz)" "$(stat -c %s layer.tar.gz)" > manifest.json
cp manifest.json "oci/blobs/sha256/$(sha manifest.json)"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
    "$(sha manifest.json)" "$(stat -c %s manifest.json)" > oci/index.json
echo '{"imageLayoutVersion":"1.0.0"}' > oci/oci-layout
SK=(skopeo --insecure-policy)
"${SK[@]}" copy --dest-tls-verify=false oci:oci:v1 "docker://127.0.0.1:$RP/site/hello:v1" >/dev/null 2>&1 \
    || tb_fail "skopeo could not push to the registry"
tags=$(curl -sf "http://127.0.0.1:$RP/v2/site/hello/tags/list" | jq -r '.tags[0]')
[ "$tags" = v1 ] || tb_fail "the registry does not list the tag"

#  Import from the registry, publish, export both ways.
$MW pkg import "registry:127.0.0.1:$RP/site/hello:v1" --key "$PK_KEY" --out hello.mwpkg --json > import.json \
    || tb_fail "pkg import registry: $(cat import.json)"
[ "$(jq -r .name import.json)@$(jq -r .version import.json)" = hello@v1 ] || tb_fail "names from the registry: $(cat import.json)"
$MW pkg publish hello.mwpkg --state-dir sd --trusted "$PK_PUB" >/dev/null || tb_fail "publish hello"
kind=$($MW pkg show hello@v1 --state-dir sd --json | jq -r .kind)
[ "$kind" = oci-image ] || tb_fail "kind $kind"
$MW pkg export hello@v1 --state-dir sd --out hello-docker.tar >/dev/null || tb_fail "export docker-archive"
$MW pkg export hello@v1 --state-dir sd --format oci-archive --out hello-oci.tar >/dev/null || tb_fail "export oci-archive"
cfg_want=$(sha config.json)
for a in docker-archive:hello-docker.tar oci-archive:hello-oci.tar; do
    "${SK[@]}" inspect "$a" > inspect.json 2> inspect.err || tb_fail "skopeo inspect $a: $(cat inspect.err)"
    [ "$(jq -r .Architecture inspect.json)" = "$(jq -r .architecture config.json)" ] || tb_fail "$a: architecture"
    "${SK[@]}" inspect --config "$a" | jq -c -S . > cfg.json || tb_fail "skopeo inspect --config $a"
    [ "$(jq -c -S . config.json)" = "$(cat cfg.json)" ] || tb_fail "$a: another image config"
    rm -rf copied && "${SK[@]}" copy "$a" oci:copied:x >/dev/null 2>&1 || tb_fail "skopeo copy $a (blob digests)"
    tb_log "$a: skopeo inspect and copy accept it"
done
"${SK[@]}" inspect docker-archive:hello-docker.tar:hello:v1 >/dev/null 2>&1 \
    || tb_fail "the docker archive is not tagged hello:v1"
[ -f "$($MW pkg path hello@v1 --state-dir sd)/index.json" ] || tb_fail "pkg path of an image: no OCI layout"

#  skopeo's own archives, imported: the same image (config digest).
"${SK[@]}" copy --src-tls-verify=false "docker://127.0.0.1:$RP/site/hello:v1" docker-archive:saved.tar:site/hello:v1 \
    >/dev/null 2>&1 || tb_fail "skopeo docker-archive"
"${SK[@]}" copy --src-tls-verify=false "docker://127.0.0.1:$RP/site/hello:v1" oci-archive:saved-oci.tar:v1 \
    >/dev/null 2>&1 || tb_fail "skopeo oci-archive"
for s in docker-archive:saved.tar oci-archive:saved-oci.tar; do
    $MW pkg import "$s" --name hello2 --version "$(echo "$s" | cut -c1-3)" --key "$PK_KEY" --out h2.mwpkg >/dev/null \
        || tb_fail "pkg import $s"
    $MW pkg publish h2.mwpkg --state-dir sd --trusted "$PK_PUB" >/dev/null || tb_fail "publish $s"
    ver=$(echo "$s" | cut -c1-3)
    got=$($MW pkg show "hello2@$ver" --state-dir sd --json | jq -r '.layers[1].digest')
    [ "$got" = "sha256:$cfg_want" ] || tb_fail "$s: image config $got, want sha256:$cfg_want"
    tb_log "$s: imported, same image config"
done
tb_log "PASS"
