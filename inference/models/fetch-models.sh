#!/bin/sh
# fetch-models.sh - make the face-api 1.7.15 model weights available locally.
#
# Usage: inference/models/fetch-models.sh [--demo]
#
# Cache dir: ${MW_CACHE:-<repo root>/.cache}. If
#   <cache>/face-api/package/model/tiny_face_detector_model-weights_manifest.json
# (or the SSD manifest / .bin files) is missing, runs
#   npm pack @vladmandic/face-api@1.7.15
# in <cache>/face-api, checks the tarball's sha512 integrity against the pinned
# value below and extracts it to <cache>/face-api/package.
#
# stdout: exactly one line, the absolute model dir (or, with --demo, the
# absolute demo dir holding sample1..6.jpg). Everything else goes to stderr.
# Idempotent; safe to run from any cwd and under `set -eu`.
#
# The weights come from the public npm package @vladmandic/face-api (MIT);
# they are never committed to this repository.
set -eu

PKG_NAME='@vladmandic/face-api'
PKG_VERSION='1.7.15'
TARBALL='vladmandic-face-api-1.7.15.tgz'
# npm view @vladmandic/face-api@1.7.15 dist.integrity
PKG_INTEGRITY='sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw=='

die() {
	echo "fetch-models.sh: error: $*" >&2
	exit 1
}
info() {
	echo "fetch-models.sh: $*" >&2
}

want=model
for arg in "$@"; do
	case "$arg" in
	--demo) want=demo ;;
	-h | --help)
		sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 0
		;;
	*) die "unknown argument '$arg' (usage: fetch-models.sh [--demo])" ;;
	esac
done

script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P) ||
	die "cannot locate script directory"
repo_root=$(CDPATH='' cd -- "$script_dir/../.." && pwd -P) ||
	die "cannot locate repository root"

cache=${MW_CACHE:-$repo_root/.cache}
mkdir -p -- "$cache" || die "cannot create cache dir '$cache'"
cache=$(CDPATH='' cd -- "$cache" && pwd -P) || die "cannot enter cache dir '$cache'"

fa_dir=$cache/face-api
pkg_dir=$fa_dir/package
model_dir=$pkg_dir/model
demo_dir=$pkg_dir/demo

have_package() {
	[ -s "$model_dir/tiny_face_detector_model-weights_manifest.json" ] &&
		[ -s "$model_dir/tiny_face_detector_model.bin" ] &&
		[ -s "$model_dir/ssd_mobilenetv1_model-weights_manifest.json" ] &&
		[ -s "$model_dir/ssd_mobilenetv1_model.bin" ] &&
		[ -s "$demo_dir/sample1.jpg" ]
}

# sha512 integrity string (npm "sha512-<base64>") of a file
integrity_of() {
	if command -v openssl >/dev/null 2>&1; then
		printf 'sha512-%s' "$(openssl dgst -sha512 -binary <"$1" | base64 | tr -d '\n')"
	elif command -v node >/dev/null 2>&1; then
		node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$1"
	else
		die "need openssl or node to verify the tarball"
	fi
}

# Tests run in parallel and may all find the cache empty: one fetches, the
# others wait for it and then find the package.
if ! have_package && command -v flock >/dev/null 2>&1; then
	exec 9>"$cache/.fetch.lock"
	flock 9
fi

if ! have_package; then
	command -v npm >/dev/null 2>&1 || die "npm not found; it is needed to fetch $PKG_NAME@$PKG_VERSION"
	command -v tar >/dev/null 2>&1 || die "tar not found"
	mkdir -p -- "$fa_dir" || die "cannot create '$fa_dir'"

	tgz=$fa_dir/$TARBALL
	if [ -f "$tgz" ] && [ "$(integrity_of "$tgz")" != "$PKG_INTEGRITY" ]; then
		info "cached $TARBALL fails the integrity check; fetching it again"
		rm -f -- "$tgz"
	fi
	if [ ! -f "$tgz" ]; then
		info "fetching $PKG_NAME@$PKG_VERSION with npm pack into $fa_dir"
		# npm pack prints the tarball name on stdout: keep our stdout clean.
		(cd -- "$fa_dir" && npm pack --silent "$PKG_NAME@$PKG_VERSION") >&2 ||
			die "npm pack $PKG_NAME@$PKG_VERSION failed (is the npm registry reachable?)"
		[ -f "$tgz" ] || die "npm pack did not produce $tgz"
	fi
	got=$(integrity_of "$tgz")
	if [ "$got" != "$PKG_INTEGRITY" ]; then
		rm -f -- "$tgz"
		die "integrity mismatch for $TARBALL: expected $PKG_INTEGRITY, got $got (file removed)"
	fi

	tmp=$fa_dir/.extract.$$
	rm -rf -- "$tmp"
	mkdir -p -- "$tmp"
	trap 'rm -rf -- "$tmp"' EXIT
	tar -xzf "$tgz" -C "$tmp" || die "cannot extract $tgz"
	[ -d "$tmp/package/model" ] || die "$TARBALL has no package/model directory"
	if [ -e "$pkg_dir" ]; then
		rm -rf -- "$pkg_dir" || die "cannot remove incomplete '$pkg_dir'"
	fi
	mv -- "$tmp/package" "$pkg_dir" || die "cannot move extracted package to '$pkg_dir'"
	rm -rf -- "$tmp"
	trap - EXIT
	have_package || die "extracted package is incomplete (missing model or demo files under $pkg_dir)"
	info "extracted $PKG_NAME@$PKG_VERSION into $pkg_dir"
fi

if [ "$want" = demo ]; then
	printf '%s\n' "$demo_dir"
else
	printf '%s\n' "$model_dir"
fi
