#!/usr/bin/env bash
# Install etcd and kube-apiserver for incluster_sdk's real-server tests and demo, and the client-go
# kubeconfig oracle for its conformance tests, from Debian's packages only, caching the built binaries
# outside the repo.
#
#   bash scripts/install-kube-binaries.sh          # idempotent: seconds once cached
#   bash scripts/install-kube-binaries.sh --bench  # also the client-go informer the benchmarks compare with
#
# Result: etcd at /usr/bin/etcd (package etcd-server), and in
#   ${INCLUSTER_SDK_CACHE:-~/.cache/incluster-sdk}/kubernetes-<version>/
# kube-apiserver and the Go programs built against the same tree's vendored client-go: kubeconfig-oracle
# (scripts/kubeconfig-oracle/main.go), workqueue-oracle (scripts/workqueue-oracle/main.go), informer-oracle
# (scripts/informer-oracle/main.go) and, with --bench, informer-bench (benchmarks/clientgo-informer/main.go).
# incluster_sdk.testing finds kube-apiserver there, tests/conformance/oracle.py the kubeconfig oracle,
# tests/test_workqueue_oracle.py the workqueue oracle, tests/test_informer_oracle.py the informer oracle;
# INCLUSTER_SDK_ETCD / INCLUSTER_SDK_KUBE_APISERVER / INCLUSTER_SDK_KUBECONFIG_ORACLE / INCLUSTER_SDK_WORKQUEUE_ORACLE
# / INCLUSTER_SDK_INFORMER_ORACLE override.
set -euo pipefail

KUBE_VERSION=1.20.2
CACHE_ROOT=${INCLUSTER_SDK_CACHE:-$HOME/.cache/incluster-sdk}
DEST=$CACHE_ROOT/kubernetes-$KUBE_VERSION
BIN=$DEST/kube-apiserver
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Go programs built in the kubernetes tree, as name=source (relative to the repo). Each is rebuilt whenever
# its source changes: the sha256 of the main.go it was built from is kept beside it as <name>.sha256 (a
# version check, as for kube-apiserver, cannot see an edited main.go).
GO_PROGRAMS=(kubeconfig-oracle=scripts/kubeconfig-oracle/main.go workqueue-oracle=scripts/workqueue-oracle/main.go
  informer-oracle=scripts/informer-oracle/main.go)
for arg in "$@"; do
  case $arg in
    --bench) GO_PROGRAMS+=(informer-bench=benchmarks/clientgo-informer/main.go) ;;
    *) printf 'unknown argument %s (known: --bench)\n' "$arg" >&2; exit 2 ;;
  esac
done
source_sum() { sha256sum "$1" | cut -d' ' -f1; }

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

# Build only what is missing or stale.
WHAT=()
if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "v$KUBE_VERSION"; then
  log "cached: $BIN"
else
  WHAT+=(cmd/kube-apiserver)
fi
for program in "${GO_PROGRAMS[@]}"; do
  name=${program%%=*}
  if [ -x "$DEST/$name" ] && [ "$(cat "$DEST/$name.sha256" 2>/dev/null)" = "$(source_sum "$REPO/${program#*=}")" ]; then
    log "cached: $DEST/$name"
  else
    WHAT+=("cmd/$name")
  fi
done
[ ${#WHAT[@]} -eq 0 ] && exit 0

# kube-apiserver: not packaged; Debian's kubernetes *source* package carries the full tree with vendor/.
# The Go programs are built in the same tree so that they run exactly the client-go that tree vendors.
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
# Copy the sources now and install the sums of these very copies, so an edit during the build is not marked
# as built.
for program in "${GO_PROGRAMS[@]}"; do
  name=${program%%=*}
  mkdir -p "cmd/$name"
  cp "$REPO/${program#*=}" "cmd/$name/main.go"
done
if [ "${WHAT[0]}" != cmd/kube-apiserver ]; then
  # Only Go programs: compile them as make's build step does (GOPATH mode, from the symlinked import path) but
  # skip make's code generation, which takes minutes and serves kube-apiserver: the generated files client-go
  # needs ship in the tree (regenerating them with this Go only adds "//go:build" lines).
  log "building ${WHAT[*]} (1-2 minutes on 2 cores)"
  mkdir -p _output/bin
  for what in "${WHAT[@]}"; do
    (cd .go/src/k8s.io/kubernetes && GO111MODULE=off GOFLAGS= go build -trimpath -tags selinux,notest -ldflags "-s -w" \
      -o "_output/bin/${what#cmd/}" "./$what") >build.log 2>&1 || { tail -40 build.log >&2; exit 1; }
  done
else
  log "building ${WHAT[*]} (about 5 minutes on 2 cores)"
  make WHAT="${WHAT[*]}" KUBE_GIT_VERSION="v$KUBE_VERSION" >build.log 2>&1 || { tail -40 build.log >&2; exit 1; }
fi
mkdir -p "$DEST"
for what in "${WHAT[@]}"; do
  name=${what#cmd/}
  install -m 0755 "_output/bin/$name" "$DEST/$name.tmp"
  mv "$DEST/$name.tmp" "$DEST/$name"
  log "installed $DEST/$name"
done
# Written after the binary: an interrupted install leaves a stale or missing sum, never a wrong binary marked current.
for program in "${GO_PROGRAMS[@]}"; do
  name=${program%%=*}
  if [[ " ${WHAT[*]} " == *" cmd/$name "* ]]; then
    source_sum "cmd/$name/main.go" >"$DEST/$name.sha256"
  fi
done
