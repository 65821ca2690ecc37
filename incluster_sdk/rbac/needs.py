"""What an app needs, in one syntax, checked against the server's resources: the input to every RBAC tool.

A need reads like ``kubectl auth can-i VERB TYPE[/NAME] [--subresource=SUB]``, with several verbs joined
by commas and a colon after them:

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
:func:`parse_need` lists both.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable

from ..catalog import ResourceCatalog, builtin_catalog
from .validation import (
    check_name,
    check_names,
    check_subresource,
    check_subresource_text,
    check_user_extra,
    check_verbs,
    resolve_type,
    scope_of,
)
from .vocabulary import (
    MAX_VERB_LENGTH,
    NAMESPACE_CHECKED_VERBS,
    NON_RESOURCE_VERBS,
    RBAC_GROUP,
    RBAC_V1,
    SEPARATORS,
    SPECIAL_VERBS,
    STANDARD_VERBS,
    SUBRESOURCE_FLAG,
    SYNTAX,
    UNNAMED_VERBS,
    URL_PATTERN,
    VERB_PATTERN,
    Need,
    NeedError,
    NeedWarning,
    refuse,
    warn_about,
)

__all__ = [
    "NAMESPACE_CHECKED_VERBS",
    "NON_RESOURCE_VERBS",
    "Need",
    "NeedError",
    "NeedWarning",
    "RBAC_GROUP",
    "RBAC_V1",
    "SPECIAL_VERBS",
    "STANDARD_VERBS",
    "SUBRESOURCE_FLAG",
    "SYNTAX",
    "UNNAMED_VERBS",
    "parse_need",
    "parse_needs",
]


def _refuse_unprintable(spec: str) -> None:
    """Control characters (an escape sequence pasted from a terminal, a NUL) and other unprintable ones are in
    no verb, resource, name or URL; refused before anything echoes them."""
    for i, char in enumerate(spec):
        if char not in SEPARATORS and not char.isprintable():
            raise refuse(spec, f"character {i + 1} is the unprintable {char!r}; a need is printable text")


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
            raise refuse(spec, f"{SUBRESOURCE_FLAG} given twice; a need has one subresource (write two needs)")
        if is_flag:
            subresource, i = words[i + 1], i + 2
            continue
        if word.startswith(SUBRESOURCE_FLAG + "="):
            subresource = word.partition("=")[2]
        elif word.startswith("-"):
            raise refuse(spec, f"unknown option {word!r}; the only option is {SUBRESOURCE_FLAG}=SUB")
        else:
            rest.append(word)
        i += 1
    if len(rest) == 2 and ":" not in rest[0]:  # "get pods/x", as kubectl auth can-i writes it
        rest = [f"{rest[0]}:{rest[1]}"]
    if len(rest) != 1:
        raise refuse(spec, f"expected {SYNTAX}")
    verbs, sep, target = rest[0].partition(":")
    if not sep or not verbs or not target:
        raise refuse(spec, f"expected {SYNTAX}")
    if subresource is not None and not subresource:
        raise refuse(spec, f"{SUBRESOURCE_FLAG} needs a value, e.g. {SUBRESOURCE_FLAG}=log")
    return verbs, target, subresource


def _verbs(spec: str, text: str, url: bool) -> tuple[str, ...]:
    """The verbs, lowercased and without repeats; ``url``: of a non-resource URL (HTTP methods are verbs)."""
    verbs = tuple(dict.fromkeys(v.strip().lower() for v in text.split(",") if v.strip()))
    if not verbs:
        raise refuse(spec, f"no verbs; expected {SYNTAX}")
    known = set(STANDARD_VERBS) | set(SPECIAL_VERBS) | {"proxy", "*"} | (set(NON_RESOURCE_VERBS) if url else set())
    for verb in verbs:
        if len(verb) > MAX_VERB_LENGTH:
            raise refuse(
                spec, f"{verb[:MAX_VERB_LENGTH]!r}... is not a Kubernetes verb; verbs are {', '.join(STANDARD_VERBS)}"
            )
        if not VERB_PATTERN.match(verb) or verb not in known:
            close = difflib.get_close_matches(verb, sorted(known), n=2)
            hint = f"; did you mean {' or '.join(close)}?" if close else f"; verbs are {', '.join(STANDARD_VERBS)}"
            raise refuse(spec, f"{verb!r} is not a Kubernetes verb{hint}")
    if "*" in verbs:
        warn_about(spec, "the verb '*' grants every verb, including delete, escalate and impersonate where they apply")
    return verbs


def parse_need(spec: str | Need, catalog: ResourceCatalog | None = None) -> Need:
    """Read and check one need, written as ``kubectl auth can-i`` takes it: ``VERBS:TYPE[/NAME] [--subresource=SUB]``.

    - ``VERBS``: one verb or several joined by commas (``get``, ``list,watch``), any case; ``*`` is every verb.
      kubectl's own spelling, verbs and TYPE as two words (``get pods/web``), is read too.
    - ``TYPE``: a resource as kubectl resolves it: plural, singular, kind or short name (``pods``, ``pod``,
      ``Pod``, ``po``), ``RESOURCE.GROUP`` for another group than core (``deployments.apps``),
      ``RESOURCE.VERSION.GROUP`` for a version the group serves (RBAC drops the version), ``RESOURCE.*`` for
      that resource in every group, ``*`` for every resource of every group. Or a non-resource URL: a path
      starting with ``/`` (``/healthz``, or a prefix ending in one ``*``), whose verbs are HTTP methods.
    - ``/NAME``: only the object with that name (RBAC's ``resourceNames``). Always a name, never a subresource.
    - ``--subresource=SUB`` (or ``--subresource SUB``): only that subresource (``log``, ``status``, ``scale``).

    Examples:

        list,watch:pods                          list and watch every pod of the namespace
        get,list,watch:configmaps/app-config     the ConfigMap app-config only (list/watch with
                                                 fieldSelector=metadata.name=app-config)
        get:pods --subresource=log               read the logs of every pod
        get,create,update:leases.coordination.k8s.io   what leader election needs

    **Errors** (:class:`NeedError`, the message names the fix and the closest names): a verb, resource,
    version or subresource the catalog does not have (``lst:pods``, ``list:deploymnets``); a verb the resource
    does not support (``watch:pods --subresource=log``); a name RBAC can never match: empty (``get:pods/``,
    from an unset variable), ``*`` (RBAC has no wildcard names), ``.``, ``..``, or containing ``/`` or ``%``,
    or a name on ``create`` or ``deletecollection`` (those requests carry no name when RBAC checks them);
    ``*/NAME`` where NAME is a subresource; a TYPE no server could serve (not DNS-1123 labels); control
    characters; ``bind``/``use`` mixed with other verbs on a cluster-scoped resource (two scopes: write two
    needs); on a URL, a subresource, a non-HTTP verb, or a ``*`` before the end; ``bytes`` or a non-string.

    **Warnings** (:class:`NeedWarning`, through :func:`warnings.warn`; the need is still returned): wildcards
    (the verb ``*``, the resource ``*``, ``RESOURCE.*``, a URL prefix ``/logs/*``); a name that is also a
    subresource (``get:pods/log`` is the pod named ``log``); a name no object of that kind can have
    (``get:configmaps/My_Config``); a TYPE in several groups (``events``: the core one is taken); a group the
    catalog does not know, or whose discovery failed (the need is not checked, and ``namespaced`` is None).

    :param spec: the need as text; a :class:`Need` is returned as it is, unchecked.
    :param catalog: the resources TYPE is resolved and checked against: the server's, from
        :func:`~incluster_sdk.discovery.catalog_for` or :func:`~incluster_sdk.discovery.discover` (custom
        resources included). None (the default): the built-in table of the standard kinds, recorded from
        kube-apiserver's discovery, which cannot check resources of groups it does not have (a warning).
    :returns: the :class:`Need`: verbs lowercased, TYPE resolved to its plural ``resource`` and ``group``
        (``deploy`` is ``deployments`` in ``apps``), and ``namespaced`` set to the scope RBAC checks it in.
    :raises NeedError: if the need is malformed or cannot match a request, as listed above.
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
        raise refuse(spec, f"expected {SYNTAX}")
    if slash and not name:
        raise refuse(
            spec,
            f"the name after '{type_text}/' is empty (an unset variable?); write {type_text}/NAME for one object,"
            f" or {type_text} without '/' for every one",
        )
    resource, checked = resolve_type(spec, type_text, catalog)
    if name:
        check_name(spec, name, resource)
    if subresource is not None:
        check_subresource_text(spec, subresource, resource)
    need = Need(verbs, resource.name, resource.group, name or None, subresource, namespaced=None)
    check_user_extra(spec, need)
    if checked:
        check_subresource(spec, need, resource)
        check_verbs(spec, need, resource)
        need = dataclasses.replace(need, namespaced=scope_of(spec, verbs, resource))  # of verbs that apply
    check_names(spec, need, resource, catalog)
    return need


def parse_needs(specs: Iterable[str | Need], catalog: ResourceCatalog | None = None) -> list[Need]:
    """:func:`parse_need` for each need, in order; a single string is refused (it would be read letter by letter).

    :param specs: the needs, as text (``["list,watch:pods", "get:configmaps/app-config"]``) or :class:`Need`.
    :param catalog: as for :func:`parse_need`; None (the default): the built-in table of the standard kinds.
    :returns: one :class:`Need` per spec, in the same order (duplicates are kept).
    :raises NeedError: if ``specs`` is a ``str`` or ``bytes`` rather than a list, or at the first need
        :func:`parse_need` refuses.
    """
    if isinstance(specs, (str, bytes, bytearray)):
        raise NeedError(f"{specs!r}: parse_needs takes a list of needs; use parse_need for one")
    return [parse_need(spec, catalog) for spec in specs]


def _non_resource(spec: str, verbs: tuple[str, ...], url: str, subresource: str | None) -> Need:
    if subresource is not None:
        raise refuse(spec, "a non-resource URL has no subresources")
    if not URL_PATTERN.match(url) or "*" in url[:-1]:  # RBAC trims every trailing *: /a** would be /a* in disguise
        raise refuse(spec, f"{url!r} is not a non-resource URL (a path such as /healthz, or a prefix ending in one *)")
    bad = [v for v in verbs if v not in NON_RESOURCE_VERBS and v != "*"]
    if bad:
        raise refuse(spec, f"non-resource URLs take HTTP verbs ({', '.join(NON_RESOURCE_VERBS)}), not {', '.join(bad)}")
    if url.endswith("*"):
        warn_about(spec, f"{url} grants every URL under {url[:-1] or '/'}")
    return Need(verbs, namespaced=False, non_resource_url=url)
