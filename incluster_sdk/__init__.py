"""incluster_sdk: a Kubernetes client SDK for apps running inside pods.

import incluster_sdk
cfg = incluster_sdk.load_config()          # in-cluster, else kubeconfig; cfg.source says which
api = incluster_sdk.api_client(cfg)        # kubernetes.client.ApiClient with live credentials
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .config import Config, load_config, load_in_cluster_config
from .credentials import Credentials, TokenFile
from .errors import (
    ApiError,
    ConfigError,
    CredentialError,
    InClusterConfigError,
    InclusterSDKError,
    KubeconfigError,
    NoConfigError,
    NotInClusterError,
    PermissionDeniedError,
)
from .tls import TLSConfig
from .tokens import TokenClaims, decode_claims

if TYPE_CHECKING:
    from .aio_client import AsyncApiClient, async_api_client
    from .client import ApiClient, api_client

# A library leaves the handlers to the app (the logging HOWTO's advice for libraries): without this, an app that
# configures no logging would get the SDK's warnings on stderr through logging's "last resort" handler.
logging.getLogger(__name__).addHandler(logging.NullHandler())

#: Imported on first use. The clients load the official libraries (``import kubernetes.client`` takes 0.2-0.4 s:
#: its package imports kubeconfig loading, google-auth, requests-oauthlib...): ``import incluster_sdk`` stays
#: cheap for apps that only read their config, and an app that never touches asyncio never loads
#: kubernetes_asyncio and aiohttp.
_LAZY = {
    "ApiClient": "client",
    "api_client": "client",
    "AsyncApiClient": "aio_client",
    "async_api_client": "aio_client",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "ApiClient",
    "ApiError",
    "AsyncApiClient",
    "Config",
    "ConfigError",
    "CredentialError",
    "Credentials",
    "InClusterConfigError",
    "InclusterSDKError",
    "KubeconfigError",
    "NoConfigError",
    "NotInClusterError",
    "PermissionDeniedError",
    "TLSConfig",
    "TokenClaims",
    "TokenFile",
    "__version__",
    "api_client",
    "async_api_client",
    "decode_claims",
    "load_config",
    "load_in_cluster_config",
]
