"""Record the standard kinds from a real kube-apiserver's discovery into incluster_sdk/builtin_resources.json.

    python scripts/gen-builtin-resources.py        # starts the local cluster, reads discovery, writes the table

The table is what incluster_sdk.discovery.builtin_catalog() uses when no server is at hand (for example
``incluster-sdk rbac`` run offline). tests/e2e/test_discovery_catalog_e2e.py checks it against the server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import incluster_sdk
from incluster_sdk.discovery import discover
from incluster_sdk.testing.cluster import LocalCluster

OUT = Path(__file__).resolve().parent.parent / "incluster_sdk" / "builtin_resources.json"


def main() -> int:
    with LocalCluster.start() as cluster:
        cfg = cluster.admin_config()
        client = incluster_sdk.api_client(cfg)
        catalog = discover(client)
        version = client.call_api("GET", f"{cfg.host}/version", {"Accept": "application/json"})
        version.read()
        git_version = json.loads(version.data)["gitVersion"]
    if catalog.failed:  # a partial record would pass for the standard kinds
        print(f"discovery of {', '.join(catalog.failed)} failed; not writing {OUT}", file=sys.stderr)
        return 1
    table = {
        "source": f"kube-apiserver {git_version} discovery",
        "groups": sorted(catalog.groups),
        "versions": {group: list(catalog.served_versions(group)) for group in sorted(catalog.groups)},
        "resources": [r.to_json() for r in catalog.resources],
    }
    OUT.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(catalog.resources)} resources in {len(catalog.groups)} groups from {git_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
