"""One kubeconfig file decoded strictly into typed entries, the way client-go decodes ``clientcmd/api/v1``.

Every rule here is client-go's (``tools/clientcmd/loader.go``, ``api/v1/conversion.go``), so a file that
kubectl refuses is refused here too, with an error naming the file, the entry, the field and the type
expected:

- Field types are strict: a string is not a boolean (``insecure-skip-tls-verify: "false"`` is an error, not
  a truthy value), a number is not a string. ``null`` means "not set". Unknown fields are ignored; names are
  case-sensitive (client-go's JSON decoder is).
- ``*-data`` fields are standard base64 with padding; line breaks are ignored, anything else is an error.
- A name may appear once per section in one file (first-wins applies *across* files, in ``kubeconfig.py``).
- Relative paths (``certificate-authority``, ``client-certificate``, ``client-key``, ``tokenFile``, and an
  exec ``command`` containing a path separator) are made absolute against the **absolute** directory of this
  file, lexically (no ``~`` expansion, no symlink resolution), as client-go's ``ResolveLocalPaths`` does.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from .errors import KubeconfigError

#: The cluster extension whose content an exec plugin receives as ``spec.cluster.config``
#: (client-go ``clientcmd``'s ``clusterExtensionKey``).
EXEC_CLUSTER_EXTENSION = "client.authentication.k8s.io/exec"


@dataclass(frozen=True)
class ExecEnvVar:
    name: str
    value: str


@dataclass(frozen=True)
class ExecConfig:
    """A user's ``exec`` block (client-go ``api.ExecConfig``); validated later, when the user is used."""

    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[ExecEnvVar, ...] = field(default=(), repr=False)  # plugin env often holds keys
    api_version: str = ""
    install_hint: str = ""
    provide_cluster_info: bool = False
    interactive_mode: str = ""


@dataclass(frozen=True)
class Cluster:
    server: str = ""
    tls_server_name: str = ""
    insecure_skip_tls_verify: bool = False
    certificate_authority: str = ""  # absolute once decoded
    certificate_authority_data: bytes = b""
    proxy_url: str = ""
    extensions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthInfo:
    client_certificate: str = ""
    client_certificate_data: bytes = field(default=b"", repr=False)
    client_key: str = ""
    client_key_data: bytes = field(default=b"", repr=False)
    token: str = field(default="", repr=False)
    token_file: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    exec: ExecConfig | None = None
    auth_provider: str | None = None  # the provider's name; unsupported, refused when the user is used
    impersonation: tuple[str, ...] = ()  # the impersonation fields that are set; unsupported likewise


@dataclass(frozen=True)
class Context:
    cluster: str = ""
    user: str = ""
    namespace: str = ""


T = TypeVar("T")


@dataclass(frozen=True)
class Named(Generic[T]):
    """A decoded cluster, user or context, and where it was defined, for error messages."""

    value: T
    where: str  # "kubeconfig /abs/file: cluster 'c'"


@dataclass
class KubeconfigFile:
    clusters: dict[str, Named[Cluster]] = field(default_factory=dict)
    users: dict[str, Named[AuthInfo]] = field(default_factory=dict)
    contexts: dict[str, Named[Context]] = field(default_factory=dict)
    current_context: str = ""


# -- strict field reading ----------------------------------------------------------------------------------
_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean (true or false)",
    list: "a list",
    dict: "a mapping",
}


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a YAML {type(value).__name__}"


class _Fields:
    """Typed access to one YAML mapping; every error names ``where`` and the field."""

    def __init__(self, doc: Any, where: str) -> None:
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise KubeconfigError(f"{where} must be a mapping, not {_kind_of(doc)}.")
        self.doc: dict[Any, Any] = doc
        self.where = where

    def _typed(self, key: str, expected: type[T], default: T) -> T:
        value = self.doc.get(key)
        if value is None:
            return default
        # bool is an int in Python; YAML's 1 is not a boolean and YAML's true is not a number.
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            hint = ""
            if expected is bool and isinstance(value, str):
                hint = " Write true or false without quotes."
            raise KubeconfigError(
                f"{self.where}: field '{key}' must be {_TYPE_NAMES[expected]}, not {_kind_of(value)}.{hint}"
            )
        return value

    def string(self, key: str) -> str:
        return self._typed(key, str, "")

    def boolean(self, key: str) -> bool:
        return self._typed(key, bool, False)

    def strings(self, key: str) -> tuple[str, ...]:
        items = self._typed(key, list, [])
        out = []
        for i, item in enumerate(items):
            if item is None:
                item = ""
            if not isinstance(item, str):
                raise KubeconfigError(f"{self.where}: {key}[{i}] must be a string, not {_kind_of(item)}.")
            out.append(item)
        return tuple(out)

    def mapping(self, key: str, what: str) -> _Fields:
        return _Fields(self.doc.get(key), f"{self.where}: {what}")

    def data(self, key: str) -> bytes:
        value = self.doc.get(key)
        if isinstance(value, list) and all(isinstance(b, int) and not isinstance(b, bool) for b in value):
            # Go's JSON decoder also takes a []byte as an array of byte values.
            if all(0 <= b <= 255 for b in value):
                return bytes(value)
            raise KubeconfigError(f"{self.where}: field '{key}' holds a number that is not a byte (0-255).")
        return decode_data(self.string(key), where=self.where, field=key)

    def path(self, key: str, base: str) -> str:
        value = self.string(key)
        return resolve_path(value, base)

    def named_list(self, key: str) -> list[tuple[int, Any]]:
        items = self._typed(key, list, [])
        return list(enumerate(items))


def decode_data(text: str, *, where: str, field: str) -> bytes:
    """A ``[]byte`` field: standard base64 with padding, line breaks ignored (Go's ``encoding/json``).

    Raises:
        KubeconfigError: any other character, or wrong padding; names ``where`` and ``field``.
    """
    if not text:
        return b""
    stripped = text.replace("\r", "").replace("\n", "")
    try:
        # Python accepts '=' after a complete 4-character group ("aGk=" + "="); Go's decoder does not.
        if len(stripped) % 4:
            raise ValueError("length not a multiple of 4")
        return base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigError(
            f"{where}: field '{field}' is not valid base64 (standard alphabet, with '=' padding). "
            "Re-encode it, e.g. with 'base64 -w0 FILE'."
        ) from None


def resolve_path(value: str, base: str) -> str:
    """client-go's ``ResolvePath``: a non-empty relative path joined to ``base`` and cleaned lexically."""
    if not value or os.path.isabs(value):
        return value
    return os.path.normpath(os.path.join(base, value))


# -- sections ------------------------------------------------------------------------------------------------
def _extensions(fields: _Fields) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, item in fields.named_list("extensions"):
        entry = _Fields(item, f"{fields.where}: extensions[{i}]")
        name = entry.string("name")
        if name in out:
            raise KubeconfigError(f"{fields.where}: extension name {name!r} appears twice; keep one.")
        out[name] = entry.doc.get("extension")
    return out


def _cluster(fields: _Fields, base: str) -> Cluster:
    return Cluster(
        server=fields.string("server"),
        tls_server_name=fields.string("tls-server-name"),
        insecure_skip_tls_verify=fields.boolean("insecure-skip-tls-verify"),
        certificate_authority=fields.path("certificate-authority", base),
        certificate_authority_data=fields.data("certificate-authority-data"),
        proxy_url=fields.string("proxy-url"),
        extensions=_extensions(fields),
    )


def _exec(fields: _Fields, base: str) -> ExecConfig:
    env = []
    for i, item in fields.named_list("env"):
        var = _Fields(item, f"{fields.where}: env[{i}]")
        env.append(ExecEnvVar(name=var.string("name"), value=var.string("value")))
    command = fields.string("command")
    if os.sep in command:  # client-go resolves only commands with a path separator; bare names use PATH
        command = resolve_path(command, base)
    return ExecConfig(
        command=command,
        args=fields.strings("args"),
        env=tuple(env),
        api_version=fields.string("apiVersion"),
        install_hint=fields.string("installHint"),
        provide_cluster_info=fields.boolean("provideClusterInfo"),
        interactive_mode=fields.string("interactiveMode"),
    )


_IMPERSONATION = ("as", "as-uid", "as-groups", "as-user-extra")


def _auth_info(fields: _Fields, base: str) -> AuthInfo:
    exec_raw = fields.doc.get("exec")
    provider = fields.doc.get("auth-provider")
    provider_name = None
    if provider is not None:
        provider_name = fields.mapping("auth-provider", "auth-provider").string("name") or "?"
    impersonation = tuple(k for k in _IMPERSONATION if fields.doc.get(k) not in (None, "", [], {}))
    _extensions(fields)  # type-checked and unique, as client-go's conversion requires; otherwise unused
    return AuthInfo(
        client_certificate=fields.path("client-certificate", base),
        client_certificate_data=fields.data("client-certificate-data"),
        client_key=fields.path("client-key", base),
        client_key_data=fields.data("client-key-data"),
        token=fields.string("token"),
        token_file=fields.path("tokenFile", base),
        username=fields.string("username"),
        password=fields.string("password"),
        exec=None if exec_raw is None else _exec(fields.mapping("exec", "exec"), base),
        auth_provider=provider_name,
        impersonation=impersonation,
    )


def _context(fields: _Fields) -> Context:
    _extensions(fields)  # type-checked like client-go's, otherwise unused
    return Context(cluster=fields.string("cluster"), user=fields.string("user"), namespace=fields.string("namespace"))


def decode_file(path: Path) -> KubeconfigFile:
    """Read and decode one kubeconfig file. ``path`` may be relative (to the working directory).

    Raises:
        KubeconfigError: unreadable file, invalid YAML, a field of the wrong type, invalid base64, or a
            name defined twice in one section. The message names the file, the entry and the field.
    """
    from .kubeconfig_yaml import load_yaml  # PyYAML loads only when a kubeconfig is read (not in a pod)

    doc = load_yaml(path)
    shown = os.path.abspath(path)
    top = _Fields(doc, f"kubeconfig {shown}")
    api_version, kind = top.string("apiVersion"), top.string("kind")
    if api_version not in ("", "v1") or kind not in ("", "Config"):
        raise KubeconfigError(
            f"kubeconfig {shown}: apiVersion {api_version!r} kind {kind!r} is not a kubeconfig; "
            "expected apiVersion: v1, kind: Config."
        )
    preferences = top.mapping("preferences", "preferences")
    preferences.boolean("colors")
    _extensions(preferences)
    _extensions(top)  # type-checked and unique, as client-go's conversion requires; otherwise unused
    base = os.path.dirname(shown)
    return KubeconfigFile(
        clusters=_section(top, "clusters", "cluster", lambda f: _cluster(f, base)),
        users=_section(top, "users", "user", lambda f: _auth_info(f, base)),
        contexts=_section(top, "contexts", "context", _context),
        current_context=top.string("current-context"),
    )


def _section(top: _Fields, section: str, inner: str, build: Callable[[_Fields], T]) -> dict[str, Named[T]]:
    """The entries of one named list (``clusters: [{name, cluster}]``), each name once (client-go's
    conversion refuses a repeated name)."""
    out: dict[str, Named[T]] = {}
    for i, item in top.named_list(section):
        entry = _Fields(item, f"{top.where}: {section}[{i}]")  # a null entry is an empty one, as in Go
        name = entry.string("name")
        where = f"{top.where}: {inner} {name!r}"
        if name in out:
            raise KubeconfigError(
                f"{top.where}: {inner} name {name!r} is defined twice in '{section}'. "
                "Names must be unique within a file; rename or remove one."
            )
        out[name] = Named(build(_Fields(entry.doc.get(inner), where)), where)
    return out
