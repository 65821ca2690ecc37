"""Comparing our answer with client-go's: running both on one kubeconfig set, canonical forms, and the
deliberate differences (the table in docs/config.md, "Conformance") that may explain a disagreement.

A deliberate difference is a :class:`Difference`: a predicate recognizing inputs that exercise it (on the
entries client-go would use, see :func:`view_of`), what client-go answers then, and what we answer instead:
either an error, or *what client-go answers for the neutralized set* (the same set with the difference's
trigger removed, e.g. ``exec`` dropped when a static client certificate wins). A disagreement is explained only if a
difference applies, both answers have the expected shape, and, after neutralizing, the two sides agree (or
the rest is explained by other differences). So an explained set is checked in full, not waved through.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import posixpath
import re
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .material import material
from .ours import resolve_ours
from .strategies import EXEC_API, EXEC_API_OLD, ROOT, KSet, go_resolve

Answer = dict[str, Any]
Oracle = Callable[..., Answer]

_CERT_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----\r?\n?", re.DOTALL)


# -- running both sides --------------------------------------------------------------------------------------------
@dataclass
class Pair:
    request: dict[str, Any]
    oracle: Answer  # as answered (error texts kept)
    ours: Answer
    oracle_canon: Answer
    ours_canon: Answer

    @property
    def agree(self) -> bool:
        return self.oracle_canon == self.ours_canon


def run_both(oracle: Oracle, kset: KSet, base: str | None = None) -> Pair:
    """Write ``kset`` under a fresh directory, resolve it with client-go and with us, canonicalize."""
    with tempfile.TemporaryDirectory(prefix="kset-", dir=base) as d:
        root = Path(d)
        request = kset.write(root)
        theirs = oracle(**request)
        if not isinstance(theirs, dict) or "ok" not in theirs:
            raise AssertionError(f"the oracle answered something that is not an answer: {theirs!r}")
        if not theirs["ok"] and theirs.get("stage") == "request":
            raise AssertionError(f"the oracle rejected the request itself: {theirs!r}\nrequest: {request!r}")
        ours = resolve_ours(**request, home=str(root / "home"))
        return Pair(request, theirs, ours, canonical(theirs, root), canonical(ours, root))


def canonical(answer: Answer, root: Path) -> Answer:
    """The answer as compared: errors reduced to ``{"ok": False}`` (texts need not match), the temp root
    written ``@ROOT@``, and four representation gaps closed the same way on both sides:

    - ``token_sha256`` with a ``token_file``: the token requests carry is the file's content, trimmed
      (client-go's cached file token source re-reads it per request; the oracle reports the untrimmed bytes
      read at load, or the inline token when both are set), so both sides get sha256(file content, trimmed);
    - ``exec`` when ``exec_used`` is false: a plugin no request calls changes nothing (client-go keeps the
      block when token auth wins over it; we may drop it);
    - ``exec.interactiveMode``: client-go 1.20 has no such field (the oracle always says "");
    - ``exec.cluster``: empty values left out (client-go's JSON has ``omitempty``).
    """
    if not answer.get("ok"):
        return {"ok": False}
    out = {k: v for k, v in answer.items() if k not in ("error", "stage")}
    real = str(root)

    def unroot(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(real, ROOT)
        if isinstance(value, list):
            return [unroot(v) for v in value]
        if isinstance(value, dict):
            return {k: unroot(v) for k, v in value.items()}
        return value

    if out.get("token_file"):
        try:
            content = Path(out["token_file"]).read_bytes().decode()
        except (OSError, UnicodeDecodeError):
            pass
        else:
            out["token_sha256"] = hashlib.sha256(content.strip().encode()).hexdigest() if content.strip() else None
    if not out.get("exec_used"):
        out["exec"] = None  # a plugin requests never call changes nothing (client-go: token auth wins)
    if isinstance(out.get("exec"), dict):
        ex = dict(out["exec"])
        ex.pop("interactiveMode", None)
        if isinstance(ex.get("cluster"), dict):
            ex["cluster"] = {k: v for k, v in ex["cluster"].items() if v not in (None, "", False, {}, [])}
        out["exec"] = ex
    return unroot(out)


def differing_keys(a: Answer, b: Answer) -> list[str]:
    keys = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            if k == "exec" and isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
                keys += [f"exec.{sub}" for sub in differing_keys(a[k], b[k])]
            else:
                keys.append(k)
    return keys


# -- what client-go would use --------------------------------------------------------------------------------------
@dataclass
class View:
    """The entries client-go would use for a set (first file defining a name wins; first non-empty
    current-context wins), as written in the kubeconfig, with the file each came from."""

    context_name: str
    context: dict[str, Any]
    context_file: str
    cluster_name: Any
    cluster: dict[str, Any] | None
    cluster_file: str | None
    user_name: Any
    user: dict[str, Any] | None
    user_file: str | None


def view_of(kset: KSet) -> View | None:
    """None when the set is malformed in a way client-go rejects before choosing entries (non-mapping
    document or section of the wrong type): no deliberate difference applies to those."""
    sections: dict[str, dict[str, tuple[dict[str, Any], str]]] = {"clusters": {}, "users": {}, "contexts": {}}
    current = ""
    for path in kset.loaded_paths():
        doc = kset.doc(path)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            return None
        for section, inner in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            items = doc.get(section)
            if items is None:
                continue
            if not isinstance(items, list):
                return None
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get(inner, {}), (dict, type(None))):
                    return None
                name = item.get("name")
                name = "" if name is None else name  # client-go: a missing or null name is ""
                if isinstance(name, str) and name not in sections[section]:
                    sections[section][name] = (item.get(inner) or {}, path)
        cc = doc.get("current-context")
        if not current and isinstance(cc, str):
            current = cc
    name = kset.context or current
    if name not in sections["contexts"]:
        return None
    ctx, ctx_file = sections["contexts"][name]
    cname, uname = ctx.get("cluster") or "", ctx.get("user") or ""
    cluster, cfile = sections["clusters"].get(cname, (None, None)) if isinstance(cname, str) else (None, None)
    user, ufile = sections["users"].get(uname, (None, None)) if isinstance(uname, str) else (None, None)
    return View(name, ctx, ctx_file, cname, cluster, cfile, uname, user, ufile)


def _editable(kset: KSet, path: str | None) -> bool:
    """A generated document (not hand-shaped), possibly reached through a symlink."""
    return path is not None and kset.links.get(path, path) in kset.docs


def _edit(
    kset: KSet, path: str | None, section: str, inner: str, name: Any, edit: Callable[[dict[str, Any]], None]
) -> KSet:
    """A copy of ``kset`` with the first ``section`` entry called ``name`` in ``path`` edited in place."""
    assert _editable(kset, path), "only generated (not hand-shaped) documents are edited"
    assert path is not None
    path = kset.links.get(path, path)  # a symlinked kubeconfig: edit the file it points to
    doc = copy.deepcopy(kset.docs[path])
    for item in doc[section]:
        if isinstance(item, dict) and item.get("name") == name:
            if not isinstance(item.get(inner), dict):
                item[inner] = {}
            edit(item[inner])
            break
    return kset.with_doc(path, doc)


# -- the deliberate differences ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    id: str
    #: Does the set exercise the difference? (on the entries client-go would use)
    applies: Callable[[KSet, View], bool]
    #: What client-go answers then.
    oracle: Callable[[Answer], bool]
    #: "error": we refuse it; "as-neutralized": we answer what client-go answers for neutralize(set).
    ours: str
    #: The set without the trigger (for "error": both sides must then agree).
    neutralize: Callable[[KSet, View], KSet] | None
    #: False for rows the generator cannot reach (they need a pod); their predicate never applies.
    generated: bool = True


def _ok(answer: Answer) -> bool:
    return bool(answer.get("ok"))


def _never(kset: KSet, v: View) -> bool:
    return False


def _cluster_field(v: View, key: str) -> Any:
    return (v.cluster or {}).get(key)


def _user_field(v: View, key: str) -> Any:
    return (v.user or {}).get(key)


def _edit_cluster(kset: KSet, v: View, edit: Callable[[dict[str, Any]], None]) -> KSet:
    return _edit(kset, v.cluster_file, "clusters", "cluster", v.cluster_name, edit)


def _edit_user(kset: KSet, v: View, edit: Callable[[dict[str, Any]], None]) -> KSet:
    return _edit(kset, v.user_file, "users", "user", v.user_name, edit)


def _dropping(*keys: str) -> Callable[[dict[str, Any]], None]:
    def drop(body: dict[str, Any]) -> None:
        for key in keys:
            body.pop(key, None)

    return drop


def _server(v: View) -> str | None:
    server = _cluster_field(v, "server")
    return server if isinstance(server, str) and server else None


# scheme-less-server: client-go 1.20 prefixes http:// and, the server not being TLS, drops the CA, client
# certificate, token and exec plugin (it decides before it looks at them).
def _scheme_less(kset: KSet, v: View) -> bool:
    server = _server(v)
    return _editable(kset, v.cluster_file) and server is not None and "://" not in server


def _https(kset: KSet, v: View) -> KSet:
    return _edit_cluster(kset, v, lambda c: c.__setitem__("server", "https://" + c["server"]))


# server-scheme: a scheme other than http(s).
def _other_scheme(kset: KSet, v: View) -> bool:
    server = _server(v)
    if not _editable(kset, v.cluster_file) or server is None or "://" not in server:
        return False
    scheme = server.split("://", 1)[0]
    return bool(scheme) and scheme.lower() not in ("http", "https")


def _scheme_to_https(kset: KSet, v: View) -> KSet:
    return _edit_cluster(kset, v, lambda c: c.__setitem__("server", "https://" + c["server"].split("://", 1)[1]))


# server-userinfo: https://user[:password]@host.
def _userinfo(kset: KSet, v: View) -> bool:
    server = _server(v)
    if not _editable(kset, v.cluster_file) or server is None:
        return False
    try:
        parts = urllib.parse.urlsplit(server)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and "@" in parts.netloc


def _drop_userinfo(kset: KSet, v: View) -> KSet:
    def edit(cluster: dict[str, Any]) -> None:
        parts = urllib.parse.urlsplit(cluster["server"])
        cluster["server"] = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))

    return _edit_cluster(kset, v, edit)


# tokenfile-read-at-load: tokenFile missing, empty or blank while token is set, or blank alone.
def _token_file_target(kset: KSet, v: View) -> str | None:
    ref = _user_field(v, "tokenFile")
    if not isinstance(ref, str) or not ref or v.user_file is None:
        return None
    return go_resolve(posixpath.dirname(v.user_file), ref)


def _token_file_unusable(kset: KSet, v: View) -> bool:
    target = _token_file_target(kset, v)
    if not _editable(kset, v.user_file) or target is None:
        return False
    content = kset.files.get(target)
    token = _user_field(v, "token")
    if isinstance(token, str) and token:
        return content is None or not content.strip()
    return content is not None and bool(content) and not content.strip()


def _good_token_file(kset: KSet, v: View) -> KSet:
    edited = _edit_user(kset, v, lambda u: u.__setitem__("tokenFile", f"{ROOT}/neutral-token"))
    return edited.with_file("neutral-token", b"file-token\n")


# token-not-a-header: a token (inline, or a token file's content) that an HTTP header cannot carry.
_HEADER_SAFE = re.compile(rb"[\x20-\x7e\t]*")


def _bad_header(value: bytes | None) -> bool:
    return value is not None and not _HEADER_SAFE.fullmatch(value.strip())


def _token_not_header(kset: KSet, v: View) -> bool:
    if not _editable(kset, v.user_file):
        return False
    token = _user_field(v, "token")
    target = _token_file_target(kset, v)
    inline = token.encode("utf-8", "surrogatepass") if isinstance(token, str) and token else None
    return _bad_header(inline) or (target is not None and _bad_header(kset.files.get(target)))


def _header_safe_tokens(kset: KSet, v: View) -> KSet:
    token = _user_field(v, "token")
    edited = kset
    if isinstance(token, str) and token and _bad_header(token.encode("utf-8", "surrogatepass")):
        edited = _edit_user(edited, v, lambda u: u.__setitem__("token", "tok"))
    target = _token_file_target(kset, v)
    if target is not None and _bad_header(kset.files.get(target)):
        edited = edited.with_file(target, b"file-token\n")
    return edited


# exec-v1alpha1
def _exec_v1alpha1(kset: KSet, v: View) -> bool:
    ex = _user_field(v, "exec")
    return _editable(kset, v.user_file) and isinstance(ex, dict) and ex.get("apiVersion") == EXEC_API_OLD


def _exec_v1beta1(kset: KSet, v: View) -> KSet:
    return _edit_user(kset, v, lambda u: u["exec"].__setitem__("apiVersion", EXEC_API))


# static-cert-beats-exec, basic-auth-beats-exec: with exec, client-go runs the plugin too.
def _exec_with(*keys: str) -> Callable[[KSet, View], bool]:
    def applies(kset: KSet, v: View) -> bool:
        return (
            _editable(kset, v.user_file)
            and isinstance(_user_field(v, "exec"), dict)
            and any(_user_field(v, k) for k in keys)
        )

    return applies


# missing-user: the context names a user no file defines.
def _missing_user(kset: KSet, v: View) -> bool:
    return isinstance(v.user_name, str) and bool(v.user_name) and v.user is None and _editable(kset, v.context_file)


def _define_user(kset: KSet, v: View) -> KSet:
    assert v.context_file is not None
    path = kset.links.get(v.context_file, v.context_file)
    doc = copy.deepcopy(kset.docs[path])
    doc["users"] = [*(doc.get("users") or []), {"name": v.user_name, "user": {}}]
    return kset.with_doc(path, doc)


# ca-bundle-strict: a CA bundle with anything but certificates.
def _ca_bytes(kset: KSet, v: View) -> tuple[bytes | None, str]:
    """The CA bytes client-go would use (data, else the file) and which form they came from."""
    data = _cluster_field(v, "certificate-authority-data")
    if data:
        try:
            return (base64.b64decode(data, validate=True) if isinstance(data, str) else None), "data"
        except (binascii.Error, ValueError):
            return None, "data"
    ref = _cluster_field(v, "certificate-authority")
    if isinstance(ref, str) and ref and v.cluster_file is not None:
        return kset.read_ref(v.cluster_file, ref), "file"
    return None, ""


def _ca_not_only_certificates(kset: KSet, v: View) -> bool:
    if not _editable(kset, v.cluster_file):
        return False
    ca, _ = _ca_bytes(kset, v)  # empty counts too: client-go then uses the system roots, we refuse
    return ca is not None and (not ca.strip() or bool(_CERT_BLOCK.sub(b"", ca).strip()))


def _ca_certificates_only(kset: KSet, v: View) -> KSet:
    ca, form = _ca_bytes(kset, v)
    assert ca is not None
    only = b"".join(m.group(0) for m in _CERT_BLOCK.finditer(ca)) or material().ca_cert
    if form == "data":
        encoded = base64.b64encode(only).decode()
        return _edit_cluster(kset, v, lambda c: c.__setitem__("certificate-authority-data", encoded))
    assert v.cluster_file is not None
    target = go_resolve(posixpath.dirname(v.cluster_file), _cluster_field(v, "certificate-authority"))
    assert target is not None
    return kset.with_file(target, only)


# client-pair-at-load: client certificate and key *files* that do not parse or do not match.
def _pair_files(kset: KSet, v: View) -> tuple[str, str] | None:
    cert, key = _user_field(v, "client-certificate"), _user_field(v, "client-key")
    if (
        not _editable(kset, v.user_file)
        or not (isinstance(cert, str) and cert and isinstance(key, str) and key)
        or _user_field(v, "client-certificate-data")
        or _user_field(v, "client-key-data")
    ):
        return None
    assert v.user_file is not None
    base = posixpath.dirname(v.user_file)
    cert_path, key_path = go_resolve(base, cert), go_resolve(base, key)
    if cert_path not in kset.files or key_path not in kset.files:
        return None
    assert cert_path is not None and key_path is not None
    return cert_path, key_path


def _pair_matches(cert_pem: bytes, key_pem: bytes) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, None)
    except (ValueError, TypeError):
        return False
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(
        cert.public_key().public_bytes(serialization.Encoding.DER, spki)
        == key.public_key().public_bytes(serialization.Encoding.DER, spki)
    )


def _bad_pair_files(kset: KSet, v: View) -> bool:
    paths = _pair_files(kset, v)
    return paths is not None and not _pair_matches(kset.files[paths[0]], kset.files[paths[1]])


def _good_pair_files(kset: KSet, v: View) -> KSet:
    paths = _pair_files(kset, v)
    assert paths is not None
    return kset.with_file(paths[0], material().client_cert).with_file(paths[1], material().client_key)


# proxy-url-without-host
def _proxy_without_host(kset: KSet, v: View) -> bool:
    proxy = _cluster_field(v, "proxy-url")
    if not _editable(kset, v.cluster_file) or not isinstance(proxy, str) or not proxy:
        return False
    try:
        parts = urllib.parse.urlsplit(proxy)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https", "socks5") and not parts.hostname


# auth-provider, impersonation: unsupported (refused when the user in use has them).
_IMPERSONATION = ("as", "as-uid", "as-groups", "as-user-extra")


def _has_user_field(*keys: str) -> Callable[[KSet, View], bool]:
    def applies(kset: KSet, v: View) -> bool:
        return _editable(kset, v.user_file) and any(_user_field(v, k) is not None for k in keys)

    return applies


def _without_user_fields(*keys: str) -> Callable[[KSet, View], KSet]:
    return lambda kset, v: _edit_user(kset, v, _dropping(*keys))


DIFFERENCES: tuple[Difference, ...] = (
    # Both need a pod (KUBERNETES_SERVICE_HOST/PORT); the oracle and the generator never are in one.
    Difference("in-pod-stray-kubeconfig", _never, _ok, "error", None, generated=False),
    Difference("kubeconfig-only-missing-files", _never, _ok, "error", None, generated=False),
    Difference(
        "scheme-less-server", _scheme_less, lambda a: _ok(a) and str(a.get("host", "")).startswith("http://"),
        "error", _https,
    ),
    Difference("server-scheme", _other_scheme, _ok, "error", _scheme_to_https),
    Difference("server-userinfo", _userinfo, _ok, "error", _drop_userinfo),
    Difference("tokenfile-read-at-load", _token_file_unusable, _ok, "error", _good_token_file),
    Difference("token-not-a-header", _token_not_header, _ok, "error", _header_safe_tokens),
    Difference("exec-v1alpha1", _exec_v1alpha1, _ok, "error", _exec_v1beta1),
    Difference(
        "static-cert-beats-exec", _exec_with("client-certificate", "client-certificate-data"), lambda a: True,
        "as-neutralized", lambda kset, v: _edit_user(kset, v, _dropping("exec")),
    ),
    Difference(
        "basic-auth-beats-exec", _exec_with("username"), lambda a: True,
        "as-neutralized", lambda kset, v: _edit_user(kset, v, _dropping("exec")),
    ),
    Difference("missing-user", _missing_user, _ok, "error", _define_user),
    Difference("ca-bundle-strict", _ca_not_only_certificates, _ok, "error", _ca_certificates_only),
    Difference("client-pair-at-load", _bad_pair_files, _ok, "error", _good_pair_files),
    Difference(
        "proxy-url-without-host", _proxy_without_host, _ok, "error",
        lambda kset, v: _edit_cluster(kset, v, _dropping("proxy-url")),
    ),
    Difference(
        "auth-provider", _has_user_field("auth-provider"), lambda a: True, "error",
        _without_user_fields("auth-provider"),
    ),
    Difference(
        "impersonation", _has_user_field(*_IMPERSONATION), lambda a: True, "error",
        _without_user_fields(*_IMPERSONATION),
    ),
)  # fmt: skip
PREDICATE_IDS = frozenset(d.id for d in DIFFERENCES)


@dataclass
class Attempt:
    """A deliberate difference that applied but did not explain a disagreement, and why."""

    id: str
    reason: str
    #: The set without the difference's trigger, and both answers for it (when it got that far).
    neutral: KSet | None = None
    pair: Pair | None = None
    #: True when ``pair`` is both sides' answer for ``neutral`` (a disagreement of its own).
    standalone: bool = False

    def __str__(self) -> str:
        text = f"{self.id}: it applies, but {self.reason}"
        if self.neutral is not None and self.pair is not None:
            shown = self.pair
            text += f"\n{self.neutral.describe()}\n  client-go: {shown.oracle_canon}\n  ours:      {shown.ours_canon}"
        return text


def explain(
    oracle: Oracle,
    kset: KSet,
    pair: Pair,
    allowed: frozenset[str],
    base: str | None = None,
    trail: list[Attempt] | None = None,
) -> list[str] | None:
    """The ids of deliberate differences that explain the disagreement in ``pair``, or None.

    ``trail`` collects, for the failure message, each difference that applied but did not explain it."""
    trail = trail if trail is not None else []
    view = view_of(kset)
    if view is None:
        return None
    for diff in DIFFERENCES:
        if diff.id not in allowed or not diff.applies(kset, view):
            continue
        if not diff.oracle(pair.oracle):
            trail.append(Attempt(diff.id, "client-go's answer is not the one it expects"))
            continue
        rest = allowed - {diff.id}
        if diff.ours == "error":
            if pair.ours.get("ok"):
                trail.append(Attempt(diff.id, "we did not refuse the set"))
                continue
            if diff.neutralize is None:
                return [diff.id]
            neutral = diff.neutralize(kset, view)
            npair = run_both(oracle, neutral, base)
            if npair.agree:
                return [diff.id]
            more = explain(oracle, neutral, npair, rest, base, trail)
            if more is not None:
                return [diff.id, *more]
            trail.append(Attempt(diff.id, "without it the sides still disagree:", neutral, npair, standalone=True))
        else:
            assert diff.neutralize is not None
            neutral = diff.neutralize(kset, view)
            npair = run_both(oracle, neutral, base)
            # We must answer for the set what client-go answers for the neutralized set.
            vs_ours = Pair(pair.request, npair.oracle, pair.ours, npair.oracle_canon, pair.ours_canon)
            if vs_ours.agree:
                return [diff.id]
            more = explain(oracle, neutral, vs_ours, rest, base, trail)
            if more is not None:
                return [diff.id, *more]
            reason = "we do not answer what client-go answers for the set without it (the neutralized set):"
            if npair.agree:
                trail.append(
                    Attempt(diff.id, reason + " (client-go's, then ours for the original set)", neutral, vs_ours)
                )
            else:
                trail.append(Attempt(diff.id, reason, neutral, npair, standalone=True))
    return None


# -- the docs table ------------------------------------------------------------------------------------------------
_ROW_ID = re.compile(r"^\|\s*`([a-z0-9][a-z0-9-]*)`\s*\|")


def table_ids(markdown: str) -> list[str]:
    """The ids (first column, only an id in backticks) of the table rows in the "Conformance" section,
    its subsections included."""
    ids: list[str] = []
    level = 0  # the Conformance heading's level while inside it, else 0
    for line in markdown.splitlines():
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            depth = len(heading.group(1))
            if re.match(r"Conformance\b", heading.group(2)):
                level = depth
            elif level and depth <= level:
                level = 0
            continue
        if level:
            m = _ROW_ID.match(line.strip())
            if m:
                ids.append(m.group(1))
    return ids
