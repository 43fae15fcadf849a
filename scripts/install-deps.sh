#!/bin/sh
# Install what meshwatch needs to build, test and run on Debian 12 (as root).
# Idempotent: apt-get skips what is already there.
set -eu
export DEBIAN_FRONTEND=noninteractive
PKGS="build-essential autoconf automake libtool pkg-config git ca-certificates \
  libzmq3-dev libczmq-dev libmsgpack-dev libsodium-dev libsqlite3-dev \
  libturbojpeg0-dev libopenblas-dev libcurl4-openssl-dev libmicrohttpd-dev libjson-c-dev \
  iproute2 nftables procps psmisc jq curl openssl python3 valgrind clang clang-format libclang-rt-14-dev \
  spin prometheus libarchive-dev libssl-dev minisign skopeo docker-registry \
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg \
  python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly golang-go golang-github-hashicorp-memberlist-dev"
# npm fetches the face-api model package; a machine that already has node
# (e.g. from NodeSource, which bundles npm) must not get Debian's npm on top.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing" >&2
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
