#!/usr/bin/env bash
# Install etcd and kube-apiserver for incluster_sdk's real-server tests and demo,
# from Debian's packages only, caching the built kube-apiserver outside the repo.
#
#   bash scripts/install-kube-binaries.sh      # idempotent: seconds once cached
#
# Result: etcd at /usr/bin/etcd (package etcd-server) and kube-apiserver at
#   ${INCLUSTER_SDK_CACHE:-~/.cache/incluster-sdk}/kubernetes-<version>/kube-apiserver
# incluster_sdk.testing finds both there; INCLUSTER_SDK_ETCD / INCLUSTER_SDK_KUBE_APISERVER override.
set -euo pipefail

KUBE_VERSION=1.20.2
CACHE_ROOT=${INCLUSTER_SDK_CACHE:-$HOME/.cache/incluster-sdk}
DEST=$CACHE_ROOT/kubernetes-$KUBE_VERSION
BIN=$DEST/kube-apiserver

log() { printf '[install-kube-binaries] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@";
  else log "need root for: $*"; exit 1; fi
}

apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  log "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# etcd: a plain Debian package.
if ! command -v etcd >/dev/null 2>&1; then
  apt_install etcd-server
  # Debian's package enables a system etcd on the default ports; the harness runs its own.
  (as_root systemctl disable --now etcd >/dev/null 2>&1 || as_root service etcd stop >/dev/null 2>&1 || true)
fi

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "v$KUBE_VERSION"; then
  log "cached: $BIN"
  exit 0
fi

# kube-apiserver: not packaged; Debian's kubernetes *source* package carries the full tree with vendor/.
apt_install golang-go golang-github-modern-go-reflect2-dev rsync make dpkg-dev ca-certificates
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  log "enabling Debian source packages (deb-src bookworm main)"
  as_root tee /etc/apt/sources.list.d/incluster-sdk-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  as_root apt-get update -qq
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/incluster-sdk-kube-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
log "downloading Debian source package kubernetes ($KUBE_VERSION)"
apt-get source --download-only kubernetes >/dev/null 2>&1  # bookworm: 1.20.5+really1.20.2
dpkg-source --no-check -x kubernetes_*.dsc src >/dev/null
cd src

# The vendored reflect2 v1.0.1 panics on every request under Go >= 1.18; Debian's 1.0.2 is the fix.
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
rm -f vendor/github.com/modern-go/reflect2/go.mod

export GOPATH=$PWD/.go CGO_ENABLED=0 GOFLAGS=-mod=vendor GO111MODULE=on GOCACHE=$WORK/gocache
mkdir -p .go/src/k8s.io
ln -sfn ../../.. .go/src/k8s.io/kubernetes
log "building kube-apiserver (about 4 minutes on 2 cores)"
make WHAT=cmd/kube-apiserver KUBE_GIT_VERSION="v$KUBE_VERSION" >build.log 2>&1 || { tail -40 build.log >&2; exit 1; }
mkdir -p "$DEST"
install -m 0755 _output/bin/kube-apiserver "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
log "installed $BIN"
