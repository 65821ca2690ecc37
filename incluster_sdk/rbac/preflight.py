"""Fail fast, and say how to fix it: check at start that this identity may do what an informer (or any
component) is about to do, instead of learning it from a 403 loop in production.

The check asks exactly what the informer's requests will ask: LIST and WATCH of its collection, in its
namespace (or cluster-wide for all namespaces and for cluster-scoped kinds), narrowed to one object when its
field selector pins ``metadata.name`` (kube-apiserver then authorizes the request against that name, so a
Role with ``resourceNames`` is enough, and is what the suggested fix grants).
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import PermissionDeniedError
from ..flows import async_drive, drive
from ..resource import Resource
from .access import Decision, Step, async_perform, check_need_flow, perform
from .manifests import manifests, to_yaml
from .needs import RBAC_GROUP, Need
from .review import Identity, async_whoami, whoami

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient
    from ..client import ApiClient

log = logging.getLogger(__name__)

INFORMER_VERBS = ("list", "watch")
"""What an informer does: LIST (initial state, relists) and WATCH."""


def selected_name(field_selector: str | None) -> str | None:
    """The name kube-apiserver authorizes a LIST/WATCH with this field selector against, None when none.

    A port of what NewRequestInfo does (k8s.io/apimachinery fields.ParseSelector, then
    ``RequiresExactMatch("metadata.name")``): terms split on unescaped commas and *sorted*, the first
    ``metadata.name=`` or ``==`` term wins, nothing is trimmed, and a selector that does not parse (a term
    without an operator, an unescaped ``,`` or ``=`` in a value, a bad escape) or a name that is not a path
    segment (empty, ``.``, ``..``, containing ``/`` or ``%``) gives no name at all: then the request is
    authorized against the whole collection, and so must the preflight be.
    """
    if not field_selector:
        return None
    terms: list[tuple[str, str, str]] = []
    for term in sorted(_split_terms(field_selector)):
        if not term:
            continue
        split = _split_term(term)
        value = _unescape(split[2]) if split else None
        if split is None or value is None:
            return None  # the server cannot parse the selector: it authorizes without a name
        terms.append((split[0], split[1], value))
    name = next((value for field, op, value in terms if field == "metadata.name" and op != "!="), None)
    if not name or name in (".", "..") or "/" in name or "%" in name:
        return None
    return name


def _split_terms(selector: str) -> list[str]:
    terms, start, escaped = [], 0, False
    for i, char in enumerate(selector):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(selector[start:i])
            start = i + 1
    return [*terms, selector[start:]]


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):  # the leftmost operator, != before == before =
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape(value: str) -> str | None:
    out: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            if char not in "\\,=":
                return None
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)


def needs_for(resource: Resource, verbs: Sequence[str] = INFORMER_VERBS, field_selector: str | None = None) -> Need:
    """The need of an informer on ``resource`` (with its field selector)."""
    group = resource.api_version.rpartition("/")[0]
    return Need(tuple(verbs), resource.plural, group, selected_name(field_selector), namespaced=resource.namespaced)


def denied_error(
    identity: Identity, need: Need, denied: list[Decision], namespace: str | None, *, unknown_because: str = ""
) -> PermissionDeniedError:
    """The message a user needs: who, what is missing where, and the exact RBAC that grants it. For an unknown
    identity, ``unknown_because`` (when given) says why it could not be determined (whoami failed), and the
    fix binds the placeholder ServiceAccount ``YOUR-SERVICE-ACCOUNT``, to be replaced."""
    where = f"in namespace {namespace}" if namespace and need.namespaced is not False else "cluster-wide"
    missing = [str(d).rsplit(":", 1)[0] for d in denied]  # "watch pods in namespace shop"
    sa = identity.service_account
    if sa is not None:
        sa_namespace, sa_name = sa
        subject = {"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}
        who = f"ServiceAccount {sa_namespace}/{sa_name} ({identity.username})"
    elif identity.username:
        subject = {"kind": "User", "name": identity.username, "apiGroup": RBAC_GROUP}
        sa_namespace, sa_name, who = namespace or "default", identity.username.replace(":", "-"), identity.username
    else:  # a placeholder to replace: no valid name, so that it cannot be applied unedited
        sa_namespace, sa_name = namespace or "default", "YOUR-SERVICE-ACCOUNT"
        subject = {"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}
        who = (
            f"this client (identity could not be determined: {unknown_because})"
            if unknown_because
            else "this client (identity unknown)"
        )
    granted = Need(
        tuple(d.verb for d in denied), need.resource, need.group, need.name, need.subresource, need.namespaced
    )
    docs = manifests(
        [granted],
        namespace=namespace or sa_namespace,
        service_account=sa_name,
        name=f"{sa_name}:{need.resource}:{'-'.join(granted.verbs)}",  # ':' is in no account or resource name
        cluster_wide=namespace is None,
        subject=subject,
        include_service_account=False,
    )
    fix = to_yaml(docs)
    placeholder = (
        f" with {sa_name} replaced by the pod's ServiceAccount" if sa is None and not identity.username else ""
    )
    command = f"incluster-sdk rbac --namespace {namespace or sa_namespace} --sa {sa_name} "
    message = (
        f"{who} may not {', '.join(d.verb for d in denied)} {denied[0].target} {where}.\n"
        f"Grant it by applying this (kubectl apply -f -){placeholder}, or generate it with "
        f"`{command}{'--cluster-wide ' if namespace is None else ''}'{granted}'`:\n\n{fix}"
    )
    return PermissionDeniedError(message, missing, fix)


@dataclass(frozen=True)
class WhoamiStep:
    """Ask the driver who this client is (:func:`~incluster_sdk.rbac.whoami`), to name it in the error."""


def check_access_flow(need: Need, namespace: str | None, what: str) -> Generator[Step | WhoamiStep, Any, None]:
    """The preflight's logic for any driver: review every verb; when some are denied, ask who we are and raise
    :class:`PermissionDeniedError`. A check that cannot be made (the server is down, reviews are not allowed)
    is logged and skipped: the real requests will tell. A denial is known whoever we are: when whoami fails
    after it, the error is raised all the same, its identity part saying it could not be determined."""
    try:
        denied = [d for d in (yield from check_need_flow(need, namespace)) if not d]
    except Exception as exc:  # a failed check must not stop the app
        log.warning("RBAC preflight for %s skipped: %s", what, str(exc))
        return
    if not denied:
        return
    try:
        identity = yield WhoamiStep()
    except Exception as exc:  # the denial stands; only the name in the message is missing
        why = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        log.warning("RBAC preflight for %s: whoami failed (%s); the denial is reported without the identity", what, why)
        raise denied_error(
            Identity(username=None, source=None), need, denied, namespace, unknown_because=f"whoami failed: {why}"
        ) from exc
    raise denied_error(identity, need, denied, namespace)


def check_access(
    client: ApiClient,
    resource: Resource,
    namespace: str | None,
    verbs: Sequence[str] = INFORMER_VERBS,
    field_selector: str | None = None,
) -> None:
    """Check at start that this identity may do ``verbs`` on ``resource``; raise with the fix if it may not.

    An informer runs this when it starts (unless ``preflight=False``). One SelfSubjectAccessReview per
    verb, asked as the real requests will be: in ``namespace``, or cluster-wide for all namespaces and for a
    cluster-scoped resource, and against the one object ``field_selector`` pins with ``metadata.name=NAME``
    (the server authorizes such a LIST or WATCH against that name, so a Role with ``resourceNames`` passes).
    When some verb is denied, :func:`~incluster_sdk.rbac.review.whoami` names the identity for the message.

    A check that cannot be made (the server is down, reviews are forbidden, any other error of a review) is
    logged at WARNING and skipped: this returns, and the real requests will tell. A denial is not skipped
    when only ``whoami`` fails after it: the error is raised all the same, saying the identity could not be
    determined and why, with a fix for the placeholder ServiceAccount ``YOUR-SERVICE-ACCOUNT`` (and a
    WARNING is logged).

    :param client: the client whose identity is checked.
    :param resource: the collection the component will use (``Resource("v1", "pods")``); its
        ``namespaced`` decides the scope.
    :param namespace: the namespace the component works in; None: all namespaces.
    :param verbs: the verbs to check, as RBAC names them (not validated); default ``("list", "watch")``,
        what an informer does (:data:`INFORMER_VERBS`).
    :param field_selector: the component's field selector (``"metadata.name=app-config"``); None (the
        default): the whole collection. Only a ``metadata.name`` term that the server would read narrows the
        check (see :func:`selected_name`).
    :raises ~incluster_sdk.errors.PermissionDeniedError: if the server denies any verb. Its message names
        the identity (or says it could not be determined, when ``whoami`` failed: then ``__cause__`` is that
        failure), what is missing and where, and the ``incluster-sdk rbac`` command that writes the
        fix; ``exc.missing`` lists the denials (``["watch pods in namespace shop"]``), ``exc.fix_yaml`` holds
        the Role (or ClusterRole) and binding that grant exactly the denied verbs, for
        ``kubectl apply -f -``.
    """
    flow = check_access_flow(needs_for(resource, verbs, field_selector), namespace, resource.plural)
    drive(flow, lambda step: whoami(client) if isinstance(step, WhoamiStep) else perform(client, step))


async def async_check_access(
    client: AsyncApiClient, resource: Resource, namespace: str | None,
    verbs: Sequence[str] = INFORMER_VERBS, field_selector: str | None = None,
) -> None:  # fmt: skip
    """:func:`check_access` for the asyncio client: the same reviews, the same error, the same skipping.

    :param client: the asyncio client whose identity is checked.
    :param resource: the collection the component will use (``Resource("v1", "pods")``).
    :param namespace: the namespace the component works in; None: all namespaces.
    :param verbs: the verbs to check; default ``("list", "watch")``, what an informer does.
    :param field_selector: the component's field selector; None (the default): the whole collection.
    :raises ~incluster_sdk.errors.PermissionDeniedError: if the server denies any verb (see
        :func:`check_access`).
    """

    async def answer(step: Step | WhoamiStep) -> Any:
        return await async_whoami(client) if isinstance(step, WhoamiStep) else await async_perform(client, step)

    await async_drive(check_access_flow(needs_for(resource, verbs, field_selector), namespace, resource.plural), answer)
