"""Build-time fixes for the API reference, so that the package's docstrings need no change for MkDocs.

Two jobs, one file (named twice in mkdocs.yml):

- ``SphinxRoles``, a griffe extension (``mkdocstrings`` ``extensions: [docs/hooks.py:SphinxRoles]``):

  - the docstrings are Sphinx style, with roles such as ``:class:`~incluster_sdk.errors.ApiError``` and
    ``:meth:`stop```. Each role is resolved the way Sphinx resolves it (``~`` shows the last part only, a
    leading ``.`` is relative to the module, a bare name is looked up from the object's own scope outwards)
    and becomes an autorefs cross-reference: a link when its target is rendered in the reference, plain
    code otherwise, never the role's text.
  - the exception type of each ``:raises X:`` field is resolved the same way and rendered as a
    cross-reference too (griffe's Sphinx parser keeps it as the field's text, ``~`` included).
  - a method assigned in a class body as ``name = delegate(part, Part.method)`` (``LocalCluster``'s, see
    :data:`DELEGATES`) is documented as the method it is at run time: a copy of ``Part.method`` (signature,
    return type, docstring, as ``functools.wraps`` makes it), not as an attribute.
  - parameters whose name starts with ``_`` (such as ``call_api``'s ``_incluster_retry``, an internal switch)
    are left out of the documented signatures.
- an MkDocs hook (``hooks: [docs/hooks.py]``): a role, or a ``~`` target, that still reaches a page as text is
  a warning, so ``mkdocs build --strict`` fails on it; and ``--quiet`` no longer hides warnings from
  ``--strict`` (see :func:`on_config`).
"""

from __future__ import annotations

import html
import logging
import re
from functools import cached_property
from typing import Any

from griffe import (
    Alias,
    Attribute,
    Docstring,
    DocstringSection,
    DocstringSectionRaises,
    Expr,
    ExprAttribute,
    ExprCall,
    ExprName,
    Extension,
    Function,
    GriffeLoader,
    Module,
    Object,
    Parameter,
    Parameters,
)

#: ``:role:`target``` as Sphinx writes them (the domain prefix ``py:`` is optional).
ROLE = re.compile(r":(?:py:)?(?P<role>class|func|meth|attr|data|exc|mod|obj|const|type):`(?P<target>[^`]+)`")
#: What a role left as text looks like in the built HTML (the backticks survive, or become <code>).
LEFTOVER = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|exc|mod|obj|const):(?:`|<code>)")
#: A Sphinx ``~`` target left as text in the built HTML (``~incluster_sdk.errors.ApiError``, ``~.ApiError``).
TILDE = re.compile(r"~(?:incluster_sdk\b|\.\w)")
#: Functions whose result, assigned in a class body, is a method: a copy of the function passed as their last
#: argument (``functools.wraps``), called on one of the instance's parts.
DELEGATES = frozenset({"incluster_sdk.testing.cluster.delegate"})

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


def _candidates(scopes: list[Object], target: str) -> list[str]:
    """The full paths ``target`` may mean, most likely first, looked up from each scope in turn."""
    names: list[str] = []
    for obj in scopes:
        if target.startswith("."):  # relative to the module, then to its parents
            module: Object | None = obj.module
            while module is not None:
                names.append(f"{module.path}{target}")
                module = module.parent
            continue
        first, _, rest = target.partition(".")
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


def resolve_role(loader: GriffeLoader, obj: Object | list[Object], target: str) -> tuple[str, str]:
    """(identifier, text shown) for one role's target, as Sphinx would show it; no identifier if it is not an
    object of the loaded packages. ``obj`` is the scope names are looked up from (or scopes, in order)."""
    scopes = obj if isinstance(obj, list) else [obj]
    target = target.strip()
    short = target.startswith("~")
    target = target.lstrip("~")
    if target.startswith("!"):  # Sphinx: no link
        return "", target[1:]
    shown = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
    for name in _candidates(scopes, target):
        path = _canonical(loader, name)
        if path:
            return path, shown
    return target.lstrip("."), shown


def convert_roles(loader: GriffeLoader, obj: Object | list[Object], text: str) -> str:
    """``text`` with each Sphinx role replaced by an autorefs cross-reference (see :func:`resolve_role`)."""

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


def exception_type(loader: GriffeLoader, scopes: list[Object], text: str) -> str | Expr:
    """A ``:raises X:`` field's type as mkdocstrings renders annotations: a name expression (a cross-reference,
    shown by its last part) if ``X`` is an object of the loaded packages, else the text Sphinx would show."""
    short = text.strip().startswith("~")
    target = text.strip().lstrip("~")
    for name in _candidates(scopes, target):
        path = _canonical(loader, name)
        if path:
            module, _, last = path.rpartition(".")
            return ExprName(last, parent=module) if module else ExprName(last)
    return target.rsplit(".", 1)[-1] if short else target.lstrip(".")


class LinkedRaises(Docstring):
    """A docstring whose parsed ``Raises`` types are cross-references (see :func:`exception_type`).

    Parsed when mkdocstrings renders it, as any docstring is, so that griffe warns about the docstrings that are
    rendered, and only once."""

    def __init__(self, docstring: Docstring, parent: Object, loader: GriffeLoader, scopes: list[Object]) -> None:
        super().__init__(
            docstring.value,
            lineno=docstring.lineno,
            endlineno=docstring.endlineno,
            parent=parent,
            parser=docstring.parser,
            parser_options=docstring.parser_options,
        )
        self.loader = loader
        self.scopes = scopes

    @cached_property
    def parsed(self) -> list[DocstringSection]:
        sections = self.parse()
        for section in sections:
            if isinstance(section, DocstringSectionRaises):
                for raised in section.value:
                    if isinstance(raised.annotation, str):
                        raised.annotation = exception_type(self.loader, self.scopes, raised.annotation)
        return sections


def _delegated(loader: GriffeLoader, attribute: Attribute) -> Function | None:
    """The function a ``name = delegate(part, Part.method)`` class attribute copies, if it is one."""
    call = attribute.value
    if not (isinstance(call, ExprCall) and attribute.parent is not None and attribute.parent.is_class):
        return None
    if not isinstance(call.function, (ExprName, ExprAttribute)) or not call.arguments:
        return None
    if _canonical(loader, call.function.canonical_path) not in DELEGATES:
        return None
    method = call.arguments[-1]
    if not isinstance(method, (ExprName, ExprAttribute)):
        return None
    try:
        found = loader.modules_collection[method.canonical_path]
        target = found.final_target if isinstance(found, Alias) else found
    except Exception:
        return None
    return target if isinstance(target, Function) else None


def _method_copy(attribute: Attribute, target: Function) -> Function:
    """``target`` as the method ``attribute`` is: its name and place, the target's signature and docstring."""
    copy = Function(
        attribute.name,
        lineno=attribute.lineno,
        endlineno=attribute.endlineno,
        parameters=Parameters(
            *(
                Parameter(p.name, annotation=p.annotation, kind=p.kind, default=p.default, docstring=p.docstring)
                for p in target.parameters
            )
        ),
        returns=target.returns,
        runtime=attribute.runtime,
    )
    copy.labels |= target.labels
    if target.docstring is not None:
        copy.docstring = Docstring(
            target.docstring.value,
            lineno=attribute.docstring.lineno if attribute.docstring is not None else attribute.lineno,
            endlineno=attribute.docstring.endlineno if attribute.docstring is not None else attribute.endlineno,
            parent=copy,
            parser=target.docstring.parser,
            parser_options=target.docstring.parser_options,
        )
    return copy


def _walk(pkg: Module) -> list[Object]:
    """Every object of the package (aliases left out), each once."""
    seen: set[int] = set()
    found: list[Object] = []
    todo: list[Object] = [pkg]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        found.append(obj)
        todo.extend(member for member in obj.members.values() if not isinstance(member, Alias))
    return found


class SphinxRoles(Extension):
    """Roles and raised types to cross-references, delegated methods as methods, private parameters out of
    signatures (see the module docstring)."""

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        # Names in a copied docstring are looked up from the class it is copied into, then from the original.
        scopes: dict[int, list[Object]] = {}
        for obj in _walk(pkg):
            if isinstance(obj, Attribute) and obj.parent is not None and (target := _delegated(loader, obj)):
                copy = _method_copy(obj, target)
                obj.parent.set_member(obj.name, copy)
                scopes[id(copy)] = [copy, target]
        for obj in _walk(pkg):
            if obj.docstring is not None:
                looked_up = scopes.get(id(obj), [obj])
                obj.docstring.value = convert_roles(loader, looked_up, obj.docstring.value)
                obj.docstring = LinkedRaises(obj.docstring, obj, loader, looked_up)
            if isinstance(obj, Function):
                for name in [p.name for p in obj.parameters if p.name.startswith("_") and p.name != "__"]:
                    if not name.startswith("__"):
                        del obj.parameters[name]


def on_config(config: Any, **kwargs: Any) -> Any:
    """MkDocs hook: warnings count under ``--strict`` even with ``--quiet``.

    ``--quiet`` sets the ``mkdocs`` logger to ERROR, so a warning (griffe's about a malformed field, a broken
    link, this module's) is dropped before strict mode's counter sees it, and ``mkdocs build --strict --quiet``
    succeeds where ``mkdocs build --strict`` fails. With ``--strict``, the logger is put back to WARNING: the
    build still prints no INFO lines, but it shows each warning and fails on it."""
    logger = logging.getLogger("mkdocs")
    if config.strict and logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    return config


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    """MkDocs hook: a Sphinx role or ``~`` target rendered as text is a warning (an error under ``--strict``)."""
    for match in LEFTOVER.finditer(html):
        context = html[max(0, match.start() - 60) : match.end() + 60]
        log.warning("%s: a Sphinx role is shown as text: %r", page.file.src_path, context)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", "", html))
    for match in TILDE.finditer(text):
        context = text[max(0, match.start() - 60) : match.end() + 60]
        log.warning("%s: a Sphinx ~ target is shown as text: %r", page.file.src_path, context)
    return html
