"""Owner references, pure: controller-runtime's ``SetControllerReference`` / ``SetOwnerReference`` on a plain
JSON object, with the checks that keep the garbage collector from deleting what it should not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .calls import metadata_of
from .object_errors import AlreadyOwnedError, ObjectError

__all__ = ["set_owner_reference"]


def _group(api_version: Any) -> str | None:
    if not isinstance(api_version, str) or not api_version or api_version.count("/") > 1:
        return None  # schema.ParseGroupVersion fails: never the same object
    return api_version.rpartition("/")[0]


def _same_owner(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """controller-runtime ``referSameObject``: same API group (any version), kind and name; or the same UID."""
    if a.get("uid") and a.get("uid") == b.get("uid"):
        return True
    group_a, group_b = _group(a.get("apiVersion")), _group(b.get("apiVersion"))
    return (
        group_a is not None and group_a == group_b and a.get("kind") == b.get("kind") and a.get("name") == b.get("name")
    )


def _describe(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    where = f"{metadata.get('namespace')}/" if metadata.get("namespace") else ""
    return f"{obj.get('kind') or 'object'} {where}{metadata.get('name') or metadata.get('generateName') or '?'}"


def set_owner_reference(
    obj: dict[str, Any], owner: Mapping[str, Any], *, controller: bool = True, block_owner_deletion: bool | None = None
) -> None:
    """Add ``owner`` to ``obj``'s metadata.ownerReferences, in place; no request (write ``obj`` afterwards).

    controller-runtime's ``SetControllerReference`` (``controller=True``, the default: ``controller: true`` and
    ``blockOwnerDeletion: true``) and ``SetOwnerReference`` (``controller=False``: neither flag), with the same
    checks. A reference to the same owner (same API group, any version, kind and
    name, as controller-runtime's ``referSameObject``; or the same uid) is replaced in place, flags included, so calling
    this again is harmless and a re-created owner's new uid is taken; other references are kept. The checks keep the
    garbage collector from deleting ``obj``: it treats an owner it cannot find (another namespace, or a namespaced owner
    of a cluster-scoped object) as deleted.

    :param obj: the object to own, a dict as read or about to be written (``{"metadata": {"name": ...,
        "namespace": ...}, ...}``); its metadata (created if absent) gets the ``ownerReferences`` list. A
        namespaced object must carry its metadata.namespace: without one it counts as cluster-scoped.
    :param owner: the owning object as read from the API server, a dict with apiVersion, kind, metadata.name
        and metadata.uid (the uid is assigned on create); not modified.
    :param controller: True (default, ``SetControllerReference``): the reference says ``controller: true``,
        the one owner whose controller manages ``obj`` (an object has at most one); False
        (``SetOwnerReference``): a plain owner, one of any number.
    :param block_owner_deletion: whether the reference says ``blockOwnerDeletion: true``, so that a foreground
        deletion of the owner waits for ``obj``; the writer then needs ``update`` on the owner's ``finalizers``
        subresource where the OwnerReferencesPermissionEnforcement admission plugin is on. None (the default):
        as controller-runtime, True for a controller reference (its ``SetControllerReference``), False for a
        plain one (its ``SetOwnerReference``). True or False overrides that (its ``WithBlockOwnerDeletion``);
        False leaves the field out, which the API server reads as false.
    :raises AlreadyOwnedError: with ``controller=True``, when ``obj`` already has a controller reference to a
        different owner; its ``owner`` is that reference. Remove it first, or pass ``controller=False``.
    :raises ObjectError: when ``obj``'s metadata is not a dict; ``owner`` is not a dict or lacks apiVersion,
        kind, metadata.name or metadata.uid; ``owner`` is in another namespace than ``obj``
        (cross-namespace owner references are disallowed); or ``owner`` is namespaced and ``obj`` has no
        namespace.
    """
    what = f"set owner of {_describe(obj)}"
    metadata = obj.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise ObjectError(f"{what}: metadata is a {type(metadata).__name__}, not a dict")
    owner_meta = metadata_of(owner, what)
    missing = [key for key in ("apiVersion", "kind") if not owner.get(key)]
    missing += [f"metadata.{key}" for key in ("name", "uid") if not owner_meta.get(key)]
    if missing:
        raise ObjectError(
            f"{what}: the owner has no {', '.join(missing)}; pass the owner as read from the API server (the uid is"
            " assigned on create)"
        )
    owner_ns, obj_ns = owner_meta.get("namespace") or "", metadata.get("namespace") or ""
    if owner_ns and not obj_ns:
        raise ObjectError(
            f"{what}: a cluster-scoped object cannot have a namespaced owner ({_describe(owner)}); the garbage"
            " collector would not find the owner and would delete it. Use a cluster-scoped owner"
        )
    if owner_ns and owner_ns != obj_ns:
        raise ObjectError(
            f"{what}: cross-namespace owner references are disallowed (owner in {owner_ns!r}, object in {obj_ns!r});"
            " the owner must be in the object's namespace or cluster-scoped"
        )
    ref: dict[str, Any] = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner_meta["name"],
        "uid": owner_meta["uid"],
    }
    if controller:
        ref["controller"] = True
    if controller if block_owner_deletion is None else block_owner_deletion:
        ref["blockOwnerDeletion"] = True
    references = [dict(r) for r in metadata.get("ownerReferences") or []]
    if controller:
        existing = next((r for r in references if r.get("controller")), None)
        if existing is not None and not _same_owner(existing, ref):
            raise AlreadyOwnedError(
                f"{what}: it is already controlled by {existing.get('kind')} {existing.get('name')!r}"
                f" (uid {existing.get('uid')}); an object has at most one controller. Remove that reference first,"
                " or pass controller=False to add a non-controlling owner",
                existing,
            )
    for index, existing in enumerate(references):
        if _same_owner(existing, ref):
            references[index] = ref
            break
    else:
        references.append(ref)
    metadata["ownerReferences"] = references
