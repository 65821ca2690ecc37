"""The custom resource the e2e tests create: widgets (kind Widget, short name wdg) in a group of the test's."""

from __future__ import annotations

from typing import Any

#: Any object is valid: the tests are about discovery and RBAC, not validation.
ANY_OBJECT = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}


def widget_crd(group: str, *, scope: str, versions: dict[str, bool], status: bool = False) -> dict[str, Any]:
    """The CustomResourceDefinition of ``widgets.<group>``, served in ``versions`` ({name: stored}); ``status``
    adds the status subresource to each."""
    served = [
        {"name": name, "served": True, "storage": stored, "schema": ANY_OBJECT}
        | ({"subresources": {"status": {}}} if status else {})
        for name, stored in versions.items()
    ]
    names = {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "scope": scope, "names": names, "versions": served},
    }
