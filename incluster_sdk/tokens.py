"""Decoding a JWT bearer token's claims for diagnostics (expiry, subject, bound object).

No signature check: the API server is the authority; this is for telling a human "expires in 41 min".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class TokenClaims:
    """What a service-account token says about itself, from :func:`decode_claims` (not verified: diagnostics only).

    Every field is None (``audiences`` empty) when the claim is absent, has the wrong type, or the token is not a
    JWT; ``TokenClaims()`` is what an opaque token gives.

    :param subject: the ``sub`` claim, e.g. ``"system:serviceaccount:NAMESPACE:NAME"``.
    :param issuer: the ``iss`` claim: the cluster's service-account issuer URL, or ``"kubernetes/serviceaccount"``
        for a legacy Secret token.
    :param audiences: the ``aud`` claim (a single string becomes a 1-tuple).
    :param issued_at: the ``iat`` claim, in UTC.
    :param expires_at: the ``exp`` claim, in UTC; None for a legacy token, which never expires.
    :param namespace: the service account's namespace (``kubernetes.io.namespace``, or the legacy
        ``kubernetes.io/serviceaccount/namespace``).
    :param service_account: the service account's name (``kubernetes.io.serviceaccount.name``, or the legacy
        ``kubernetes.io/serviceaccount/service-account.name``).
    :param pod: the name of the pod the token is bound to (``kubernetes.io.pod.name``).
    :param bound_object: what a bound token is bound to, ``"Pod/NAME"`` or ``"Secret/NAME"``; None if unbound.
    """

    subject: str | None = None
    issuer: str | None = None
    audiences: tuple[str, ...] = ()
    issued_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    namespace: str | None = None
    service_account: str | None = None
    pod: str | None = None
    bound_object: str | None = None

    @property
    def is_jwt(self) -> bool:
        """True if the token looked like a JWT (it has a ``sub`` or ``iss`` claim)."""
        return self.subject is not None or self.issuer is not None

    @property
    def is_bound(self) -> bool:
        """Bound (projected, expiring) token, as opposed to a legacy never-expiring Secret token."""
        return self.expires_at is not None

    def expires_in(self, now: dt.datetime | None = None) -> dt.timedelta | None:
        """How long until the token expires.

        :param now: the time to measure from, timezone-aware; None: the current time.
        :returns: the time left, negative once expired; None for a token without ``exp``.
        :raises TypeError: ``now`` is a naive datetime (Python cannot subtract it from an aware one).
        """
        if self.expires_at is None:
            return None
        return self.expires_at - (now or dt.datetime.now(dt.timezone.utc))


def _epoch(value: Any) -> dt.datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value, dt.timezone.utc)
        except (OverflowError, OSError, ValueError):  # a claim no clock can hold is no claim
            return None
    return None


def decode_claims(token: str) -> TokenClaims:
    """Decode a JWT's payload without verifying it; an opaque token gives empty claims. Never raises.

    :param token: the bearer token, without ``Bearer``.
    :returns: the claims; ``TokenClaims()`` (all None) if the token is not three dot-separated parts with a
        base64url JSON object in the middle.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return TokenClaims()
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return TokenClaims()
    if not isinstance(claims, dict):
        return TokenClaims()
    aud = claims.get("aud")
    audiences = (
        (aud,) if isinstance(aud, str) else tuple(a for a in aud if isinstance(a, str)) if isinstance(aud, list) else ()
    )
    k8s = claims.get("kubernetes.io")
    k8s = k8s if isinstance(k8s, dict) else {}

    def name_of(key: str) -> str | None:
        entry = k8s.get(key)
        return entry["name"] if isinstance(entry, dict) and isinstance(entry.get("name"), str) else None

    namespace = k8s.get("namespace") or claims.get("kubernetes.io/serviceaccount/namespace")
    sa = name_of("serviceaccount") or claims.get("kubernetes.io/serviceaccount/service-account.name")
    bound = None
    if name_of("secret") and "pod" not in k8s:
        bound = f"Secret/{name_of('secret')}"
    elif name_of("pod"):
        bound = f"Pod/{name_of('pod')}"
    return TokenClaims(
        subject=claims.get("sub") if isinstance(claims.get("sub"), str) else None,
        issuer=claims.get("iss") if isinstance(claims.get("iss"), str) else None,
        audiences=audiences,
        issued_at=_epoch(claims.get("iat")),
        expires_at=_epoch(claims.get("exp")),
        namespace=namespace if isinstance(namespace, str) else None,
        service_account=sa if isinstance(sa, str) else None,
        pod=name_of("pod"),
        bound_object=bound,
    )
