"""TLS material: CA bundles validated up front, inline kubeconfig data written to private files.

Python's ssl module loads client certificates only from files, so inline ``*-data`` fields are written to
a per-process directory readable only by this user, removed at exit.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

_PEM_CERT = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class TLSConfig:
    """How to verify the server and (optionally) present a client certificate."""

    ca_file: Path | None = None  # None: the system trust store
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


def private_file(data: bytes, suffix: str) -> Path:
    """Write ``data`` to a 0600 file in this process's private temp dir (content-addressed, reused)."""
    global _private_dir
    with _private_lock:
        if _private_dir is None:
            _private_dir = Path(tempfile.mkdtemp(prefix="incluster-sdk-"))
            atexit.register(_cleanup)
        path = _private_dir / f"{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
        if not path.exists():
            fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(path.with_suffix(".tmp"), path)
        return path
