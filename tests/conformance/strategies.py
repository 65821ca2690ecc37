"""Hypothesis strategies for kubeconfig *sets*: 1-3 kubeconfig files plus the files they point at, laid out
in a small directory tree, and one way to load them (a ``KUBECONFIG`` list or an explicit path, with or
without a context override).

A :class:`KSet` is plain data: kubeconfig documents (Python objects, written with ``yaml.safe_dump``, or a
few hand-shaped YAML texts), support files (CA, client certificate/key, token files) as bytes, and the
request. Absolute paths are written ``@ROOT@/...`` and become real paths when the set is written out
(:meth:`KSet.write`) under a fresh directory.

Every choice draws an integer or samples a list whose first element is the simplest, so hypothesis shrinks
towards absent fields and plain values.
"""

from __future__ import annotations

import base64
import posixpath
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from .material import material

ROOT = "@ROOT@"
ABSENT: Any = object()

# -- the tree ------------------------------------------------------------------------------------------------------
DIRS = ("a", "a/b", "c")
CWDS = ("", "a", "a/b", "c")
KUBECONFIG_PATHS = ("config", "a/config", "a/b/kc.yaml", "c/kc")
SUPPORT_DIRS = ("", "a", "a/b", "a/b/pki", "c", "c/creds")
SUPPORT_NAMES = {"ca": "ca.crt", "cert": "client.crt", "key": "client.key", "token": "token"}

CLUSTER_NAMES = ("c1", "c2")
USER_NAMES = ("u1", "u2")
CONTEXT_NAMES = ("x1", "x2", "x3")
EXEC_API = "client.authentication.k8s.io/v1beta1"
EXEC_API_OLD = "client.authentication.k8s.io/v1alpha1"
EXEC_EXTENSION = "client.authentication.k8s.io/exec"

# Values of the wrong type for any field. Booleans and numbers where strings go, strings where bools go, etc.
WRONG_TYPES: tuple[Any, ...] = (1, True, None, [], {}, ["x"], {"k": "v"}, 1.5, "", 0, False)

SERVERS = (
    "https://h:6443",
    "https://h:6443",
    "https://h.example:6443/",
    "https://h:6443/prefix",
    "https://h:6443/prefix/",
    "http://h",
    "http://h:8080/",
    "https://[::1]:6443",
    "https://[::1]:6443/p/",
    "h:6443",
    "h",
    "[::1]:6443",
    "h:6443/path",
    "https://10.0.0.1",
    "10.0.0.1:6443",
    "HTTPS://H:6443",
    " https://h:6443",
    "https://h:6443?x=1",
    "https://user@h:6443",
    "https://h:6443#frag",
    "https://h:6443//",
    "https://",
    "ftp://h",
    "https://h:notaport",
    "unix:///var/run/api.sock",
    "",
)
PROXIES = (
    "http://proxy:3128",
    "https://proxy.example",
    "socks5://proxy:1080",
    "ftp://proxy",
    "proxy:3128",
    "http://",
    "socks5://",
    "://nohost",
    "http://user:pw@proxy:3128/",
    "",
)
TOKENS = ("tok-abc", "tok-abc", "  tok-spaced  ", "", "tok.with.dots", "Bearer tok")
FILE_TOKENS = (b"file-token\n", b"file-token", b"  padded-token  \n", b"", b"line1\nline2\n", b"\n")
INSTALL_HINTS = ("", "install cred-helper", "\x1b[1mbold\x1b[0m hint", "line1\nline2", "tab\there", "\x07bell")
SERVER_NAMES = ("h.example", "", "other.example", "10.0.0.1")
NAMESPACES = ("ns1", "", "kube-system", "Bad_NS")


def pick(draw: Any, options: list[tuple[int, Any]]) -> Any:
    """A weighted choice that shrinks towards the first option. Callables are called (lazily drawn).

    ``sampled_from`` draws uniformly (``integers`` favours 0 heavily), so weights are repetitions."""
    index = draw(st.sampled_from([i for i, (weight, _) in enumerate(options) for _ in range(weight)]))
    option = options[index][1]
    return option() if callable(option) else option


def chance(draw: Any, percent: int) -> bool:
    """True with roughly ``percent``% probability; shrinks to False."""
    return draw(st.integers(0, 99)) >= 100 - percent


# -- the data ------------------------------------------------------------------------------------------------------
@dataclass(repr=False)
class KSet:
    """One kubeconfig set and one request to load it (``describe()`` shows it all; ``repr`` is short)."""

    #: kubeconfig path (root-relative) -> document (Python object) ...
    docs: dict[str, Any]
    #: ... or, for hand-shaped files, the YAML text (wins over docs).
    texts: dict[str, str]
    #: support files: root-relative path -> bytes; labels say what they hold (for messages).
    files: dict[str, bytes]
    labels: dict[str, str]
    #: extra directories to create (e.g. a ``~`` directory next to a kubeconfig).
    dirs: tuple[str, ...]
    cwd: str
    kubeconfig: list[str] | None
    explicit: str | None
    context: str
    #: free-form tags the generator set (e.g. "hand:yaml-1.1-bool"), shown in messages.
    tags: tuple[str, ...] = ()
    #: symlinks: root-relative link path -> root-relative target (written as a relative link).
    links: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        files = sorted({*self.docs, *self.texts})
        how = f"explicit={self.explicit!r}" if self.explicit is not None else f"KUBECONFIG={self.kubeconfig!r}"
        return f"<KSet {files} cwd={self.cwd!r} {how} context={self.context!r}: see the note above>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' "Falsifying example" printer
        printer.text(repr(self))

    # -- writing out -------------------------------------------------------------------------------------------
    def text_of(self, path: str) -> str:
        if path in self.texts:
            return self.texts[path]
        return yaml.safe_dump(self.docs[path], sort_keys=False, default_flow_style=False, allow_unicode=True)

    def write(self, root: Path) -> dict[str, Any]:
        """Write the tree under ``root`` (which must exist); return the request with real paths."""
        real = str(root)
        for d in (*DIRS, *self.dirs, "home"):
            (root / d).mkdir(parents=True, exist_ok=True)
        for path, data in self.files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for path in {*self.docs, *self.texts}:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.text_of(path).replace(ROOT, real).encode())
        for link, to in self.links.items():
            (root / link).parent.mkdir(parents=True, exist_ok=True)
            (root / link).symlink_to(posixpath.relpath(to, posixpath.dirname(link) or "."))
        sub = lambda s: s.replace(ROOT, real)  # noqa: E731
        return {
            "cwd": str(root / self.cwd) if self.cwd else real,
            "kubeconfig": None if self.kubeconfig is None else [sub(e) for e in self.kubeconfig],
            "explicit": None if self.explicit is None else sub(self.explicit),
            "context": self.context,
        }

    # -- showing -----------------------------------------------------------------------------------------------
    def describe(self) -> str:
        lines = ["request:"]
        lines.append(f"  cwd: {ROOT}/{self.cwd}" if self.cwd else f"  cwd: {ROOT}")
        if self.explicit is not None:
            lines.append(f"  explicit (--kubeconfig): {self.explicit!r}")
        else:
            lines.append(f"  KUBECONFIG: {self.kubeconfig!r}")
        lines.append(f"  context (--context): {self.context!r}")
        if self.tags:
            lines.append(f"  tags: {', '.join(self.tags)}")
        for path in sorted({*self.docs, *self.texts}):
            lines.append(f"--- {ROOT}/{path}" + (" (hand-shaped)" if path in self.texts else ""))
            lines.extend("    " + line for line in self.text_of(path).rstrip("\n").split("\n"))
        for path in sorted(self.files):
            lines.append(f"--- {ROOT}/{path}: {self.labels.get(path, '?')} ({len(self.files[path])} bytes)")
        for d in self.dirs:
            lines.append(f"--- {ROOT}/{d}/ (directory)")
        for link, to in self.links.items():
            lines.append(f"--- {ROOT}/{link} -> {ROOT}/{to} (symlink)")
        return "\n".join(lines)

    # -- reading (for predicates) ------------------------------------------------------------------------------
    def loaded_paths(self) -> list[str]:
        """Root-relative kubeconfig paths the loader reads, in order (missing ones left out).

        Entries are opened by the OS relative to cwd: ``..`` after a missing directory fails."""
        entries = [self.explicit] if self.explicit is not None else list(self.kubeconfig or [])
        out = []
        for entry in entries:
            rel = os_resolve(self.cwd, entry, self.existing_dirs())
            if rel is not None and (
                rel in {*self.docs, *self.texts} or self.links.get(rel) in {*self.docs, *self.texts}
            ):
                out.append(rel)
        return out

    def existing_dirs(self) -> set[str]:
        out = {"", *DIRS, *self.dirs}
        for path in (*self.files, *self.docs, *self.texts):
            while path:
                path = posixpath.dirname(path)
                out.add(path)
        return out

    def doc(self, path: str) -> Any:
        """The document at ``path`` (a symlink is followed; relative paths in it stay relative to the link)."""
        path = self.links.get(path, path)
        if path in self.texts:
            try:
                return yaml.safe_load(self.texts[path])
            except yaml.YAMLError:
                return ABSENT
        return self.docs[path]

    def read_ref(self, kubeconfig_path: str, value: str) -> bytes | None:
        """The bytes of the file a kubeconfig field names, resolved as client-go does (lexically against
        the kubeconfig's directory), or None if there is none."""
        rel = go_resolve(posixpath.dirname(kubeconfig_path), value)
        return None if rel is None else self.files.get(rel)

    def with_doc(self, path: str, doc: Any) -> KSet:
        return replace(self, docs={**self.docs, path: doc})

    def with_file(self, path: str, data: bytes) -> KSet:
        return replace(self, files={**self.files, path: data})


def go_resolve(base_dir: str, value: str) -> str | None:
    """A root-relative path for ``value`` resolved like client-go's ResolvePaths (filepath.Join, which
    cleans ``..`` lexically), or None if it leaves the tree."""
    if value.startswith(ROOT + "/"):
        joined = value[len(ROOT) + 1 :]
    elif value.startswith("/"):
        return None
    else:
        joined = posixpath.join(base_dir, value)
    norm = posixpath.normpath(joined)
    return None if norm.startswith("..") or norm.startswith("/") else ("" if norm == "." else norm)


def os_resolve(cwd: str, value: str, existing_dirs: set[str]) -> str | None:
    """Like :func:`go_resolve` relative to cwd, but the OS walks ``a/../b``: ``a`` must exist."""
    if value.startswith(ROOT + "/"):
        rel = value[len(ROOT) + 1 :]
    elif value.startswith("/") or not value:
        return None
    else:
        rel = posixpath.join(cwd, value)
    parts: list[str] = []
    for part in rel.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            here = "/".join(parts)
            if here not in existing_dirs:
                return None
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


# -- generation ----------------------------------------------------------------------------------------------------
@dataclass
class _State:
    draw: Any
    #: 0 "plain": coherent references, plain values; 1 "varied": coherent references, every kind of value,
    #: few wrong types; 2 "wild": anything, wrong types often. Levels 0 and 1 get deep into the loader.
    level: int
    cwd: str
    files: dict[str, bytes] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @property
    def coherent(self) -> bool:
        return self.level < 2

    @property
    def varied(self) -> bool:
        return self.level > 0

    def wrong(self, percent: int = 6) -> bool:
        """Time for a wrong type (or another oddity)? Never at level 0, rarely at 1."""
        if self.level == 0:
            return False
        return chance(self.draw, percent if self.level == 2 else max(1, percent // 3))


def _content(s: _State, kind: str) -> tuple[bytes, str]:
    m = material()
    options: dict[str, list[tuple[int, tuple[bytes, str]]]] = {
        "ca": [
            (10, (m.ca_cert, "CA certificate")),
            (2, (m.bundle, "two-certificate bundle")),
            (2, (m.ca_with_junk, "CA certificate then junk")),
            (1, (m.ca_crlf, "CA certificate, CRLF")),
            (1, (b"hello\n", "not PEM")),
            (1, (b"", "empty")),
            (1, (m.client_key, "a private key, not a certificate")),
        ],
        "cert": [
            (10, (m.client_cert, "client certificate")),
            (1, (m.ca_cert, "CA certificate (no key matches)")),
            (1, (b"garbage\n", "not PEM")),
            (1, (b"", "empty")),
        ],
        "key": [
            (10, (m.client_key, "client key (matches)")),
            (2, (m.other_key, "a key that matches nothing")),
            (1, (b"garbage\n", "not PEM")),
            (1, (b"", "empty")),
        ],
        "token": [(1, (t, f"token file {t!r}")) for t in FILE_TOKENS],
    }
    return pick(s.draw, options[kind] if s.varied else options[kind][:1])


def _file_ref(s: _State, kind: str, kpath: str) -> str:
    """A value for a path field (certificate-authority, client-key, tokenFile, ...) in the kubeconfig at
    ``kpath``: a file that exists (usually) or not, spelled absolute, relative to the kubeconfig, ``./``,
    through a missing directory and ``..``, relative to cwd instead of the kubeconfig, or with ``~``."""
    draw = s.draw
    kdir = posixpath.dirname(kpath)
    name = SUPPORT_NAMES[kind]
    spelling = pick(draw, [(6, "rel"), (4, "abs"), (2, "dot"), (1, "via-missing"), (1, "cwd-relative"), (1, "tilde")])
    if spelling == "tilde":  # client-go does not expand ~: it is a directory next to the kubeconfig
        target = posixpath.join(kdir, "~", name)
    else:
        target = posixpath.join(draw(st.sampled_from(SUPPORT_DIRS)), name)
    if target not in s.files and not chance(draw, 8 if s.coherent else 20):
        data, label = _content(s, kind)
        s.files[target] = data
        s.labels[target] = label
    rel_from_k = posixpath.relpath(target, kdir or ".")
    if spelling == "abs":
        return f"{ROOT}/{target}"
    if spelling == "rel":
        return rel_from_k
    if spelling == "dot":
        return rel_from_k if rel_from_k.startswith("..") else "./" + rel_from_k
    if spelling == "via-missing":
        return "missing-dir/../" + rel_from_k
    if spelling == "cwd-relative":  # the wrong base, unless that would leave the tree
        wrong_base = posixpath.relpath(target, s.cwd or ".")
        return wrong_base if go_resolve(kdir, wrong_base) is not None else rel_from_k
    return "~/" + name


def _b64(s: _State, kind: str) -> Any:
    """A value for a ``*-data`` field: base64 of real material, or base64 gone wrong."""
    draw = s.draw
    data, _label = _content(s, kind)
    good = base64.b64encode(data).decode()
    if not s.varied:
        return good
    return pick(
        draw,
        [
            (12, good),
            (1, lambda: "\n".join(good[i : i + 64] for i in range(0, len(good), 64))),
            (1, lambda: good[:20] + " " + good[20:]),
            (1, lambda: good.rstrip("=")),
            (1, lambda: base64.urlsafe_b64encode(data).decode()),
            (1, lambda: data.decode("latin-1")),  # PEM pasted without encoding
            (1, "not base64!!"),
            (1, ""),
            (1, lambda: draw(st.sampled_from(WRONG_TYPES))),
        ],
    )


def _put(s: _State, body: dict[str, Any], key: str, percent: int, value: Any) -> None:
    if chance(s.draw, percent):
        body[key] = s.draw(st.sampled_from(WRONG_TYPES)) if s.wrong() else (value() if callable(value) else value)


def _extensions(s: _State) -> Any:
    draw = s.draw
    if s.wrong(10):
        return draw(st.sampled_from(WRONG_TYPES))
    exts = []
    names = list(draw(st.permutations((EXEC_EXTENSION, "example.com/other", ""))))[: draw(st.integers(1, 2))]
    if s.wrong(10):
        names.append(names[0])  # a duplicate name
    for name in names:
        ext = pick(
            draw,
            [
                (3, {"audience": "aud", "nested": {"k": [1, 2]}}),
                (1, {"apiVersion": "v1", "kind": "Whatever", "spec": "x"}),
                (1, "a string"),
                (1, None),
                (1, 42),
            ],
        )
        exts.append({"name": name, "extension": ext})
    return exts


def _cluster(s: _State, kpath: str) -> dict[str, Any]:
    draw = s.draw
    body: dict[str, Any] = {}
    if not chance(draw, 5):
        body["server"] = (
            draw(st.sampled_from(WRONG_TYPES))
            if s.wrong(4)
            else draw(st.sampled_from(SERVERS[:9] if not s.varied else SERVERS))
        )
    _put(s, body, "certificate-authority-data", 25, lambda: _b64(s, "ca"))
    _put(s, body, "certificate-authority", 20, lambda: _file_ref(s, "ca", kpath))
    _put(
        s,
        body,
        "insecure-skip-tls-verify",
        20,
        lambda: draw(
            st.sampled_from((True, False) if not s.varied else (True, False, "false", "true", "yes", 1, 0, None))
        ),
    )
    _put(s, body, "tls-server-name", 15, lambda: draw(st.sampled_from(SERVER_NAMES)))
    _put(s, body, "proxy-url", 15, lambda: draw(st.sampled_from(PROXIES[:3] if not s.varied else PROXIES)))
    _put(s, body, "extensions", 12, lambda: _extensions(s))
    if chance(draw, 3):
        body["unknown-field"] = "ignored"
    return body


def _exec(s: _State, kpath: str) -> Any:
    draw = s.draw
    if s.wrong(5):
        return draw(st.sampled_from(WRONG_TYPES))
    body: dict[str, Any] = {}
    if not chance(draw, 4):
        body["apiVersion"] = pick(
            draw,
            [(14, EXEC_API), (2, EXEC_API_OLD)]
            + ([(1, ""), (1, "client.authentication.k8s.io/v9"), (1, 7)] if s.wrong(25) else []),
        )
    if not chance(draw, 4):
        body["command"] = pick(
            draw,
            [
                (4, "cred-helper"),
                (2, "./bin/cred-helper"),
                (1, "bin/cred-helper"),
                (1, f"{ROOT}/bin/cred-helper"),
                (1, "../bin/cred-helper"),
                (1, "missing-dir/../bin/cred-helper"),
            ]
            + ([(1, ""), (1, 3), (1, ["cred-helper"])] if s.wrong(25) else []),
        )
    if chance(draw, 50):
        body["args"] = pick(
            draw,
            [(4, ["get-token", "--flag=1"]), (1, []), (1, None)]
            + ([(1, "get-token"), (1, [1, True]), (1, {"a": 1})] if s.wrong(30) else []),
        )
    if chance(draw, 40):
        env_options: list[tuple[int, Any]] = [
            (4, lambda: [{"name": "A", "value": "1"}, {"name": "B", "value": ""}]),
            (1, lambda: [{"name": "A"}]),
            (1, []),
        ]
        if s.wrong(40):
            env_options += [
                (1, lambda: [{"value": "no-name"}]),
                (1, lambda: [{"name": "", "value": "x"}]),
                (1, lambda: [{"name": "A", "value": 5}]),
                (1, lambda: {"A": "1"}),
                (1, lambda: ["A=1"]),
            ]
        body["env"] = pick(draw, env_options)
    _put(s, body, "installHint", 30, lambda: draw(st.sampled_from(INSTALL_HINTS)))
    _put(
        s,
        body,
        "provideClusterInfo",
        35,
        lambda: draw(st.sampled_from((True, False, "true") if s.wrong(20) else (True, False))),
    )
    return body


def _user(s: _State, kpath: str) -> dict[str, Any]:
    draw = s.draw
    body: dict[str, Any] = {}
    method = pick(draw, [(2, "none"), (4, "token"), (2, "tokenFile"), (1, "both-tokens"), (2, "basic"), (4, "exec")])
    if method in ("token", "both-tokens"):
        body["token"] = draw(st.sampled_from(TOKENS[:2] if not s.varied else TOKENS))
    if method in ("tokenFile", "both-tokens"):
        body["tokenFile"] = _file_ref(s, "token", kpath)
    if method == "basic":
        body["username"] = draw(st.sampled_from(("admin", "", "user:colon")))
        _put(s, body, "password", 80, lambda: draw(st.sampled_from(("secret", "", "p:w"))))
    if method == "exec":
        body["exec"] = _exec(s, kpath)
    if chance(draw, 30):  # a client certificate, as files or inline, maybe half of it, maybe both forms
        form = pick(draw, [(3, "files"), (3, "data"), (1, "mixed"), (1, "both-forms"), (1, "cert-only")])
        if form in ("files", "both-forms", "cert-only"):
            body["client-certificate"] = _file_ref(s, "cert", kpath)
        if form in ("files", "both-forms"):
            body["client-key"] = _file_ref(s, "key", kpath)
        if form in ("data", "both-forms", "mixed"):
            body["client-certificate-data"] = _b64(s, "cert")
        if form in ("data", "both-forms"):
            body["client-key-data"] = _b64(s, "key")
        if form == "mixed":
            body["client-key"] = _file_ref(s, "key", kpath)
    if s.wrong(8):  # a second method on top (client-go: "more than one" for some pairs)
        extra = draw(st.sampled_from(("token", "username", "exec", "tokenFile")))
        if extra == "token":
            body.setdefault("token", "tok-extra")
        elif extra == "username":
            body.setdefault("username", "admin")
            body.setdefault("password", "secret")
        elif extra == "exec":
            body.setdefault("exec", {"apiVersion": EXEC_API, "command": "cred-helper"})
        else:
            body.setdefault("tokenFile", _file_ref(s, "token", kpath))
    if s.wrong(4):
        body["as"] = "someone"
        if chance(draw, 50):
            body["as-groups"] = ["g1"]
    if s.wrong(3):
        body["auth-provider"] = {"name": "acme-provider", "config": {"k": "v"}}
    _put(s, body, "extensions", 5, lambda: _extensions(s))
    # wrong types on the plain fields
    if s.wrong(8):
        key = draw(st.sampled_from(("token", "tokenFile", "username", "password", "client-certificate")))
        body[key] = draw(st.sampled_from(WRONG_TYPES))
    return body


def _context(s: _State, clusters: list[str], users: list[str]) -> dict[str, Any]:
    """A context naming (in a coherent set) a cluster and user of its own file, else any, missing or empty names."""
    draw = s.draw
    body: dict[str, Any] = {}
    if s.coherent and clusters:
        body["cluster"] = draw(st.sampled_from(clusters))
    elif not chance(draw, 5):
        body["cluster"] = pick(
            draw, [(8, lambda: draw(st.sampled_from(CLUSTER_NAMES))), (1, "missing-cluster"), (1, "")]
        )
    if s.coherent and users:
        body["user"] = draw(st.sampled_from(users))
    elif not chance(draw, 15):
        body["user"] = pick(draw, [(8, lambda: draw(st.sampled_from(USER_NAMES))), (1, "missing-user"), (1, "")])
    _put(s, body, "namespace", 35, lambda: draw(st.sampled_from(NAMESPACES)))
    _put(s, body, "extensions", 3, lambda: _extensions(s))
    if s.wrong(4):
        body[draw(st.sampled_from(("cluster", "user", "namespace")))] = draw(st.sampled_from(WRONG_TYPES))
    return body


def _named_list(s: _State, kind: str, names: tuple[str, ...], make: Any) -> Any:
    """A list of named entries; names unique within the file except, rarely, a duplicate."""
    draw = s.draw
    if s.wrong(4):
        return draw(st.sampled_from(({}, "c1", 5, None, {"c1": {"server": "https://h:6443"}})))
    count = 0 if s.wrong(8) else draw(st.integers(1, len(names)))
    chosen = list(draw(st.permutations(names)))[:count]
    if chosen and s.wrong(8):
        chosen.append(draw(st.sampled_from(chosen)))
    entries: list[Any] = []
    for name in chosen:
        entry: Any = {"name": name if not s.wrong(3) else draw(st.sampled_from(("", 5, None))), kind: make()}
        if s.wrong(3):
            shape = draw(st.sampled_from(("no-name", "no-body", "null-body", "string", "number")))
            entry = {
                "no-name": {kind: entry[kind]},
                "no-body": {"name": name},
                "null-body": {"name": name, kind: None},
                "string": name,
                "number": 7,
            }[shape]
        entries.append(entry)
    return entries


def _document(s: _State, kpath: str) -> dict[str, Any]:
    draw = s.draw
    doc: dict[str, Any] = {}
    if not chance(draw, 15):
        doc["apiVersion"] = "v1" if not s.wrong(5) else draw(st.sampled_from(("v2", "", 1)))
    if not chance(draw, 15):
        doc["kind"] = "Config" if not s.wrong(5) else draw(st.sampled_from(("Pod", "", "config")))
    if chance(draw, 10):
        doc["preferences"] = {}
    if s.coherent or not chance(draw, 10):
        doc["clusters"] = _named_list(s, "cluster", CLUSTER_NAMES, lambda: _cluster(s, kpath))
    if s.coherent or not chance(draw, 15):
        doc["users"] = _named_list(s, "user", USER_NAMES, lambda: _user(s, kpath))
    defined = {
        section: [e["name"] for e in doc.get(section) or [] if isinstance(e, dict) and isinstance(e.get("name"), str)]
        if isinstance(doc.get(section), list)
        else []
        for section in ("clusters", "users")
    }
    if s.coherent or not chance(draw, 10):
        doc["contexts"] = _named_list(
            s, "context", CONTEXT_NAMES, lambda: _context(s, defined["clusters"], defined["users"])
        )
    listed = doc.get("contexts") if isinstance(doc.get("contexts"), list) else []
    contexts = [e["name"] for e in listed if isinstance(e, dict) and isinstance(e.get("name"), str)]
    if s.coherent and contexts and not chance(draw, 5):
        doc["current-context"] = draw(st.sampled_from(contexts))
    elif not chance(draw, 25):
        doc["current-context"] = (
            draw(st.sampled_from(WRONG_TYPES))
            if s.wrong(4)
            else pick(draw, [(8, lambda: draw(st.sampled_from(CONTEXT_NAMES))), (1, ""), (1, "missing-context")])
        )
    return doc


# Hand-shaped YAML: things yaml.safe_dump never writes (YAML 1.1 scalars, anchors, flow style, duplicate keys,
# several documents, a BOM, CRLF, JSON). Each is a whole kubeconfig with context x1 -> cluster c1, user u1.
_HAND_HEAD = (
    "apiVersion: v1\nkind: Config\ncurrent-context: x1\ncontexts:\n- name: x1\n  context: {cluster: c1, user: u1}\n"
)
_HAND_USER = "users:\n- name: u1\n  user:\n    token: tok-hand\n"
HAND_SHAPED: dict[str, str] = {
    "yaml-1.1-bool-yes": _HAND_HEAD
    + _HAND_USER
    + "clusters:\n- name: c1\n  cluster:\n    server: https://h:6443\n    insecure-skip-tls-verify: yes\n",
    "bool-capitalized": _HAND_HEAD
    + _HAND_USER
    + "clusters:\n- name: c1\n  cluster:\n    server: https://h:6443\n    insecure-skip-tls-verify: False\n",
    "bool-as-quoted-string": _HAND_HEAD
    + _HAND_USER
    + "clusters:\n- name: c1\n  cluster:\n    server: https://h:6443\n    insecure-skip-tls-verify: 'false'\n",
    "anchors-and-aliases": "apiVersion: v1\nkind: Config\ncurrent-context: x1\n"
    "contexts:\n- name: x1\n  context: &ctx {cluster: c1, user: u1}\n- name: x2\n  context: *ctx\n"
    "clusters:\n- name: c1\n  cluster: &c {server: 'https://h:6443'}\n- name: c2\n  cluster: *c\n" + _HAND_USER,
    "merge-key": "apiVersion: v1\nkind: Config\ncurrent-context: x1\n"
    "contexts:\n- name: x1\n  context:\n    <<: {cluster: c1}\n    user: u1\n"
    "clusters:\n- name: c1\n  cluster: {server: 'https://h:6443'}\n" + _HAND_USER,
    "duplicate-key": _HAND_HEAD
    + _HAND_USER
    + "clusters:\n- name: c1\n  cluster:\n    server: https://first:6443\n    server: https://second:6443\n",
    "two-documents": _HAND_HEAD
    + _HAND_USER
    + "clusters:\n- name: c1\n  cluster: {server: 'https://h:6443'}\n---\napiVersion: v1\nkind: Config\n",
    "json": '{"apiVersion": "v1", "kind": "Config", "current-context": "x1",'
    ' "contexts": [{"name": "x1", "context": {"cluster": "c1", "user": "u1"}}],'
    ' "clusters": [{"name": "c1", "cluster": {"server": "https://h:6443"}}],'
    ' "users": [{"name": "u1", "user": {"token": "tok-hand"}}]}\n',
    "byte-order-mark": "\ufeff"
    + _HAND_HEAD
    + _HAND_USER
    + "clusters:\n- name: c1\n  cluster: {server: 'https://h:6443'}\n",
    "crlf": (_HAND_HEAD + _HAND_USER + "clusters:\n- name: c1\n  cluster:\n    server: https://h:6443\n").replace(
        "\n", "\r\n"
    ),
    "tab-indent": _HAND_HEAD + _HAND_USER + "clusters:\n- name: c1\n  cluster:\n\tserver: https://h:6443\n",
    "octal-namespace": "apiVersion: v1\nkind: Config\ncurrent-context: x1\n"
    "contexts:\n- name: x1\n  context: {cluster: c1, user: u1, namespace: 0755}\n"
    + _HAND_USER
    + "clusters:\n- name: c1\n  cluster: {server: 'https://h:6443'}\n",
    "tagged-str": _HAND_HEAD + _HAND_USER + "clusters:\n- name: c1\n  cluster:\n    server: !!str https://h:6443\n",
    "null-token": "apiVersion: v1\nkind: Config\ncurrent-context: x1\n"
    "contexts:\n- name: x1\n  context: {cluster: c1, user: u1}\n"
    "users:\n- name: u1\n  user:\n    token: ~\n"
    "clusters:\n- name: c1\n  cluster: {server: 'https://h:6443'}\n",
    "comments-only": "# nothing here\n",
    "whitespace-only": "   \n\n",
    "empty": "",
    "top-level-list": "- apiVersion: v1\n",
    "number-current-context": "apiVersion: v1\nkind: Config\ncurrent-context: 12\n"
    "contexts:\n- name: '12'\n  context: {cluster: c1}\n"
    "clusters:\n- name: c1\n  cluster: {server: 'https://h:6443'}\n",
    "clusters-as-empty-map": _HAND_HEAD + _HAND_USER + "clusters: {}\n",
    "unknown-and-cased-keys": _HAND_HEAD
    + _HAND_USER
    + "clusters:\n- name: c1\n  cluster:\n    Server: https://upper:6443\n    server: https://h:6443\n    bogus: 1\n",
    "integer-name": "apiVersion: v1\nkind: Config\ncurrent-context: x1\n"
    "contexts:\n- name: x1\n  context: {cluster: '7', user: u1}\n"
    + _HAND_USER
    + "clusters:\n- name: 7\n  cluster: {server: 'https://h:6443'}\n",
}


def _spell_kubeconfig(s: _State, path: str) -> str:
    """A KUBECONFIG entry or --kubeconfig value for ``path``: relative to cwd, absolute, ``./``."""
    rel = posixpath.relpath(path, s.cwd or ".")
    return pick(
        s.draw,
        [
            (5, rel),
            (4, f"{ROOT}/{path}"),
            (1, rel if rel.startswith("..") else "./" + rel),
            (1, "missing-dir/../" + rel),
        ],
    )


@st.composite
def ksets(draw: Any) -> KSet:
    cwd = draw(st.sampled_from(CWDS))
    s = _State(draw=draw, level=pick(draw, [(7, 0), (9, 1), (4, 2)]), cwd=cwd)
    n_files = draw(st.integers(1, 3))
    paths = draw(st.lists(st.sampled_from(KUBECONFIG_PATHS), min_size=n_files, max_size=n_files, unique=True))
    docs: dict[str, Any] = {}
    texts: dict[str, str] = {}
    for path in paths:
        if chance(draw, 4 if not s.varied else 10):
            key = draw(st.sampled_from(sorted(HAND_SHAPED)))
            texts[path] = HAND_SHAPED[key]
            s.tags.append(f"hand:{key}@{path}")
        else:
            docs[path] = _document(s, path)
    if chance(draw, 30):
        explicit: str | None = (
            _spell_kubeconfig(s, draw(st.sampled_from(paths)))
            if not chance(draw, 5)
            else draw(st.sampled_from(("nope/config", f"{ROOT}/nope")))
        )
        kubeconfig = None
    else:
        explicit = None
        order = draw(st.permutations(paths))
        entries = [_spell_kubeconfig(s, p) for p in order[: draw(st.integers(1, len(order)))]]
        for _ in range(draw(st.integers(0, 2))):
            extra = pick(
                draw,
                [(3, "nope/config"), (2, f"{ROOT}/missing.yaml"), (1, ""), (1, lambda: draw(st.sampled_from(entries)))],
            )
            entries.insert(draw(st.integers(0, len(entries))), extra)
        if chance(draw, 3):  # nothing that exists
            entries = ["nope/config", f"{ROOT}/missing.yaml"]
        kubeconfig = entries
    links: dict[str, str] = {}
    if chance(draw, 6):  # a kubeconfig reached through a symlink in another directory
        links["c/link.yaml"] = draw(st.sampled_from(paths))
        link_entry = _spell_kubeconfig(s, "c/link.yaml")
        if explicit is not None:
            explicit = link_entry
        else:
            kubeconfig = [link_entry, *(kubeconfig or [])]
    if chance(draw, 2) and kubeconfig is not None:  # a directory where a file belongs
        kubeconfig = [*kubeconfig, "a"]
    defined = sorted(
        {
            e["name"]
            for doc in docs.values()
            if isinstance(doc, dict) and isinstance(doc.get("contexts"), list)
            for e in doc["contexts"]
            if isinstance(e, dict) and isinstance(e.get("name"), str)
        }
    )
    context = pick(
        draw,
        [(6, ""), (1, lambda: draw(st.sampled_from(CONTEXT_NAMES))), (1, "missing-context")]
        + ([(3, lambda: draw(st.sampled_from(defined)))] if defined else []),
    )
    return KSet(
        docs=docs,
        texts=texts,
        files=dict(s.files),
        labels=dict(s.labels),
        dirs=tuple(dict.fromkeys(s.dirs)),
        cwd=cwd,
        kubeconfig=kubeconfig,
        explicit=explicit,
        context=context,
        tags=tuple(s.tags),
        links=links,
    )
