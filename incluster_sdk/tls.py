"""TLS material: CA bundles validated up front, inline kubeconfig data written to private files.

Python's ssl module loads client certificates only from files, so inline ``*-data`` fields are written to
a per-process directory readable only by this user, removed at exit.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import shutil
import ssl
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

log = logging.getLogger(__name__)

_PEM_CERT = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class TLSConfig:
    """How to verify the server and (optionally) present a client certificate."""

    ca_file: Path | None = None  # None: the system trust store
    #: When the CA can rotate (in-cluster): the reloading bundle behind ``ca_file``.
    ca_bundle: TrustBundle | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    insecure_skip_verify: bool = False
    server_name: str | None = None


def validate_ca_pem(data: bytes, *, where: str, fix: str, error: type[ConfigError] = ConfigError) -> None:
    """Raise ``error`` unless ``data`` is a PEM bundle with at least one parseable certificate."""
    if not data.strip():
        raise error(f"{where} is empty. {fix}")
    if _PEM_CERT not in data:
        raise error(f"{where} is not a PEM certificate (no '-----BEGIN CERTIFICATE-----' line). {fix}")
    try:
        ssl.create_default_context(cadata=data.decode("ascii", errors="strict"))
    except (ssl.SSLError, ValueError, UnicodeDecodeError):
        raise error(f"{where} holds a PEM block that does not parse as an X.509 certificate. {fix}") from None


_private_dir: Path | None = None
_private_lock = threading.Lock()


def _cleanup() -> None:
    if _private_dir is not None:
        shutil.rmtree(_private_dir, ignore_errors=True)


def private_file(data: bytes, suffix: str, *, name: str | None = None) -> Path:
    """Write ``data`` to a 0600 file in this process's private temp dir, atomically.

    Without ``name`` the file is content-addressed (and reused); with it, the same path is rewritten.
    """
    global _private_dir
    with _private_lock:
        if _private_dir is None:
            _private_dir = Path(tempfile.mkdtemp(prefix="incluster-sdk-"))
            atexit.register(_cleanup)
        path = _private_dir / f"{name or hashlib.sha256(data).hexdigest()[:16]}{suffix}"
        if name is not None or not path.exists():
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)  # readers see the old or the new bundle, never half of one
        return path


class TrustBundle:
    """The last good CA bundle from a file that may be rotated, served from a stable private path.

    Clients point at :attr:`path`. A reload that finds the source empty, missing or unparseable keeps the
    previous bundle (and says so in the log); a good new bundle replaces the private file atomically, so
    every *new* TLS connection verifies against it. Subscribers (asyncio SSL contexts) are told too.
    """

    def __init__(
        self, source: Path, *, what: str = "cluster CA file", fix: str = "", error: type[ConfigError] = ConfigError
    ) -> None:
        from ._files import read_file_bytes

        self.source = source
        self._what = what
        self._fix = fix
        self._lock = threading.Lock()
        self._contexts: weakref.WeakSet[ssl.SSLContext] = weakref.WeakSet()
        data = read_file_bytes(source, what=what, fix=fix, error=error)
        validate_ca_pem(data, where=f"{what} {source}", fix=fix, error=error)
        self._data = data
        self.path = private_file(data, ".crt", name=f"trust-{id(self)}")

    def __repr__(self) -> str:
        return f"<TrustBundle {self.source} -> {self.path}>"

    @property
    def pem(self) -> bytes:
        return self._data

    def track(self, context: ssl.SSLContext) -> None:
        """Add future bundles to ``context`` (held weakly), for clients that build one context up front.

        Adding is how OpenSSL stores work: the old CA stays trusted by that context too, which is what a
        CA rotation needs while both are in use; new sync connections use exactly the new bundle.
        """
        self._contexts.add(context)

    def reload(self, reason: str = "requested") -> bool:
        from ._files import read_file_bytes

        with self._lock:
            try:
                data = read_file_bytes(self.source, what=self._what, fix="")
                validate_ca_pem(data, where=f"{self._what} {self.source}", fix="")
            except ConfigError as exc:
                log.warning("keeping the last good CA bundle: re-read (%s) failed: %s", reason, str(exc))
                return False
            if data == self._data:
                return False
            self._data = data
            private_file(data, ".crt", name=f"trust-{id(self)}")
            contexts = list(self._contexts)
        log.info("CA bundle reloaded from %s (%s)", self.source, reason)
        for context in contexts:
            try:
                context.load_verify_locations(cadata=data.decode("ascii"))
            except (ssl.SSLError, ValueError):
                log.exception("adding the reloaded CA bundle to a TLS context failed")
        return True
