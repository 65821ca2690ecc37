"""Kubeconfig loading the way kubectl does it.

- ``KUBECONFIG`` holds several paths (``os.pathsep``): missing files are skipped, the **first** file that
  names a cluster, user or context wins for that name, and the first non-empty ``current-context`` wins.
- Relative paths (CA, client cert/key, tokenFile, an exec command with a separator) are resolved against
  the directory of the file that defines the entry.
- Inline ``*-data`` beats the file form; ``tokenFile`` beats ``token`` (client-go re-reads it).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._files import read_file_bytes, read_file_text
from .credentials import BasicAuth, Credentials, StaticToken, TokenFile
from .errors import KubeconfigError
from .exec_plugin import ExecCredentials, ExecSpec, run_exec_plugin
from .tls import TLSConfig, private_file, validate_ca_pem

KUBECONFIG_ENV = "KUBECONFIG"


def default_kubeconfig_path() -> Path:
    return Path(os.path.expanduser("~")) / ".kube" / "config"


@dataclass(frozen=True)
class _Entry:
    body: dict[str, Any]
    file: Path

    @property
    def base_dir(self) -> Path:
        return self.file.parent


@dataclass
class MergedKubeconfig:
    files: list[Path]
    clusters: dict[str, _Entry] = field(default_factory=dict)
    users: dict[str, _Entry] = field(default_factory=dict)
    contexts: dict[str, _Entry] = field(default_factory=dict)
    current_context: str | None = None

    def describe_files(self) -> str:
        return ", ".join(str(f) for f in self.files)


def split_kubeconfig_env(value: str) -> list[Path]:
    """The paths in a ``KUBECONFIG`` value, in order, empty entries and duplicates dropped."""
    seen: list[Path] = []
    for part in value.split(os.pathsep):
        if part.strip():
            path = Path(os.path.expanduser(part.strip()))
            if path not in seen:
                seen.append(path)
    return seen


def _parse_file(path: Path) -> dict[str, Any]:
    text = read_file_text(
        path, what="kubeconfig", fix="Fix or remove the file.", error=KubeconfigError, allow_empty=True
    )
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML{where}: {problem}.") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig {path} must be a YAML mapping (apiVersion, clusters, ...).")
    return doc


def merge(paths: list[Path]) -> MergedKubeconfig:
    """Load and merge existing files among ``paths`` (missing ones skipped) with kubectl's rules."""
    merged = MergedKubeconfig(files=[p for p in paths if p.exists() or p.is_symlink()])
    for path in merged.files:
        doc = _parse_file(path)
        for section, inner, target in (
            ("clusters", "cluster", merged.clusters),
            ("users", "user", merged.users),
            ("contexts", "context", merged.contexts),
        ):
            items = doc.get(section) or []
            if not isinstance(items, list):
                raise KubeconfigError(f"kubeconfig {path}: '{section}' must be a list.")
            for i, item in enumerate(items):
                name = item.get("name") if isinstance(item, dict) else None
                if not isinstance(name, str) or not name:
                    raise KubeconfigError(f"kubeconfig {path}: {section}[{i}] has no 'name'.")
                body = item.get(inner) or {}
                if not isinstance(body, dict):
                    raise KubeconfigError(f"kubeconfig {path}: {section} {name!r}: '{inner}' must be a mapping.")
                target.setdefault(name, _Entry(body, path))
        current = doc.get("current-context")
        if not merged.current_context and isinstance(current, str) and current:
            merged.current_context = current
    return merged


@dataclass(frozen=True)
class KubeconfigParts:
    host: str
    tls: TLSConfig
    credentials: Credentials
    context: str
    namespace: str | None
    proxy_url: str | None
    files: list[Path]


def _resolve(base: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise KubeconfigError(f"{where} must be a base64 string.")
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        raise KubeconfigError(f"{where} is not valid base64.") from None


def _pem_pair(entry: _Entry, where: str) -> tuple[Path | None, Path | None]:
    user = entry.body

    def material(key: str, label: str) -> Path | None:
        if user.get(f"{key}-data"):
            return private_file(_b64(user[f"{key}-data"], f"{where}: {key}-data"), ".pem")
        if user.get(key):
            path = _resolve(entry.base_dir, str(user[key]))
            read_file_bytes(path, what=f"{where}: {label}", fix="Fix the path.", error=KubeconfigError)
            return path
        return None

    cert = material("client-certificate", "client certificate")
    key = material("client-key", "client key")
    if (cert is None) != (key is None):
        raise KubeconfigError(f"{where}: a client certificate needs both client-certificate and client-key.")
    return cert, key


def _credentials(entry: _Entry, where: str, cluster_info: dict[str, Any]) -> tuple[Credentials, TLSConfig]:
    user = entry.body
    if "auth-provider" in user:
        name = (user.get("auth-provider") or {}).get("name", "?")
        raise KubeconfigError(
            f"{where}: auth-provider {name!r} was removed from kubectl in 1.26 and is not supported. "
            "Use the exec credential plugin for your provider instead "
            "(e.g. gke-gcloud-auth-plugin, kubelogin for Azure/OIDC)."
        )
    if any(k in user for k in ("as", "as-groups", "as-uid", "as-user-extra")):
        raise KubeconfigError(f"{where}: impersonation ('as', 'as-groups') is not supported yet.")
    cert, key = _pem_pair(entry, where)
    tls = TLSConfig(client_cert_file=cert, client_key_file=key)
    methods = [
        method
        for method, keys in (
            ("token", ("token", "tokenFile")),
            ("basic auth", ("username",)),
            ("exec", ("exec",)),
        )
        if any(user.get(k) for k in keys)
    ]
    if len(methods) > 1:
        raise KubeconfigError(f"{where}: more than one authentication method ({', '.join(methods)}); keep one.")
    if user.get("tokenFile"):
        path = _resolve(entry.base_dir, str(user["tokenFile"]))
        token_file = TokenFile(path, what=f"{where}: tokenFile", fix="Fix the path.", error=KubeconfigError)
        token_file.watch()
        return token_file, tls
    if user.get("token"):
        if not isinstance(user["token"], str):
            raise KubeconfigError(f"{where}: 'token' must be a string.")
        return StaticToken(user["token"], origin=f"{where}: token"), tls
    if user.get("username"):
        return BasicAuth(str(user["username"]), str(user.get("password") or "")), tls
    if user.get("exec"):
        spec = ExecSpec.from_kubeconfig(user["exec"], base_dir=entry.base_dir, where=where, cluster_info=cluster_info)
        first = run_exec_plugin(spec)
        if first.client_certificate_data and first.client_key_data:
            tls = TLSConfig(
                client_cert_file=private_file(first.client_certificate_data.reveal().encode(), ".pem"),
                client_key_file=private_file(first.client_key_data.reveal().encode(), ".pem"),
            )
        return ExecCredentials(spec, first), tls
    return Credentials(), tls  # client certificate only, or anonymous: the server decides


def resolve(merged: MergedKubeconfig, context: str | None) -> KubeconfigParts:
    files = merged.describe_files()
    name = context or merged.current_context
    if not name:
        raise KubeconfigError(
            f"kubeconfig ({files}) has no current-context. Pass context=, or run 'kubectl config use-context NAME'."
        )
    if name not in merged.contexts:
        known = ", ".join(sorted(merged.contexts)) or "none"
        raise KubeconfigError(f"context {name!r} is not in kubeconfig ({files}); known contexts: {known}.")
    ctx = merged.contexts[name].body
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if not cluster_name or cluster_name not in merged.clusters:
        raise KubeconfigError(
            f"context {name!r} names cluster {cluster_name!r}, which is not in kubeconfig ({files}). "
            "Add the cluster or fix the context."
        )
    cluster_entry = merged.clusters[cluster_name]
    cluster = cluster_entry.body
    cwhere = f"kubeconfig {cluster_entry.file}: cluster {cluster_name!r}"
    server = cluster.get("server")
    if not isinstance(server, str) or not server.strip():
        raise KubeconfigError(f"{cwhere} has no 'server'. Set it to the API server URL (https://host:port).")
    server = server.strip().rstrip("/")
    if not server.startswith(("https://", "http://")):
        server = "https://" + server  # kubectl's default scheme

    ca_file: Path | None = None
    ca_bytes: bytes | None = None
    if cluster.get("certificate-authority-data"):
        ca_bytes = _b64(cluster["certificate-authority-data"], f"{cwhere}: certificate-authority-data")
        validate_ca_pem(ca_bytes, where=f"{cwhere}: certificate-authority-data", fix="", error=KubeconfigError)
        ca_file = private_file(ca_bytes, ".crt")
    elif cluster.get("certificate-authority"):
        ca_file = _resolve(cluster_entry.base_dir, str(cluster["certificate-authority"]))
        ca_bytes = read_file_bytes(
            ca_file, what=f"{cwhere}: certificate-authority", fix="Fix the path.", error=KubeconfigError
        )
        validate_ca_pem(ca_bytes, where=f"{cwhere}: certificate-authority {ca_file}", fix="", error=KubeconfigError)

    cluster_info: dict[str, Any] = {"server": server}
    if ca_bytes:
        cluster_info["certificate-authority-data"] = base64.b64encode(ca_bytes).decode()
    for key in ("tls-server-name", "insecure-skip-tls-verify", "proxy-url"):
        if key in cluster:
            cluster_info[key] = cluster[key]

    if user_name:
        if user_name not in merged.users:
            raise KubeconfigError(
                f"context {name!r} names user {user_name!r}, which is not in kubeconfig ({files}). "
                "Add the user or fix the context."
            )
        user_entry = merged.users[user_name]
        credentials, user_tls = _credentials(
            user_entry, f"kubeconfig {user_entry.file}: user {user_name!r}", cluster_info
        )
    else:
        credentials, user_tls = Credentials(), TLSConfig()

    tls = TLSConfig(
        ca_file=ca_file,
        client_cert_file=user_tls.client_cert_file,
        client_key_file=user_tls.client_key_file,
        insecure_skip_verify=bool(cluster.get("insecure-skip-tls-verify")),
        server_name=cluster.get("tls-server-name") or None,
    )
    namespace = ctx.get("namespace")
    return KubeconfigParts(
        host=server,
        tls=tls,
        credentials=credentials,
        context=name,
        namespace=namespace if isinstance(namespace, str) and namespace else None,
        proxy_url=cluster.get("proxy-url") or None,
        files=merged.files,
    )
