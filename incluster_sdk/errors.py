"""The SDK's exception family.

Every error says what was wrong, where (the file, variable or kubeconfig entry), and what to do.
Messages never contain a credential: they are built from names and paths, not file contents.
"""

from __future__ import annotations


class InclusterSDKError(Exception):
    """Base class of every error raised by incluster_sdk."""


class ConfigError(InclusterSDKError):
    """The configuration could not be loaded; the message names the source and the fix."""


class NotInClusterError(ConfigError):
    """In-cluster configuration was asked for, but this process is not running in a pod."""


class InClusterConfigError(ConfigError):
    """Running in a pod, but the service-account mount or the service env vars are unusable."""


class KubeconfigError(ConfigError):
    """A kubeconfig file is missing, unreadable, invalid, or names entries that do not exist."""


class NoConfigError(ConfigError):
    """Neither in-cluster configuration nor any kubeconfig file was found."""


class CredentialError(ConfigError):
    """A credential (token file, exec plugin, client certificate) could not be obtained."""


class ApiError(InclusterSDKError):
    """The API server answered an SDK request with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class PermissionDeniedError(InclusterSDKError):
    """This identity lacks RBAC permissions it needs; the message says which, and the YAML that grants them."""

    def __init__(self, message: str, missing: list[str], fix_yaml: str) -> None:
        super().__init__(message)
        self.missing = missing
        self.fix_yaml = fix_yaml
