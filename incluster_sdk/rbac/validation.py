"""Checking a need against a catalog of the server's resources: which resource a TYPE names, the scope RBAC
checks it in, and whether its verbs, subresource and name can ever match a request."""

from __future__ import annotations

import dataclasses
import difflib

from ..catalog import MAX_GROUP_LENGTH, MAX_RESOURCE_LENGTH, MAX_TYPE_LENGTH, VERSION, APIResource, ResourceCatalog
from .vocabulary import (
    ANY_SUBRESOURCE,
    AUTHORIZATION_ONLY,
    DNS_SUBDOMAIN,
    FORMAT_MAX,
    FORMAT_PATTERN,
    FREE_NAMES,
    LABEL,
    NAME_FORMATS,
    NAMESPACE_CHECKED_VERBS,
    SIGNER_NAME,
    SPECIAL_VERBS,
    SUBRESOURCE_FLAG,
    SUBRESOURCE_PATTERN,
    UNNAMED_VERBS,
    Need,
    refuse,
    warn_about,
)


def resolve_type(spec: str, type_text: str, catalog: ResourceCatalog) -> tuple[APIResource, bool]:
    """The resource, and whether it was checked (False: a group the offline table does not know, or a group
    whose discovery failed)."""
    text = check_type_text(spec, type_text)
    if text == "*" or text.startswith("*."):
        group = text[2:] if text.startswith("*.") else "*"
        warn_about(spec, f"the resource '*' grants every resource{' of every group' if group == '*' else ''}")
        return APIResource(group, "", "*", "*", "", True, ("*",)), True
    if text.endswith(".*"):
        return in_every_group(spec, text[:-2], catalog)
    for (group, name), kind in AUTHORIZATION_ONLY.items():
        spellings = {name, name[:-1], kind.lower()}  # users, user, User
        if text in spellings or text in {f"{word}.{group}" for word in spellings}:
            return APIResource(group, "", name, name[:-1], kind, False, ()), True
    found = catalog.candidates(text)
    if found:
        groups = sorted({r.group or "core" for r in found})
        if len(groups) > 1:  # a bare name (events), or a group prefix of several groups
            warn_about(
                spec,
                f"{text} exists in the groups {', '.join(groups)}; taking {found[0].type_name}"
                f" (write {' or '.join(r.type_name for r in found[1:])} for the other)",
            )
        return found[0], True
    problem = catalog.version_problem(text)
    if problem is not None:
        raise refuse(spec, problem)
    name, _, group = text.partition(".")
    version, dot, rest = group.partition(".")
    if dot and VERSION.match(version) and rest not in catalog.groups:
        group = rest  # widgets.v1.example.com: RBAC ignores the version
    failures = catalog.failed_in(group) if group else {}
    if failures:
        warn_about(
            spec,
            f"discovery of {', '.join(sorted(failures))} failed ({'; '.join(failures.values())}), so {name}.{group}"
            " is not checked (scope assumed namespaced); check it again when that API is available",
        )
        return APIResource(group, "", name, name, "", True, ()), False
    if group and not catalog.source.startswith("discovery") and group not in catalog.groups:
        warn_about(
            spec,
            f"group {group} is not in the {catalog.source}, so {name}.{group} is not checked"
            " (scope assumed namespaced); connect to a server that serves it to check it",
        )
        return APIResource(group, "", name, name, "", True, ()), False
    raise refuse(spec, catalog.unknown_message(type_text))


def in_every_group(spec: str, name: str, catalog: ResourceCatalog) -> tuple[APIResource, bool]:
    """``NAME.*``: the resource NAME (any spelling) in every API group, RBAC's ``apiGroups: ["*"]``. Checked
    against the resources of that plural the catalog knows (their verbs and subresources together), and
    scoped when they all agree."""
    found = [r for r in catalog.resources if name in (r.name, r.singular_name, r.kind.lower())]
    found = found or [r for r in catalog.resources if name in r.short_names]
    if not found:
        raise refuse(spec, f"{name}.*: " + catalog.unknown_message(name))
    plural = found[0].name
    same = [r for r in catalog.resources if r.name == plural]
    warn_about(
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


def scope_of(spec: str, verbs: tuple[str, ...], resource: APIResource) -> bool:
    """Whether a Role can grant ``verbs`` on ``resource``: yes on a namespaced resource, and on a cluster-scoped
    one for the :data:`NAMESPACE_CHECKED_VERBS` only (mixed with others: an error, they need two roles)."""
    if resource.namespaced:
        return True
    in_namespace = {v for v in verbs if v in NAMESPACE_CHECKED_VERBS}
    if in_namespace and set(verbs) - in_namespace:
        raise refuse(
            spec,
            f"{', '.join(sorted(in_namespace))} is checked in a namespace (of the binding written, of the pod"
            f" admitted), the other verbs cluster-wide: write them as two needs",
        )
    return bool(in_namespace)


def check_name(spec: str, name: str, resource: APIResource) -> None:
    """Refuse a name no request can carry: ``*`` (RBAC has no wildcard names), and for object names what is
    no path segment (IsValidPathSegmentName: ``.``, ``..``, ``/``, ``%``). Who is impersonated (users,
    groups, user extras' values) is free text; signer names are ``DOMAIN/PATH``. Warn for a name the API
    server would refuse for an object of this resource (:data:`NAME_FORMATS`)."""
    key = (resource.group, resource.name)
    if name == "*":
        raise refuse(
            spec,
            f"'*' is not a wildcard name: RBAC has none, so resourceNames ['*'] matches only an object named '*';"
            f" write {resource.type_name if resource.name != '*' else '*'} without '/*' for every object",
        )
    if key in FREE_NAMES:
        return
    pattern_ok = SIGNER_NAME.match(name) if resource.name == "signers" else "/" not in name and "%" not in name
    if not pattern_ok or name in (".", ".."):
        raise refuse(
            spec,
            f"{name!r} is not a valid object name: a name is a path segment (not '.' or '..', no '/' or '%')",
        )
    form = NAME_FORMATS.get(key)
    if form and (len(name) > FORMAT_MAX[form] or not FORMAT_PATTERN[form].match(name)):
        warn_about(
            spec,
            f"{name!r} is not a valid {resource.kind or resource.singular_name} name (a {form}: lowercase letters,"
            f" digits{', -' if form != DNS_SUBDOMAIN else ', - and .'}, at most {FORMAT_MAX[form]}), so no such"
            f" object can exist; check the name",
        )


def check_subresource_text(spec: str, subresource: str, resource: APIResource) -> None:
    """A subresource is a lowercase word (``log``, ``scale``); a user extra's key is free text. ``*`` is never a
    wildcard: RBAC's ``*/SUB`` is written ``*`` with ``--subresource=SUB``, and ``pods/*`` matches nothing."""
    if subresource == "*":
        raise refuse(
            spec,
            f"{SUBRESOURCE_FLAG}=* is not a wildcard: RBAC has no wildcard subresource ({resource.name}/* matches"
            f" no request); name the subresource, e.g. {SUBRESOURCE_FLAG}=status",
        )
    if (resource.group, resource.name) in ANY_SUBRESOURCE:
        return
    if not SUBRESOURCE_PATTERN.match(subresource):
        raise refuse(
            spec,
            f"{subresource!r} is not a subresource: a subresource is a lowercase word, e.g."
            f" {SUBRESOURCE_FLAG}=log or {SUBRESOURCE_FLAG}=status",
        )


def check_user_extra(spec: str, need: Need) -> None:
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
    raise refuse(
        spec,
        f"{need.type_name} without {SUBRESOURCE_FLAG} grants nothing: the server checks userextras/KEY with the"
        f" extra's value as the name; {fix}",
    )


def check_subresource(spec: str, need: Need, resource: APIResource) -> None:
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
        raise refuse(spec, f"{resource.type_name} has no subresource {need.subresource!r}{hint}")


def check_verbs(spec: str, need: Need, resource: APIResource) -> None:
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
                raise refuse(spec, f"{verb!r} applies only to {allowed}")
            continue
        if verb == "proxy":
            continue  # the verb of the old /api/v1/proxy paths; kubectl create role accepts it anywhere
        if verb not in supported:
            if (resource.group, resource.name) in AUTHORIZATION_ONLY:
                only = sorted(v for v, targets in SPECIAL_VERBS.items() if (resource.group, resource.name) in targets)
                raise refuse(spec, f"no API serves {target}; RBAC checks only {', '.join(only)} on it")
            raise refuse(spec, f"{target} does not support {verb!r}; it supports {', '.join(supported) or 'nothing'}")


def check_names(spec: str, need: Need, resource: APIResource, catalog: ResourceCatalog) -> None:
    if not need.name:
        return
    unnamed = [v for v in need.verbs if v in UNNAMED_VERBS] if not need.subresource else []
    if "*" in need.verbs and not need.subresource:
        unnamed.append("* (which includes create and deletecollection)")
    if unnamed:
        raise refuse(
            spec,
            f"{', '.join(unnamed)} cannot be limited to one name: the request carries no name when RBAC checks"
            f" it, so resourceNames never matches; grant it on {need.type_name} without /{need.name}",
        )
    if resource.name == "*" and need.subresource is None:
        holders = sorted(r.type_name for r in catalog.resources if need.name in r.subresources)
        if holders:
            raise refuse(
                spec,
                f"*/{need.name} is the object named {need.name!r} of every resource, not the {need.name}"
                f" subresource ({', '.join(holders[:3])}{'...' if len(holders) > 3 else ''} have one);"
                f" for that write {','.join(need.verbs)}:{need.type_name} {SUBRESOURCE_FLAG}={need.name}",
            )
    if need.subresource is None and need.name in resource.subresources:
        warn_about(
            spec,
            f"/{need.name} means the {resource.kind or resource.singular_name} named {need.name!r};"
            f" for the {need.name} subresource write {','.join(need.verbs)}:{need.type_name}"
            f" {SUBRESOURCE_FLAG}={need.name}",
        )


def check_type_text(spec: str, type_text: str) -> str:
    """``TYPE`` lowercased, once it is one a server could serve: ``RESOURCE[.VERSION][.GROUP]``, the resource a
    DNS-1123 label (or ``*``), the group a DNS-1123 subdomain (or ``*``). Kinds (``Pod``) are lowercased as
    kubectl does. The length is checked first: resolving costs a pass over the catalog per candidate."""
    if len(type_text) > MAX_TYPE_LENGTH:
        raise refuse(
            spec,
            f"TYPE is {len(type_text)} characters long; a resource is at most {MAX_RESOURCE_LENGTH} characters"
            f" and a group {MAX_GROUP_LENGTH}",
        )
    text = type_text.lower()
    resource, dot, group = text.partition(".")
    if not resource:
        raise refuse(
            spec,
            f"{type_text!r} is not a resource: the resource before '.' is empty (an unset variable?);"
            f" expected RESOURCE[.GROUP], e.g. deployments.apps",
        )
    if resource != "*" and (len(resource) > MAX_RESOURCE_LENGTH or not LABEL.match(resource)):
        raise refuse(
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
        raise refuse(spec, f"{type_text!r} ends with '.': the group is empty (an unset variable?); {fix}")
    labels = group.split(".") if group else []
    if group and group != "*" and (len(group) > MAX_GROUP_LENGTH or not all(LABEL.match(lb) for lb in labels)):
        raise refuse(
            spec,
            f"{group!r} is not an API group: a group is lowercase labels of letters, digits and '-' joined by"
            f" single dots (a DNS-1123 subdomain of at most {MAX_GROUP_LENGTH}), e.g. apps or example.com;"
            f" '*' alone is every group",
        )
    return text
