"""Kubeconfig ``exec`` credential plugins (client.authentication.k8s.io v1 / v1beta1), as kubectl runs them.

The plugin runs on first use, again shortly before ``expirationTimestamp``, and again on a 401.
Its stdout is a credential: it is parsed, never logged; stderr is shown only on failure.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ._secret import Secret
from .credentials import Credentials
from .errors import CredentialError, KubeconfigError
from .tokens import TokenClaims, decode_claims

log = logging.getLogger(__name__)

SUPPORTED_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
# Re-run the plugin this long before the credential's stated expiry, so a request in flight at the
# boundary (and modest clock skew between us and the issuer) does not meet a 401.
EXEC_EXPIRY_MARGIN = dt.timedelta(seconds=30)
# A plugin that has not answered in this long is hung (waiting on a browser login nobody will finish).
EXEC_TIMEOUT_SECONDS = 60.0
_STDERR_SHOWN = 2000


@dataclass(frozen=True)
class ExecSpec:
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = SUPPORTED_API_VERSIONS[0]
    install_hint: str = ""
    provide_cluster_info: bool = False
    interactive_mode: str = "IfAvailable"
    cluster_info: dict[str, Any] = field(default_factory=dict)
    where: str = "exec plugin"

    @classmethod
    def from_kubeconfig(cls, raw: Any, *, base_dir: Path, where: str, cluster_info: dict[str, Any]) -> ExecSpec:
        if not isinstance(raw, dict):
            raise KubeconfigError(f"{where}: 'exec' must be a mapping")
        command = raw.get("command")
        if not isinstance(command, str) or not command:
            raise KubeconfigError(f"{where}: 'exec.command' is missing. Name the credential plugin to run.")
        api_version = raw.get("apiVersion") or ""
        if api_version not in SUPPORTED_API_VERSIONS:
            raise KubeconfigError(
                f"{where}: exec apiVersion {api_version!r} is not supported; "
                f"use one of {', '.join(SUPPORTED_API_VERSIONS)}."
            )
        # kubectl resolves a relative command only when it contains a path separator.
        if os.sep in command and not os.path.isabs(command):
            command = str(base_dir / command)
        env_entries = raw.get("env") or []
        if not isinstance(env_entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) for e in env_entries
        ):
            raise KubeconfigError(f"{where}: 'exec.env' must be a list of {{name, value}} entries")
        args = raw.get("args") or []
        if not isinstance(args, list):
            raise KubeconfigError(f"{where}: 'exec.args' must be a list of strings")
        return cls(
            command=command,
            args=tuple(str(a) for a in args),
            env=tuple((e["name"], str(e.get("value", ""))) for e in env_entries),
            api_version=api_version,
            install_hint=str(raw.get("installHint") or ""),
            provide_cluster_info=bool(raw.get("provideClusterInfo")),
            interactive_mode=str(raw.get("interactiveMode") or "IfAvailable"),
            cluster_info=cluster_info,
            where=where,
        )


@dataclass(frozen=True)
class ExecResult:
    token: Secret | None
    client_certificate_data: Secret | None
    client_key_data: Secret | None
    expires_at: dt.datetime | None


def _parse_timestamp(value: Any, where: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise CredentialError(f"{where}: expirationTimestamp must be an RFC 3339 string")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CredentialError(f"{where}: expirationTimestamp {value!r} is not RFC 3339") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


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
        hint = f" {spec.install_hint.strip()}" if spec.install_hint else " Install it or fix the path."
        raise CredentialError(f"{spec.where}: credential plugin {spec.command!r} was not found.{hint}") from None
    except PermissionError:
        raise CredentialError(f"{spec.where}: credential plugin {spec.command!r} is not executable.") from None
    except subprocess.TimeoutExpired:
        raise CredentialError(
            f"{spec.where}: credential plugin {spec.command!r} did not finish in {EXEC_TIMEOUT_SECONDS:.0f}s."
        ) from None
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip()[:_STDERR_SHOWN]
        raise CredentialError(
            f"{spec.where}: credential plugin {spec.command!r} exited with status {proc.returncode}"
            + (f": {stderr}" if stderr else ".")
        )
    try:
        doc = orjson.loads(proc.stdout)
    except orjson.JSONDecodeError:
        raise CredentialError(
            f"{spec.where}: credential plugin {spec.command!r} did not print an ExecCredential JSON object."
        ) from None
    status = doc.get("status") if isinstance(doc, dict) else None
    if not isinstance(status, dict):
        raise CredentialError(f"{spec.where}: plugin output has no 'status' object.")
    if doc.get("apiVersion") not in (None, spec.api_version):
        raise CredentialError(
            f"{spec.where}: plugin answered apiVersion {doc.get('apiVersion')!r}, expected {spec.api_version!r}."
        )

    def secret(key: str) -> Secret | None:
        value = status.get(key)
        return Secret(value) if isinstance(value, str) and value else None

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
    """Bearer token from an exec plugin, cached until shortly before it expires, refreshed on 401."""

    may_block = True

    def __init__(self, spec: ExecSpec, first: ExecResult | None = None) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._result = first

    def _current(self) -> ExecResult:
        with self._lock:
            result = self._result
            now = dt.datetime.now(dt.timezone.utc)
            if result is None or (result.expires_at and result.expires_at - EXEC_EXPIRY_MARGIN <= now):
                result = self._result = run_exec_plugin(self.spec)
            return result

    @property
    def result(self) -> ExecResult:
        return self._current()

    def auth_header(self) -> str | None:
        token = self._current().token
        return f"Bearer {token.reveal()}" if token else None

    def on_unauthorized(self, sent_header: str | None) -> bool:
        with self._lock:
            previous = self._result
            try:
                self._result = run_exec_plugin(self.spec)
            except CredentialError as exc:
                log.warning("credential plugin refresh after 401 failed: %s", str(exc))
                return False
            return previous is None or previous.token != self._result.token

    def claims(self) -> TokenClaims | None:
        token = self._current().token
        return decode_claims(token.reveal()) if token else None

    def describe(self) -> str:
        return f"exec plugin {self.spec.command!r}"
