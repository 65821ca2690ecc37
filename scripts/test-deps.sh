#!/usr/bin/env bash
# The clients on the oldest and on the newest kubernetes / kubernetes-asyncio releases pyproject.toml admits.
# For each pair, a virtual environment with exactly those pins, the package (editable) and its test
# dependencies, then the focused tests: tests/test_dependency_versions.py (fake API servers) and
# tests/e2e/test_dependency_versions_e2e.py (the real local kube-apiserver, "in a pod"): the token is sent,
# 401 -> re-read -> one retry, the retry policy and its opt-out, a sync and an asyncio informer sync.
#
#   bash scripts/test-deps.sh                  # the two pairs below
#   bash scripts/test-deps.sh 33.1.0:33.3.0    # other kubernetes:kubernetes-asyncio pairs (a release to admit)
#
# The environments are kept in ${INCLUSTER_SDK_VENVS:-${INCLUSTER_SDK_CACHE:-~/.cache/incluster-sdk}/venvs}, one
# per pair, Python and pyproject.toml (a change of either makes new ones). Measured for both pairs on a 2-core
# development machine: 40 s when the environments exist (two pytest runs of about 15 s, each starting its own
# local cluster); 105 s when they must be made (most of it pip), 140 s if pip's download cache is empty too.
# scripts/test.sh runs this after the main suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# The bounds of pyproject.toml's ranges ("kubernetes>=30.1.0,!=36.0.0,<38", "kubernetes-asyncio>=30.1.0,<37"):
# the oldest release each admits and the newest one below its cap. Change them together with pyproject.toml.
KUBERNETES_OLDEST=30.1.0
KUBERNETES_NEWEST=37.0.2
KUBERNETES_ASYNCIO_OLDEST=30.1.0
KUBERNETES_ASYNCIO_NEWEST=36.1.0

PAIRS=("$@")
if [ ${#PAIRS[@]} -eq 0 ]; then
  PAIRS=("$KUBERNETES_OLDEST:$KUBERNETES_ASYNCIO_OLDEST" "$KUBERNETES_NEWEST:$KUBERNETES_ASYNCIO_NEWEST")
fi
TESTS=(tests/test_dependency_versions.py tests/e2e/test_dependency_versions_e2e.py)
PYTHON=${PYTHON:-python3}
VENVS=${INCLUSTER_SDK_VENVS:-${INCLUSTER_SDK_CACHE:-$HOME/.cache/incluster-sdk}/venvs}
REPO=$(pwd)

log() { printf '[test-deps] %s\n' "$*" >&2; }

bash scripts/install-kube-binaries.sh # etcd + kube-apiserver for the e2e tests (cached: well under a second)

py_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
project=$(sha256sum pyproject.toml | cut -c1-12)
failed=()
started=$SECONDS
for pair in "${PAIRS[@]}"; do
  k=${pair%%:*}
  ka=${pair#*:}
  if [ -z "$k" ] || [ -z "$ka" ] || [ "$k" = "$pair" ]; then
    log "not a kubernetes:kubernetes-asyncio pair: $pair"
    exit 2
  fi
  name=k$k-ka$ka-py$py_version
  venv=$VENVS/$name-$project
  pair_started=$SECONDS
  if [ ! -f "$venv/.complete" ]; then
    rm -rf "$VENVS/$name"-* # environments of this pair for an older pyproject.toml
    log "$name: creating $venv"
    "$PYTHON" -m venv "$venv"
    PIP_ROOT_USER_ACTION=ignore "$venv/bin/python" -m pip install -q --disable-pip-version-check \
      -e "$REPO[testing]" "kubernetes==$k" "kubernetes-asyncio==$ka" "pytest-asyncio>=0.23" "pytest-timeout>=2.3"
    touch "$venv/.complete"
  elif ! "$venv/bin/python" -c 'import incluster_sdk, sys; sys.exit(not incluster_sdk.__file__.startswith(sys.argv[1] + "/"))' "$REPO"; then
    # The environment was filled from another checkout: point its editable install here (no dependencies move).
    PIP_ROOT_USER_ACTION=ignore "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$REPO"
  fi
  got=$("$venv/bin/python" -c '
import aiohttp, kubernetes, kubernetes_asyncio, urllib3
print(f"kubernetes {kubernetes.__version__}, kubernetes-asyncio {kubernetes_asyncio.__version__}"
      f" (urllib3 {urllib3.__version__}, aiohttp {aiohttp.__version__})")')
  log "$name: $got"
  case "$got" in
    "kubernetes $k, kubernetes-asyncio $ka "*) ;;
    *) log "$name: the environment does not have the pinned releases"; failed+=("$name"); continue ;;
  esac
  # The e2e tests must run, not skip: the local_cluster fixture fails instead of skipping when this is set.
  if INCLUSTER_SDK_REQUIRE_CLUSTER=1 "$venv/bin/python" -m pytest -p no:cacheprovider -q "${TESTS[@]}"; then
    log "$name: passed in $((SECONDS - pair_started)) s"
  else
    log "$name: FAILED"
    failed+=("$name")
  fi
done
log "${#PAIRS[@]} pair(s) in $((SECONDS - started)) s"
if [ ${#failed[@]} -gt 0 ]; then
  log "failed: ${failed[*]}"
  exit 1
fi
