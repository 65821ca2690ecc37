#!/usr/bin/env bash
# The main job on a fresh Debian machine: the pod-counter demo, then the readonly-default controller demo,
# each against a real local API server.
#   bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-kube-binaries.sh
PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check -e '.[testing,metrics]'  # metrics: prometheus_client, for readonly-default's /metrics
python3 examples/pod-counter/demo.py
exec python3 examples/readonly-default/demo.py
