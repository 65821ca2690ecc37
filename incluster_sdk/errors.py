"""The SDK's exception family.

Every error says what was wrong, where (the file, variable or kubeconfig entry), and what to do.
Messages never contain a credential: they are built from names and paths, not file contents.
"""

from __future__ import annotations

import unicodedata


def printable(text: str) -> str:
    """``text`` with every character that could drive a terminal (ESC and other controls, unassigned code
    points) written as ``U+001B``; tabs and line breaks kept. client-go's ``cleanANSIEscapeCodes``, applied to
    everything the SDK shows that may come from a file or the server: a kubeconfig must not be able to send
    escape sequences to the user's terminal through a context name, a path or a hint.

    :param text: any text.
    :returns: the text, safe to print; unchanged when it holds only letters, marks, numbers, punctuation,
        symbols, separators, tabs and line breaks.
    """
    if text.isprintable():
        return text
    return "".join(
        ch if unicodedata.category(ch)[0] in "LMNPSZ" or ch in "\t\n\v\f\r" else f"U+{ord(ch):04X}" for ch in text
    )


class InclusterSDKError(Exception):
    """Base class of every error raised by incluster_sdk. Its message is :func:`printable`: whatever a file or
    the server put in it, printing it cannot send escape sequences to a terminal."""

    def __str__(self) -> str:
        return printable(super().__str__())


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
    """The API server answered an SDK request with an error status, or with a body that is not a JSON object.

    Raised by the SDK's own calls (discovery, access reviews, object helpers), not by the ``kubernetes``
    library's generated API, which raises its own ``ApiException``.

    :param message: what was asked and what came back, e.g. ``"GET /apis: HTTP 503: <the server's message>"``.
    :param status: the HTTP status code of the answer (a 2xx one when the body was the problem); kept as the
        ``status`` attribute.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class PermissionDeniedError(InclusterSDKError):
    """This identity lacks RBAC permissions it needs; the message says which, and the YAML that grants them.

    :param message: who may not do what, and where, followed by the YAML and the ``incluster-sdk rbac`` command
        that would grant it.
    :param missing: the denied permissions, one string each, e.g. ``"watch pods in namespace shop"``; kept as the
        ``missing`` attribute.
    :param fix_yaml: Role and RoleBinding (ClusterRole and ClusterRoleBinding for cluster-wide access) manifests
        that grant them, as one multi-document YAML string for ``kubectl apply -f -``; kept as the ``fix_yaml``
        attribute.
    """

    def __init__(self, message: str, missing: list[str], fix_yaml: str) -> None:
        super().__init__(message)
        self.missing = missing
        self.fix_yaml = fix_yaml
