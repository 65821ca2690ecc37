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
from .errors import KubeconfigError, NoConfigError, printable
from .filewatch import FileWatch
from .tls import TLSConfig

log = logging.getLogger(__name__)

POD_NAMESPACE_ENV = "POD_NAMESPACE"
"""The environment variable that names the namespace of in-cluster config (set it from the downward API's
``metadata.namespace``); it comes before the mount's ``namespace`` file, as in client-go's in-cluster config."""
DEFAULT_NAMESPACE = "default"
"""The namespace used when no source names one (kubectl's and client-go's fallback)."""

PRECEDENCE_SUMMARY = (
    "kubeconfig= or context= given -> kubeconfig; in_cluster=True -> in-cluster only; KUBECONFIG set -> kubeconfig; "
    "KUBERNETES_SERVICE_HOST/_PORT set (in a pod) -> in-cluster; ~/.kube/config exists -> kubeconfig"
)
"""The precedence above in one line, first match wins, as ``"condition -> source"`` steps joined by ``"; "``.

The one statement of it that help texts show (the CLI's config flags are :func:`load_config`'s arguments);
tests/test_whoami.py checks it against this module's docstring and the table "Which source wins" in
docs/config.md."""

SourceKind = Literal["in-cluster", "kubeconfig"]


@dataclass(frozen=True)
class Config:
    """Everything needed to reach one API server. Safe to print: it holds no token, only its source.

    Made by :func:`load_config` or :func:`load_in_cluster_config`; pass it to
    :func:`~incluster_sdk.client.api_client`, :func:`~incluster_sdk.aio_client.async_api_client`, informers and
    leader electors. Clients built from one config share its credentials, so a token rotation reaches them all.

    :param host: the API server's base URL, e.g. ``https://10.96.0.1:443``. In-cluster: built from
        ``KUBERNETES_SERVICE_HOST`` and ``KUBERNETES_SERVICE_PORT`` (an IPv6 address in brackets). Kubeconfig: the
        cluster's ``server``, its scheme lower-cased and its path cleaned as client-go does; an ``http://``
        server is kept, and then no credentials are sent to it.
    :param credentials: the source of each request's ``Authorization`` header, asked at send time (never a
        copied token): a :class:`~incluster_sdk.credentials.TokenFile` in-cluster; from a kubeconfig user, a
        ``tokenFile``, an inline ``token``, basic auth, an exec plugin, or the base
        :class:`~incluster_sdk.credentials.Credentials`, which sends none (client certificate only, or anonymous).
    :param tls: how the server's certificate is verified and which client certificate is presented.
    :param namespace: the namespace to work in; ``namespace_source`` says where it came from.
    :param kind: ``"in-cluster"`` or ``"kubeconfig"``.
    :param source: where the config came from, for people:
        ``"in-cluster (/var/run/secrets/kubernetes.io/serviceaccount)"`` or
        ``"kubeconfig ~/.kube/config context kind-dev"``.
    :param reason: why this source was chosen, e.g. ``"KUBERNETES_SERVICE_HOST is set (running in a pod)"`` or
        ``"kubeconfig= argument"``.
    :param namespace_source: where ``namespace`` came from: ``"namespace= argument"``, ``"POD_NAMESPACE"``,
        ``"namespace file <dir>/namespace"``, ``"kubeconfig context 'dev'"``, or ``"default (...)"`` with the
        reason no source named one (in-cluster, that fallback is also logged as a warning).
    :param context: the kubeconfig context in use; None for in-cluster config.
    :param proxy_url: the kubeconfig cluster's ``proxy-url`` (``http://``, ``https://`` or ``socks5://``); None:
        none configured, and the client libraries may take one from ``HTTPS_PROXY``/``NO_PROXY`` as client-go does
        (``kubernetes`` 37 and ``kubernetes_asyncio`` do). Not in the repr: a proxy URL may carry a password.
    :param service_account_dir: the service-account directory in-cluster config was read from; None for
        kubeconfig.
    :param kubeconfig_files: the kubeconfig files that were merged (those that exist, in precedence order); empty
        for in-cluster config.
    :param file_watch: the watch on the files the credentials and CA come from (the mount's ``token`` and
        ``ca.crt``, or a kubeconfig ``tokenFile``), which re-reads them on change and every 60 s; None when no
        file is watched (then a token file is still re-read on the request path, at most once a minute). Not in
        the repr, and not compared.
    """

    host: str
    credentials: Credentials
    tls: TLSConfig
    namespace: str
    kind: SourceKind
    source: str
    reason: str
    namespace_source: str
    context: str | None = None
    proxy_url: str | None = field(default=None, repr=False)
    service_account_dir: Path | None = None
    kubeconfig_files: tuple[Path, ...] = field(default=())
    file_watch: FileWatch | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        """Stop watching this config's token and CA files, and release its credentials' watchers.

        Clients built from this config keep working with the last credentials and CA read. Calling it again
        does nothing. Without it, a config that is dropped stops being reloaded on its own.
        """
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
    """Load in-cluster config only: the service env vars and the mounted service-account files, never a kubeconfig.

    As client-go's ``rest.InClusterConfig``, with errors that name the variable or file and the fix. The token
    and ``ca.crt`` are watched and re-read when kubelet rotates them. An unreadable ``namespace`` file is no
    error: the namespace falls back to ``default`` and a warning says why.

    :param service_account_dir: the directory holding ``token``, ``ca.crt`` and ``namespace``; None:
        ``$INCLUSTER_SDK_SERVICE_ACCOUNT_DIR`` if set, else ``/var/run/secrets/kubernetes.io/serviceaccount``
        (where kubelet mounts them).
    :param namespace: the namespace to work in, before any other source; None: ``POD_NAMESPACE`` if set, else
        the ``namespace`` file, else ``default`` (client-go's in-cluster order).
    :param reason: why in-cluster config is used, kept in :attr:`Config.reason` and logged; default
        ``"in_cluster=True"`` (:func:`load_config` passes its own).
    :returns: the config, with ``kind`` ``"in-cluster"``.
    :raises ~incluster_sdk.errors.NotInClusterError: ``KUBERNETES_SERVICE_HOST`` and ``KUBERNETES_SERVICE_PORT``
        are both unset (not in a pod).
    :raises ~incluster_sdk.errors.InClusterConfigError: only one of them is set, or one is not a host or port; the
        directory does not exist; the ``token`` file is missing, empty or not one line of printable ASCII; or
        ``ca.crt`` is missing or not a PEM bundle of certificates.
    """
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
        source=printable(f"kubeconfig {shown} context {parts.context}"),
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
    """Load the configuration in-cluster or from a kubeconfig, with the precedence of this module's docstring.

    ``config.source`` says which source was used and ``config.reason`` why; both are logged at INFO on the
    ``incluster_sdk.config`` logger. In a pod with a broken mount this raises instead of falling through to a
    ``~/.kube/config`` that happens to be in the image.

    :param kubeconfig: one kubeconfig file to use (a path, not a ``KUBECONFIG``-style list); None: the
        precedence decides (``KUBECONFIG``, else in-cluster in a pod, else ``~/.kube/config``).
    :param context: the kubeconfig context to use; None: the kubeconfig's ``current-context``. Given without
        ``kubeconfig``, it chooses kubeconfig even in a pod (the ``KUBECONFIG`` files, else ``~/.kube/config``).
    :param in_cluster: True: in-cluster config only (as :func:`load_in_cluster_config`); False: never
        in-cluster (step 4 is skipped); None: the precedence decides.
    :param service_account_dir: for in-cluster config, the directory holding ``token``, ``ca.crt`` and
        ``namespace``; None: ``$INCLUSTER_SDK_SERVICE_ACCOUNT_DIR`` if set, else
        ``/var/run/secrets/kubernetes.io/serviceaccount`` (where kubelet mounts them). Unused for kubeconfig.
    :param namespace: the namespace to work in, before any other source; None: in-cluster, ``POD_NAMESPACE``,
        else the mount's ``namespace`` file, else ``default``; kubeconfig, the context's ``namespace``, else
        ``default`` (kubectl's rule; ``POD_NAMESPACE`` is not read for a kubeconfig).
    :returns: the config; :meth:`Config.close` stops watching its files early.
    :raises ~incluster_sdk.errors.KubeconfigError: ``in_cluster=True`` with ``kubeconfig`` or ``context``; none
        of the chosen kubeconfig files exists; or the kubeconfig is invalid, names a context, cluster or user it
        does not hold, or a file it names (``tokenFile``, certificate, key) is unusable.
    :raises ~incluster_sdk.errors.NotInClusterError: ``in_cluster=True`` outside a pod.
    :raises ~incluster_sdk.errors.InClusterConfigError: in-cluster config was chosen but the service env vars
        or the mounted ``token`` or ``ca.crt`` are unusable (see :func:`load_in_cluster_config`).
    :raises ~incluster_sdk.errors.NoConfigError: no source applies: not in a pod, ``KUBECONFIG`` unset or
        empty, and no ``~/.kube/config``.
    :raises ~incluster_sdk.errors.ConfigError: the base class of all of the above; raised as itself for a
        kubeconfig user's inline ``token`` that cannot go in an HTTP header, or a ``username``/``password`` that
        is not valid Unicode.
    """
    config = _choose(kubeconfig, context, in_cluster, service_account_dir, namespace)
    log.info(
        "kubernetes config: %s; because %s; namespace %s (from %s)",
        config.source,
        printable(config.reason),
        printable(config.namespace),
        printable(config.namespace_source),
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
        path = kubeconfig.kubeconfig_path(os.fspath(explicit), "kubeconfig=")
        return load_kubeconfig([path], context=context, namespace=namespace, reason="kubeconfig= argument")
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
