"""Finding etcd and kube-apiserver for the local cluster."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import InclusterSDKError

KUBE_VERSION = "1.20.2"
"""The kube-apiserver version the install script builds (from Debian's ``kubernetes`` source package)."""
ETCD_ENV = "INCLUSTER_SDK_ETCD"
"""The environment variable naming an etcd executable to use instead of the one found."""
APISERVER_ENV = "INCLUSTER_SDK_KUBE_APISERVER"
"""The environment variable naming a kube-apiserver executable to use instead of the one found."""
CACHE_ENV = "INCLUSTER_SDK_CACHE"
"""The environment variable naming the cache directory instead of ``~/.cache/incluster-sdk``."""
INSTALL_COMMAND = "bash scripts/install-kube-binaries.sh"
"""The command that installs etcd and kube-apiserver, from the incluster_sdk repository (Debian packages only)."""


class BinariesNotFound(InclusterSDKError, RuntimeError):
    """etcd or kube-apiserver is not installed; the message names the command that installs them."""


@dataclass(frozen=True)
class Binaries:
    """The executables the local cluster runs.

    :param etcd: etcd's executable.
    :param kube_apiserver: kube-apiserver's executable.
    """

    etcd: Path
    kube_apiserver: Path


def cache_dir() -> Path:
    """Where the install script caches the kube-apiserver it builds.

    :returns: ``$INCLUSTER_SDK_CACHE``, else ``~/.cache/incluster-sdk``.
    """
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "incluster-sdk")


def find_binaries() -> Binaries:
    """Find etcd and kube-apiserver.

    Each is the executable its environment variable names (:data:`ETCD_ENV`, :data:`APISERVER_ENV`) if set,
    else the first executable found: etcd on ``PATH``, then ``/usr/bin/etcd``; kube-apiserver in
    ``<cache_dir>/kubernetes-1.20.2/kube-apiserver``, then on ``PATH``.

    :returns: both paths.
    :raises BinariesNotFound: if one is missing, or its environment variable names no executable file (the
        message names the install command).
    """

    def find(env: str, candidates: list[Path | None], name: str) -> Path:
        explicit = os.environ.get(env)
        if explicit:
            path = Path(explicit)
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise BinariesNotFound(f"{env}={explicit} is not an executable file.")
            return path
        for candidate in candidates:
            if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        raise BinariesNotFound(
            f"{name} not found (looked at {env}, {', '.join(str(c) for c in candidates if c)}). "
            f"Install it with: {INSTALL_COMMAND}  (from the incluster_sdk repository; Debian packages only), "
            f"or point {env} at your own binary."
        )

    def which(name: str) -> Path | None:
        found = shutil.which(name)
        return Path(found) if found else None

    return Binaries(
        etcd=find(ETCD_ENV, [which("etcd"), Path("/usr/bin/etcd")], "etcd"),
        kube_apiserver=find(
            APISERVER_ENV,
            [cache_dir() / f"kubernetes-{KUBE_VERSION}" / "kube-apiserver", which("kube-apiserver")],
            "kube-apiserver",
        ),
    )
