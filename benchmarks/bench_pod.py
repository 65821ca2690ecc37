"""The Pod the benchmarks create and watch: about the size of a real one (labels, an annotation, one container
with environment variables and requests)."""

from __future__ import annotations

from typing import Any


def bench_pod(*, ports: bool) -> dict[str, Any]:
    """The Pod, without name or namespace; ``ports`` adds a containerPort (informer_sync's figures were
    measured with it, watch_events' without)."""
    container: dict[str, Any] = {"name": "app", "image": "registry.invalid/app:1.2.3"}
    if ports:
        container["ports"] = [{"containerPort": 8080}]
    container["env"] = [{"name": f"VAR_{i}", "value": f"value-{i}"} for i in range(5)]
    container["resources"] = {"requests": {"cpu": "100m", "memory": "64Mi"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {"app": "bench", "tier": "web"}, "annotations": {"note": "x" * 64}},
        "spec": {"containers": [container]},
    }
