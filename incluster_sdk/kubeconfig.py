"""Kubeconfig loading the way kubectl does it: merge the files, pick the context, validate, build credentials.

Each file is decoded strictly by :mod:`incluster_sdk.kubeconfig_schema`. Then, as client-go's
``clientcmd`` does (``loader.go``, ``client_config.go``, ``validation.go``):

- ``KUBECONFIG`` holds several paths (``os.pathsep``; empty entries and repeats dropped, no ``~`` expansion):
  missing files are skipped, the **first** file that names a cluster, user or context wins for that name,
  and the first non-empty ``current-context`` wins.
- Only the context in use is validated: its cluster needs a ``server``; a CA given both inline and as a
  file, a client certificate without a key, ``token`` together with ``username``/``password``, and an
  incomplete ``exec`` block are errors; files named must be readable.
- Credentials: ``token``/``tokenFile``, basic auth and a static client certificate take precedence over
  ``exec``: the plugin is then never run (client-go's ``exec.UpdateTransportConfig``). Over plain
  ``http://`` no credentials and no TLS settings are used (client-go sends them only over TLS).
- TLS material is parsed at load: the CA bundle must hold only certificates, the client certificate and
  key must parse and match, and a CA together with ``insecure-skip-tls-verify`` is refused.

Where this module deliberately differs from client-go, docs/config.md ("Conformance") says so and why.
"""

from __future__ import annotations

import base64
import importlib.util
import logging
import os
import posixpath
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._files import read_file_bytes
from .credentials import BasicAuth, Credentials, FileTokenSource, StaticToken, TokenFile
from .errors import KubeconfigError
from .exec_plugin import ExecCredentials, ExecSpec
from .filewatch import FileWatch
from .kubeconfig_schema import EXEC_CLUSTER_EXTENSION, AuthInfo, Cluster, Context, Named, decode_file
from .tls import TLSConfig, private_file, validate_ca_pem, validate_client_pair

log = logging.getLogger(__name__)

KUBECONFIG_ENV = "KUBECONFIG"


def default_kubeconfig_path() -> Path:
    return Path(os.path.expanduser("~")) / ".kube" / "config"


@dataclass
class MergedKubeconfig:
    files: list[Path]
    clusters: dict[str, Named[Cluster]] = field(default_factory=dict)
    users: dict[str, Named[AuthInfo]] = field(default_factory=dict)
    contexts: dict[str, Named[Context]] = field(default_factory=dict)
    current_context: str = ""

    def describe_files(self) -> str:
        return ", ".join(os.path.abspath(f) for f in self.files)


def split_kubeconfig_env(value: str) -> list[Path]:
    """The paths in a ``KUBECONFIG`` value, in order, empty entries and repeats dropped (client-go's
    ``filepath.SplitList`` + deduplicate, on the text as written: no trimming, no ``~`` expansion; the shell
    expands ``~``). Each entry is checked by :func:`kubeconfig_path`."""
    seen: list[str] = []
    for part in value.split(os.pathsep):
        if part and part not in seen:
            seen.append(part)
    return [kubeconfig_path(part, "KUBECONFIG entry") for part in seen]


def kubeconfig_path(text: str, what: str) -> Path:
    """``text`` as a path, refused where client-go's loader fails on it: it skips a file that does not exist
    (ENOENT) but fails on any other error the path gives, which ``Path`` would hide: ``config/`` when
    ``config`` is a file (the trailing ``/`` is dropped by ``Path``), ``file/x`` below a file (ENOTDIR), a
    symlink loop."""
    try:
        os.stat(text)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise KubeconfigError(
            f"{what} {text!r}: {exc.strerror or type(exc).__name__}; fix the path (client-go fails on it too)."
        ) from None
    except ValueError:  # a NUL in the path: read_file_text reports it when the file is read
        pass
    return Path(text)


def merge(paths: list[Path]) -> MergedKubeconfig:
    """Load and merge the existing files among ``paths`` (missing ones skipped) with kubectl's rules."""
    merged = MergedKubeconfig(files=[p for p in paths if p.exists() or p.is_symlink()])
    for path in merged.files:
        decoded = decode_file(path)
        for name, cluster in decoded.clusters.items():
            merged.clusters.setdefault(name, cluster)
        for name, user in decoded.users.items():
            merged.users.setdefault(name, user)
        for name, context in decoded.contexts.items():
            merged.contexts.setdefault(name, context)
        merged.current_context = merged.current_context or decoded.current_context
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
    #: The watch on a ``tokenFile`` (None without one).
    file_watch: FileWatch | None = None


# -- the server URL ----------------------------------------------------------------------------------------
def redact_url(url: str) -> str:
    """``url`` with any user information (``user:password@``) replaced, for messages and reprs."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}{sep}{authority}{slash}{tail}"


#: Characters Go's URL parser refuses in a host (plus controls): better refused here than at the first request.
_BAD_HOST_CHARS = re.compile(r"[\x00-\x20\x7f<>\"{}|\\^`]")


#: What Go's url.Parse refuses that Python's urlsplit lets through (it even drops tabs and line breaks): a control
#: character anywhere, a '%' not followed by two hex digits, and in the host an escape of an ASCII byte (only
#: %25, for IPv6 zones, and non-ASCII bytes may be escaped there: RFC 3986 and Go's unescape(encodeHost)).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")
_ASCII_HOST_ESCAPE = re.compile(r"%(?!25)[0-7][0-9a-fA-F]")


def _split(url: str, where: str, field: str) -> urllib.parse.SplitResult:
    shown = redact_url(url)
    if url[:1].isspace():  # Go's URL parser refuses it (Python's would strip it)
        raise KubeconfigError(f"{where}: {field} {shown!r} starts with a space. Remove it.")
    if _CONTROL.search(url):
        raise KubeconfigError(f"{where}: {field} {shown!r} holds a control character (a line break?). Remove it.")
    authority = url.partition("://")[2].partition("/")[0].partition("?")[0].partition("#")[0].rpartition("@")[2]
    if _BAD_ESCAPE.search(url.partition("?")[0]) or _ASCII_HOST_ESCAPE.search(authority):
        raise KubeconfigError(f"{where}: {field} {shown!r} has an invalid %-escape. Write the character itself.")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  # validates the port
    except ValueError:
        raise KubeconfigError(f"{where}: {field} {shown!r} is not a valid URL (its host or port).") from None
    if _BAD_HOST_CHARS.search(parts.netloc):
        raise KubeconfigError(f"{where}: {field} {shown!r} has a character a host name cannot hold.")
    return parts


def _server_url(server: str, where: str) -> tuple[str, bool]:
    """The base URL requests go to, and whether it is TLS. As client-go: the scheme is lower-cased, the
    query and fragment are dropped and the path is cleaned (``/a//b/`` is ``/a/b``). Raises for what
    client-go cannot use either, and (deliberately, see docs/config.md) for a server without an
    ``http://``/``https://`` scheme or with user info in it. Messages never show user info."""
    shown = redact_url(server)
    if "@" in server.partition("://")[2].partition("/")[0] or ("://" not in server and "@" in server):
        raise KubeconfigError(
            f"{where}: the server URL {shown!r} holds user information (user@host). Put credentials in the user entry."
        )
    parts = _split(server, where, "server")
    if parts.scheme not in ("https", "http") or not parts.netloc:
        bare = "://" not in server
        detail = (
            "has no scheme (kubectl would talk plain HTTP to it, without credentials)"
            if bare
            else f"has scheme {parts.scheme!r}; only https:// (or http://) can reach an API server"
        )
        raise KubeconfigError(f"{where}: server {shown!r} {detail}. Write it as https://HOST[:PORT].")
    if not parts.hostname:
        raise KubeconfigError(f"{where}: server {shown!r} has no host.")
    path = posixpath.normpath(re.sub("/+", "/", parts.path)) if parts.path not in ("", "/") else ""
    return f"{parts.scheme}://{parts.netloc}{path.rstrip('/')}", parts.scheme == "https"


#: Proxy schemes client-go accepts in ``proxy-url`` (``clientcmd.parseProxyURL``).
PROXY_SCHEMES = ("http", "https", "socks5")
_SOCKS_MODULES = {"socks": "PySocks", "aiohttp_socks": "aiohttp-socks"}


def _proxy_url(value: str, where: str) -> str | None:
    if not value:
        return None
    shown = redact_url(value)
    parts = _split(value, where, "proxy-url")
    if parts.scheme not in PROXY_SCHEMES:
        raise KubeconfigError(
            f"{where}: proxy-url {shown!r} has unsupported scheme {parts.scheme!r}; "
            f"use one of {', '.join(s + '://' for s in PROXY_SCHEMES)}."
        )
    if not parts.hostname:  # client-go 1.20 accepts this and fails at the first request (docs/config.md)
        raise KubeconfigError(f"{where}: proxy-url {shown!r} has no host. Write it as SCHEME://HOST:PORT.")
    if parts.scheme == "socks5":
        missing = [pkg for mod, pkg in _SOCKS_MODULES.items() if importlib.util.find_spec(mod) is None]
        if missing:
            raise KubeconfigError(
                f"{where}: proxy-url {shown!r} is a SOCKS5 proxy, which needs {' and '.join(missing)}. "
                "Install them with: pip install 'incluster-sdk[socks]'."
            )
    return parts.geturl()  # the scheme lower-cased, as client-go prints it


# -- validation of the entries in use (client-go validation.go) ---------------------------------------------
def _readable(path: str, what: str, where: str, *, allow_empty: bool = False) -> bytes:
    return read_file_bytes(
        Path(path), what=f"{where}: {what}", fix="Fix the path.", error=KubeconfigError, allow_empty=allow_empty
    )


def _check_user(user: AuthInfo, where: str) -> None:
    if user.auth_provider is not None:
        raise KubeconfigError(
            f"{where}: auth-provider {user.auth_provider!r} was removed from kubectl in 1.26 and is not supported. "
            "Use the exec credential plugin for your provider instead "
            "(e.g. gke-gcloud-auth-plugin, kubelogin for Azure/OIDC)."
        )
    if user.impersonation:
        raise KubeconfigError(f"{where}: impersonation ({', '.join(user.impersonation)}) is not supported yet.")
    # client-go's validateAuthInfo counts token and basic auth (a username or a password) as methods, but not
    # tokenFile; its transport then refuses a token file with basic auth, which needs a username ("username/password
    # or bearer token may be set, but not both"). A tokenFile with only a password loads: the file's token is sent.
    if (user.token and (user.username or user.password)) or (user.token_file and user.username):
        raise KubeconfigError(
            f"{where}: more than one authentication method (token and basic auth); only one is allowed. Keep one."
        )
    if user.client_certificate or user.client_certificate_data:
        # client-go's validation opens the files named, whatever the server's scheme.
        for path, what in ((user.client_certificate, "client-certificate"), (user.client_key, "client-key")):
            if path:
                _readable(path, what, where, allow_empty=True)
        if user.client_certificate and user.client_certificate_data:
            raise KubeconfigError(f"{where}: client-certificate and client-certificate-data are both set; keep one.")
        if user.client_key and user.client_key_data:
            raise KubeconfigError(f"{where}: client-key and client-key-data are both set; keep one.")
        if not (user.client_key or user.client_key_data):
            raise KubeconfigError(f"{where}: a client certificate needs client-key or client-key-data.")
    if user.exec is not None:
        ExecSpec.validate(user.exec, where=where)


def _check_cluster(cluster: Cluster, where: str) -> None:
    if not cluster.server:
        raise KubeconfigError(f"{where} has no 'server'. Set it to the API server URL (https://host:port).")
    if cluster.certificate_authority and cluster.certificate_authority_data:
        raise KubeconfigError(f"{where}: certificate-authority and certificate-authority-data are both set; keep one.")
    if cluster.certificate_authority:  # opened by client-go's validation whatever the scheme
        _readable(cluster.certificate_authority, "certificate-authority", where, allow_empty=True)


# -- building the parts ----------------------------------------------------------------------------------
def _ca(cluster: Cluster, where: str) -> tuple[Path | None, bytes | None]:
    if cluster.certificate_authority_data:
        data = cluster.certificate_authority_data
        validate_ca_pem(data, where=f"{where}: certificate-authority-data", fix="", error=KubeconfigError)
        return private_file(data, ".crt"), data
    if cluster.certificate_authority:
        data = _readable(cluster.certificate_authority, "certificate-authority", where)
        shown = f"{where}: certificate-authority {cluster.certificate_authority}"
        validate_ca_pem(data, where=shown, fix="", error=KubeconfigError)
        return Path(cluster.certificate_authority), data
    return None, None


def _client_pair(user: AuthInfo, where: str) -> tuple[Path, Path] | None:
    if not (user.client_certificate or user.client_certificate_data):
        return None  # a key alone is ignored, as client-go ignores it
    if user.client_certificate_data:
        cert = private_file(user.client_certificate_data, ".pem")
    else:
        _readable(user.client_certificate, "client-certificate", where)
        cert = Path(user.client_certificate)
    if user.client_key_data:
        key = private_file(user.client_key_data, ".pem")
    else:
        _readable(user.client_key, "client-key", where)
        key = Path(user.client_key)
    validate_client_pair(cert, key, where=where, error=KubeconfigError)
    return cert, key


def _credentials(
    user: AuthInfo, where: str, *, static_certificate: bool, cluster_info: Callable[[], dict[str, Any]]
) -> Credentials:
    """The user's credential source, in client-go's precedence; ``cluster_info`` is called only for exec."""
    if user.token_file:
        source = FileTokenSource(
            Path(user.token_file), what=f"{where}: tokenFile", fix="Fix the path.", error=KubeconfigError
        )
        return TokenFile(source)
    if user.token:
        return StaticToken(user.token, origin=f"{where}: token")
    if user.username:  # client-go sends basic auth only with a username (transport.Config.HasBasicAuth)
        return BasicAuth(user.username, user.password)
    if user.password:
        log.warning("%s: a password without a username is ignored (as client-go does)", where)
    if user.exec is not None and not static_certificate:  # a static client certificate also beats exec
        info = cluster_info() if user.exec.provide_cluster_info else {}
        return ExecCredentials(ExecSpec.from_config(user.exec, where=where, cluster_info=info))
    return Credentials()  # client certificate only, or anonymous: the server decides


def _exec_cluster_info(server: str, cluster: Cluster, ca: bytes | None, where: str) -> dict[str, Any]:
    """``spec.cluster`` of the ExecCredential, as client-go's ``rest.ConfigToExecCluster`` builds it
    (JSON field names of ``client.authentication.k8s.io``; empty fields omitted)."""
    info: dict[str, Any] = {"server": server}
    if cluster.tls_server_name:
        info["tls-server-name"] = cluster.tls_server_name
    if cluster.insecure_skip_tls_verify:
        info["insecure-skip-tls-verify"] = True
    if ca:
        info["certificate-authority-data"] = base64.b64encode(ca).decode()
    if cluster.proxy_url:
        info["proxy-url"] = cluster.proxy_url
    extension = cluster.extensions.get(EXEC_CLUSTER_EXTENSION)
    if extension is not None:  # JSON already: kubeconfig_yaml converts every document as sigs.k8s.io/yaml does
        info["config"] = extension
    return info


def _context_in_use(merged: MergedKubeconfig, context: str | None) -> tuple[str, Context]:
    """The context's name and entry: ``context``, else the current context. client-go looks up even ""
    (an entry may be named ""), and with no context at all uses an empty one (the cluster named "")."""
    name = context or merged.current_context
    if name in merged.contexts:
        return name, merged.contexts[name].value
    files = merged.describe_files()
    if name:
        known = ", ".join(sorted(merged.contexts)) or "none"
        raise KubeconfigError(f"context {name!r} is not in kubeconfig ({files}); known contexts: {known}.")
    if "" in merged.clusters:
        return name, Context()
    raise KubeconfigError(
        f"kubeconfig ({files}) has no current-context. Pass context=, or run 'kubectl config use-context NAME'."
    )


def resolve(merged: MergedKubeconfig, context: str | None) -> KubeconfigParts:
    """The parts of one context: server, TLS, credentials, namespace. Validates what that context uses.

    Raises:
        KubeconfigError: no or unknown context, a missing cluster or user, or an entry in use that fails
            client-go's validation (see the module docstring); the message names file, entry and field.
    """
    files = merged.describe_files()
    name, ctx = _context_in_use(merged, context)
    if ctx.cluster not in merged.clusters:
        raise KubeconfigError(
            f"context {name!r} names cluster {ctx.cluster!r}, which is not in kubeconfig ({files}). "
            "Add the cluster or fix the context."
        )
    cluster, cwhere = merged.clusters[ctx.cluster].value, merged.clusters[ctx.cluster].where
    _check_cluster(cluster, cwhere)
    user: AuthInfo | None = None
    uwhere = ""
    if ctx.user in merged.users:
        user, uwhere = merged.users[ctx.user].value, merged.users[ctx.user].where
        _check_user(user, uwhere)
    elif ctx.user:  # client-go goes anonymous here; we say so instead (docs/config.md, Conformance)
        raise KubeconfigError(
            f"context {name!r} names user {ctx.user!r}, which is not in kubeconfig ({files}). "
            "Add the user or fix the context."
        )
    proxy_url = _proxy_url(cluster.proxy_url, cwhere)
    host, secure = _server_url(cluster.server, cwhere)

    tls, credentials = TLSConfig(), Credentials()
    if not secure:
        if user is not None and user != AuthInfo():
            log.warning("%s: server %s is plain http: no credentials are sent (as kubectl)", cwhere, host)
    else:
        if cluster.insecure_skip_tls_verify and (cluster.certificate_authority or cluster.certificate_authority_data):
            raise KubeconfigError(
                f"{cwhere}: a certificate authority together with insecure-skip-tls-verify: true is refused "
                "(client-go refuses it too). Remove one of them."
            )
        ca_file, ca_bytes = _ca(cluster, cwhere)
        pair = _client_pair(user, uwhere) if user is not None else None
        if user is not None:
            credentials = _credentials(
                user,
                uwhere,
                static_certificate=pair is not None,
                cluster_info=lambda: _exec_cluster_info(cluster.server, cluster, ca_bytes, cwhere),
            )
        tls = TLSConfig(
            ca_file=ca_file,
            client_cert_file=pair[0] if pair else None,
            client_key_file=pair[1] if pair else None,
            client_certificate=credentials.client_certificate,
            insecure_skip_verify=cluster.insecure_skip_tls_verify,
            server_name=cluster.tls_server_name or None,
        )
    # The config owns its token file's watch (a file rewritten in place is seen too: its name is watched).
    file_watch = (
        FileWatch(credentials.path.parent, {credentials.path.name: credentials})
        if isinstance(credentials, TokenFile)
        else None
    )
    return KubeconfigParts(
        host=host,
        tls=tls,
        credentials=credentials,
        context=name,
        namespace=ctx.namespace or None,
        proxy_url=proxy_url,
        files=merged.files,
        file_watch=file_watch,
    )
