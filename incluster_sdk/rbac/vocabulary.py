"""The words of a need and what RBAC makes of them: verbs, special resources, name rules per kind (each with
its source), the :class:`Need` itself, and how refusals and warnings name the input."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

from ..errors import InclusterSDKError

RBAC_GROUP = "rbac.authorization.k8s.io"
"""The RBAC API group, as a rule's ``apiGroups`` and a binding's ``roleRef.apiGroup`` name it."""
RBAC_V1 = f"{RBAC_GROUP}/v1"
"""The ``apiVersion`` of the Roles, ClusterRoles and bindings :func:`~incluster_sdk.rbac.manifests.manifests` writes."""
STANDARD_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
"""kubectl create role's standard verbs; discovery lists the ones each resource supports."""
SPECIAL_VERBS: dict[str, frozenset[tuple[str, str]]] = {
    "use": frozenset({("policy", "podsecuritypolicies"), ("extensions", "podsecuritypolicies")}),
    "bind": frozenset({(RBAC_GROUP, "roles"), (RBAC_GROUP, "clusterroles")}),
    "escalate": frozenset({(RBAC_GROUP, "roles"), (RBAC_GROUP, "clusterroles")}),
    "impersonate": frozenset(
        {("", "users"), ("", "groups"), ("", "serviceaccounts"), ("authentication.k8s.io", "userextras")}
        | {("authentication.k8s.io", "uids")}
    ),
    "approve": frozenset({("certificates.k8s.io", "signers")}),
    "sign": frozenset({("certificates.k8s.io", "signers")}),
}
"""Verbs RBAC checks that discovery never lists, and the only resources they mean something on (kubectl create
role's ``specialVerbs``, plus the certificate signers' ``approve``/``sign``)."""
AUTHORIZATION_ONLY = {
    ("", "users"): "User",
    ("", "groups"): "Group",
    ("authentication.k8s.io", "userextras"): "UserExtra",
    ("authentication.k8s.io", "uids"): "UID",
    ("certificates.k8s.io", "signers"): "Signer",
}
"""Resources the authorizer knows that no API serves (so discovery never lists them): cluster-scoped."""
NON_RESOURCE_VERBS = ("get", "head", "options", "post", "put", "patch", "delete")
"""Verbs for non-resource URLs (``/healthz``): RBAC matches the lowercase HTTP method."""
NAMESPACE_CHECKED_VERBS = ("bind", "use")
"""Special verbs checked in a namespace although their resource is cluster-scoped, so that a Role can grant them:
``bind`` in the namespace of the RoleBinding being written (pkg/registry/rbac/escalation_check.go,
BindingAuthorized), ``use`` in the namespace of the pod being admitted (the PodSecurityPolicy admission plugin).
``escalate`` is not one: it is checked in the namespace of the role being written, none for a ClusterRole
(RoleEscalationAuthorized). ``bind`` for a ClusterRoleBinding is checked in no namespace
(clusterrolebinding/policybased/storage.go passes metav1.NamespaceNone): only a ClusterRole grants that, which
:func:`~incluster_sdk.rbac.manifests.manifests` does when the needs write ClusterRoleBindings."""
ANY_SUBRESOURCE = frozenset({("authentication.k8s.io", "userextras")})
"""Resources whose subresource is free text: impersonating a user extra checks ``userextras/<key>`` with the extra's
value as the name (apiserver's impersonation filter), whatever the key."""
FREE_NAMES = frozenset({("", "users"), ("", "groups"), ("authentication.k8s.io", "userextras")})
"""Resources whose names are not object names and never appear in a URL: who may be impersonated (user and group
names, a user extra's value) is any text, ``/`` and ``%`` included."""
UNNAMED_VERBS = ("create", "deletecollection")
"""A request that carries no object name at authorization time: resourceNames can never match it. (A create on a
subresource, such as pods/eviction, does carry the name.)"""
SUBRESOURCE_FLAG = "--subresource"
"""The one option of a need, as ``kubectl auth can-i`` spells it: ``--subresource=SUB`` or ``--subresource SUB``."""
MAX_VERB_LENGTH = 32
"""The longest verb RBAC knows (``deletecollection``) with room to spare: longer text is not read as a verb."""
MAX_ECHO = 500
"""How much of a need messages echo: every need that names something real fits (a TYPE is at most MAX_TYPE_LENGTH),
and a megabyte of junk is not printed back."""
SEPARATORS = " \t\n\r"
"""Whitespace that separates the words of a need (``str.split`` separates on more; the rest is refused)."""
DNS_SUBDOMAIN = "DNS-1123 subdomain"
DNS_LABEL = "DNS-1123 label"
DNS_1035_LABEL = "DNS-1035 label"
NAME_FORMATS: dict[tuple[str, str], str] = {
    **{
        ("", r): DNS_SUBDOMAIN
        for r in (
            "pods",
            "configmaps",
            "secrets",
            "serviceaccounts",
            "nodes",
            "persistentvolumes",
            "persistentvolumeclaims",
            "endpoints",
            "replicationcontrollers",
            "limitranges",
            "resourcequotas",
        )
    },
    ("", "namespaces"): DNS_LABEL,
    ("", "services"): DNS_1035_LABEL,
    **{
        ("apps", r): DNS_SUBDOMAIN
        for r in ("deployments", "statefulsets", "daemonsets", "replicasets", "controllerrevisions")
    },
    ("batch", "jobs"): DNS_SUBDOMAIN,
    ("batch", "cronjobs"): DNS_SUBDOMAIN,
    ("coordination.k8s.io", "leases"): DNS_SUBDOMAIN,
}
"""The names kube-apiserver accepts for these resources: the name function ValidateObjectMeta is given in
pkg/apis/{core,apps,batch,coordination}/validation/validation.go (and apimachinery's generic.go for namespaces and
ServiceAccounts). A resourceNames entry outside it names no object that can exist; RBAC itself takes any path
segment, so it is a warning, not an error."""
FORMAT_MAX = {DNS_SUBDOMAIN: 253, DNS_LABEL: 63, DNS_1035_LABEL: 63}
"""Longest names of each format (k8s.io/apimachinery/pkg/util/validation: DNS1123SubdomainMaxLength ...)."""
LABEL_TEXT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
FORMAT_PATTERN = {
    DNS_SUBDOMAIN: re.compile(rf"^{LABEL_TEXT}(\.{LABEL_TEXT})*$"),
    DNS_LABEL: re.compile(rf"^{LABEL_TEXT}$"),
    DNS_1035_LABEL: re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
}
LABEL = re.compile(rf"^{LABEL_TEXT}$")
SUBRESOURCE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
SIGNER_NAME = re.compile(r"^[^%\s]+$")  # signer names are DOMAIN/PATH, and may end in a wildcard
VERB_PATTERN = re.compile(r"^(\*|[a-z][a-z-]*)$")
URL_PATTERN = re.compile(r"^/[^\s]*$")
SYNTAX = "VERBS:TYPE[/NAME] [--subresource=SUB], e.g. list,watch:pods or get:configmaps/app-config"
"""The need syntax in one line, as error messages quote it."""


class NeedError(InclusterSDKError, ValueError):
    """A need that is malformed or names what the server does not have; the message shows the fix.

    The message starts with the need as given (its ``repr``, cut after 500 characters), then says what is
    wrong and what was probably meant: ``'lst:pods': 'lst' is not a Kubernetes verb; did you mean list?``.
    A :class:`ValueError`, so code that catches bad values catches it too.
    """


class NeedWarning(UserWarning):
    """A need that is valid but probably not what was meant, or grants more than it seems (wildcards).

    Issued with :func:`warnings.warn`, so Python's warning filters apply: turn them into errors with
    ``warnings.simplefilter("error", NeedWarning)``, or record them with :class:`warnings.catch_warnings`.
    Examples: ``list:*`` (every resource), ``get:pods/log`` (the pod named ``log``, not the log subresource),
    ``get:configmaps/My_Config`` (no ConfigMap can have that name), a group the catalog does not know (not
    checked).
    """


@dataclass(frozen=True)
class Need:
    """What an app needs RBAC to allow: ``verbs`` on a resource (optionally one subresource, one object), or
    on a non-resource URL.

    Usually made by :func:`~incluster_sdk.rbac.needs.parse_need`, which resolves and checks every field;
    built directly, nothing is checked. ``str(need)`` is the need in the syntax ``parse_need`` reads
    (``get:pods --subresource=log``), so it round-trips. Frozen and hashable.

    :param verbs: the verbs, lowercase, without repeats (``("list", "watch")``); ``"*"`` is every verb. For a
        non-resource URL, HTTP methods in lowercase (``"get"``, ``"post"``).
    :param resource: the resource's plural name as RBAC rules spell it (``"pods"``, ``"deployments"``), or
        ``"*"`` for every resource; ``""`` for a non-resource URL.
    :param group: the API group (``"apps"``, ``"coordination.k8s.io"``); ``""`` (the default) is the core
        group, ``"*"`` every group.
    :param name: the one object's name (RBAC's ``resourceNames``); None (the default): every object.
    :param subresource: the subresource (``"log"``, ``"status"``, ``"scale"``); None (the default): the
        resource itself.
    :param namespaced: the scope RBAC checks the need in: True (the default; a Role can grant it), False
        (cluster-scoped: only a ClusterRole can), None (not known: a resource of a group the catalog did not
        know, assumed namespaced where a scope is needed).
    :param non_resource_url: a non-resource URL path (``"/healthz"``, or a prefix ending in ``*`` such as
        ``"/logs/*"``); None (the default) for a need on a resource. When set, ``resource``, ``group``,
        ``name`` and ``subresource`` are unused.
    """

    verbs: tuple[str, ...]
    resource: str = ""
    group: str = ""
    name: str | None = None
    subresource: str | None = None
    namespaced: bool | None = True
    non_resource_url: str | None = None

    @property
    def rbac_resource(self) -> str:
        """The resource as an RBAC rule spells it: ``pods``, ``pods/log``."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    @property
    def type_name(self) -> str:
        """The TYPE as a need writes it: ``pods`` (core), ``deployments.apps``, ``*`` (every resource of every
        group), ``pods.*`` (pods of every group)."""
        if (self.resource, self.group) == ("*", "*"):
            return "*"
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def __str__(self) -> str:
        if self.non_resource_url is not None:
            return f"{','.join(self.verbs)}:{self.non_resource_url}"
        text = f"{','.join(self.verbs)}:{self.type_name}{'/' + self.name if self.name else ''}"
        return f"{text} {SUBRESOURCE_FLAG}={self.subresource}" if self.subresource else text

    def review_namespace(self, verb: str, namespace: str | None) -> str | None:
        """The namespace the API server's authorizer sees for ``verb`` on this need, when the app works in
        ``namespace``.

        It follows kube-apiserver's RequestInfo: cluster-scoped resources have none, except a namespace object
        itself (``GET /api/v1/namespaces/NAME`` is in namespace NAME) and the :data:`NAMESPACE_CHECKED_VERBS`
        (``bind``, ``use``). For ``bind`` the namespace is the binding's: ``namespace`` asks "may I bind this
        role in a RoleBinding there?", None "... in a ClusterRoleBinding?" (which the server checks in no
        namespace).

        :param verb: one verb of the need (``"get"``).
        :param namespace: the namespace the app works in; None: all namespaces.
        :returns: the namespace to ask a SelfSubjectAccessReview in, or None to ask cluster-wide (always None
            for a non-resource URL).
        """
        if self.non_resource_url is not None:
            return None
        if self.namespaced is not False:
            return namespace
        if verb in NAMESPACE_CHECKED_VERBS:
            return namespace
        if (self.group, self.resource) == ("", "namespaces") and self.name and verb not in ("list", "watch"):
            return self.name
        return None


def shown(spec: str) -> str:
    """``spec`` as messages echo it: repr (control characters escaped), cut after :data:`MAX_ECHO` characters."""
    if len(spec) <= MAX_ECHO:
        return repr(spec)
    return f"{spec[:MAX_ECHO]!r}... ({len(spec)} characters)"


def refuse(spec: str, problem: str) -> NeedError:
    """The :class:`NeedError` to raise for ``spec``: ``problem`` after the need as :func:`shown` echoes it."""
    return NeedError(f"{shown(spec)}: {problem}")


def warn_about(spec: str, problem: str) -> None:
    """Issue a :class:`NeedWarning` about ``spec`` (``stacklevel=4``: the line that called ``parse_need``, for most)."""
    warnings.warn(f"{shown(spec)}: {problem}", NeedWarning, stacklevel=4)
