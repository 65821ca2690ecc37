"""Shared pieces for the ported peer cases: kubeconfig writing, real PKI, a scriptable exec plugin, a terminal.

Everything here goes through the SDK's public API (``incluster_sdk.load_config`` and what it returns); nothing
reaches into the loader's internals, which are being rewritten.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import json
import os
import sys
import textwrap
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import incluster_sdk
from incluster_sdk.rbac.manifests import to_yaml
from incluster_sdk.testing.pki import CertificateAuthority

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


# -- kubeconfig files ------------------------------------------------------------------------------------------


def kubeconfig_doc(
    *,
    clusters: dict[str, Any] | None = None,
    users: dict[str, Any] | None = None,
    contexts: dict[str, Any] | None = None,
    current: str | None = None,
    **top: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    if clusters is not None:
        doc["clusters"] = [{"name": n, "cluster": c} for n, c in clusters.items()]
    if users is not None:
        doc["users"] = [{"name": n, "user": u} for n, u in users.items()]
    if contexts is not None:
        doc["contexts"] = [{"name": n, "context": c} for n, c in contexts.items()]
    if current is not None:
        doc["current-context"] = current
    doc.update(top)
    return doc


def write_kubeconfig(path: Path, doc: dict[str, Any] | None = None, **parts: Any) -> Path:
    """Write ``doc`` (or one built from ``parts`` like :func:`kubeconfig_doc`) as YAML; returns ``path``.

    Strings are quoted where go-yaml v2 (client-go's reader) would take them for something else (``N`` is a
    boolean there, ``1e3`` a number), so that a test's string reaches the loader as the string it wrote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml([doc if doc is not None else kubeconfig_doc(**parts)]))
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def one_context(
    path: Path,
    *,
    cluster: dict[str, Any],
    user: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    name: str = "ctx",
    cluster_name: str = "the-cluster",
    user_name: str = "the-user",
) -> Path:
    """A kubeconfig with a single cluster/user/context, the context current."""
    ctx: dict[str, Any] = {"cluster": cluster_name, **(context or {})}
    users: dict[str, Any] = {}
    if user is not None:
        ctx["user"] = user_name
        users[user_name] = user
    return write_kubeconfig(path, clusters={cluster_name: cluster}, users=users, contexts={name: ctx}, current=name)


def load(path: Path, **kwargs: Any) -> incluster_sdk.Config:
    return incluster_sdk.load_config(kubeconfig=path, **kwargs)


def client_pem(cfg: incluster_sdk.Config) -> bytes:
    """The client certificate and key a connection made now would present (static files, or the pair an exec
    plugin supplied), concatenated. Runs the plugin first if it has not run yet."""
    cfg.credentials.auth_header()
    tls = cfg.tls
    dynamic = getattr(tls, "client_certificate", None)
    if dynamic is not None and getattr(dynamic, "path", None) is not None:
        return Path(dynamic.path).read_bytes()
    parts = [p.read_bytes() for p in (tls.client_cert_file, tls.client_key_file) if p is not None]
    return b"".join(parts)


def mentions(exc: BaseException, *fragments: str) -> None:
    """The error message names every one of ``fragments`` (fields, entries, files)."""
    message = str(exc)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not named in: {message}"


# -- real certificates -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: bytes
    cert: bytes
    key: bytes
    other_cert: bytes
    other_key: bytes
    other_ca: bytes


@functools.cache
def pki() -> Pki:
    """A CA with two client certificates (and a second, unrelated CA), made once per test session."""
    ca = CertificateAuthority.create("ported-peers-ca")
    alice = ca.issue("alice", client=True)
    bob = ca.issue("bob", client=True)
    other = CertificateAuthority.create("ported-peers-other-ca")
    return Pki(ca.cert_pem, alice.cert_pem, alice.key_pem, bob.cert_pem, bob.key_pem, other.cert_pem)


# -- a scriptable exec credential plugin -----------------------------------------------------------------------

_PLUGIN_SOURCE = """\
import json, os, pathlib, sys
here = pathlib.Path(__file__).resolve().parent
n = len(list(here.glob("run-*.json")))
record = {
    "exec_info": os.environ.get("KUBERNETES_EXEC_INFO"),
    "cwd": os.getcwd(),
    "argv": sys.argv[1:],
    "env": dict(os.environ),
}
(here / ("run-%04d.json" % n)).write_text(json.dumps(record))
steps = json.loads((here / "steps.json").read_text())
step = steps[min(n, len(steps) - 1)]
sys.stderr.write(step.get("stderr", ""))
sys.stdout.write(step["stdout"])
sys.stdout.flush()
sys.exit(step.get("exit", 0))
"""


def credential(
    token: str | None = None,
    *,
    api_version: str | None = V1BETA1,
    kind: str | None = "ExecCredential",
    expiry: str | dt.datetime | None = None,
    cert: bytes | str | None = None,
    key: bytes | str | None = None,
    status: dict[str, Any] | bool | None = True,
) -> str:
    """An ExecCredential JSON document; ``None`` leaves a field out, ``status=False`` leaves out the status."""
    doc: dict[str, Any] = {}
    if api_version is not None:
        doc["apiVersion"] = api_version
    if kind is not None:
        doc["kind"] = kind
    if isinstance(status, dict):
        doc["status"] = status
    elif status:
        body: dict[str, Any] = {}
        if token is not None:
            body["token"] = token
        if cert is not None:
            body["clientCertificateData"] = cert.decode() if isinstance(cert, bytes) else cert
        if key is not None:
            body["clientKeyData"] = key.decode() if isinstance(key, bytes) else key
        if isinstance(expiry, dt.datetime):
            expiry = expiry.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if expiry is not None:
            body["expirationTimestamp"] = expiry
        doc["status"] = body
    return json.dumps(doc)


def in_an_hour() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)


def an_hour_ago() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)


class Plugin:
    """A credential plugin (a Python script) that answers with the given steps, the last one repeated.

    Every run leaves a record: KUBERNETES_EXEC_INFO, its working directory, argv and environment.
    """

    def __init__(self, directory: Path, *stdout: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.script = directory / "plugin.py"
        self.script.write_text(_PLUGIN_SOURCE)
        self.answer(*stdout)

    def answer(self, *stdout: str, exit_code: int = 0, stderr: str = "") -> None:
        steps = [{"stdout": out, "exit": exit_code, "stderr": stderr} for out in stdout or ("",)]
        (self.dir / "steps.json").write_text(json.dumps(steps))

    @property
    def runs(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.dir.glob("run-*.json"))]

    def exec_info(self, run: int = -1) -> dict[str, Any]:
        raw = self.runs[run]["exec_info"]
        assert raw is not None, "KUBERNETES_EXEC_INFO was not set"
        return json.loads(raw)

    def exec_config(self, api_version: str = V1BETA1, **extra: Any) -> dict[str, Any]:
        """The kubeconfig ``exec`` mapping that runs this plugin."""
        return {"apiVersion": api_version, "command": sys.executable, "args": [str(self.script)], **extra}


def shell_plugin(path: Path, token: str) -> Path:
    """An executable ``#!/bin/sh`` plugin printing a v1beta1 ExecCredential with ``token``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\ncat <<'EOF'\n"
        + json.dumps({"apiVersion": V1BETA1, "kind": "ExecCredential", "status": {"token": token}})
        + "\nEOF\n"
    )
    path.chmod(0o755)
    return path


# -- standard input: a terminal or not -------------------------------------------------------------------------


@contextlib.contextmanager
def standard_input(*, terminal: bool) -> Iterator[None]:
    """Make fd 0 (and ``sys.stdin``) a pseudo-terminal or /dev/null for the duration, whatever pytest set up."""
    if terminal:
        leader, follower = os.openpty()
    else:
        leader, follower = -1, os.open(os.devnull, os.O_RDONLY)
    saved_fd = os.dup(0)
    saved_stdin = sys.stdin
    try:
        os.dup2(follower, 0)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - must stay open for the duration
        yield
    finally:
        sys.stdin = saved_stdin
        os.dup2(saved_fd, 0)
        os.close(saved_fd)
        os.close(follower)
        if leader >= 0:
            os.close(leader)


# -- client-go's cleanANSIEscapeCodes, as the expectation for installHint --------------------------------------

_ALLOWED_CATEGORIES = ("L", "M", "N", "P", "S", "Z")


def escaped_like_client_go(text: str) -> str:
    """What client-go shows for an installHint: letters, marks, numbers, punctuation, symbols, separators and
    \\t-\\r kept; every other rune (ESC and the other controls, format characters, ...) written as U+XXXX."""
    out = []
    for ch in text:
        if "\t" <= ch <= "\r" or unicodedata.category(ch)[0] in _ALLOWED_CATEGORIES:
            out.append(ch)
        else:
            out.append(f"U+{ord(ch):04X}")
    return "".join(out)
