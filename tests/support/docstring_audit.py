"""What the API reference must say of every public name, checked on the docstrings it is rendered from.

The reference (``docs/reference.md``) is rendered by mkdocstrings from Sphinx-style docstrings. For each object
it renders (the ``::: module`` directives and their ``members`` lists), this module reports what a reader would
miss:

- ``no docstring``: a class, function, method, property, attribute or module with nothing to say.
- ``param NAME``: a parameter with no ``:param NAME:`` field (a class's constructor parameters, dataclass fields
  included, belong in the class docstring).
- ``raises``: a function whose own body raises an exception by name, with no ``:raises X:`` field.
- ``returns``: a function that returns something (not None, not a property) with no ``:returns:`` field.
- ``unit NAME``: a parameter that holds a duration (its name says so) whose description names no unit.

Run as a script to list the findings: ``python -m tests.support.docstring_audit``.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parents[2]
DIRECTIVE = re.compile(r"^::: (?P<path>[\w.]+)\n(?P<options>(?:    .*\n)*)", re.M)
MEMBERS = re.compile(r"^\s+members: \[(?P<names>[^\]]*)\]", re.M)
#: A parameter whose name says it holds a duration: its description must give the unit.
DURATION = re.compile(r"(timeout|period|duration|deadline|interval|delay|grace|backoff|seconds|_after$|^after$|ttl)")
UNIT = re.compile(r"(\bseconds?\b|\b\d+(?:\.\d+)? ?(?:s|ms|µs|min)\b|\bms\b|\bµs\b|\bminutes?\b|\bs\b)")
SKIP_PARAMS = {"self", "cls"}


@dataclass(frozen=True)
class Finding:
    path: str
    what: str
    file: str = ""  # the source file that must change, relative to the repository

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.what}"


def _file(obj: griffe.Object) -> str:
    try:
        return str(Path(str(obj.filepath)).resolve().relative_to(ROOT))
    except (ValueError, TypeError):
        return str(obj.filepath)


def rendered(reference: Path = ROOT / "docs" / "reference.md") -> Iterator[tuple[str, list[str] | None, bool]]:
    """(module path, the members listed or None for all, inherited members shown) per directive."""
    for match in DIRECTIVE.finditer(reference.read_text()):
        options = match["options"]
        listed = MEMBERS.search(options)
        names = [n.strip() for n in listed["names"].split(",") if n.strip()] if listed else None
        # mkdocs.yml sets inherited_members: true for every directive.
        yield match["path"], names, "inherited_members: false" not in options


def _sections(obj: griffe.Object) -> dict[str, list[griffe.DocstringSection]]:
    found: dict[str, list[griffe.DocstringSection]] = {}
    if obj.docstring is not None:
        for section in obj.docstring.parse("sphinx"):
            found.setdefault(section.kind.value, []).append(section)
    return found


def _param_docs(*objs: griffe.Object | None) -> dict[str, str]:
    docs: dict[str, str] = {}
    for obj in objs:
        if obj is None:
            continue
        for section in _sections(obj).get("parameters", []):
            for param in section.value:
                docs[param.name] = param.description
    return docs


def _own_raises(func: griffe.Function) -> bool:
    """True if the function's own body (not a nested function's) raises an exception by name."""
    if func.filepath is None or func.lineno is None or func.endlineno is None:
        return False
    source = Path(str(func.filepath)).read_text().splitlines()[func.lineno - 1 : func.endlineno]
    text = "\n".join(source)
    indent = len(text) - len(text.lstrip())
    try:
        tree = ast.parse("\n".join(line[indent:] for line in source))
    except SyntaxError:  # a decorator line starts the span: parse from the def
        return False
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False

    return any(isinstance(child, ast.Raise) and child.exc is not None for child in _own_nodes(node))


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not descending into nested functions, lambdas or classes."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            yield from _own_nodes(child)


def _check_function(path: str, func: griffe.Function, doc_owner: griffe.Object | None = None) -> Iterator[Finding]:
    owner = doc_owner or func
    where = _file(func)
    if func.docstring is None and doc_owner is None:
        yield Finding(path, "no docstring", where)
        return
    params = _param_docs(func, doc_owner)
    for param in func.parameters:
        if param.name in SKIP_PARAMS or param.name.startswith("_") or param.kind.value == "variadic positional":
            continue
        if param.name not in params:
            yield Finding(path, f"param {param.name}", _file(owner))
        elif DURATION.search(param.name) and not UNIT.search(params[param.name]):
            yield Finding(path, f"unit {param.name}", _file(owner))
    sections = {**_sections(owner), **_sections(func)}
    if func.name == "__init__":
        return
    if _own_raises(func) and "raises" not in sections:
        yield Finding(path, "raises", where)
    returns = str(func.returns) if func.returns is not None else "None"
    if "property" not in func.labels and returns not in ("None", "NoReturn", "Never") and "returns" not in sections:
        yield Finding(path, "returns", where)


def _check_class(path: str, cls: griffe.Class, inherited: bool) -> Iterator[Finding]:
    if cls.docstring is None:
        yield Finding(path, "no docstring", _file(cls))
    init = cls.all_members.get("__init__") if inherited else cls.members.get("__init__")
    init_params: set[str] = set()
    if isinstance(init, griffe.Alias):
        init = init.final_target
    if isinstance(init, griffe.Function) and init.parent is not None and init.parent.path.startswith("incluster_sdk"):
        init_params = {p.name for p in init.parameters}
        yield from _check_function(f"{path}()", init, doc_owner=cls)
    members = cls.all_members if inherited else cls.members
    for name, member in members.items():
        if name.startswith("_"):
            continue
        if isinstance(member, griffe.Alias):
            try:
                member = member.final_target
            except Exception:
                continue
        if not str(member.path).startswith("incluster_sdk"):
            continue
        sub = f"{path}.{name}"
        if isinstance(member, griffe.Function):
            yield from _check_function(sub, member)
        elif isinstance(member, griffe.Attribute):
            attribute = "class-attribute" in member.labels or "instance-attribute" in member.labels
            if name in init_params or not attribute:
                continue
            if member.docstring is None:
                yield Finding(sub, "no docstring", _file(member))
        elif isinstance(member, griffe.Class):
            yield from _check_class(sub, member, inherited)


def _named_in(module: griffe.Object, name: str) -> bool:
    """A module-level name that the module's docstring names (a table of constants) is documented there."""
    return module.docstring is not None and f"``{name}``" in module.docstring.value


def audit() -> list[Finding]:
    # Loaded with the reference's griffe extension, so that what is checked is what is rendered (e.g. a
    # ``name = delegate(part, Part.method)`` class attribute becomes the method it copies, with its parameters).
    extensions = griffe.load_extensions(f"{ROOT / 'docs' / 'hooks.py'}:SphinxRoles")
    package = griffe.load("incluster_sdk", docstring_parser="sphinx", search_paths=[str(ROOT)], extensions=extensions)
    findings: list[Finding] = []
    for module_path, names, inherited in rendered():
        found = package[module_path.removeprefix("incluster_sdk.")] if module_path != "incluster_sdk" else package
        assert isinstance(found, griffe.Module), module_path
        module = found
        if names is None:
            if module.docstring is None:
                findings.append(Finding(module_path, "no docstring", _file(module)))
            exported = module.exports if module.exports else [n for n in module.members if not n.startswith("_")]
            names = [str(n) for n in exported if not isinstance(module.members.get(str(n)), griffe.Alias)]
        for name in names:
            member = module.members[name]
            path = f"{module_path}.{name}"
            if isinstance(member, griffe.Alias):
                member = member.final_target
            if isinstance(member, griffe.Class):
                findings.extend(_check_class(path, member, inherited))
            elif isinstance(member, griffe.Function):
                findings.extend(_check_function(path, member))
            elif member.docstring is None and not _named_in(module, name):
                findings.append(Finding(path, "no docstring", _file(member)))
    return findings


if __name__ == "__main__":
    found = audit()
    only = sys.argv[1:]  # source files or directories to report on, e.g. incluster_sdk/watch
    found = [f for f in found if not only or any(f.file == o or f.file.startswith(o.rstrip("/") + "/") for o in only)]
    for finding in sorted(found, key=lambda f: (f.file, f.path)):
        print(finding)
    print(f"{len(found)} findings", file=sys.stderr)
