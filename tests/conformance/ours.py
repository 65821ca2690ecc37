"""Our side of the differential test: load a kubeconfig set with ``incluster_sdk.load_config`` and describe
the result in the normalized form the client-go oracle answers in (/tmp/resolution_spec.md, see
``tests/conformance/oracle.py``).

ALL introspection of our objects is in :func:`_describe`, written against these attributes (the loader is
being rewritten; if one moves, fix it here only):

- ``Config``: ``host``, ``context``, ``namespace``, ``proxy_url``, ``tls``, ``credentials``, ``close()``
- ``TLSConfig``: ``server_name``, ``insecure_skip_verify``, ``ca_file`` or ``ca_bundle.pem``,
  ``client_cert_file``, ``client_key_file``
- credentials, told apart by class name (no import of private modules):
  ``StaticToken`` (``auth_header()`` = "Bearer <token>"), ``TokenFile`` (``.path``, ``auth_header()``),
  ``BasicAuth`` (``_username``, ``auth_header()`` = "Basic base64(user:password)"),
  ``ExecCredentials`` (``.spec``: ``command``, ``args``, ``env``, ``api_version``, ``install_hint``,
  ``provide_cluster_info``, ``interactive_mode``, ``cluster_info``), and the base ``Credentials`` (anonymous).
  Nothing here calls an exec plugin: ``auth_header()`` is only called on token and basic-auth sources.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import incluster_sdk

#: Environment that must not steer our loader (the oracle unsets the same for client-go).
_ISOLATED = ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "POD_NAMESPACE", "HOME")
_ISOLATED_EXTRA = ("INCLUSTER_SDK_SERVICE_ACCOUNT_DIR", "KUBERNETES_MASTER")


class AdapterError(AssertionError):
    """Our Config has a shape this adapter does not understand (fix the adapter, not the comparison)."""


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


@contextlib.contextmanager
def _loading_environment(cwd: str, kubeconfig: list[str] | None, home: str) -> Iterator[None]:
    saved_env = {name: os.environ.get(name) for name in (*_ISOLATED, *_ISOLATED_EXTRA)}
    saved_cwd = os.getcwd()
    try:
        for name in (*_ISOLATED, *_ISOLATED_EXTRA):
            os.environ.pop(name, None)
        os.environ["HOME"] = home
        if kubeconfig is not None:
            os.environ["KUBECONFIG"] = os.pathsep.join(kubeconfig)
        os.chdir(cwd)
        yield
    finally:
        os.chdir(saved_cwd)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def resolve_ours(
    cwd: str, kubeconfig: list[str] | None, explicit: str | None, context: str, *, home: str | None = None
) -> dict[str, Any]:
    """Load like ``kubectl [--kubeconfig explicit] [--context context]`` with ``KUBECONFIG`` set to the list.

    ``{"ok": False, ...}`` for a :class:`incluster_sdk.ConfigError`; any other exception propagates (a
    crash is never agreement). ``home``: the ``HOME`` to load with (default: a fresh empty directory).
    """
    with contextlib.ExitStack() as stack:
        if home is None:
            home = stack.enter_context(tempfile.TemporaryDirectory(prefix="conformance-home-"))
        with _loading_environment(cwd, kubeconfig, home):
            try:
                config = incluster_sdk.load_config(kubeconfig=explicit, context=context or None)
            except incluster_sdk.ConfigError as exc:
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        try:
            return _describe(config)
        finally:
            config.close()


def _file_sha(path: Any, what: str) -> str | None:
    if path is None:
        return None
    try:
        return _sha(Path(path).read_bytes())
    except OSError as exc:
        raise AdapterError(f"our Config names {what} {path}, which cannot be read: {exc}") from None


def _describe(config: Any) -> dict[str, Any]:
    tls = config.tls
    ca_sha = None
    bundle = getattr(tls, "ca_bundle", None)
    if bundle is not None and getattr(bundle, "pem", None) is not None:
        ca_sha = _sha(bundle.pem)
    elif tls.ca_file is not None:
        ca_sha = _file_sha(tls.ca_file, "a CA file")

    out: dict[str, Any] = {
        "ok": True,
        "context": config.context,
        "namespace": config.namespace,
        "host": config.host.rstrip("/"),
        "server_name": tls.server_name or "",
        "insecure": bool(tls.insecure_skip_verify),
        "ca_sha256": ca_sha,
        "cert_sha256": _file_sha(tls.client_cert_file, "a client certificate"),
        "key_sha256": _file_sha(tls.client_key_file, "a client key"),
        "token_sha256": None,
        "token_file": None,
        "username": None,
        "password_sha256": None,
        "exec": None,
        "exec_used": False,
        "proxy_url": config.proxy_url or None,
    }

    creds = config.credentials
    kind = type(creds).__name__
    if kind == "StaticToken":
        out["token_sha256"] = _sha(_strip_scheme(creds.auth_header(), "Bearer "))
    elif kind == "TokenFile":
        out["token_file"] = str(creds.path)
        out["token_sha256"] = _sha(_strip_scheme(creds.auth_header(), "Bearer "))
    elif kind == "BasicAuth":
        username = creds._username
        decoded = base64.b64decode(_strip_scheme(creds.auth_header(), "Basic ")).decode()
        if not decoded.startswith(username + ":"):
            raise AdapterError(f"BasicAuth header does not start with the username {username!r}")
        password = decoded[len(username) + 1 :]
        out["username"] = username or None
        out["password_sha256"] = _sha(password) if password else None
    elif kind == "ExecCredentials":
        spec = creds.spec
        out["exec"] = {
            "command": spec.command,
            "args": list(spec.args),
            "env": [[name, value] for name, value in spec.env],
            "apiVersion": spec.api_version,
            "installHint": spec.install_hint,
            "provideClusterInfo": bool(spec.provide_cluster_info),
            "interactiveMode": spec.interactive_mode or "",
            "cluster": _exec_cluster(spec) if spec.provide_cluster_info else None,
        }
        out["exec_used"] = True
    elif kind != "Credentials":
        raise AdapterError(f"unknown credentials class {kind}: teach tests/conformance/ours.py about it")
    return out


def _strip_scheme(header: str | None, scheme: str) -> str:
    if not header or not header.startswith(scheme):
        raise AdapterError(f"auth header does not start with {scheme!r}")
    return header[len(scheme) :]


def _exec_cluster(spec: Any) -> dict[str, Any]:
    """``spec.cluster`` of the ExecCredential the plugin would get, keyed as client-go's JSON."""
    info = dict(getattr(spec, "cluster_info", None) or {})
    keys = (
        "server",
        "tls-server-name",
        "insecure-skip-tls-verify",
        "certificate-authority-data",
        "proxy-url",
        "config",
    )
    unknown = set(info) - set(keys)
    if unknown:
        raise AdapterError(f"exec cluster_info has keys the adapter does not know: {sorted(unknown)}")
    return {k: info[k] for k in keys if k in info}
