"""``load_config()``: pick in-cluster or kubeconfig deliberately, and say which and why.

Precedence (first match wins; documented in docs/config.md):

1. ``load_config(kubeconfig=PATH)`` or ``load_config(context=NAME)``: kubeconfig, because you asked.
2. ``load_config(in_cluster=True)``: in-cluster only.
3. ``KUBECONFIG`` set and non-empty: kubeconfig. Someone set it on purpose (controller-runtime agrees).
4. ``KUBERNETES_SERVICE_HOST``/``_PORT`` set (we are in a pod): in-cluster. If the mount is broken this
   raises; it never falls through to a ``~/.kube/config`` that happens to be baked into the image.
5. ``~/.kube/config`` exists: kubeconfig.
6. Otherwise: ``NoConfigError`` explaining both options.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from . import incluster, kubeconfig
from .credentials import Credentials
from .errors import KubeconfigError, NoConfigError
from .filewatch import FileWatch
from .tls import TLSConfig

log = logging.getLogger(__name__)

POD_NAMESPACE_ENV = "POD_NAMESPACE"
DEFAULT_NAMESPACE = "default"

#: The precedence above in one line, first match wins, as "condition -> source" steps joined by "; ". The one
#: statement of it that help texts show (the CLI's config flags are load_config's arguments); tests/test_whoami.py
#: checks it against this module's docstring and the table "Which source wins" in docs/config.md.
PRECEDENCE_SUMMARY = (
    "kubeconfig= or context= given -> kubeconfig; in_cluster=True -> in-cluster only; KUBECONFIG set -> kubeconfig; "
    "KUBERNETES_SERVICE_HOST/_PORT set (in a pod) -> in-cluster; ~/.kube/config exists -> kubeconfig"
)

SourceKind = Literal["in-cluster", "kubeconfig"]


@dataclass(frozen=True)
class Config:
    """Everything needed to reach one API server. Safe to print: it holds no token, only its source."""

    host: str
    credentials: Credentials
    tls: TLSConfig
    namespace: str
    #: "in-cluster" or "kubeconfig".
    kind: SourceKind
    #: Human-readable: "in-cluster (/var/run/...)" or "kubeconfig ~/.kube/config context kind-dev".
    source: str
    #: Why this source was chosen, e.g. "KUBERNETES_SERVICE_HOST is set (running in a pod)".
    reason: str
    #: Where the namespace came from, e.g. "POD_NAMESPACE" or "default (namespace file missing: ...)".
    namespace_source: str
    context: str | None = None
    #: Not in the repr: a proxy URL may carry a password.
    proxy_url: str | None = field(default=None, repr=False)
    service_account_dir: Path | None = None
    kubeconfig_files: tuple[Path, ...] = field(default=())
    #: The watch on the files this config's credentials and CA come from (None: pull only).
    file_watch: FileWatch | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        """Stop credential watchers. Clients built from this config keep their last credentials."""
        if self.file_watch is not None:
            self.file_watch.close()
        self.credentials.close()


def _namespace(explicit: str | None, found: str | None, found_label: str, problem: str | None) -> tuple[str, str]:
    if explicit:
        return explicit, "namespace= argument"
    pod_ns = os.environ.get(POD_NAMESPACE_ENV, "").strip()
    if pod_ns:
        return pod_ns, POD_NAMESPACE_ENV
    if found:
        return found, found_label
    why = f" ({problem})" if problem else ""
    return DEFAULT_NAMESPACE, f"default{why}"


def load_in_cluster_config(
    *,
    service_account_dir: str | os.PathLike[str] | None = None,
    namespace: str | None = None,
    reason: str = "in_cluster=True",
) -> Config:
    """In-cluster config only. Raises :class:`NotInClusterError` outside a pod."""
    sa_dir = incluster.service_account_dir(service_account_dir)
    parts = incluster.load_in_cluster(sa_dir)
    ns, ns_source = _namespace(
        namespace,
        parts.namespace,
        f"namespace file {sa_dir / 'namespace'}",
        parts.namespace_problem and "namespace file unusable: " + parts.namespace_problem,
    )
    if ns_source.startswith("default ("):
        log.warning("using namespace %r: %s", ns, ns_source)
    return Config(
        host=parts.host,
        credentials=parts.credentials,
        tls=parts.tls,
        namespace=ns,
        kind="in-cluster",
        source=f"in-cluster ({sa_dir})",
        reason=reason,
        namespace_source=ns_source,
        service_account_dir=sa_dir,
        file_watch=parts.file_watch,
    )


def load_kubeconfig(
    paths: list[Path], *, context: str | None = None, namespace: str | None = None, reason: str
) -> Config:
    """Kubeconfig config from ``paths`` (merged kubectl-style)."""
    merged = kubeconfig.merge(paths)
    if not merged.files:
        hint = " or unset KUBECONFIG to use in-cluster config or ~/.kube/config" if "KUBECONFIG" in reason else ""
        raise KubeconfigError(
            f"no kubeconfig file exists among {', '.join(str(p) for p in paths)} ({reason}). Fix the path{hint}."
        )
    parts = kubeconfig.resolve(merged, context)
    # kubectl's rule: the context's namespace, else "default". POD_NAMESPACE is for in-cluster config only:
    # a KUBECONFIG chosen in a pod names its own namespace (client-go agrees).
    if namespace:
        ns, ns_source = namespace, "namespace= argument"
    elif parts.namespace:
        ns, ns_source = parts.namespace, f"kubeconfig context {parts.context!r}"
    else:
        ns, ns_source = DEFAULT_NAMESPACE, f"default (kubeconfig context {parts.context!r} names none)"
    shown = ", ".join(_home_short(p) for p in parts.files)
    return Config(
        host=parts.host,
        credentials=parts.credentials,
        tls=parts.tls,
        namespace=ns,
        kind="kubeconfig",
        source=f"kubeconfig {shown} context {parts.context}",
        reason=reason,
        namespace_source=ns_source,
        context=parts.context,
        proxy_url=parts.proxy_url,
        kubeconfig_files=tuple(parts.files),
        file_watch=parts.file_watch,
    )


def _home_short(path: Path) -> str:
    home = os.path.expanduser("~")
    text = str(path)
    return "~" + text[len(home) :] if home not in ("", "/") and text.startswith(home + os.sep) else text


def load_config(
    *,
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
    in_cluster: bool | None = None,
    service_account_dir: str | os.PathLike[str] | None = None,
    namespace: str | None = None,
) -> Config:
    """Load configuration in-cluster or from kubeconfig, following the documented precedence.

    ``config.source`` says which source was used and ``config.reason`` why. Logged at INFO.
    """
    config = _choose(kubeconfig, context, in_cluster, service_account_dir, namespace)
    log.info(
        "kubernetes config: %s; because %s; namespace %s (from %s)",
        config.source,
        config.reason,
        config.namespace,
        config.namespace_source,
    )
    return config


def _choose(
    explicit: str | os.PathLike[str] | None,
    context: str | None,
    in_cluster: bool | None,
    sa_dir: str | os.PathLike[str] | None,
    namespace: str | None,
) -> Config:
    if in_cluster and (explicit is not None or context):
        raise KubeconfigError("in_cluster=True cannot be combined with kubeconfig= or context=; pick one.")
    if explicit is not None:
        return load_kubeconfig([Path(explicit)], context=context, namespace=namespace, reason="kubeconfig= argument")
    if in_cluster:
        return load_in_cluster_config(service_account_dir=sa_dir, namespace=namespace)
    env_value = os.environ.get(kubeconfig.KUBECONFIG_ENV, "")
    env_paths = kubeconfig.split_kubeconfig_env(env_value)
    if env_paths:
        return load_kubeconfig(
            env_paths, context=context, namespace=namespace, reason=f"KUBECONFIG is set ({env_value})"
        )
    if in_cluster is None and not context and incluster.in_pod_env():
        host_env = incluster.HOST_ENV if os.environ.get(incluster.HOST_ENV) else incluster.PORT_ENV
        return load_in_cluster_config(
            service_account_dir=sa_dir, namespace=namespace, reason=f"{host_env} is set (running in a pod)"
        )
    default = kubeconfig.default_kubeconfig_path()
    if default.exists() or context:
        why = "context= argument" if context else f"not in a pod and {_home_short(default)} exists"
        return load_kubeconfig([default], context=context, namespace=namespace, reason=why)
    raise NoConfigError(
        "no Kubernetes configuration found: not in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
        f"unset), KUBECONFIG unset, and {default} does not exist. In a pod, kubelet sets those variables; "
        "locally, create a kubeconfig (e.g. 'kind create cluster' or copy one to ~/.kube/config) or set KUBECONFIG."
    )
