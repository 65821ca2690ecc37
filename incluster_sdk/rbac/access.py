"""May I? The API server's own answer (SelfSubjectAccessReview) for a need, asked in the scope the
authorizer will really check it in.

    can_i(client, "watch", "pods", namespace="shop")                      # Decision, truthy when allowed
    can_i(client, "list", "configmaps", namespace="shop", name="app-config")
    can_i(client, "get", "pods", namespace="shop", subresource="log")
    can_i(client, "list", "namespaces", namespace="shop")                 # asked cluster-wide: see below
    check_need(client, parse_need("get,list,watch:configmaps/app-config"), "shop")   # one Decision per verb

The resource is resolved against the server's discovery (cached per client), so ``deploy`` and
``deployment.apps`` mean ``deployments.apps``, and a typo is a :class:`~incluster_sdk.rbac.NeedError`
instead of a silent "no". The scope follows the server: a cluster-scoped resource is asked about
cluster-wide even when a namespace is given, because a Role in that namespace could say "yes" to the
question and still never allow the request (a namespaced Role that lists ``namespaces`` is exactly that).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .. import rest
from ..catalog import ResourceCatalog
from ..discovery import CatalogStep, async_catalog_for, builtin_catalog, catalog_for, refresh_failure
from ..flows import async_drive, drive
from .needs import SUBRESOURCE_FLAG, Need, NeedError, parse_need

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient
    from ..client import ApiClient

log = logging.getLogger(__name__)

ACCESS_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
"""Where every access check posts its SelfSubjectAccessReview."""


@dataclass(frozen=True)
class Decision:
    """The server's answer to "may I ``verb`` this?" (one SelfSubjectAccessReview); truthy when allowed.

    ``str(decision)`` reads ``watch pods in namespace shop: yes`` or ``list namespaces cluster-wide: no``;
    :attr:`target` is the resource part in need syntax.

    :param allowed: the server's verdict (``status.allowed``): True when some authorizer allows the request,
        False when one denies it or none has an opinion.
    :param verb: the verb asked about, lowercase (``"watch"``); for a non-resource URL, the HTTP method.
    :param resource: the resource's plural name (``"pods"``), ``"*"`` for every resource; ``""`` for a
        non-resource URL.
    :param group: the API group; ``""`` (the default) is the core group.
    :param namespace: the namespace the question was asked in; None (the default): cluster-wide (all
        namespaces, or a cluster-scoped resource, which is asked about cluster-wide even if the caller passed
        a namespace).
    :param name: the one object asked about; None (the default): any object.
    :param subresource: the subresource asked about (``"log"``); None (the default): the resource itself.
    :param reason: the server's explanation (``status.reason``, else ``status.evaluationError``), e.g.
        ``RBAC: allowed by RoleBinding "app/shop" of Role "app" to ServiceAccount "app/shop"``; often ``""``
        (the default) for a denial, which RBAC does not explain.
    :param non_resource_url: the non-resource URL asked about (``"/healthz"``); None (the default) for a
        resource.
    """

    allowed: bool
    verb: str
    resource: str
    group: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    reason: str = ""
    non_resource_url: str | None = None

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def target(self) -> str:
        """What was asked about, in need syntax: ``pods/web --subresource=log``, ``deployments.apps``, or the
        non-resource URL."""
        if self.non_resource_url is not None:
            return self.non_resource_url
        text = (f"{self.resource}.{self.group}" if self.group else self.resource) + (
            f"/{self.name}" if self.name else ""
        )
        return f"{text} {SUBRESOURCE_FLAG}={self.subresource}" if self.subresource else text

    def __str__(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else " cluster-wide"
        if self.non_resource_url is not None:
            where = ""
        return f"{self.verb} {self.target}{where}: {'yes' if self.allowed else 'no'}"


# -- bodies and answers (no I/O) -----------------------------------------------------------------------------
def access_review_body(need: Need, verb: str, namespace: str | None) -> dict[str, Any]:
    """The SelfSubjectAccessReview for ``verb`` on ``need``, for an app working in ``namespace``."""
    if need.non_resource_url is not None:
        spec: dict[str, Any] = {"nonResourceAttributes": {"path": need.non_resource_url, "verb": verb}}
    else:
        attributes: dict[str, Any] = {"verb": verb, "resource": need.resource, "group": need.group}
        for key, value in (
            ("subresource", need.subresource),
            ("namespace", need.review_namespace(verb, namespace)),
            ("name", need.name),
        ):
            if value:
                attributes[key] = value
        spec = {"resourceAttributes": attributes}
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec}


def parse_access_review(body: dict[str, Any], request: dict[str, Any]) -> Decision:
    """The :class:`Decision` in a SelfSubjectAccessReview answer to ``request``."""
    status = body.get("status") or {}
    reason = str(status.get("reason") or status.get("evaluationError") or "")
    spec = request["spec"]
    if "nonResourceAttributes" in spec:
        attributes = spec["nonResourceAttributes"]
        return Decision(
            bool(status.get("allowed")), attributes["verb"], "", reason=reason, non_resource_url=attributes["path"]
        )
    attributes = spec["resourceAttributes"]
    return Decision(
        allowed=bool(status.get("allowed")),
        verb=attributes["verb"],
        resource=attributes["resource"],
        group=attributes.get("group", ""),
        namespace=attributes.get("namespace"),
        name=attributes.get("name"),
        subresource=attributes.get("subresource"),
        reason=reason,
    )


#: One verb, as can_i takes it (any case: parse_need lowercases it).
_ONE_VERB = re.compile(r"^(\*|[A-Za-z][A-Za-z-]*)$")


def _spec(verb: str, resource: str, name: str | None, group: str, subresource: str | None) -> str:
    """The need ``can_i``'s arguments stand for; each argument is checked first, with a message that names it."""
    for arg, value in (("verb", verb), ("resource", resource), ("group", group)):
        if not isinstance(value, str):
            raise NeedError(f"{arg}={value!r}: {arg} is a str, not {type(value).__name__}")
    for arg, optional in (("resource", resource), ("name", name), ("subresource", subresource)):
        if optional is not None and not isinstance(optional, str):
            raise NeedError(f"{arg}={optional!r}: {arg} is a str or None, not {type(optional).__name__}")
        if optional is not None and (not optional or not optional.isprintable() or any(c.isspace() for c in optional)):
            what = "empty (an unset variable?)" if not optional else "not one word of printable text"
            fix = {"resource": "pass a TYPE such as pods", "name": "pass name=None for every object"}
            raise NeedError(f"{arg}={optional!r} is {what}; {fix.get(arg, 'pass subresource=None for the resource')}")
    if not _ONE_VERB.match(verb):
        several = ",".join(verb.replace(",", " ").split()) or "get,list"
        raise NeedError(
            f"verb={verb!r}: can_i takes one verb; for several, check_need(client,"
            f" parse_need({f'{several}:{resource}'!r}), namespace) answers for each"
        )
    if group and resource.startswith("/"):
        raise NeedError(f"group={group!r}: {resource!r} is a non-resource URL, which has no group; drop group=")
    if group and ("/" in group or not group.isprintable() or any(c.isspace() for c in group)):
        raise NeedError(f"group={group!r} is not an API group (e.g. apps); the TYPE goes in resource=")
    if group and "." in resource.partition("/")[0]:
        raise NeedError(f"{resource!r} names its group already; drop group={group!r}")
    if name and "/" in resource:
        raise NeedError(f"{resource!r} names an object already; drop name={name!r}")
    text = f"{verb}:{resource}{'.' + group if group else ''}{'/' + name if name else ''}"
    return f"{text} {SUBRESOURCE_FLAG}={subresource}" if subresource else text


# -- the flows (no I/O): what to ask, in order ----------------------------------------------------------------
@dataclass(frozen=True)
class ReviewStep:
    """Ask the driver to POST this SelfSubjectAccessReview; it answers (HTTP status, body)."""

    body: dict[str, Any]


Step = CatalogStep | ReviewStep
T = TypeVar("T")
AccessFlow = Generator[Step, Any, T]
"""A flow of access checks: yields steps, receives their answers, returns ``T``."""


def check_need_flow(need: Need, namespace: str | None) -> AccessFlow[list[Decision]]:
    """One review per verb of ``need``: :func:`check_need`'s logic, for any driver."""
    decisions = []
    for verb in need.verbs:
        request = access_review_body(need, verb, namespace)
        status, data = yield ReviewStep(request)
        decisions.append(parse_access_review(rest.decode_object(status, data, f"POST {ACCESS_REVIEW_PATH}"), request))
    return decisions


def can_i_flow(spec: str, namespace: str | None) -> AccessFlow[Decision]:
    """Resolve ``spec`` in the client's catalog, then review it: :func:`can_i`'s logic.

    Discovery is read again once when the TYPE is unknown (perhaps a CRD created since). When a catalog cannot
    be read, the built-in table resolves the standard kinds instead, for the first read as for the re-read; a
    need the built-in table refuses too raises the cached catalog's :class:`NeedError`, which then also says
    why the re-read failed."""
    try:
        catalog = yield CatalogStep()
    except Exception as exc:  # discovery down: still resolve the standard kinds (the review will tell)
        log.warning("discovery failed (%s); resolving %r with the built-in table", exc, spec)
        need = parse_need(spec, builtin_catalog())
    else:
        need = yield from _resolve(spec, catalog)
    return (yield from check_need_flow(need, namespace))[0]


def _resolve(spec: str, catalog: ResourceCatalog) -> Generator[CatalogStep, ResourceCatalog, Need]:
    """``spec`` read in ``catalog``; on a miss, in a re-read one, else (the re-read failed) the built-in table."""
    try:
        return parse_need(spec, catalog)
    except NeedError as exc:
        miss = exc
    try:
        fresh = yield CatalogStep(refresh=True)
    except Exception as exc:  # the re-read failed: as when discovery is down, the built-in table
        log.warning("discovery could not be read again (%s); resolving %r with the built-in table", exc, spec)
        try:
            return parse_need(spec, builtin_catalog())
        except NeedError:
            raise NeedError(f"{miss} ({refresh_failure(exc)})") from exc
    return parse_need(spec, fresh)


# -- sync driver ---------------------------------------------------------------------------------------------
def perform(client: ApiClient, step: Step) -> Any:
    """Answer one step of an access flow with the sync client."""
    if isinstance(step, CatalogStep):
        return catalog_for(client, refresh=step.refresh)
    return rest.request(client, "POST", ACCESS_REVIEW_PATH, step.body)


def check_need(client: ApiClient, need: Need, namespace: str | None) -> list[Decision]:
    """Ask the server whether this identity may do each verb of ``need``, in the scope the server checks it in.

    One SelfSubjectAccessReview (``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews``) per verb.
    The scope is :meth:`Need.review_namespace <incluster_sdk.rbac.vocabulary.Need.review_namespace>`'s: a
    cluster-scoped resource is asked about cluster-wide whatever ``namespace`` is; for ``bind``,
    ``namespace`` asks about RoleBindings there, None about ClusterRoleBindings (see :func:`can_i`). The need
    is taken as it is (no discovery, no checks): make it with
    :func:`~incluster_sdk.rbac.needs.parse_need`.

    :param client: the client whose identity is asked about.
    :param need: what to ask about, all its verbs at once.
    :param namespace: the namespace the app works in; None: all namespaces (cluster-wide).
    :returns: one :class:`Decision` per verb, in the order of ``need.verbs``.
    :raises ~incluster_sdk.errors.ApiError: if the server answers a review with an error status, or with
        something that is not a JSON object.
    :raises urllib3.exceptions.HTTPError: if the server cannot be reached, after the client's retries.
    """
    return drive(check_need_flow(need, namespace), lambda step: perform(client, step))


def can_i(
    client: ApiClient,
    verb: str,
    resource: str,
    namespace: str | None = None,
    name: str | None = None,
    group: str = "",
    subresource: str | None = None,
) -> Decision:
    """Ask the server whether this identity may ``verb`` the ``resource``, as ``kubectl auth can-i`` does.

    The arguments are read as the need ``VERB:RESOURCE[.GROUP][/NAME] [--subresource=SUB]`` by
    :func:`~incluster_sdk.rbac.needs.parse_need`, against the server's discovery: read once per client and
    cached (:func:`~incluster_sdk.discovery.catalog_for`), read again once when the TYPE is unknown (a custom
    resource created since); if discovery fails, or the re-read does, the standard kinds are resolved with
    the built-in table (and a warning is logged). Then one SelfSubjectAccessReview
    (``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews``) asks, in the scope the server will check
    the real request in: a cluster-scoped resource cluster-wide even when ``namespace`` is given, a namespace
    object in its own namespace. ``bind`` is asked in the namespace of the binding it is for:
    ``namespace="app"`` asks whether a RoleBinding in ``app`` may reference the role, ``namespace=None``
    whether a ClusterRoleBinding may (the server checks that in no namespace). Wildcards and other risky
    needs issue a :class:`~incluster_sdk.rbac.vocabulary.NeedWarning`, as :func:`parse_need` does.

    :param client: the client whose identity is asked about.
    :param verb: one verb, any case (``"get"``, ``"watch"``, ``"*"``); for several,
        :func:`check_need`.
    :param resource: a TYPE as kubectl takes it (``"pods"``, ``"Pod"``, ``"deploy"``, ``"deployments.apps"``),
        optionally ``"TYPE/NAME"``, or a non-resource URL (``"/healthz"``).
    :param namespace: the namespace to ask about; None (the default): all namespaces, as ``kubectl auth can-i
        -A`` asks.
    :param name: only the object with this name, as ``TYPE/NAME`` would; None (the default): any object. Not
        together with ``TYPE/NAME`` in ``resource``.
    :param group: the API group, instead of writing ``TYPE.GROUP`` in ``resource``; ``""`` (the default):
        the group ``resource`` names, else the one discovery resolves it to.
    :param subresource: only this subresource (``"log"``, ``"status"``), as ``--subresource`` does; None (the
        default): the resource itself.
    :returns: the :class:`Decision`, truthy when allowed.
    :raises ~incluster_sdk.rbac.vocabulary.NeedError: for a malformed argument (named in the message: an
        empty string, several verbs, a ``group`` and a ``TYPE.GROUP``...), and for what
        :func:`~incluster_sdk.rbac.needs.parse_need` refuses: an unknown verb, resource or subresource, a
        verb the resource does not support, a name RBAC can never match. When the re-read of discovery for
        an unknown TYPE failed and the built-in table does not know it either, the message also says why the
        re-read failed (and ``__cause__`` is that failure).
    :raises ~incluster_sdk.errors.ApiError: if the server answers the review with an error status.
    :raises urllib3.exceptions.HTTPError: if the server cannot be reached, after the client's retries.
    """
    flow = can_i_flow(_spec(verb, resource, name, group, subresource), namespace)
    return drive(flow, lambda step: perform(client, step))


# -- asyncio driver ------------------------------------------------------------------------------------------
async def async_perform(client: AsyncApiClient, step: Step) -> Any:
    """Answer one step of an access flow with the asyncio client."""
    if isinstance(step, CatalogStep):
        return await async_catalog_for(client, refresh=step.refresh)
    return await rest.async_request(client, "POST", ACCESS_REVIEW_PATH, step.body)


async def async_check_need(client: AsyncApiClient, need: Need, namespace: str | None) -> list[Decision]:
    """:func:`check_need` for the asyncio client.

    :param client: the asyncio client whose identity is asked about.
    :param need: what to ask about, all its verbs at once.
    :param namespace: the namespace the app works in; None: all namespaces (cluster-wide).
    :returns: one :class:`Decision` per verb, in the order of ``need.verbs``.
    :raises ~incluster_sdk.errors.ApiError: as :func:`check_need`.
    :raises aiohttp.ClientError: if the server cannot be reached, after the client's retries
        (:class:`asyncio.TimeoutError` if it does not answer in time).
    """
    return await async_drive(check_need_flow(need, namespace), lambda step: async_perform(client, step))


async def async_can_i(
    client: AsyncApiClient, verb: str, resource: str, namespace: str | None = None,
    name: str | None = None, group: str = "", subresource: str | None = None,
) -> Decision:  # fmt: skip
    """:func:`can_i` for the asyncio client: the same reading of the arguments, discovery and scope.

    :param client: the asyncio client whose identity is asked about.
    :param verb: one verb, any case (``"get"``, ``"watch"``, ``"*"``).
    :param resource: a TYPE as kubectl takes it (``"pods"``, ``"deploy"``), optionally ``"TYPE/NAME"``, or a
        non-resource URL.
    :param namespace: the namespace to ask about; None (the default): all namespaces.
    :param name: only the object with this name; None (the default): any object.
    :param group: the API group, instead of ``TYPE.GROUP``; ``""`` (the default): as ``resource`` resolves.
    :param subresource: only this subresource; None (the default): the resource itself.
    :returns: the :class:`Decision`, truthy when allowed.
    :raises ~incluster_sdk.rbac.vocabulary.NeedError: as :func:`can_i`.
    :raises ~incluster_sdk.errors.ApiError: as :func:`can_i`.
    :raises aiohttp.ClientError: if the server cannot be reached, after the client's retries
        (:class:`asyncio.TimeoutError` if it does not answer in time).
    """
    flow = can_i_flow(_spec(verb, resource, name, group, subresource), namespace)
    return await async_drive(flow, lambda step: async_perform(client, step))
