"""What an app needs, in one syntax, checked against the server's resources: the input to every RBAC tool.

A need reads like ``kubectl auth can-i VERB TYPE[/NAME] [--subresource=SUB]``, with several verbs joined
by commas and a colon after them::

    list,watch:pods                                   every pod of the namespace
    get,list,watch:configmaps/app-config              one ConfigMap (list/watch need fieldSelector=metadata.name)
    get:pods --subresource=log                        the log subresource of every pod
    get,create,update:leases.coordination.k8s.io      what leader election needs
    bind:clusterroles.rbac.authorization.k8s.io/view  create RoleBindings to the ClusterRole view
    get:/healthz                                      a non-resource URL

``/NAME`` is always an object's name and a subresource is always ``--subresource=``: ``pods/log`` is the
pod named ``log`` (and draws a warning, because pods have a ``log`` subresource). ``TYPE`` is resolved as
kubectl resolves it (``po``, ``pod``, ``Pod``, ``deploy.apps``): against the server's discovery when a
client is at hand, else against the built-in table of standard kinds; ``TYPE.VERSION.GROUP`` for any
version the group serves for it, and ``TYPE.*`` for every group (RBAC's ``apiGroups: ["*"]``). Unknown verbs,
resources, versions and subresources, verbs a resource does not support, text no server could serve,
control characters, and names that RBAC can never match (empty, ``*``, no path segment) are errors that say
what was meant; wildcards and other legal-but-risky needs raise :class:`NeedWarning`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from ..discovery import (
    MAX_GROUP_LENGTH,
    MAX_RESOURCE_LENGTH,
    MAX_TYPE_LENGTH,
    VERSION,
    APIResource,
    ResourceCatalog,
    builtin_catalog,
)
from ..errors import InclusterSDKError

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_V1 = f"{RBAC_GROUP}/v1"
#: kubectl create role's standard verbs; discovery lists the ones each resource supports.
STANDARD_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
#: Verbs RBAC checks that discovery never lists, and the only resources they mean something on
#: (kubectl create role's ``specialVerbs``, plus the certificate signers' ``approve``/``sign``).
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
#: Resources the authorizer knows that no API serves (so discovery never lists them): cluster-scoped.
AUTHORIZATION_ONLY = {
    ("", "users"): "User",
    ("", "groups"): "Group",
    ("authentication.k8s.io", "userextras"): "UserExtra",
    ("authentication.k8s.io", "uids"): "UID",
    ("certificates.k8s.io", "signers"): "Signer",
}
#: Verbs for non-resource URLs (``/healthz``): RBAC matches the lowercase HTTP method.
NON_RESOURCE_VERBS = ("get", "head", "options", "post", "put", "patch", "delete")
#: Special verbs checked in a namespace although their resource is cluster-scoped, so that a Role can grant
#: them: ``bind`` in the namespace of the RoleBinding being written (pkg/registry/rbac/escalation_check.go,
#: BindingAuthorized), ``use`` in the namespace of the pod being admitted (the PodSecurityPolicy admission
#: plugin). ``escalate`` is not one: it is checked in the namespace of the role being written, none for a
#: ClusterRole (RoleEscalationAuthorized). ``bind`` for a ClusterRoleBinding is checked in no namespace
#: (clusterrolebinding/policybased/storage.go passes metav1.NamespaceNone): only a ClusterRole grants that,
#: which :func:`~incluster_sdk.rbac.manifests.manifests` does when the needs write ClusterRoleBindings.
NAMESPACE_CHECKED_VERBS = ("bind", "use")
#: Resources whose subresource is free text: impersonating a user extra checks ``userextras/<key>`` with the
#: extra's value as the name (apiserver's impersonation filter), whatever the key.
ANY_SUBRESOURCE = frozenset({("authentication.k8s.io", "userextras")})
#: Resources whose names are not object names and never appear in a URL: who may be impersonated (user and
#: group names, a user extra's value) is any text, ``/`` and ``%`` included.
FREE_NAMES = frozenset({("", "users"), ("", "groups"), ("authentication.k8s.io", "userextras")})
#: A request that carries no object name at authorization time: resourceNames can never match it.
#: (A create on a subresource, such as pods/eviction, does carry the name.)
UNNAMED_VERBS = ("create", "deletecollection")
SUBRESOURCE_FLAG = "--subresource"
#: The longest verb RBAC knows (``deletecollection``) with room to spare: longer text is not read as a verb.
MAX_VERB_LENGTH = 32
#: How much of a need messages echo: every need that names something real fits (a TYPE is at most
#: MAX_TYPE_LENGTH), and a megabyte of junk is not printed back.
MAX_ECHO = 500
#: Whitespace that separates the words of a need (``str.split`` separates on more; the rest is refused).
SEPARATORS = " \t\n\r"
DNS_SUBDOMAIN = "DNS-1123 subdomain"
DNS_LABEL = "DNS-1123 label"
DNS_1035_LABEL = "DNS-1035 label"
#: The names kube-apiserver accepts for these resources: the name function ValidateObjectMeta is given in
#: pkg/apis/{core,apps,batch,coordination}/validation/validation.go (and apimachinery's generic.go for
#: namespaces and ServiceAccounts). A resourceNames entry outside it names no object that can exist; RBAC
#: itself takes any path segment, so it is a warning, not an error.
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
#: Longest names of each format (k8s.io/apimachinery/pkg/util/validation: DNS1123SubdomainMaxLength ...).
_FORMAT_MAX = {DNS_SUBDOMAIN: 253, DNS_LABEL: 63, DNS_1035_LABEL: 63}
_LABEL_TEXT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_FORMAT_PATTERN = {
    DNS_SUBDOMAIN: re.compile(rf"^{_LABEL_TEXT}(\.{_LABEL_TEXT})*$"),
    DNS_LABEL: re.compile(rf"^{_LABEL_TEXT}$"),
    DNS_1035_LABEL: re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
}
_LABEL = re.compile(rf"^{_LABEL_TEXT}$")
_SUBRESOURCE = re.compile(r"^[a-z][a-z0-9-]*$")
_SIGNER_NAME = re.compile(r"^[^%\s]+$")  # signer names are DOMAIN/PATH, and may end in a wildcard
_VERB = re.compile(r"^(\*|[a-z][a-z-]*)$")
_URL = re.compile(r"^/[^\s]*$")
SYNTAX = "VERBS:TYPE[/NAME] [--subresource=SUB], e.g. list,watch:pods or get:configmaps/app-config"


class NeedError(InclusterSDKError, ValueError):
    """A need that is malformed or names what the server does not have; the message shows the fix."""


class NeedWarning(UserWarning):
    """A need that is valid but probably not what was meant, or grants more than it seems (wildcards)."""


@dataclass(frozen=True)
class Need:
    """``verbs`` on ``resource`` (plural) in API ``group`` (``""`` = core), optionally only its
    ``subresource`` and only the object called ``name``; or ``verbs`` on a ``non_resource_url``.

    ``namespaced`` is the scope RBAC checks the need in: True (a Role can grant it), False (only a
    ClusterRole can), None (not known: a resource checked offline that the built-in table does not have).
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
        """``pods``, ``deployments.apps``, ``*`` (every resource of every group)."""
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
        ``namespace`` (None: all namespaces). It follows kube-apiserver's RequestInfo: cluster-scoped
        resources have none, except a namespace object itself (``GET /api/v1/namespaces/NAME`` is in
        namespace NAME) and the :data:`NAMESPACE_CHECKED_VERBS` (``bind``, ``use``).

        For ``bind`` the namespace is the binding's: ``namespace`` asks "may I bind this role in a RoleBinding
        there?", None "... in a ClusterRoleBinding?" (which the server checks in no namespace)."""
        if self.non_resource_url is not None:
            return None
        if self.namespaced is not False:
            return namespace
        if verb in NAMESPACE_CHECKED_VERBS:
            return namespace
        if (self.group, self.resource) == ("", "namespaces") and self.name and verb not in ("list", "watch"):
            return self.name
        return None


def _shown(spec: str) -> str:
    """``spec`` as messages echo it: repr (control characters escaped), cut after :data:`MAX_ECHO` characters."""
    if len(spec) <= MAX_ECHO:
        return repr(spec)
    return f"{spec[:MAX_ECHO]!r}... ({len(spec)} characters)"


def _fail(spec: str, problem: str) -> NeedError:
    return NeedError(f"{_shown(spec)}: {problem}")


def _warn(spec: str, problem: str) -> None:
    warnings.warn(f"{_shown(spec)}: {problem}", NeedWarning, stacklevel=4)


def _refuse_unprintable(spec: str) -> None:
    """Control characters (an escape sequence pasted from a terminal, a NUL) and other unprintable ones are in
    no verb, resource, name or URL; refused before anything echoes them."""
    for i, char in enumerate(spec):
        if char not in SEPARATORS and not char.isprintable():
            raise _fail(spec, f"character {i + 1} is the unprintable {char!r}; a need is printable text")


def _split(spec: str) -> tuple[str, str, str | None]:
    """``"get,list:pods/x --subresource=log"`` -> ("get,list", "pods/x", "log")."""
    words = spec.split()
    subresource: str | None = None
    rest: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        is_flag = word == SUBRESOURCE_FLAG and i + 1 < len(words)
        if (is_flag or word.startswith(SUBRESOURCE_FLAG + "=")) and subresource is not None:
            raise _fail(spec, f"{SUBRESOURCE_FLAG} given twice; a need has one subresource (write two needs)")
        if is_flag:
            subresource, i = words[i + 1], i + 2
            continue
        if word.startswith(SUBRESOURCE_FLAG + "="):
            subresource = word.partition("=")[2]
        elif word.startswith("-"):
            raise _fail(spec, f"unknown option {word!r}; the only option is {SUBRESOURCE_FLAG}=SUB")
        else:
            rest.append(word)
        i += 1
    if len(rest) == 2 and ":" not in rest[0]:  # "get pods/x", as kubectl auth can-i writes it
        rest = [f"{rest[0]}:{rest[1]}"]
    if len(rest) != 1:
        raise _fail(spec, f"expected {SYNTAX}")
    verbs, sep, target = rest[0].partition(":")
    if not sep or not verbs or not target:
        raise _fail(spec, f"expected {SYNTAX}")
    if subresource is not None and not subresource:
        raise _fail(spec, f"{SUBRESOURCE_FLAG} needs a value, e.g. {SUBRESOURCE_FLAG}=log")
    return verbs, target, subresource


def _verbs(spec: str, text: str, url: bool) -> tuple[str, ...]:
    """The verbs, lowercased and without repeats; ``url``: of a non-resource URL (HTTP methods are verbs)."""
    verbs = tuple(dict.fromkeys(v.strip().lower() for v in text.split(",") if v.strip()))
    if not verbs:
        raise _fail(spec, f"no verbs; expected {SYNTAX}")
    known = set(STANDARD_VERBS) | set(SPECIAL_VERBS) | {"proxy", "*"} | (set(NON_RESOURCE_VERBS) if url else set())
    for verb in verbs:
        if len(verb) > MAX_VERB_LENGTH:
            raise _fail(
                spec, f"{verb[:MAX_VERB_LENGTH]!r}... is not a Kubernetes verb; verbs are {', '.join(STANDARD_VERBS)}"
            )
        if not _VERB.match(verb) or verb not in known:
            close = difflib.get_close_matches(verb, sorted(known), n=2)
            hint = f"; did you mean {' or '.join(close)}?" if close else f"; verbs are {', '.join(STANDARD_VERBS)}"
            raise _fail(spec, f"{verb!r} is not a Kubernetes verb{hint}")
    if "*" in verbs:
        _warn(spec, "the verb '*' grants every verb, including delete, escalate and impersonate where they apply")
    return verbs


def parse_need(spec: str | Need, catalog: ResourceCatalog | None = None) -> Need:
    """Read and check one need (see the module docstring for the syntax).

    ``catalog`` is the server's (:func:`incluster_sdk.discovery.discover`); by default the built-in table of
    standard kinds, which leaves resources of groups it does not know unchecked (with a warning).
    A :class:`Need` is returned as it is. Raises :class:`NeedError`; warns :class:`NeedWarning`.
    """
    if isinstance(spec, Need):
        return spec
    if isinstance(spec, (bytes, bytearray)):
        raise NeedError(f"{spec!r}: a need is a str, not bytes; decode it first ({SYNTAX})")
    if not isinstance(spec, str):
        raise NeedError(f"{spec!r}: a need is a string, {SYNTAX} (tuples are no longer accepted)")
    _refuse_unprintable(spec)
    catalog = catalog or builtin_catalog()
    verb_text, target, subresource = _split(spec)
    verbs = _verbs(spec, verb_text, url=target.startswith("/"))
    if target.startswith("/"):
        return _non_resource(spec, verbs, target, subresource)
    type_text, slash, name = target.partition("/")
    if not type_text:
        raise _fail(spec, f"expected {SYNTAX}")
    if slash and not name:
        raise _fail(
            spec,
            f"the name after '{type_text}/' is empty (an unset variable?); write {type_text}/NAME for one object,"
            f" or {type_text} without '/' for every one",
        )
    resource, checked = _resolve(spec, type_text, catalog)
    if name:
        _check_name(spec, name, resource)
    if subresource is not None:
        _check_subresource_text(spec, subresource, resource)
    need = Need(verbs, resource.name, resource.group, name or None, subresource, namespaced=None)
    _check_user_extra(spec, need)
    if checked:
        _check_subresource(spec, need, resource)
        _check_verbs(spec, need, resource)
        need = dataclasses.replace(need, namespaced=_scope(spec, verbs, resource))  # of verbs that apply
    _check_names(spec, need, resource, catalog)
    return need


def parse_needs(specs: Iterable[str | Need], catalog: ResourceCatalog | None = None) -> list[Need]:
    """:func:`parse_need` for each; a single string is refused (it would be read letter by letter)."""
    if isinstance(specs, (str, bytes, bytearray)):
        raise NeedError(f"{specs!r}: parse_needs takes a list of needs; use parse_need for one")
    return [parse_need(spec, catalog) for spec in specs]


def _non_resource(spec: str, verbs: tuple[str, ...], url: str, subresource: str | None) -> Need:
    if subresource is not None:
        raise _fail(spec, "a non-resource URL has no subresources")
    if not _URL.match(url) or "*" in url[:-1]:  # RBAC trims every trailing *: /a** would be /a* in disguise
        raise _fail(spec, f"{url!r} is not a non-resource URL (a path such as /healthz, or a prefix ending in one *)")
    bad = [v for v in verbs if v not in NON_RESOURCE_VERBS and v != "*"]
    if bad:
        raise _fail(spec, f"non-resource URLs take HTTP verbs ({', '.join(NON_RESOURCE_VERBS)}), not {', '.join(bad)}")
    if url.endswith("*"):
        _warn(spec, f"{url} grants every URL under {url[:-1] or '/'}")
    return Need(verbs, namespaced=False, non_resource_url=url)


def _check_type_text(spec: str, type_text: str) -> str:
    """``TYPE`` lowercased, once it is one a server could serve: ``RESOURCE[.VERSION][.GROUP]``, the resource a
    DNS-1123 label (or ``*``), the group a DNS-1123 subdomain (or ``*``). Kinds (``Pod``) are lowercased as
    kubectl does. The length is checked first: resolving costs a pass over the catalog per candidate."""
    if len(type_text) > MAX_TYPE_LENGTH:
        raise _fail(
            spec,
            f"TYPE is {len(type_text)} characters long; a resource is at most {MAX_RESOURCE_LENGTH} characters"
            f" and a group {MAX_GROUP_LENGTH}",
        )
    text = type_text.lower()
    resource, dot, group = text.partition(".")
    if not resource:
        raise _fail(
            spec,
            f"{type_text!r} is not a resource: the resource before '.' is empty (an unset variable?);"
            f" expected RESOURCE[.GROUP], e.g. deployments.apps",
        )
    if resource != "*" and (len(resource) > MAX_RESOURCE_LENGTH or not _LABEL.match(resource)):
        raise _fail(
            spec,
            f"{resource!r} is not a resource name: a resource is lowercase letters, digits and '-' (a DNS-1123"
            f" label of at most {MAX_RESOURCE_LENGTH}), e.g. configmaps or Pod",
        )
    if dot and not group:
        fix = (
            "'*' is every resource of every group; the core group's every resource has no spelling: list the"
            " core resources needed"
            if resource == "*"
            else f"write {resource} for the core group's {resource}"
        )
        raise _fail(spec, f"{type_text!r} ends with '.': the group is empty (an unset variable?); {fix}")
    labels = group.split(".") if group else []
    if group and group != "*" and (len(group) > MAX_GROUP_LENGTH or not all(_LABEL.match(lb) for lb in labels)):
        raise _fail(
            spec,
            f"{group!r} is not an API group: a group is lowercase labels of letters, digits and '-' joined by"
            f" single dots (a DNS-1123 subdomain of at most {MAX_GROUP_LENGTH}), e.g. apps or example.com;"
            f" '*' alone is every group",
        )
    return text


def _resolve(spec: str, type_text: str, catalog: ResourceCatalog) -> tuple[APIResource, bool]:
    """The resource, and whether it was checked (False: a group the offline table does not know, or a group
    whose discovery failed)."""
    text = _check_type_text(spec, type_text)
    if text == "*" or text.startswith("*."):
        group = text[2:] if text.startswith("*.") else "*"
        _warn(spec, f"the resource '*' grants every resource{' of every group' if group == '*' else ''}")
        return APIResource(group, "", "*", "*", "", True, ("*",)), True
    if text.endswith(".*"):
        return _in_every_group(spec, text[:-2], catalog)
    for (group, name), kind in AUTHORIZATION_ONLY.items():
        spellings = {name, name[:-1], kind.lower()}  # users, user, User
        if text in spellings or text in {f"{word}.{group}" for word in spellings}:
            return APIResource(group, "", name, name[:-1], kind, False, ()), True
    found = catalog.candidates(text)
    if found:
        groups = sorted({r.group or "core" for r in found})
        if len(groups) > 1:  # a bare name (events), or a group prefix of several groups
            _warn(
                spec,
                f"{text} exists in the groups {', '.join(groups)}; taking {found[0].type_name}"
                f" (write {' or '.join(r.type_name for r in found[1:])} for the other)",
            )
        return found[0], True
    problem = catalog.version_problem(text)
    if problem is not None:
        raise _fail(spec, problem)
    name, _, group = text.partition(".")
    version, dot, rest = group.partition(".")
    if dot and VERSION.match(version) and rest not in catalog.groups:
        group = rest  # widgets.v1.example.com: RBAC ignores the version
    failures = catalog.failed_in(group) if group else {}
    if failures:
        _warn(
            spec,
            f"discovery of {', '.join(sorted(failures))} failed ({'; '.join(failures.values())}), so {name}.{group}"
            " is not checked (scope assumed namespaced); check it again when that API is available",
        )
        return APIResource(group, "", name, name, "", True, ()), False
    if group and not catalog.source.startswith("discovery") and group not in catalog.groups:
        _warn(
            spec,
            f"group {group} is not in the {catalog.source}, so {name}.{group} is not checked"
            " (scope assumed namespaced); connect to a server that serves it to check it",
        )
        return APIResource(group, "", name, name, "", True, ()), False
    raise _fail(spec, catalog.unknown_message(type_text))


def _in_every_group(spec: str, name: str, catalog: ResourceCatalog) -> tuple[APIResource, bool]:
    """``NAME.*``: the resource NAME (any spelling) in every API group, RBAC's ``apiGroups: ["*"]``. Checked
    against the resources of that plural the catalog knows (their verbs and subresources together), and
    scoped when they all agree."""
    found = [r for r in catalog.resources if name in (r.name, r.singular_name, r.kind.lower())]
    found = found or [r for r in catalog.resources if name in r.short_names]
    if not found:
        raise _fail(spec, f"{name}.*: " + catalog.unknown_message(name))
    plural = found[0].name
    same = [r for r in catalog.resources if r.name == plural]
    _warn(
        spec,
        f"{plural}.* grants {plural} in every API group, including groups added later (a custom resource"
        f" called {plural} in any group); for {'these' if len(same) > 1 else 'this'} write"
        f" {' or '.join(r.type_name for r in same)}",
    )
    verbs = tuple(dict.fromkeys(v for r in same for v in r.verbs))
    subresources: dict[str, tuple[str, ...]] = {}
    for r in same:
        for sub, sub_verbs in r.subresources.items():
            subresources[sub] = tuple(dict.fromkeys((*subresources.get(sub, ()), *sub_verbs)))
    merged = APIResource("*", "", plural, found[0].singular_name, found[0].kind, same[0].namespaced, verbs)
    merged = dataclasses.replace(merged, subresources=subresources)
    return merged, len({r.namespaced for r in same}) == 1


def _scope(spec: str, verbs: tuple[str, ...], resource: APIResource) -> bool:
    """Whether a Role can grant ``verbs`` on ``resource``: yes on a namespaced resource, and on a cluster-scoped
    one for the :data:`NAMESPACE_CHECKED_VERBS` only (mixed with others: an error, they need two roles)."""
    if resource.namespaced:
        return True
    in_namespace = {v for v in verbs if v in NAMESPACE_CHECKED_VERBS}
    if in_namespace and set(verbs) - in_namespace:
        raise _fail(
            spec,
            f"{', '.join(sorted(in_namespace))} is checked in a namespace (of the binding written, of the pod"
            f" admitted), the other verbs cluster-wide: write them as two needs",
        )
    return bool(in_namespace)


def _check_name(spec: str, name: str, resource: APIResource) -> None:
    """Refuse a name no request can carry: ``*`` (RBAC has no wildcard names), and for object names what is
    no path segment (IsValidPathSegmentName: ``.``, ``..``, ``/``, ``%``). Who is impersonated (users,
    groups, user extras' values) is free text; signer names are ``DOMAIN/PATH``. Warn for a name the API
    server would refuse for an object of this resource (:data:`NAME_FORMATS`)."""
    key = (resource.group, resource.name)
    if name == "*":
        raise _fail(
            spec,
            f"'*' is not a wildcard name: RBAC has none, so resourceNames ['*'] matches only an object named '*';"
            f" write {resource.type_name if resource.name != '*' else '*'} without '/*' for every object",
        )
    if key in FREE_NAMES:
        return
    pattern_ok = _SIGNER_NAME.match(name) if resource.name == "signers" else "/" not in name and "%" not in name
    if not pattern_ok or name in (".", ".."):
        raise _fail(
            spec,
            f"{name!r} is not a valid object name: a name is a path segment (not '.' or '..', no '/' or '%')",
        )
    form = NAME_FORMATS.get(key)
    if form and (len(name) > _FORMAT_MAX[form] or not _FORMAT_PATTERN[form].match(name)):
        _warn(
            spec,
            f"{name!r} is not a valid {resource.kind or resource.singular_name} name (a {form}: lowercase letters,"
            f" digits{', -' if form != DNS_SUBDOMAIN else ', - and .'}, at most {_FORMAT_MAX[form]}), so no such"
            f" object can exist; check the name",
        )


def _check_subresource_text(spec: str, subresource: str, resource: APIResource) -> None:
    """A subresource is a lowercase word (``log``, ``scale``); a user extra's key is free text. ``*`` is never a
    wildcard: RBAC's ``*/SUB`` is written ``*`` with ``--subresource=SUB``, and ``pods/*`` matches nothing."""
    if subresource == "*":
        raise _fail(
            spec,
            f"{SUBRESOURCE_FLAG}=* is not a wildcard: RBAC has no wildcard subresource ({resource.name}/* matches"
            f" no request); name the subresource, e.g. {SUBRESOURCE_FLAG}=status",
        )
    if (resource.group, resource.name) in ANY_SUBRESOURCE:
        return
    if not _SUBRESOURCE.match(subresource):
        raise _fail(
            spec,
            f"{subresource!r} is not a subresource: a subresource is a lowercase word, e.g."
            f" {SUBRESOURCE_FLAG}=log or {SUBRESOURCE_FLAG}=status",
        )


def _check_user_extra(spec: str, need: Need) -> None:
    """The server checks impersonating a user extra as ``userextras`` with the extra's key as the subresource
    and its value as the name (the impersonation filter): a need without a subresource grants nothing."""
    if (need.group, need.resource) not in ANY_SUBRESOURCE or need.subresource is not None:
        return
    verbs = ",".join(need.verbs)
    if need.name:
        fix = (
            f"for the extra {need.name!r} write {verbs}:{need.type_name}/VALUE {SUBRESOURCE_FLAG}={need.name}"
            f" (or without /VALUE for every value)"
        )
    else:
        fix = f"write {verbs}:{need.type_name} {SUBRESOURCE_FLAG}=KEY (the extra's key), optionally /VALUE"
    raise _fail(
        spec,
        f"{need.type_name} without {SUBRESOURCE_FLAG} grants nothing: the server checks userextras/KEY with the"
        f" extra's value as the name; {fix}",
    )


def _check_subresource(spec: str, need: Need, resource: APIResource) -> None:
    if need.subresource is None or resource.name == "*" or (resource.group, resource.name) in ANY_SUBRESOURCE:
        return
    if need.subresource not in resource.subresources:
        subs = sorted(resource.subresources)
        close = difflib.get_close_matches(need.subresource, subs, n=2)
        hint = (
            f"; did you mean {' or '.join(close)}?"
            if close
            else f"; its subresources are {', '.join(subs)}"
            if subs
            else "; it has none"
        )
        raise _fail(spec, f"{resource.type_name} has no subresource {need.subresource!r}{hint}")


def _check_verbs(spec: str, need: Need, resource: APIResource) -> None:
    if resource.name == "*":
        return
    supported = resource.subresources.get(need.subresource, ()) if need.subresource else resource.verbs
    target = need.rbac_resource + (f".{need.group}" if need.group else "")
    for verb in need.verbs:
        if verb == "*":
            continue
        special = SPECIAL_VERBS.get(verb)
        if special is not None:
            free_subresource = (resource.group, resource.name) in ANY_SUBRESOURCE
            if (resource.group, resource.name) not in special or (need.subresource and not free_subresource):
                allowed = ", ".join(sorted(f"{r}.{g}" if g else r for g, r in special))
                raise _fail(spec, f"{verb!r} applies only to {allowed}")
            continue
        if verb == "proxy":
            continue  # the verb of the old /api/v1/proxy paths; kubectl create role accepts it anywhere
        if verb not in supported:
            if (resource.group, resource.name) in AUTHORIZATION_ONLY:
                only = sorted(v for v, targets in SPECIAL_VERBS.items() if (resource.group, resource.name) in targets)
                raise _fail(spec, f"no API serves {target}; RBAC checks only {', '.join(only)} on it")
            raise _fail(spec, f"{target} does not support {verb!r}; it supports {', '.join(supported) or 'nothing'}")


def _check_names(spec: str, need: Need, resource: APIResource, catalog: ResourceCatalog) -> None:
    if not need.name:
        return
    unnamed = [v for v in need.verbs if v in UNNAMED_VERBS] if not need.subresource else []
    if "*" in need.verbs and not need.subresource:
        unnamed.append("* (which includes create and deletecollection)")
    if unnamed:
        raise _fail(
            spec,
            f"{', '.join(unnamed)} cannot be limited to one name: the request carries no name when RBAC checks"
            f" it, so resourceNames never matches; grant it on {need.type_name} without /{need.name}",
        )
    if resource.name == "*" and need.subresource is None:
        holders = sorted(r.type_name for r in catalog.resources if need.name in r.subresources)
        if holders:
            raise _fail(
                spec,
                f"*/{need.name} is the object named {need.name!r} of every resource, not the {need.name}"
                f" subresource ({', '.join(holders[:3])}{'...' if len(holders) > 3 else ''} have one);"
                f" for that write {','.join(need.verbs)}:{need.type_name} {SUBRESOURCE_FLAG}={need.name}",
            )
    if need.subresource is None and need.name in resource.subresources:
        _warn(
            spec,
            f"/{need.name} means the {resource.kind or resource.singular_name} named {need.name!r};"
            f" for the {need.name} subresource write {','.join(need.verbs)}:{need.type_name}"
            f" {SUBRESOURCE_FLAG}={need.name}",
        )
