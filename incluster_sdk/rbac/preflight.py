"""Fail fast, and say how to fix it: check at start that this identity may do what an informer (or any
component) is about to do, instead of learning it from a 403 loop in production."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..client import ApiClient
from ..errors import PermissionDeniedError
from ..watch.resource import Resource
from .needs import RBAC_V1, Need, manifests, to_yaml
from .review import Decision, Identity, async_can_i, async_whoami, can_i, whoami

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient

log = logging.getLogger(__name__)

#: What an informer does: LIST (initial state, relists) and WATCH.
INFORMER_VERBS = ("list", "watch")


def needs_for(resource: Resource, verbs: Sequence[str] = INFORMER_VERBS) -> Need:
    group = resource.api_version.rpartition("/")[0]
    return Need(tuple(verbs), resource.plural, group)


def denied_error(
    identity: Identity, need: Need, denied: list[Decision], namespace: str | None
) -> PermissionDeniedError:
    """The message a user needs: who, what is missing where, and the exact RBAC that grants it."""
    where = f"in namespace {namespace}" if namespace else "cluster-wide (all namespaces)"
    missing = [str(d).rsplit(":", 1)[0] for d in denied]
    sa = identity.service_account
    if sa is not None:
        sa_namespace, sa_name = sa
        subject = {"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}
        who = f"ServiceAccount {sa_namespace}/{sa_name} ({identity.username})"
    elif identity.username:
        subject = {"kind": "User", "name": identity.username, "apiGroup": RBAC_V1.split("/")[0]}
        sa_namespace, sa_name, who = namespace or "default", identity.username.replace(":", "-"), identity.username
    else:
        subject = None
        sa_namespace, sa_name, who = namespace or "default", "YOUR-SERVICE-ACCOUNT", "this client (identity unknown)"
    docs = manifests(
        [need],
        namespace=namespace or sa_namespace,
        service_account=sa_name,
        name=f"{sa_name}-{need.resource.replace('/', '-')}-reader",
        cluster_wide=namespace is None,
        subject=subject,
        include_service_account=False,
    )
    fix = to_yaml(docs)
    message = (
        f"{who} may not {', '.join(d.verb for d in denied)} {need.resource}"
        f"{'.' + need.group if need.group else ''} {where}.\n"
        f"Grant it by applying this (kubectl apply -f -), or generate it with "
        f"`incluster-sdk rbac --namespace {namespace or sa_namespace} --sa {sa_name} "
        f"{'--cluster-wide ' if namespace is None else ''}{need}`:\n\n{fix}"
    )
    return PermissionDeniedError(message, missing, fix)


def check_access(
    client: ApiClient, resource: Resource, namespace: str | None, verbs: Sequence[str] = INFORMER_VERBS
) -> None:
    """Raise :class:`PermissionDeniedError` unless every verb is allowed. A check that cannot be made (the
    server is down, reviews are not allowed) is logged and skipped: the real requests will tell."""
    need = needs_for(resource, verbs)
    try:
        decisions = [can_i(client, verb, need.resource, namespace=namespace, group=need.group) for verb in verbs]
        denied = [d for d in decisions if not d]
        if denied:
            raise denied_error(whoami(client), need, denied, namespace)
    except PermissionDeniedError:
        raise
    except Exception as exc:  # a failed check must not stop the app
        log.warning("RBAC preflight for %s skipped: %s", resource.plural, str(exc))


async def async_check_access(
    client: AsyncApiClient, resource: Resource, namespace: str | None, verbs: Sequence[str] = INFORMER_VERBS
) -> None:
    need = needs_for(resource, verbs)
    try:
        decisions = [
            await async_can_i(client, verb, need.resource, namespace=namespace, group=need.group) for verb in verbs
        ]
        denied = [d for d in decisions if not d]
        if denied:
            raise denied_error(await async_whoami(client), need, denied, namespace)
    except PermissionDeniedError:
        raise
    except Exception as exc:
        log.warning("RBAC preflight for %s skipped: %s", resource.plural, str(exc))
