"""``incluster-sdk doctor``: every step from "am I in a pod?" to "may I watch pods?", each with a verdict
and, when something is wrong, what to do about it. Never prints a credential."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from . import rest
from .config import Config, load_config
from .discovery import builtin_catalog, catalog_for
from .errors import ApiError, ConfigError, InclusterSDKError
from .incluster import HOST_ENV, PORT_ENV, in_pod_env, service_account_dir
from .rbac.access import check_need
from .rbac.needs import Need, NeedError, NeedWarning, parse_need
from .rbac.preflight import denied_error
from .rbac.review import Identity, whoami
from .tls import validate_ca_pem

Status = Literal["pass", "warn", "fail", "skip"]
"""A check's verdict: ``"pass"``, ``"warn"`` (works, but look), ``"fail"`` (broken: :attr:`Report.ok` is False),
``"skip"`` (does not apply here, e.g. the mount outside a pod)."""
TOKEN_EXPIRY_WARNING = dt.timedelta(minutes=5)
"""A token that expires sooner than this (5 minutes) is worth a warning: kubelet refreshes projected tokens at 80%
of their lifetime, so a healthy one rarely has less than a few minutes left."""
CA_EXPIRY_WARNING = dt.timedelta(days=30)
"""A CA that expires within this window (30 days) is worth a warning before it breaks every connection."""
REACH_TIMEOUT = 10.0
"""How long the reachability check waits for the API server, in seconds (our choice: one attempt, no retries, so
a server that is down is reported within 10 s rather than after the client's 30 s of retries)."""
_MOUNT_FILES = ("token", "ca.crt", "namespace")


@dataclass(frozen=True)
class Check:
    """One step of the doctor's report: what was checked, the verdict, and what to do about it.

    :param name: what was checked: ``"environment"``, ``"service account mount"``, ``"config"``, ``"token"``,
        ``"CA"``, ``"API server"``, ``"identity"``, or ``"can NEED"`` for each need asked about
        (``"can list,watch:pods"``; the need as given, quoted, when it could not be read).
    :param status: the verdict: ``"pass"``, ``"warn"`` (works, but worth a look; does not fail the report),
        ``"fail"`` (broken; fails the report) or ``"skip"`` (does not apply here).
    :param detail: what was found, in one line (``"https://10.96.0.1:443: v1.30.2"``). Never a credential.
    :param hint: what to do about it, possibly several lines (for a denied need, the YAML that grants it);
        ``""`` (the default) when there is nothing to do.
    """

    name: str
    status: Status
    detail: str
    hint: str = ""


@dataclass(frozen=True)
class Report:
    """What :func:`run_doctor` found: every check it made, in order.

    :param checks: the checks made, in the order :func:`run_doctor` makes them; it stops early when the
        config cannot be loaded or the API server cannot be reached, so later checks are then absent.
    """

    checks: list[Check]

    @property
    def ok(self) -> bool:
        """True when no check failed (``"warn"`` and ``"skip"`` do not fail); the CLI exits 1 otherwise."""
        return all(c.status != "fail" for c in self.checks)

    def to_json(self) -> str:
        """Render the report for machines, as ``incluster-sdk doctor --json`` prints it.

        :returns: JSON indented by 2 spaces: ``{"ok": true, "checks": [{"name": ..., "status": ...,
            "detail": ..., "hint": ...}, ...]}``, the checks in order.
        """
        return orjson.dumps(
            {"ok": self.ok, "checks": [asdict(c) for c in self.checks]}, option=orjson.OPT_INDENT_2
        ).decode()

    def to_text(self) -> str:
        """Render the report for people, as ``incluster-sdk doctor`` prints it.

        :returns: one line per check, ``[PASS] name: detail`` (``PASS``, ``WARN``, ``FAIL``, ``SKIP``), its hint
            lines below it indented by 7 spaces, then a blank line and ``all checks passed`` or
            ``some checks FAILED: see the hints above``. No trailing newline.
        """
        lines = []
        for check in self.checks:
            lines.append(f"[{check.status.upper():<4}] {check.name}: {check.detail}")
            for hint_line in check.hint.splitlines():
                lines.append(f"       {hint_line}" if hint_line else "")
        lines.append("")
        lines.append("all checks passed" if self.ok else "some checks FAILED: see the hints above")
        return "\n".join(lines)


def _environment() -> Check:
    if in_pod_env():
        host, port = os.environ.get(HOST_ENV, ""), os.environ.get(PORT_ENV, "")
        return Check("environment", "pass", f"in a pod: {HOST_ENV}={host} {PORT_ENV}={port}")
    missing = [v for v in (HOST_ENV, PORT_ENV) if not os.environ.get(v)]
    return Check("environment", "skip", f"not in a pod ({', '.join(missing)} unset): kubeconfig will be used")


def _mount(sa_dir: Path, required: bool) -> Check:
    missing = [f for f in _MOUNT_FILES if not (sa_dir / f).is_file()]
    if not missing:
        return Check("service account mount", "pass", f"{sa_dir}: token, ca.crt and namespace present")
    if not required:
        return Check("service account mount", "skip", f"{sa_dir}: not mounted (not in a pod)")
    return Check(
        "service account mount",
        "fail",
        f"{sa_dir}: missing {', '.join(missing)}",
        "The pod has no ServiceAccount token mounted. Set `serviceAccountName:` in the pod spec and make sure"
        " `automountServiceAccountToken` is not false (or mount a projected token volume at this path).",
    )


def _token(cfg: Config) -> Check:
    claims = cfg.credentials.claims()
    if claims is None:
        return Check("token", "skip", f"no bearer token ({cfg.credentials.describe()})")
    if not claims.is_jwt:
        return Check("token", "pass", "an opaque bearer token (not a ServiceAccount JWT): expiry unknown")
    who = f"{claims.namespace}/{claims.service_account}" if claims.service_account else (claims.subject or "?")
    remaining = claims.expires_in()
    if remaining is None:
        return Check(
            "token",
            "warn",
            f"ServiceAccount {who}: a legacy Secret-based token that never expires and never rotates",
            "Use the projected token kubelet mounts by default (Kubernetes 1.21+): it expires and rotates,"
            " and the SDK reloads it. Delete long-lived token Secrets you no longer need.",
        )
    bound = f", bound to {claims.bound_object}" if claims.bound_object else ""
    if remaining <= dt.timedelta(0):
        return Check(
            "token",
            "fail",
            f"ServiceAccount {who}: expired {-remaining} ago{bound}",
            "kubelet should have refreshed it: check that the kubelet is healthy and the volume is a projected"
            " serviceAccountToken volume; outside a pod, mint a new token (kubectl create token).",
        )
    status: Status = "warn" if remaining < TOKEN_EXPIRY_WARNING else "pass"
    rotates = "projected (kubelet rotates it; the SDK reloads it)" if claims.is_bound else "expiring"
    return Check("token", status, f"ServiceAccount {who}: {rotates}{bound}; expires in {_span(remaining)}")


def _span(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400}d {seconds % 86400 // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 60}m {seconds % 60}s"


def _ca(cfg: Config) -> Check:
    tls = cfg.tls
    if tls.insecure_skip_verify:
        return Check(
            "CA", "warn", "TLS verification is off (insecure-skip-tls-verify)", "Set certificate-authority instead."
        )
    if tls.ca_file is None:
        return Check("CA", "pass", "the system trust store")
    try:
        data = Path(tls.ca_file).read_bytes()
        validate_ca_pem(data, where=str(tls.ca_file), fix="")
    except (OSError, ConfigError) as exc:
        return Check("CA", "fail", str(exc), "Point the config at the cluster's CA bundle (ca.crt).")
    count = data.count(b"-----BEGIN CERTIFICATE-----")
    source = tls.ca_bundle.source if tls.ca_bundle is not None else tls.ca_file  # the user's file, not our copy
    rotates = ", reloaded when it changes" if tls.ca_bundle is not None else ""
    expiry = _earliest_expiry(Path(tls.ca_file))
    if expiry is None:
        return Check("CA", "pass", f"{source}: {count} certificate(s){rotates}")
    left = expiry - dt.datetime.now(dt.timezone.utc)
    if left <= dt.timedelta(0):
        return Check("CA", "fail", f"{source}: expired on {expiry:%Y-%m-%d}", "The cluster CA must be renewed.")
    status: Status = "warn" if left < CA_EXPIRY_WARNING else "pass"
    hint = "The cluster CA expires soon: plan its rotation (the SDK picks up a new ca.crt)." if status == "warn" else ""
    return Check("CA", status, f"{source}: {count} certificate(s), first expiry {expiry:%Y-%m-%d}{rotates}", hint)


def _earliest_expiry(path: Path) -> dt.datetime | None:
    """The first notAfter in the bundle, via the ssl module's certificate decoder (best effort)."""
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:
        return None
    try:
        info = decode(str(path))  # the first certificate of the file
        return dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(info["notAfter"]), dt.timezone.utc)
    except (ssl.SSLError, ValueError, KeyError, OSError):
        return None


_NETWORK_HINT = "Check the address, that the API server is up, and NetworkPolicies/egress to it."
_UNAUTHORIZED_HINT = (
    "The server does not accept this client's credentials (401): the token has expired, was issued for"
    " another audience, or its ServiceAccount (or the object it is bound to) was deleted (with a client"
    " certificate: the server does not trust its issuer, or it has expired). In a pod, check that"
    " the ServiceAccount exists and the token volume is kubelet's projected one; outside a pod, get fresh"
    " credentials (kubectl create token, or log in again)."
)
_SERVER_TROUBLE_HINT = (
    "The API server answered, but is in trouble ({status}): overloaded, etcd unavailable, or a failing webhook"
    " or aggregated API. Check its health (kubectl get --raw '/readyz?verbose') and its logs, then retry."
)
_THROTTLED_HINT = "The API server is throttling this client (429, API Priority and Fairness): retry in a moment."
_SSAR_FORBIDDEN_HINT = (
    "This identity may not create SelfSubjectAccessReviews (403), so the permission could not be checked."
    " Every authenticated user may, through the ClusterRole system:basic-user that the ClusterRoleBinding"
    " system:basic-user grants to the group system:authenticated: restore that binding (or grant create on"
    " selfsubjectaccessreviews.authorization.k8s.io to this identity). An anonymous client"
    " (system:anonymous) never may: configure credentials."
)
_VERSION_FORBIDDEN_HINT = (
    "The API server is reachable, but this identity may not GET /version (403). Every client may, through"
    " the ClusterRole system:public-info-viewer (/version, /healthz, /livez, /readyz) that the"
    " ClusterRoleBinding system:public-info-viewer grants to system:authenticated and system:unauthenticated:"
    " restore that binding; or a proxy between this client and the server refuses the request."
)


def _status_hint(status: int, forbidden: str) -> str:
    """What to do about an HTTP error status the server answered; ``forbidden`` is the 403 hint, which depends
    on what was asked."""
    if status == 401:
        return _UNAUTHORIZED_HINT
    if status == 403:
        return forbidden
    if status == 429:
        return _THROTTLED_HINT
    if status >= 500:
        return _SERVER_TROUBLE_HINT.format(status=status)
    if status == 404:
        return "Not found (404): check that the address is the API server's, without an extra path."
    return f"An unexpected answer (HTTP {status}): check the address, and any proxy in between."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _connection_hint(exc: BaseException) -> str:
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return "TLS failed: the CA does not match the server's certificate."
    return _NETWORK_HINT


def reach_api_server(cfg: Config, client: Any) -> Check:
    """Can ``client`` reach the API server? ``GET /version`` once, without retries and within
    :data:`REACH_TIMEOUT` seconds, so a server that is down is reported at once, in one line with its hint. The
    doctor's check, and ``incluster-sdk whoami``'s first step.

    The hint fits the failure: no connection (the address, the server, NetworkPolicies), TLS (the CA), or the
    status the server answered: 401 (the credentials are not accepted: an expired token, another audience, a
    deleted ServiceAccount), 403 (reachable, but this identity may not read /version), 429 (throttled), 5xx
    (the server is in trouble).

    :param cfg: the config ``client`` was made from (for its host).
    :param client: the sync client (:func:`~incluster_sdk.client.api_client`).
    :returns: the ``"API server"`` check: ``"pass"`` with the server's ``gitVersion``, or ``"fail"`` with the
        error (the status and the server's message, for an answer) and a hint. Never raises.
    """
    try:
        status, data = rest.request(client, "GET", "/version", timeout=REACH_TIMEOUT, retry=False)
    except Exception as exc:  # every way this can fail is a finding, not a crash
        return Check("API server", "fail", f"{cfg.host}: {_first_line(exc)}", _connection_hint(exc))
    try:
        version = rest.decode_object(status, data, "GET /version").get("gitVersion", "unknown version")
    except ApiError as exc:
        if 200 <= status <= 299:  # an answer, but no version document
            hint = "This is not a Kubernetes API server's answer: check the address (and any proxy in between)."
        else:
            hint = _status_hint(status, _VERSION_FORBIDDEN_HINT)
        return Check("API server", "fail", f"{cfg.host}: {_first_line(exc)}", hint)
    return Check("API server", "pass", f"{cfg.host}: {version}")


def _identity(identity: Identity) -> Check:
    if not identity.username:  # a warning: the server knows, only nobody could ask it
        tried = "\n".join(f"- {reason}" for reason in identity.reasons)
        return Check("identity", "warn", "unknown identity", f"What was tried, and why it could not tell:\n{tried}")
    groups = f" (groups: {', '.join(identity.groups)})" if identity.groups else ""
    return Check("identity", "pass", f"{identity}{groups} [{identity.source}]")


def _whoami_failed(exc: Exception) -> Check:
    """The identity check when whoami raised: 401 and no answer at all fail; another error status only leaves
    the identity unknown (a warning), as when no method can tell."""
    detail = f"could not be determined: {_first_line(exc)}"
    if isinstance(exc, ApiError):
        hint = _status_hint(exc.status, "The server refused to say who this client is (403).")
        if 200 <= exc.status <= 299:
            hint = "The server's SelfSubjectReview answer could not be read: check any proxy in between."
        return Check("identity", "fail" if exc.status == 401 else "warn", detail, hint)
    if isinstance(exc, InclusterSDKError):  # the credential could not be obtained (an exec plugin failed...)
        return Check("identity", "fail", detail, "The client's credential could not be obtained: see the message.")
    return Check("identity", "fail", detail, _connection_hint(exc))


def _can(client: Any, identity: Identity, spec: str | Need, namespace: str) -> Check:
    """One ``--can`` need: resolved against the server's discovery, then one access review per verb."""
    try:
        catalog = catalog_for(client)
    except Exception:  # discovery refused: the standard kinds still resolve
        catalog = builtin_catalog()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NeedWarning)
        try:
            need = parse_need(spec, catalog)
        except NeedError as exc:
            return Check(f"can {spec!r}", "fail", str(exc), "Fix the need: see `incluster-sdk doctor --help`.")
    notes = "\n".join(f"Warning: {w.message}" for w in caught if issubclass(w.category, NeedWarning))
    try:
        decisions = check_need(client, need, namespace)
    except Exception as exc:  # the server did not answer the question: a finding, not a crash
        if isinstance(exc, ApiError):
            hint = _status_hint(exc.status, _SSAR_FORBIDDEN_HINT)
        elif isinstance(exc, InclusterSDKError):
            hint = "The client's credential could not be obtained: see the message."
        else:
            hint = _connection_hint(exc)
        return Check(f"can {need}", "fail", f"could not be checked: {_first_line(exc)}", hint)
    denied = [d for d in decisions if not d]
    detail = "; ".join(str(d) for d in decisions)
    if denied:
        error = denied_error(identity, need, denied, namespace)
        hint = f"Missing. Grant it with:\n{error.fix_yaml}" + (f"\n{notes}" if notes else "")
        return Check(f"can {need}", "fail", detail, hint)
    return Check(f"can {need}", "warn" if notes else "pass", detail, notes)


def run_doctor(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    in_cluster: bool | None = None,
    sa_dir: str | None = None,
    namespace: str | None = None,
    can: Sequence[str | Need] = (),
) -> Report:
    """Check every step from "am I in a pod?" to "may I watch pods?", as ``incluster-sdk doctor`` does.

    The checks, in order (each one :class:`Check` in the report):

    1. ``environment``: ``pass`` in a pod (``KUBERNETES_SERVICE_HOST`` or ``KUBERNETES_SERVICE_PORT`` set),
       ``skip`` otherwise.
    2. ``service account mount``: ``token``, ``ca.crt`` and ``namespace`` in the mount directory. ``fail``
       when one is missing in a pod (or with ``in_cluster=True``), with how to mount them; ``skip`` outside.
    3. ``config``: :func:`~incluster_sdk.config.load_config` with the arguments: which source and why, and
       the namespace. ``fail`` ends the report here.
    4. ``token``: the bearer token's kind and expiry. ``fail`` when expired, ``warn`` when it expires within
       :data:`TOKEN_EXPIRY_WARNING` (5 minutes) or is a legacy Secret token that never expires, ``skip``
       without a bearer token.
    5. ``CA``: the CA bundle parses; ``fail`` when unreadable, invalid or expired, ``warn`` within
       :data:`CA_EXPIRY_WARNING` (30 days) of expiry or when TLS verification is off.
    6. ``API server``: ``GET /version`` once, within :data:`REACH_TIMEOUT` (10 s), no retries; ``fail`` ends
       the report here, with a hint that fits: the address, the server or the network for no connection, the
       CA for TLS, and for an error status the server answered, what that status means (401: the
       credentials are not accepted; 403: this identity may not read /version; 429; 5xx: server trouble).
    7. ``identity``: :func:`~incluster_sdk.rbac.review.whoami`; ``warn`` with the reasons when the identity
       cannot be named. When the server answers whoami with an error, the status and the server's message
       with a hint: ``fail`` for 401 (the credentials are not accepted), ``warn`` for another status (the
       identity is then unknown); ``fail`` when the server cannot be reached any more or the credential
       cannot be obtained.
    8. ``can NEED``, one per need in ``can``: the need is read against the server's discovery (the built-in
       table if discovery fails) and each verb asked with a SelfSubjectAccessReview, in the scope the
       server checks it in. ``fail`` when the need is malformed (with the error), when a verb is denied (the
       hint holds the Role and binding that grant it), and when the question could not be asked (the status
       and the server's message, with a hint: 403 names the RBAC that lets every user create
       SelfSubjectAccessReviews, 401 the credentials, 5xx server trouble); ``warn`` when the need draws a
       :class:`~incluster_sdk.rbac.vocabulary.NeedWarning`.

    No token or other credential is ever put in the report.

    :param kubeconfig: a kubeconfig file to use, as for :func:`~incluster_sdk.config.load_config`; None (the
        default): its precedence (``KUBECONFIG`` if set, else in-cluster in a pod, else ``~/.kube/config``).
    :param context: the kubeconfig context; None (the default): the current context.
    :param in_cluster: True: in-cluster config only (and the mount check fails if the mount is missing);
        False: never in-cluster; None (the default): decide as :func:`~incluster_sdk.config.load_config` does.
    :param sa_dir: the ServiceAccount mount directory; None (the default): ``$INCLUSTER_SDK_SERVICE_ACCOUNT_DIR``,
        else ``/var/run/secrets/kubernetes.io/serviceaccount`` (where kubelet mounts it).
    :param namespace: the namespace to check the ``can`` needs in; None (the default): the config's namespace.
    :param can: needs to check, as text (``"list,watch:pods"``, the syntax of
        :func:`~incluster_sdk.rbac.needs.parse_need`) or :class:`~incluster_sdk.rbac.vocabulary.Need`; ``()``
        (the default): none.
    :returns: the :class:`Report`; :attr:`Report.ok` is False when some check failed. Problems found are
        checks, not exceptions: whatever the server answers (or fails to), this returns a report.
    """
    from .client import api_client

    checks = [_environment()]
    mount_dir = service_account_dir(sa_dir)
    checks.append(_mount(mount_dir, required=in_pod_env() or in_cluster is True))
    try:
        cfg = load_config(kubeconfig=kubeconfig, context=context, in_cluster=in_cluster, service_account_dir=sa_dir)
    except ConfigError as exc:
        checks.append(Check("config", "fail", str(exc).splitlines()[0], "\n".join(str(exc).splitlines()[1:])))
        return Report(checks)
    namespace = namespace or cfg.namespace
    checks.append(Check("config", "pass", f"{cfg.source}: {cfg.reason}; namespace {cfg.namespace}"))
    try:
        checks += [_token(cfg), _ca(cfg)]
        client = api_client(cfg)
        checks.append(reach_api_server(cfg, client))
        if checks[-1].status == "fail":
            return Report(checks)
        try:
            identity = whoami(client)
        except Exception as exc:  # what the server answered is a finding, not a crash
            checks.append(_whoami_failed(exc))
            identity = Identity(username=None, source=None, reasons=(f"whoami: {_first_line(exc)}",))
        else:
            checks.append(_identity(identity))
        checks += [_can(client, identity, spec, namespace) for spec in can]
    finally:
        cfg.close()
    return Report(checks)
