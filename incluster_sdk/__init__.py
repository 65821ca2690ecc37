"""incluster_sdk: a Kubernetes client SDK for apps running inside pods.

import incluster_sdk
cfg = incluster_sdk.load_config()          # in-cluster, else kubeconfig; cfg.source says which
api = incluster_sdk.api_client(cfg)        # kubernetes.client.ApiClient with live credentials
"""

from __future__ import annotations

__version__ = "0.1.0"

from .client import ApiClient, AsyncApiClient, api_client, async_api_client
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
