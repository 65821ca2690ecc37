"""Who am I, and may I? The API server's own answers (SelfSubjectReview, SelfSubjectAccessReview,
SelfSubjectRulesReview), for the sync and the asyncio client.

Request bodies and answers are built and read by plain functions; the two drivers only POST them.

    me = whoami(client)                    # Identity: username, groups, token expiry / bound object
    can_i(client, "watch", "pods", namespace="shop")   # Decision, truthy when allowed
    print(rules(client, "shop"))           # what this identity may do in the namespace
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from ..client import ApiClient
from ..errors import ApiError
from ..tokens import TokenClaims

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient

#: SelfSubjectReview: GA in 1.28, beta in 1.27, alpha in 1.26; older servers answer 404 for all three.
#: Where the API is missing an unprivileged caller gets 403 rather than 404: RBAC runs before routing.
SELF_SUBJECT_REVIEW_ABSENT = frozenset({403, 404})
SELF_SUBJECT_REVIEW_PATHS = tuple(
    f"/apis/authentication.k8s.io/{v}/selfsubjectreviews" for v in ("v1", "v1beta1", "v1alpha1")
)
ACCESS_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
RULES_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"


@dataclass(frozen=True)
class Identity:
    """The identity the API server sees for this client."""

    username: str | None
    groups: tuple[str, ...] = ()
    uid: str | None = None
    #: "SelfSubjectReview" (the server said so) or "token claims" (decoded locally: older servers)
    source: str = "SelfSubjectReview"
    claims: TokenClaims | None = field(default=None, repr=False)

    @property
    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) for a ServiceAccount identity."""
        parts = (self.username or "").split(":")
        if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
            return parts[2], parts[3]
        return None

    @property
    def expires_at(self) -> dt.datetime | None:
        return self.claims.expires_at if self.claims else None

    def __str__(self) -> str:
        return self.username or "unknown identity"


@dataclass(frozen=True)
class Decision:
    """The answer to "may I?"; truthy when allowed."""

    allowed: bool
    verb: str
    resource: str
    group: str = ""
    namespace: str | None = None
    name: str | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed

    def __str__(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        where = f" in namespace {self.namespace}" if self.namespace else " cluster-wide"
        return f"{self.verb} {what}{'/' + self.name if self.name else ''}{where}: {'yes' if self.allowed else 'no'}"


@dataclass(frozen=True)
class Rules:
    """What this identity may do in one namespace (SelfSubjectRulesReview)."""

    namespace: str
    resource_rules: list[dict[str, Any]]
    non_resource_rules: list[dict[str, Any]]
    incomplete: bool
    evaluation_error: str = ""

    def __str__(self) -> str:
        lines = [f"in namespace {self.namespace}:"]
        for rule in self.resource_rules:
            groups = ",".join(g or "core" for g in rule.get("apiGroups") or [""])
            names = f" names={','.join(rule['resourceNames'])}" if rule.get("resourceNames") else ""
            lines.append(
                f"  {','.join(rule.get('verbs') or [])} on {','.join(rule.get('resources') or [])} ({groups}){names}"
            )
        if self.incomplete:
            lines.append(f"  (incomplete: {self.evaluation_error or 'the authorizer cannot list every rule'})")
        return "\n".join(lines)


# -- bodies and answers (no I/O) -----------------------------------------------------------------------------
def access_review_body(
    verb: str, resource: str, *, namespace: str | None, name: str | None, group: str
) -> dict[str, Any]:
    resource, _, subresource = resource.partition("/")
    attributes: dict[str, Any] = {"verb": verb, "resource": resource, "group": group}
    for key, value in (("subresource", subresource), ("namespace", namespace), ("name", name)):
        if value:
            attributes[key] = value
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }


def parse_access_review(body: dict[str, Any], request: dict[str, Any]) -> Decision:
    status = body.get("status") or {}
    attributes = request["spec"]["resourceAttributes"]
    resource = attributes["resource"] + (f"/{attributes['subresource']}" if attributes.get("subresource") else "")
    return Decision(
        allowed=bool(status.get("allowed")),
        verb=attributes["verb"],
        resource=resource,
        group=attributes.get("group", ""),
        namespace=attributes.get("namespace"),
        name=attributes.get("name"),
        reason=str(status.get("reason") or status.get("evaluationError") or ""),
    )


def rules_review_body(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": namespace},
    }


def parse_rules_review(body: dict[str, Any], namespace: str) -> Rules:
    status = body.get("status") or {}
    return Rules(
        namespace=namespace,
        resource_rules=list(status.get("resourceRules") or []),
        non_resource_rules=list(status.get("nonResourceRules") or []),
        incomplete=bool(status.get("incomplete")),
        evaluation_error=str(status.get("evaluationError") or ""),
    )


def self_subject_review_body(path: str) -> dict[str, Any]:
    version = path.split("/")[3]
    return {"apiVersion": f"authentication.k8s.io/{version}", "kind": "SelfSubjectReview"}


def parse_self_subject_review(body: dict[str, Any], claims: TokenClaims | None) -> Identity:
    user = (body.get("status") or {}).get("userInfo") or {}
    return Identity(
        username=user.get("username"),
        groups=tuple(user.get("groups") or ()),
        uid=user.get("uid"),
        source="SelfSubjectReview",
        claims=claims,
    )


def identity_from_claims(claims: TokenClaims | None) -> Identity:
    """What the server will see, from the token alone (no verification): ServiceAccount tokens only."""
    if claims is None or not claims.service_account or not claims.namespace:
        return Identity(username=None, source="token claims", claims=claims)
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{claims.namespace}", "system:authenticated")
    username = f"system:serviceaccount:{claims.namespace}:{claims.service_account}"
    return Identity(username=username, groups=groups, source="token claims", claims=claims)


def _parse(status: int, data: bytes, path: str) -> dict[str, Any]:
    if not 200 <= status <= 299:
        message = ""
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            message = str(orjson.loads(data).get("message", ""))
        raise ApiError(f"POST {path}: HTTP {status}{': ' + message if message else ''}", status)
    body = orjson.loads(data)
    if not isinstance(body, dict):
        raise ApiError(f"POST {path}: the answer is not a JSON object", status)
    return body


def _claims(client: ApiClient | AsyncApiClient) -> TokenClaims | None:
    return client.incluster_config.credentials.claims()


# -- sync driver ---------------------------------------------------------------------------------------------
def _post(client: ApiClient, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    from kubernetes.client.exceptions import ApiException

    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    try:
        response = client.call_api("POST", f"{client.configuration.host}{path}", headers, body)
    except ApiException as exc:  # kubernetes < 37 raises non-2xx answers
        data = exc.body
        return exc.status or 0, data if isinstance(data, bytes) else str(data or "").encode()
    response.read()
    return int(response.status), bytes(response.data or b"")


def _post_json(client: ApiClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return _parse(*_post(client, path, body), path)


def whoami(client: ApiClient) -> Identity:
    """Ask the server who we are (SelfSubjectReview); on servers without it, decode the token locally."""
    for path in SELF_SUBJECT_REVIEW_PATHS:
        status, data = _post(client, path, self_subject_review_body(path))
        if status not in SELF_SUBJECT_REVIEW_ABSENT:
            return parse_self_subject_review(_parse(status, data, path), _claims(client))
    return identity_from_claims(_claims(client))


def can_i(
    client: ApiClient,
    verb: str,
    resource: str,
    namespace: str | None = None,
    name: str | None = None,
    group: str = "",
) -> Decision:
    """May this identity ``verb`` the ``resource`` (plural, "pods/log" for a subresource) in ``group``?"""
    request = access_review_body(verb, resource, namespace=namespace, name=name, group=group)
    return parse_access_review(_post_json(client, ACCESS_REVIEW_PATH, request), request)


def rules(client: ApiClient, namespace: str) -> Rules:
    """Everything this identity may do in ``namespace``, as the server's authorizer lists it."""
    return parse_rules_review(_post_json(client, RULES_REVIEW_PATH, rules_review_body(namespace)), namespace)


# -- asyncio driver -----------------------------------------------------------------------------------------
async def _apost(client: AsyncApiClient, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    from kubernetes_asyncio.client.exceptions import ApiException

    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    try:
        response = await client.request(
            "POST", f"{client.configuration.host}{path}", headers=headers, body=body, _preload_content=False
        )
    except ApiException as exc:
        return exc.status or 0, str(exc.body or "").encode()
    try:
        return int(response.status), bytes(await response.read())
    finally:
        response.release()


async def async_whoami(client: AsyncApiClient) -> Identity:
    for path in SELF_SUBJECT_REVIEW_PATHS:
        status, data = await _apost(client, path, self_subject_review_body(path))
        if status not in SELF_SUBJECT_REVIEW_ABSENT:
            return parse_self_subject_review(_parse(status, data, path), _claims(client))
    return identity_from_claims(_claims(client))


async def async_can_i(
    client: AsyncApiClient,
    verb: str,
    resource: str,
    namespace: str | None = None,
    name: str | None = None,
    group: str = "",
) -> Decision:
    request = access_review_body(verb, resource, namespace=namespace, name=name, group=group)
    return parse_access_review(_parse(*await _apost(client, ACCESS_REVIEW_PATH, request), ACCESS_REVIEW_PATH), request)


async def async_rules(client: AsyncApiClient, namespace: str) -> Rules:
    body = _parse(*await _apost(client, RULES_REVIEW_PATH, rules_review_body(namespace)), RULES_REVIEW_PATH)
    return parse_rules_review(body, namespace)
