"""In-cluster configuration: the service env vars plus the mounted service-account files.

Mirrors client-go's ``rest.InClusterConfig``, with errors that say which variable or file and the fix.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ._files import read_file_text
from .credentials import FileTokenSource, TokenFile
from .errors import ConfigError, InClusterConfigError, NotInClusterError
from .filewatch import FileWatch
from .tls import TLSConfig, TrustBundle

log = logging.getLogger(__name__)

DEFAULT_SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: Environment variable that overrides the service-account directory (tests, non-standard mounts).
SERVICE_ACCOUNT_DIR_ENV = "INCLUSTER_SDK_SERVICE_ACCOUNT_DIR"
HOST_ENV = "KUBERNETES_SERVICE_HOST"
PORT_ENV = "KUBERNETES_SERVICE_PORT"

_MOUNT_FIX = (
    "Give the pod a ServiceAccount (spec.serviceAccountName) and do not set "
    "automountServiceAccountToken: false; for a non-standard mount set "
    f"{SERVICE_ACCOUNT_DIR_ENV} or pass service_account_dir=."
)


def in_pod_env() -> bool:
    """True when the kubelet-provided service env vars (either of them) are present."""
    return bool(os.environ.get(HOST_ENV) or os.environ.get(PORT_ENV))


def service_account_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    return Path(os.environ.get(SERVICE_ACCOUNT_DIR_ENV) or DEFAULT_SERVICE_ACCOUNT_DIR)


def server_url(host: str, port: str) -> str:
    """``https://host:port`` with an IPv6 literal bracketed, validated."""
    host = host.strip()
    port = port.strip()
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise InClusterConfigError(
            f"{PORT_ENV}={port!r} is not a TCP port (1-65535). Kubelet sets it from the 'kubernetes' "
            "Service; if you set it yourself, use the API server's port, e.g. 443."
        )
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        is_v6 = ipaddress.ip_address(bare).version == 6
    except ValueError:
        is_v6 = False
        if not bare or any(c in bare for c in "/ ?#@"):
            raise InClusterConfigError(
                f"{HOST_ENV}={host!r} is not a host name or IP address. "
                "Kubelet sets it to the 'kubernetes' Service's cluster IP."
            ) from None
    return f"https://[{bare}]:{port}" if is_v6 else f"https://{bare}:{port}"


@dataclass(frozen=True)
class InClusterParts:
    host: str
    tls: TLSConfig
    credentials: TokenFile
    namespace: str | None  # None when the namespace file is absent
    namespace_problem: str | None  # why the namespace file could not be used
    sa_dir: Path
    #: The mount's watch on its token and CA files (None with ``watch=False``).
    file_watch: FileWatch | None = None


def load_in_cluster(sa_dir: Path, *, watch: bool = True) -> InClusterParts:
    host_raw = os.environ.get(HOST_ENV, "")
    port_raw = os.environ.get(PORT_ENV, "")
    if not host_raw.strip() and not port_raw.strip():
        raise NotInClusterError(
            f"not running in a pod: {HOST_ENV} and {PORT_ENV} are unset. Kubelet sets them in every "
            "container; outside a cluster use a kubeconfig (load_config() falls back to one on its own)."
        )
    for name, value, other in ((HOST_ENV, host_raw, PORT_ENV), (PORT_ENV, port_raw, HOST_ENV)):
        if not value.strip():
            state = "empty" if name in os.environ else "unset"
            raise InClusterConfigError(
                f"{name} is {state} but {other} is set: in-cluster config needs both. "
                f"Set {name} too (kubelet sets both from the 'kubernetes' Service), or unset {other}."
            )
    host = server_url(host_raw, port_raw)

    if not sa_dir.exists() and not sa_dir.is_symlink():
        raise InClusterConfigError(f"service-account directory {sa_dir} does not exist. {_MOUNT_FIX}")
    token_file = FileTokenSource(
        sa_dir / "token", what="service-account token file", fix=_MOUNT_FIX, error=InClusterConfigError
    )
    credentials = TokenFile(token_file)
    ca_fix = "Kubelet projects it from the kube-root-ca.crt ConfigMap; check that the volume includes ca.crt."
    bundle = TrustBundle(sa_dir / "ca.crt", what="cluster CA file", fix=ca_fix, error=InClusterConfigError)
    # The mount owns its files' watch: one directory, the token and the CA reloaded on its events.
    file_watch = FileWatch(sa_dir, {"token": credentials, "ca.crt": bundle}) if watch else None

    namespace: str | None = None
    problem: str | None = None
    try:
        namespace = read_file_text(sa_dir / "namespace", what="namespace file", fix="").strip()
    except ConfigError as exc:
        problem = str(exc).strip()
    return InClusterParts(
        host=host,
        tls=TLSConfig(ca_file=bundle.path, ca_bundle=bundle),
        credentials=credentials,
        namespace=namespace,
        namespace_problem=problem,
        sa_dir=sa_dir,
        file_watch=file_watch,
    )
