"""Who am I, and what may I do here? The API server's own answers (SelfSubjectReview, TokenReview,
SelfSubjectRulesReview), for the sync and the asyncio client. "May I?" for one need is :mod:`.access`.

Request bodies and answers are built and read by plain functions; the two drivers only POST them. ``whoami``'s
fallback chain is one generator, :func:`identify`, that yields its requests and receives the answers (as
:func:`incluster_sdk.leader.lease.attempt` does); a tiny sync and a tiny asyncio driver run it.

    me = whoami(client)                    # Identity: username, groups, token expiry / bound object
    print(rules(client, "shop"))           # what this identity may do in the namespace
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson

from .. import rest
from .._secret import Secret
from ..client import ApiClient
from ..config import Config
from ..flows import async_drive, drive
from ..tokens import TokenClaims

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient

#: SelfSubjectReview: GA in 1.28, beta in 1.27, alpha in 1.26; older servers answer 404 for all three.
#: Where the API is missing an unprivileged caller gets 403 rather than 404: RBAC runs before routing.
SELF_SUBJECT_REVIEW_ABSENT = frozenset({403, 404})
SELF_SUBJECT_REVIEW_PATHS = tuple(
    f"/apis/authentication.k8s.io/{v}/selfsubjectreviews" for v in ("v1", "v1beta1", "v1alpha1")
)
#: TokenReview: who the server says a token belongs to. Asking needs ``create`` on tokenreviews (the ClusterRole
#: system:auth-delegator grants it), and the request carries the token itself.
TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
#: What whoami tries, as :attr:`Identity.source` names them.
SELF_SUBJECT_REVIEW, TOKEN_CLAIMS, TOKEN_REVIEW, CLIENT_CERTIFICATE = (
    "SelfSubjectReview",
    "token claims",
    "TokenReview",
    "client certificate",
)
RULES_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"


@dataclass(frozen=True)
class Identity:
    """The identity the API server sees for this client."""

    username: str | None
    groups: tuple[str, ...] = ()
    uid: str | None = None
    #: What answered: "SelfSubjectReview" (the server, 1.26+), "token claims" (a ServiceAccount token, decoded
    #: locally), "TokenReview" (the server, about this client's token) or "client certificate" (its subject,
    #: decoded locally); None when nothing could.
    source: str | None = SELF_SUBJECT_REVIEW
    claims: TokenClaims | None = field(default=None, repr=False)
    #: What was tried before ``source`` answered, each with why it could not ("TokenReview: forbidden (...)"):
    #: for an unknown identity, why it is unknown and what would tell.
    reasons: tuple[str, ...] = ()

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
        if self.username:
            return self.username
        return f"unknown identity ({'; '.join(self.reasons)})" if self.reasons else "unknown identity"


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
        return Identity(username=None, source=None, claims=claims)
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{claims.namespace}", "system:authenticated")
    username = f"system:serviceaccount:{claims.namespace}:{claims.service_account}"
    return Identity(username=username, groups=groups, source=TOKEN_CLAIMS, claims=claims)


# -- whoami's fallback chain (no I/O) ------------------------------------------------------------------------
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class Presented:
    """What this client authenticates with, as far as whoami needs it. Safe to print: the bearer token is a
    :class:`Secret` (and out of the repr), and of a client certificate only the certificate is kept, not its key."""

    claims: TokenClaims | None = None
    bearer: Secret | None = field(default=None, repr=False)
    #: The client certificate (PEM), or why it could not be read; both None: the config has none.
    certificate: bytes | None = field(default=None, repr=False)
    certificate_problem: str | None = None
    #: ``Credentials.describe()``: which credential, never its value.
    credentials: str = "no credentials"


def presented(config: Config) -> Presented:
    """Read what ``config`` presents to the server. May run an exec plugin (as any request would), and reads the
    client certificate's file: call it off the event loop."""
    source = config.credentials
    header = source.auth_header() or ""  # what every request sends, from the credentials' public interface
    scheme, _, token = header.partition(" ")
    bearer = Secret(token) if scheme == "Bearer" and token else None
    tls = config.tls
    path = tls.client_cert_file or (tls.client_certificate.path if tls.client_certificate is not None else None)
    certificate, problem = None, None
    if path is not None:
        try:
            found = _PEM_CERTIFICATE.search(path.read_bytes())  # an exec plugin's file holds the key too: not kept
        except OSError as exc:
            found, problem = None, f"{CLIENT_CERTIFICATE}: {path} cannot be read ({exc.strerror or exc})"
        if found is not None:
            certificate = found.group(0)
        elif problem is None:
            problem = f"{CLIENT_CERTIFICATE}: {path} holds no PEM certificate"
    return Presented(source.claims(), bearer, certificate, problem, source.describe())


@dataclass(frozen=True)
class Post:
    """One request of the chain: POST ``body`` to ``path``. The body is out of the repr: a TokenReview's holds
    the token."""

    path: str
    body: dict[str, Any] = field(repr=False)


#: What a driver sends back for a Post: (HTTP status, body).
Answer = tuple[int, bytes]
Flow = Generator[Post, Answer, Identity]


def identify(me: Presented) -> Flow:
    """Who the server sees, first answer wins; drive it with ``flow.send((status, body))`` for each Post.

    1. SelfSubjectReview (Kubernetes 1.26+): the server says.
    2. A client certificate's subject (CN: user, O: groups), when the config has one: the server's x509
       authenticator runs before its token authenticators, so a certificate it trusts decides.
    3. A ServiceAccount token's claims, decoded without verification.
    4. TokenReview of this client's own bearer token (needs ``create`` on tokenreviews; 403 is a reason).

    Each method that cannot answer adds a reason to :attr:`Identity.reasons`.
    """
    reasons: list[str] = []
    statuses: list[int] = []
    for path in SELF_SUBJECT_REVIEW_PATHS:
        status, data = yield Post(path, self_subject_review_body(path))
        if status not in SELF_SUBJECT_REVIEW_ABSENT:
            return parse_self_subject_review(rest.decode_object(status, data, f"POST {path}"), me.claims)
        statuses.append(status)
    reasons.append(self_subject_review_reason(statuses))
    if me.certificate is not None:
        named = identity_from_certificate(me.certificate)
        if isinstance(named, Identity):
            return replace(named, reasons=tuple(reasons))
        reasons.append(named)
    elif me.certificate_problem is not None:
        reasons.append(me.certificate_problem)
    identity = identity_from_claims(me.claims)
    if identity.username:
        return replace(identity, reasons=tuple(reasons))
    reasons.append(token_reason(me))
    if me.bearer is not None:
        status, data = yield Post(TOKEN_REVIEW_PATH, token_review_body(me.bearer))
        reviewed = parse_token_review(status, data, me)
        if isinstance(reviewed, Identity):
            return replace(reviewed, reasons=tuple(reasons))
        reasons.append(reviewed)
    return Identity(username=None, source=None, claims=me.claims, reasons=tuple(reasons))


def self_subject_review_reason(statuses: Sequence[int]) -> str:
    if all(s == 404 for s in statuses):
        return f"{SELF_SUBJECT_REVIEW}: not served by this server (Kubernetes < 1.26)"
    # RBAC runs before routing: for a caller without wide rights a missing API answers 403, not 404
    return f"{SELF_SUBJECT_REVIEW}: not served by this server (Kubernetes < 1.26) or not allowed (HTTP 403)"


def token_reason(me: Presented) -> str:
    """Why the bearer token's claims do not name the identity."""
    claims = me.claims
    if me.bearer is None:
        sent = "this config authenticates with a client certificate" if me.certificate else me.credentials
        return f"token: none ({sent})"
    if claims is None or not claims.is_jwt:
        return "token: not a ServiceAccount JWT (an opaque token)"
    return f"token: a JWT, but not a ServiceAccount's (issuer {claims.issuer or '?'})"


def token_review_body(bearer: Secret) -> dict[str, Any]:
    """A TokenReview of this client's own token. The body holds the token: it must never be logged or shown."""
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": bearer.reveal()}}


def parse_token_review(status: int, data: bytes, me: Presented) -> Identity | str:
    """The identity the server gave the token, or why there is none. The answer echoes the token in its spec:
    only ``status`` is read, and any server text is redacted before it becomes a reason."""
    if status == 403:
        return (
            f"{TOKEN_REVIEW}: forbidden (needs create on tokenreviews.authentication.k8s.io,"
            " e.g. the ClusterRole system:auth-delegator)"
        )
    if status == 404:
        return f"{TOKEN_REVIEW}: not served by this server"
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        body = None
    body = body if isinstance(body, dict) else {}
    if not 200 <= status <= 299:
        message = body.get("message")
        said = f": {message}" if isinstance(message, str) and message else ""
        return _redacted(f"{TOKEN_REVIEW}: HTTP {status}{said}", me)
    review = body.get("status")
    review = review if isinstance(review, dict) else {}
    user = review.get("user")
    user = user if isinstance(user, dict) else {}
    username = user.get("username")
    if not review.get("authenticated") or not isinstance(username, str) or not username:
        error = review.get("error")
        why = f": {error}" if isinstance(error, str) and error else ""
        return _redacted(f"{TOKEN_REVIEW}: the server does not accept this client's token{why}", me)
    groups = user.get("groups")
    uid = user.get("uid")
    return Identity(
        username=username,
        groups=tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else (),
        uid=uid if isinstance(uid, str) and uid else None,
        source=TOKEN_REVIEW,
        claims=me.claims,
    )


def _redacted(text: str, me: Presented) -> str:
    return text.replace(me.bearer.reveal(), "<redacted>") if me.bearer is not None else text


def identity_from_certificate(pem: bytes) -> Identity | str:
    """The user a client certificate names, as Kubernetes' x509 authenticator reads it (CN: user name, each O:
    a group), or why it names none."""
    try:
        from cryptography import x509
        from cryptography.x509.oid import NameOID
    except ImportError:
        return f"{CLIENT_CERTIFICATE}: reading it needs the 'cryptography' package (pip install cryptography)"
    try:
        subject = x509.load_pem_x509_certificate(pem).subject
    except ValueError:
        return f"{CLIENT_CERTIFICATE}: does not parse as an X.509 certificate"

    def values(oid: x509.ObjectIdentifier) -> list[str]:
        found = (a.value for a in subject.get_attributes_for_oid(oid))
        return [v.decode(errors="replace") if isinstance(v, bytes) else v for v in found]

    names = values(NameOID.COMMON_NAME)
    if not names or not names[-1]:  # like Go's pkix.Name, the last CN counts
        return f"{CLIENT_CERTIFICATE}: its subject has no common name (CN), the user name the server would take"
    groups = tuple(values(NameOID.ORGANIZATION_NAME))
    if "system:authenticated" not in groups:  # added by the server to every authenticated user
        groups += ("system:authenticated",)
    return Identity(username=names[-1], groups=groups, source=CLIENT_CERTIFICATE)


# -- sync driver ---------------------------------------------------------------------------------------------
def whoami(client: ApiClient) -> Identity:
    """Who the server sees: its SelfSubjectReview (1.26+), else what the client certificate or ServiceAccount
    token says, else a TokenReview of the token (see :func:`identify`). An identity nothing could name has
    ``username`` None and, in ``reasons``, why."""
    return drive(identify(presented(client.incluster_config)), lambda p: rest.request(client, "POST", p.path, p.body))


def rules(client: ApiClient, namespace: str) -> Rules:
    """Everything this identity may do in ``namespace``, as the server's authorizer lists it.
    Raises :class:`~incluster_sdk.errors.ApiError` when the server refuses the review."""
    answer = rest.request(client, "POST", RULES_REVIEW_PATH, rules_review_body(namespace))
    return parse_rules_review(rest.decode_object(*answer, f"POST {RULES_REVIEW_PATH}"), namespace)


# -- asyncio driver -----------------------------------------------------------------------------------------
async def async_whoami(client: AsyncApiClient) -> Identity:
    """:func:`whoami` for the asyncio client."""
    me = await asyncio.to_thread(presented, client.incluster_config)  # may run a plugin, reads a file
    return await async_drive(identify(me), lambda p: rest.async_request(client, "POST", p.path, p.body))


async def async_rules(client: AsyncApiClient, namespace: str) -> Rules:
    """:func:`rules` for the asyncio client."""
    answer = await rest.async_request(client, "POST", RULES_REVIEW_PATH, rules_review_body(namespace))
    return parse_rules_review(rest.decode_object(*answer, f"POST {RULES_REVIEW_PATH}"), namespace)
