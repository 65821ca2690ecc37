"""Build-time fixes for the API reference, so that the package's docstrings need no change for MkDocs.

Two jobs, one file (named twice in mkdocs.yml):

- ``SphinxRoles``, a griffe extension (``mkdocstrings`` ``extensions: [docs/hooks.py:SphinxRoles]``): the
  docstrings are Sphinx style, with roles such as ``:class:`~incluster_sdk.errors.ApiError``` and
  ``:meth:`stop```. Each role is resolved the way Sphinx resolves it (``~`` shows the last part only, a
  leading ``.`` is relative to the module, a bare name is looked up from the object's own scope outwards)
  and becomes an autorefs cross-reference: a link when its target is rendered in the reference, plain
  code otherwise, never the role's text. Parameters whose name starts with ``_`` (such as ``call_api``'s
  ``_incluster_retry``, an internal switch) are left out of the documented signatures.
- an MkDocs hook (``hooks: [docs/hooks.py]``): a role that still reaches a page as text is a warning, so
  ``mkdocs build --strict`` fails on it.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from griffe import Alias, Extension, GriffeLoader, Module, Object

#: ``:role:`target``` as Sphinx writes them (the domain prefix ``py:`` is optional).
ROLE = re.compile(r":(?:py:)?(?P<role>class|func|meth|attr|data|exc|mod|obj|const|type):`(?P<target>[^`]+)`")
#: What a role left as text looks like in the built HTML (the backticks survive, or become <code>).
LEFTOVER = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|exc|mod|obj|const):(?:`|<code>)")

log = logging.getLogger("mkdocs.hooks.incluster_sdk")


def _canonical(loader: GriffeLoader, path: str) -> str | None:
    """``path`` if an object of the loaded packages has it, as the path it is documented under."""
    try:
        found = loader.modules_collection[path]
    except (KeyError, ValueError):
        return None
    try:
        return str(found.final_target.path) if isinstance(found, Alias) else str(found.path)
    except Exception:  # an alias to something outside the loaded packages
        return None


def _candidates(obj: Object, target: str) -> list[str]:
    if target.startswith("."):  # relative to the module, then to its parents
        names = []
        module: Object | None = obj.module
        while module is not None:
            names.append(f"{module.path}{target}")
            module = module.parent
        return names
    first, _, rest = target.partition(".")
    names = []
    scope: Object | None = obj
    while scope is not None:
        try:
            resolved = scope.resolve(first)
        except Exception:  # griffe's NameResolutionError, or an alias it cannot follow
            resolved = None
        if resolved:
            names.append(f"{resolved}.{rest}" if rest else resolved)
            break
        scope = scope.parent
    names.append(target)  # already a full path
    return names


def resolve_role(loader: GriffeLoader, obj: Object, target: str) -> tuple[str, str]:
    """(identifier, text shown) for one role's target, as Sphinx would show it."""
    target = target.strip()
    short = target.startswith("~")
    target = target.lstrip("~")
    if target.startswith("!"):  # Sphinx: no link
        return "", target[1:]
    shown = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
    for name in _candidates(obj, target):
        path = _canonical(loader, name)
        if path:
            return path, shown
    return target.lstrip("."), shown


def convert_roles(loader: GriffeLoader, obj: Object, text: str) -> str:
    def link(match: re.Match[str]) -> str:
        target = re.sub(r"\s+", " ", match["target"]).strip()
        titled = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^<>]+)>", target)  # :meth:`title <target>`
        identifier, shown = resolve_role(loader, obj, (titled["target"] if titled else target).replace(" ", ""))
        if titled:
            shown = titled["title"]
        code = f"<code>{html.escape(shown)}</code>"
        if not identifier:
            return code
        return f'<autoref identifier="{html.escape(identifier)}" optional>{code}</autoref>'

    return ROLE.sub(link, text)


class SphinxRoles(Extension):
    """Roles to cross-references, private parameters out of signatures (see the module docstring)."""

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        seen: set[int] = set()
        todo: list[Object] = [pkg]
        while todo:
            obj = todo.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = convert_roles(loader, obj, obj.docstring.value)
            if obj.is_function:
                for name in [p.name for p in obj.parameters if p.name.startswith("_") and p.name != "__"]:
                    if not name.startswith("__"):
                        del obj.parameters[name]
            todo.extend(member for member in obj.members.values() if not member.is_alias)


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    """MkDocs hook: a Sphinx role rendered as text is a warning (an error under ``--strict``)."""
    for match in LEFTOVER.finditer(html):
        context = html[max(0, match.start() - 60) : match.end() + 60]
        log.warning("%s: a Sphinx role is shown as text: %r", page.file.src_path, context)
    return html
