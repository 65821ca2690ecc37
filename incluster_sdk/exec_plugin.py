"""Kubeconfig ``exec`` credential plugins (client.authentication.k8s.io v1 / v1beta1), as kubectl runs them.

The plugin runs on first use, again shortly before ``expirationTimestamp``, and again on a 401.
Its stdout is a credential: it is parsed, never logged; stderr is shown only on failure.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson

from ._secret import Secret
from .credentials import Credentials, RequestCredential, check_token
from .errors import CredentialError, KubeconfigError, printable
from .kubeconfig_schema import ExecConfig
from .tls import ClientCertificate
from .tokens import TokenClaims, decode_claims

log = logging.getLogger(__name__)

SUPPORTED_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
# Re-run the plugin this long before the credential's stated expiry, so a request in flight at the
# boundary (and modest clock skew between us and the issuer) does not meet a 401.
EXEC_EXPIRY_MARGIN = dt.timedelta(seconds=30)
# A plugin that has not answered in this long is hung (waiting on a browser login nobody will finish).
EXEC_TIMEOUT_SECONDS = 60.0
_STDERR_SHOWN = 2000


#: interactiveMode values (client-go ``api.ExecInteractiveMode``); required for v1, defaulted for v1beta1.
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
_V1 = "client.authentication.k8s.io/v1"


def clean_install_hint(hint: str) -> str:
    """The hint with every character that could drive a terminal written as ``U+001B``: client-go's
    ``cleanANSIEscapeCodes`` (:func:`~incluster_sdk.errors.printable`)."""
    return printable(hint)


@dataclass(frozen=True)
class ExecSpec:
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # plugin env often holds keys
    api_version: str = SUPPORTED_API_VERSIONS[0]
    install_hint: str = ""
    provide_cluster_info: bool = False
    interactive_mode: str = "IfAvailable"
    cluster_info: dict[str, Any] = field(default_factory=dict)
    where: str = "exec plugin"

    @staticmethod
    def validate(config: ExecConfig, *, where: str) -> None:
        """client-go's checks of an ``exec`` block. Raises :class:`KubeconfigError` naming the field."""
        if not config.command:
            raise KubeconfigError(f"{where}: exec needs 'command': the credential plugin to run.")
        if not config.api_version:
            raise KubeconfigError(f"{where}: exec needs 'apiVersion' (one of {', '.join(SUPPORTED_API_VERSIONS)}).")
        if config.api_version not in SUPPORTED_API_VERSIONS:
            raise KubeconfigError(
                f"{where}: exec apiVersion {config.api_version!r} is not supported; "
                f"use one of {', '.join(SUPPORTED_API_VERSIONS)}."
            )
        if config.api_version == _V1 and not config.interactive_mode:
            raise KubeconfigError(
                f"{where}: exec with apiVersion {_V1} needs 'interactiveMode' ({', '.join(INTERACTIVE_MODES)})."
            )
        if config.interactive_mode and config.interactive_mode not in INTERACTIVE_MODES:
            raise KubeconfigError(
                f"{where}: exec interactiveMode {config.interactive_mode!r} is invalid; "
                f"use one of {', '.join(INTERACTIVE_MODES)}."
            )
        for i, var in enumerate(config.env):
            if not var.name:
                raise KubeconfigError(f"{where}: exec env[{i}] has no 'name'. Every variable needs a name.")
            if "=" in var.name or "\0" in var.name or "\0" in var.value:
                raise KubeconfigError(f"{where}: exec env[{i}] has '=' in its name or a NUL character.")
        if "\0" in config.command or any("\0" in a for a in config.args):
            raise KubeconfigError(f"{where}: exec command or args hold a NUL character.")

    @classmethod
    def from_config(cls, config: ExecConfig, *, where: str, cluster_info: dict[str, Any]) -> ExecSpec:
        """A validated spec from a decoded ``exec`` block (paths already absolute: kubeconfig_schema)."""
        cls.validate(config, where=where)
        return cls(
            command=config.command,
            args=config.args,
            env=tuple((v.name, v.value) for v in config.env),
            api_version=config.api_version,
            install_hint=clean_install_hint(config.install_hint),
            provide_cluster_info=config.provide_cluster_info,
            interactive_mode=config.interactive_mode or "IfAvailable",
            cluster_info=cluster_info,
            where=where,
        )


@dataclass(frozen=True)
class ExecResult:
    token: Secret | None
    client_certificate_data: Secret | None
    client_key_data: Secret | None
    expires_at: dt.datetime | None


#: Go's ``time.RFC3339`` layout, which client-go's ``metav1.Time`` parses: date, ``T``, time with optional
#: fraction, and a zone (``Z`` or ``+hh:mm``). A time without a zone is refused, not guessed to be UTC.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def _parse_timestamp(value: Any, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise CredentialError(
            f"{where}: plugin output status.expirationTimestamp {value!r} is not an RFC 3339 time "
            "(like 2030-01-02T15:04:05Z)."
        )
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:  # e.g. month 13, or a fraction longer than Python reads before 3.11
        raise CredentialError(
            f"{where}: plugin output status.expirationTimestamp {value!r} is not a valid time."
        ) from None


def run_exec_plugin(spec: ExecSpec) -> ExecResult:
    interactive = spec.interactive_mode != "Never" and sys.stdin is not None and sys.stdin.isatty()
    if spec.interactive_mode == "Always" and not interactive:
        raise CredentialError(
            f"{spec.where}: plugin {spec.command!r} needs an interactive terminal (interactiveMode: Always), "
            "but stdin is not a terminal. Log in interactively first, or use a non-interactive credential."
        )
    exec_info: dict[str, Any] = {
        "apiVersion": spec.api_version,
        "kind": "ExecCredential",
        "spec": {"interactive": interactive},
    }
    if spec.provide_cluster_info:
        exec_info["spec"]["cluster"] = spec.cluster_info
    env = dict(os.environ)
    env.update(spec.env)
    env["KUBERNETES_EXEC_INFO"] = orjson.dumps(exec_info).decode()
    executable = shutil.which(spec.command) or spec.command
    try:
        proc = subprocess.run(
            [executable, *spec.args],
            env=env,
            stdin=None if interactive else subprocess.DEVNULL,
            capture_output=True,
            timeout=EXEC_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        hint = f" {spec.install_hint.strip()}" if spec.install_hint.strip() else " Install it or fix the path."
        raise CredentialError(f"{spec.where}: credential plugin {spec.command!r} was not found.{hint}") from None
    except PermissionError:
        raise CredentialError(
            f"{spec.where}: credential plugin {spec.command!r} is not executable. Make it so (chmod +x)."
        ) from None
    except (OSError, ValueError) as exc:  # e.g. a script without '#!' (ENOEXEC)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise CredentialError(
            f"{spec.where}: credential plugin {spec.command!r} could not be started ({reason}). "
            "Check that it is a program or a script starting with '#!'."
        ) from None
    except subprocess.TimeoutExpired:
        raise CredentialError(
            f"{spec.where}: credential plugin {spec.command!r} did not finish in {EXEC_TIMEOUT_SECONDS:.0f}s."
        ) from None
    if proc.returncode != 0:
        stderr = clean_install_hint(proc.stderr.decode(errors="replace").strip()[:_STDERR_SHOWN])
        raise CredentialError(
            f"{spec.where}: credential plugin {spec.command!r} exited with status {proc.returncode}"
            + (f": {stderr}" if stderr else ".")
        )
    try:
        doc = orjson.loads(proc.stdout)
    except orjson.JSONDecodeError:
        raise CredentialError(
            f"{spec.where}: credential plugin {spec.command!r} did not print an ExecCredential JSON object. "
            "Run it by hand to see what it prints."
        ) from None
    if not isinstance(doc, dict):
        raise CredentialError(f"{spec.where}: plugin output is not a JSON object (an ExecCredential).")
    # client-go decodes the output with its scheme: apiVersion and kind must be present and right.
    if doc.get("kind") != "ExecCredential":
        raise CredentialError(f"{spec.where}: plugin output has kind {doc.get('kind')!r}; expected 'ExecCredential'.")
    if doc.get("apiVersion") != spec.api_version:
        raise CredentialError(
            f"{spec.where}: plugin answered apiVersion {doc.get('apiVersion')!r}, expected {spec.api_version!r}."
        )
    status = doc.get("status")
    if not isinstance(status, dict):
        raise CredentialError(f"{spec.where}: plugin output has no 'status' object. Update the plugin.")

    def secret(key: str) -> Secret | None:
        value = status.get(key)
        if value is not None and not isinstance(value, str):
            raise CredentialError(f"{spec.where}: plugin output status.{key} must be a string.")
        if key == "token" and value:
            check_token(value, where=f"{spec.where}: plugin output status.token", error=CredentialError)
        return Secret(value) if value else None

    result = ExecResult(
        token=secret("token"),
        client_certificate_data=secret("clientCertificateData"),
        client_key_data=secret("clientKeyData"),
        expires_at=_parse_timestamp(status.get("expirationTimestamp"), spec.where),
    )
    if result.token is None and result.client_certificate_data is None:
        raise CredentialError(f"{spec.where}: plugin output has neither status.token nor a client certificate.")
    if (result.client_certificate_data is None) != (result.client_key_data is None):
        raise CredentialError(f"{spec.where}: plugin output must give both clientCertificateData and clientKeyData.")
    return result


class ExecCredentials(Credentials):
    """Credentials from an exec plugin: run on first use (never at load, as client-go), cached until shortly
    before ``expirationTimestamp``, re-run on a 401.

    A bearer token goes in the ``Authorization`` header. A client certificate from the plugin is installed
    in :attr:`client_certificate`; clients load each new one for their new connections and close the old
    ones. (A kubeconfig user with a static certificate never runs a plugin, as in client-go.)
    """

    may_block = True

    def __init__(self, spec: ExecSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._result: ExecResult | None = None
        # Counts plugin runs: a request remembers the generation its token came from, so a 401 re-runs the
        # plugin only if no run has happened since (client-go's maybeRefreshCreds compares the cached
        # credentials pointer for the same reason).
        self._generation = 0
        self._certificate = ClientCertificate(where=spec.where)

    @property
    def client_certificate(self) -> ClientCertificate | None:
        return self._certificate

    def _install(self, result: ExecResult) -> None:
        self._result = result
        self._generation += 1
        cert, key = result.client_certificate_data, result.client_key_data
        if cert is not None and key is not None:
            self._certificate.update(cert.reveal().encode(), key.reveal().encode(), error=CredentialError)

    def _current(self) -> tuple[ExecResult, int]:
        """The cached result (running the plugin first if there is none or it is about to expire) and its
        generation, read together under the lock."""
        with self._lock:
            result = self._result
            now = dt.datetime.now(dt.timezone.utc)
            if result is None or (result.expires_at and result.expires_at <= now + EXEC_EXPIRY_MARGIN):
                self._install(run_exec_plugin(self.spec))
                result = self._result
            assert result is not None
            return result, self._generation

    @property
    def result(self) -> ExecResult:
        return self._current()[0]

    def auth_header(self) -> str | None:
        return self.request_credential().header

    def request_credential(self) -> RequestCredential:
        result, generation = self._current()
        return RequestCredential(f"Bearer {result.token.reveal()}" if result.token else None, generation)

    def unauthorized(self, sent: RequestCredential) -> bool:
        """Re-run the plugin after a 401, unless it has run since ``sent`` was handed out (then the newer
        credential may succeed: True). True if the token or client certificate changed."""
        with self._lock:
            previous = self._result
            if previous is not None and sent.generation is not None and sent.generation < self._generation:
                return True  # a late 401 for credentials already replaced: retry with the new ones (client-go)
            certificate = self._certificate.generation
            try:
                self._install(run_exec_plugin(self.spec))
            except CredentialError as exc:
                log.warning("credential plugin refresh after 401 failed: %s", str(exc))
                return False
            assert self._result is not None
            rotated = self._certificate.generation != certificate
            return previous is None or previous.token != self._result.token or rotated

    def claims(self) -> TokenClaims | None:
        token = self.result.token
        return decode_claims(token.reveal()) if token else None

    def describe(self) -> str:
        return f"exec plugin {self.spec.command!r}"
