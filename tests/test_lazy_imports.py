"""``import incluster_sdk`` loads none of the heavy libraries; every public name still resolves from the package."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("kubernetes", "kubernetes_asyncio", "aiohttp", "yaml", "watchdog", "cryptography")


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_import_loads_no_heavy_library() -> None:
    loaded = run(f"import sys, incluster_sdk; print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert loaded == "[]"


def test_every_public_name_resolves_on_first_use() -> None:
    out = run(
        "import incluster_sdk, sys\n"
        "from incluster_sdk import ApiClient, AsyncApiClient, api_client, async_api_client\n"
        "import kubernetes.client\n"
        "assert issubclass(ApiClient, kubernetes.client.ApiClient)\n"
        "assert all(getattr(incluster_sdk, n) is not None for n in incluster_sdk.__all__)\n"
        "assert set(incluster_sdk.__all__) <= set(dir(incluster_sdk))\n"
        "print('ok')"
    )
    assert out == "ok"


def test_reading_config_in_a_pod_needs_no_yaml() -> None:
    """In a pod, load_config reads the mount: PyYAML (kubeconfig only) stays unloaded."""
    out = run(
        "import sys, tempfile\n"
        "from incluster_sdk.testing import FakeServiceAccountMount\n"
        "mount = FakeServiceAccountMount(tempfile.mkdtemp(), token='t1', host='127.0.0.1', port='6443')\n"
        "with mount.activated():\n"
        "    import incluster_sdk\n"
        "    cfg = incluster_sdk.load_config(service_account_dir=mount.path)\n"
        "    print(cfg.kind, 'yaml' in sys.modules)"
    )
    assert out == "in-cluster False"
