"""Who am I, and what may I do here? The API server's own answers (SelfSubjectReview, TokenReview,
SelfSubjectRulesReview), for the sync and the asyncio client. "May I?" for one need is :mod:`.access`.

```python
me = whoami(client)                    # Identity: username, groups, token expiry / bound object
print(rules(client, "shop"))           # what this identity may do in the namespace
```

Request bodies and answers are built and read by plain functions, and ``whoami``'s fallback chain is one
sans-I/O flow that a sync and an asyncio driver run (docs/architecture.md), so both clients give the same
answers.
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

SELF_SUBJECT_REVIEW_ABSENT = frozenset({403, 404})
"""The HTTP statuses that mean "no SelfSubjectReview here": it is GA in 1.28, beta in 1.27, alpha in 1.26, and
older servers answer 404 for all three. Where the API is missing, an unprivileged caller gets 403 rather than 404:
RBAC runs before routing."""
SELF_SUBJECT_REVIEW_PATHS = tuple(
    f"/apis/authentication.k8s.io/{v}/selfsubjectreviews" for v in ("v1", "v1beta1", "v1alpha1")
)
"""Where whoami asks for a SelfSubjectReview, in this order: v1, v1beta1, v1alpha1."""
TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
"""TokenReview: who the server says a token belongs to. Asking needs ``create`` on tokenreviews (the ClusterRole
system:auth-delegator grants it), and the request carries the token itself."""
SELF_SUBJECT_REVIEW, TOKEN_CLAIMS, TOKEN_REVIEW, CLIENT_CERTIFICATE = (
    "SelfSubjectReview",
    "token claims",
    "TokenReview",
    "client certificate",
)
"""What whoami tries, as :attr:`Identity.source` names them."""
RULES_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
"""Where :func:`rules` posts its SelfSubjectRulesReview."""


@dataclass(frozen=True)
class Identity:
    """The identity the API server sees for this client, as :func:`whoami` found it.

    ``str(identity)`` is the user name, or ``unknown identity (REASON; REASON...)``.

    **When nothing could name the identity** (``source`` None), ``username`` and ``uid`` are None and
    ``groups`` is ``()``: printing ``me.username, me.groups, me.uid`` shows ``None () None``. The server knows
    who the client is; only no method could ask it or work it out. This happens, for example, with an opaque
    kubeconfig token (or basic auth) against a server older than 1.26 (no SelfSubjectReview) where the
    identity may not create TokenReviews. ``reasons`` then says, per method, why it could not tell, and
    ``str(identity)`` shows those reasons.

    :param username: the user name the server authenticates the client as:
        ``system:serviceaccount:NAMESPACE:NAME`` for a ServiceAccount, a client certificate's common name,
        whatever an OIDC or webhook authenticator names. None when no method could tell (see above).
    :param groups: the user's groups. From the server (SelfSubjectReview, TokenReview): its list, with
        ``system:authenticated``. From a ServiceAccount token's claims: the three groups the server gives
        every ServiceAccount (``system:serviceaccounts``, ``system:serviceaccounts:NAMESPACE``,
        ``system:authenticated``). From a client certificate: each organization (O), plus
        ``system:authenticated``. ``()`` (the default) when the identity is unknown.
    :param uid: the user's UID as the server reports it (for a ServiceAccount, the ServiceAccount object's
        UID). Only SelfSubjectReview and TokenReview give one; None (the default) for an identity from token
        claims or a client certificate, for an unknown identity, and when the authenticator sets none.
    :param source: which method answered: ``"SelfSubjectReview"`` (the server itself, 1.26+),
        ``"client certificate"`` (the certificate's subject, decoded locally), ``"token claims"`` (a
        ServiceAccount token's claims, decoded locally without verification), ``"TokenReview"`` (the server,
        about this client's token); None when nothing could tell. The default, ``"SelfSubjectReview"``, is
        what an Identity built from a server's answer carries.
    :param claims: the claims of the bearer token the client sends (expiry, issuer, ServiceAccount, bound
        object), decoded locally; None (the default) when the client sends no bearer token, and for an
        identity named by a client certificate. Left out of the repr.
    :param reasons: what was tried before ``source`` answered, each as ``"METHOD: why it could not"``
        (``"TokenReview: forbidden (needs create on tokenreviews.authentication.k8s.io, ...)"``), in the
        order tried; ``()`` (the default) when SelfSubjectReview, the first method, answered. For an unknown
        identity: why it is unknown, and what would tell. Never contains the token.
    """

    username: str | None
    groups: tuple[str, ...] = ()
    uid: str | None = None
    source: str | None = SELF_SUBJECT_REVIEW
    claims: TokenClaims | None = field(default=None, repr=False)
    reasons: tuple[str, ...] = ()

    @property
    def service_account(self) -> tuple[str, str] | None:
        """``(namespace, name)`` when ``username`` is ``system:serviceaccount:NAMESPACE:NAME``; else None (another
        kind of user, or an unknown identity)."""
        parts = (self.username or "").split(":")
        if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
            return parts[2], parts[3]
        return None

    @property
    def expires_at(self) -> dt.datetime | None:
        """When the bearer token this client sends expires (timezone-aware UTC), from its claims; None without
        ``claims``, for an opaque (non-JWT) token, and for a legacy ServiceAccount token that never expires."""
        return self.claims.expires_at if self.claims else None

    def __str__(self) -> str:
        if self.username:
            return self.username
        return f"unknown identity ({'; '.join(self.reasons)})" if self.reasons else "unknown identity"


@dataclass(frozen=True)
class Rules:
    """What this identity may do in one namespace, as the server's SelfSubjectRulesReview lists it.

    ``str(rules)`` is ``in namespace NS:`` and one line per resource rule (``list,watch on pods (core)``),
    plus a note when the list is incomplete; non-resource rules are not in it.

    :param namespace: the namespace the rules were listed for.
    :param resource_rules: the rules on resources, as the server sends them (``status.resourceRules``): one
        dict per rule of every Role and ClusterRole bound to this identity there or cluster-wide,
        ``{"verbs": [...], "apiGroups": [...], "resources": [...], "resourceNames": [...]}`` (``apiGroups``,
        ``resources`` and ``resourceNames`` may be absent; ``""`` in ``apiGroups`` is the core group).
    :param non_resource_rules: the rules on non-resource URLs (``status.nonResourceRules``), each
        ``{"verbs": [...], "nonResourceURLs": [...]}``.
    :param incomplete: True when the server's authorizers could not list every rule (a webhook authorizer
        cannot; nor can one that failed to evaluate a rule): the lists may then miss what is allowed, and
        :func:`~incluster_sdk.rbac.access.can_i` gives the definite answer.
    :param evaluation_error: why the list is incomplete, as the server says it (``status.evaluationError``);
        ``""`` (the default) when it says nothing.
    """

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
    :class:`Secret` (and out of the repr), and of a client certificate only the certificate is kept, not its key.

    :param claims: the bearer token's claims, decoded locally; None without a token.
    :param bearer: the bearer token the client sends; None when it sends none.
    :param certificate: the client certificate (PEM bytes); None when the config has none or it cannot be read.
    :param certificate_problem: why the configured certificate could not be read; None when it could, or the
        config has none.
    :param credentials: ``Credentials.describe()``: which credential, never its value.
    """

    claims: TokenClaims | None = None
    bearer: Secret | None = field(default=None, repr=False)
    certificate: bytes | None = field(default=None, repr=False)
    certificate_problem: str | None = None
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


Answer = tuple[int, bytes]
"""What a driver sends back for a Post: (HTTP status, body)."""
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
    """Name the identity the API server sees for ``client``: the first of four methods that can tell wins.

    1. **SelfSubjectReview** (``POST /apis/authentication.k8s.io/{v1,v1beta1,v1alpha1}/selfsubjectreviews``,
       Kubernetes 1.26+): the server says who the client is. Every authenticated user may ask. An answer of
       403 or 404 on all three versions means "not served here" (before 1.26, or forbidden).
    2. **The client certificate**, when the config has one: its subject, read as the server's x509
       authenticator reads it (CN: user name, each O: a group), decoded locally with the ``cryptography``
       package. It comes before the token because the server tries certificates first.
    3. **The ServiceAccount token's claims**: the ServiceAccount namespace and name in the bearer token,
       decoded locally without verification (ServiceAccount JWTs only, not OIDC or opaque tokens).
    4. **TokenReview** of this client's own bearer token (``POST /apis/authentication.k8s.io/v1/tokenreviews``):
       needs ``create`` on ``tokenreviews.authentication.k8s.io`` (the ClusterRole ``system:auth-delegator``
       grants it). A 403, 404, other error or "not authenticated" answer becomes a reason, not an error.

    Each method that could not tell adds a reason to :attr:`Identity.reasons`. When none can, the identity is
    unknown: ``username``, ``uid`` and ``source`` are None and ``groups`` is empty (see :class:`Identity`).
    The token is never logged, shown in a reason, or put in a repr.

    :param client: the client to ask about; its config (``client.incluster_config``) supplies the
        certificate and token that methods 2-4 read.
    :returns: the :class:`Identity`; an unknown identity is returned, not raised.
    :raises ~incluster_sdk.errors.ApiError: if SelfSubjectReview answers an error other than 403 or 404
        (such as 401: the server rejects the client's credentials; 500), or its answer is not JSON.
    :raises ~incluster_sdk.errors.CredentialError: if the config's credential cannot be obtained (an exec
        plugin fails), as for any request.
    :raises urllib3.exceptions.HTTPError: if the server cannot be reached, after the client's retries.
    """
    return drive(identify(presented(client.incluster_config)), lambda p: rest.request(client, "POST", p.path, p.body))


def rules(client: ApiClient, namespace: str) -> Rules:
    """List everything this identity may do in ``namespace``, as the server's authorizer lists it.

    Posts a SelfSubjectRulesReview (``POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews``), which
    every authenticated user may create. For a yes or no on one action, :func:`~incluster_sdk.rbac.access.can_i`
    is exact where this list may be incomplete (:attr:`Rules.incomplete`).

    :param client: the client whose identity is asked about.
    :param namespace: the namespace to list the rules of (its RoleBindings, plus every ClusterRoleBinding).
    :returns: the :class:`Rules`, with the rules as the server sends them.
    :raises ~incluster_sdk.errors.ApiError: if the server answers an error status (such as 401 or 403), or
        an answer that is not a JSON object.
    :raises urllib3.exceptions.HTTPError: if the server cannot be reached, after the client's retries.
    """
    answer = rest.request(client, "POST", RULES_REVIEW_PATH, rules_review_body(namespace))
    return parse_rules_review(rest.decode_object(*answer, f"POST {RULES_REVIEW_PATH}"), namespace)


# -- asyncio driver -----------------------------------------------------------------------------------------
async def async_whoami(client: AsyncApiClient) -> Identity:
    """:func:`whoami` for the asyncio client: the same four methods, in the same order.

    Reading the config's credential (which may run an exec plugin) and its certificate file runs in a thread,
    off the event loop.

    :param client: the asyncio client to ask about.
    :returns: the :class:`Identity`; an unknown identity is returned, not raised.
    :raises ~incluster_sdk.errors.ApiError: as :func:`whoami`.
    :raises ~incluster_sdk.errors.CredentialError: as :func:`whoami`.
    :raises aiohttp.ClientError: if the server cannot be reached, after the client's retries
        (:class:`asyncio.TimeoutError` if it does not answer in time).
    """
    me = await asyncio.to_thread(presented, client.incluster_config)  # may run a plugin, reads a file
    return await async_drive(identify(me), lambda p: rest.async_request(client, "POST", p.path, p.body))


async def async_rules(client: AsyncApiClient, namespace: str) -> Rules:
    """:func:`rules` for the asyncio client.

    :param client: the asyncio client whose identity is asked about.
    :param namespace: the namespace to list the rules of.
    :returns: the :class:`Rules`.
    :raises ~incluster_sdk.errors.ApiError: as :func:`rules`.
    :raises aiohttp.ClientError: if the server cannot be reached, after the client's retries
        (:class:`asyncio.TimeoutError` if it does not answer in time).
    """
    answer = await rest.async_request(client, "POST", RULES_REVIEW_PATH, rules_review_body(namespace))
    return parse_rules_review(rest.decode_object(*answer, f"POST {RULES_REVIEW_PATH}"), namespace)
