"""TLS material: CA bundles validated up front, inline kubeconfig data written to private files.

Python's ssl module loads client certificates only from files, so inline ``*-data`` fields are written to
a per-process directory readable only by this user, removed at exit.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import re
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
#: One PEM block (RFC 7468): the label in BEGIN and END must match.
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class TLSConfig:
    """How to verify the server and (optionally) present a client certificate; :attr:`Config.tls
    <incluster_sdk.config.Config.tls>` holds one. The default verifies the server against the default trust store
    and presents no certificate.

    Inline kubeconfig data (``certificate-authority-data``, ``client-certificate-data``, ``client-key-data``) is
    written to private files (mode 0600, in a per-process directory removed at exit), so every field here is a
    path.

    :param ca_file: the PEM CA bundle the server's certificate is verified against: in-cluster, a private copy of
        the mount's ``ca.crt`` (replaced when it rotates); from a kubeconfig, ``certificate-authority`` or a private
        file with ``certificate-authority-data``. None: the HTTP library's default trust store (the system's with
        the current ``kubernetes`` and ``kubernetes_asyncio`` releases).
    :param ca_bundle: when the CA can rotate (in-cluster), the reloading bundle behind ``ca_file``; the asyncio
        client adds each new bundle to its TLS context through it. None: the CA file never changes.
    :param client_cert_file: a static PEM client certificate (kubeconfig ``client-certificate``, or a private file
        with ``client-certificate-data``), checked to match its key at load; None: none.
    :param client_key_file: the unencrypted PEM private key of ``client_cert_file`` (kubeconfig ``client-key`` or
        ``client-key-data``); must be set whenever ``client_cert_file`` is.
    :param client_certificate: a client certificate that can change (from an exec plugin), used when there is no
        static one; clients load each new one for new connections. None: none.
    :param insecure_skip_verify: True: do not verify the server's certificate at all (kubeconfig
        ``insecure-skip-tls-verify``); default False, as in kubeconfig.
    :param server_name: the name to expect in the server's certificate and send as SNI (kubeconfig
        ``tls-server-name``); None: the host of the server URL.
    """

    ca_file: Path | None = None
    ca_bundle: TrustBundle | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    client_certificate: ClientCertificate | None = None
    insecure_skip_verify: bool = False
    server_name: str | None = None


def validate_ca_pem(data: bytes, *, where: str, fix: str, error: type[ConfigError] = ConfigError) -> None:
    """Raise ``error`` unless ``data`` is a PEM bundle of one or more X.509 certificates and nothing else.

    Stricter than OpenSSL's loader, which skips text between blocks: a bundle with anything else in it
    (a key, a truncated block, stray text) is a mistake worth stopping at. Uses only the standard library:
    the check needs no parsing beyond what ``ssl`` already does, so no new dependency for it.
    """
    if not data.strip():
        raise error(f"{where} is empty. {fix}")
    if _PEM_CERT not in data:
        raise error(f"{where} is not a PEM certificate (no '-----BEGIN CERTIFICATE-----' line). {fix}")
    blocks = list(_PEM_BLOCK.finditer(data))
    rest = _PEM_BLOCK.sub(b"", data)
    if rest.strip():
        raise error(f"{where} holds text that is not a PEM certificate block. Keep only certificates. {fix}")
    for i, block in enumerate(blocks):
        if block.group(1) != b"CERTIFICATE":
            label = block.group(1).decode("ascii")
            raise error(f"{where} holds a '{label}' block (#{i + 1}); a CA bundle holds only certificates. {fix}")
        try:
            der = ssl.PEM_cert_to_DER_cert(block.group(0).decode("ascii"))
            ssl.create_default_context().load_verify_locations(cadata=der)
        except (ssl.SSLError, ValueError, UnicodeDecodeError):
            raise error(f"{where}: certificate #{i + 1} does not parse as an X.509 certificate. {fix}") from None


def _no_passphrase() -> bytes:
    return b""  # an encrypted key fails instead of prompting on the terminal


def validate_client_pair(cert: Path, key: Path, *, where: str, error: type[ConfigError] = ConfigError) -> None:
    """Raise ``error`` unless the client certificate and key parse and belong together (client-go's
    ``tls.X509KeyPair`` check, done at load instead of at the first handshake)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except ssl.SSLError as exc:
        reason = (
            "the key does not match the certificate"
            if "KEY_VALUES_MISMATCH" in str(exc)
            else "they do not parse as a PEM certificate and an unencrypted PEM private key"
        )
        raise error(f"{where}: client certificate and key are unusable: {reason}. Fix them.") from None


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

    :param source: the CA file to follow (in-cluster, the mount's ``ca.crt``).
    :param what: what the file is, for messages; default ``"cluster CA file"``.
    :param fix: the advice that ends an error message at construction; default none.
    :param error: the :class:`~incluster_sdk.errors.ConfigError` subclass raised at construction.
    :raises ~incluster_sdk.errors.ConfigError: (as ``error``) the first read failed, or the file is not a PEM
        bundle of certificates only.
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
        """The bundle in use, as PEM bytes."""
        return self._data

    def track(self, context: ssl.SSLContext) -> None:
        """Add future bundles to ``context`` (held weakly), for clients that build one context up front.

        Adding is how OpenSSL stores work: the old CA stays trusted by that context too, which is what a
        CA rotation needs while both are in use; new sync connections use exactly the new bundle.
        """
        self._contexts.add(context)

    def reload(self, reason: str = "requested") -> bool:
        """Re-read the source now; the file watch calls this on events and every 60 s.

        A file that is missing, empty or not a PEM bundle keeps the last good bundle, with a warning.

        :param reason: why, for the log lines; default ``"requested"``.
        :returns: True if a new bundle is in use; False if it is the same or the read failed.
        """
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


class ClientCertificate:
    """A client certificate that can change (an exec plugin's), at a stable private path.

    The certificate and key are written to **one** file, atomically, so a new connection reads a matching
    pair even while a rotation happens. ``generation`` grows with each new pair: clients compare it to the
    one they configured and, on a change, load the new pair and drop old connections (client-go closes
    connections when a plugin's certificate rotates, because the server checks a certificate per request).
    """

    def __init__(self, *, where: str) -> None:
        self.where = where
        self.generation = 0
        self._lock = threading.Lock()
        self.path: Path | None = None

    def __repr__(self) -> str:
        return f"<ClientCertificate {self.where} generation {self.generation}>"

    def update(self, cert_pem: bytes, key_pem: bytes, *, error: type[ConfigError] = ConfigError) -> bool:
        """Install a new pair (validated first). Returns True if it differs from the current one."""
        combined = key_pem.rstrip(b"\n") + b"\n" + cert_pem.rstrip(b"\n") + b"\n"
        with self._lock:
            name = f"client-{id(self)}"
            if self.path is not None and self.path.read_bytes() == combined:
                return False
            staged = private_file(combined, ".pem", name=name + "-staged")
            validate_client_pair(staged, staged, where=self.where, error=error)
            self.path = private_file(combined, ".pem", name=name)
            self.generation += 1
        log.info("%s: new client certificate (generation %d)", self.where, self.generation)
        return True
