"""The package's shape, checked from its source: who may import whom (the layer table below), no module
importing another's private names, and every exception in the ``InclusterSDKError`` family.

Every import counts: module level, inside functions (the late imports that keep start-up light) and under
``TYPE_CHECKING``. A late import is still a dependency; it only changes when the cost is paid.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
from dataclasses import dataclass

import pytest

from incluster_sdk.errors import InclusterSDKError

PACKAGE = "incluster_sdk"
ROOT = pathlib.Path(__file__).resolve().parent.parent / PACKAGE

#: Bottom to top. A module may import modules of its own component, and modules of any *lower* layer: never
#: a higher layer, and never a sibling component of its own layer (watch and leader know nothing of each other).
#: A prefix names a module and everything under it. Inside one component imports are free.
#:
#: Issue #17 says "config -> credentials -> client": config.py builds a Config *out of* Credentials (the
#: in-cluster mount and the kubeconfig both end in a credential source), so credentials sit below config.
#: rbac sits below watch: an informer's start-up preflight is rbac's check (watch imports rbac.preflight,
#: late, only for its start-up cost); rbac no longer needs anything from watch since Resource moved down.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # 0: nouns and rules that know nothing of HTTP clients or configuration sources
    ("foundation", ("_version", "errors", "_files", "_secret", "tokens", "resource", "retry", "catalog", "flows")),
    # 1: credentials and what they are carried over (TLS material, file watches, proxies)
    ("credentials", ("tls", "filewatch", "credentials", "transport")),
    # 2: where the configuration comes from: the pod's mount, kubeconfig (and its exec plugins)
    ("config", ("kubeconfig_yaml", "kubeconfig_schema", "exec_plugin", "incluster", "kubeconfig", "config")),
    # 3: the clients, their shared request policy, and plain REST calls made through them
    ("client", ("request_policy", "client", "aio_client", "rest", "discovery")),
    # 4: RBAC (needs, reviews, manifests, preflight)
    ("rbac", ("rbac",)),
    # 5: components built on the clients (and on rbac): siblings
    ("watch", ("watch",)),
    ("leader", ("leader",)),
    # 6: controllers: a work queue and a reconcile loop fed by informers, optionally behind leader election
    ("controller", ("controller",)),
    # 7: applications of the SDK, and the package's own facade (incluster_sdk/__init__.py re-exports the
    # layers below it: a module below importing it would get a half-initialised package)
    ("cli", ("doctor", "cli", "__main__")),
    ("facade", ("",)),
    # 8: the test kit, on top of everything
    ("testing", ("testing",)),
]
LAYER_OF = {"foundation": 0, "credentials": 1, "config": 2, "client": 3, "rbac": 4}
LAYER_OF.update(watch=5, leader=5, controller=6, cli=7, facade=7, testing=8)


def _component(module: str) -> str:
    """The component of a dotted module name (``incluster_sdk.watch.informer`` -> ``watch``)."""
    rest = module[len(PACKAGE) + 1 :] if module != PACKAGE else ""
    best: tuple[int, str] | None = None
    for component, prefixes in LAYERS:
        for prefix in prefixes:
            matches = rest == prefix or (prefix and rest.startswith(prefix + "."))
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), component)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best[1]


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # a module of the package
    name: str | None  # the name taken from it (None: the module itself)
    line: int

    def __str__(self) -> str:
        what = f"{self.target}.{self.name}" if self.name else self.target
        return f"{self.importer}:{self.line} imports {what}"


def _imports(module: str, path: pathlib.Path) -> list[Import]:
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    found: list[Import] = []
    module_aliases: dict[str, str] = {}  # local name -> package module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    found.append(Import(module, alias.name, None, node.lineno))
                    module_aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base != PACKAGE and not base.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:  # `from . import rest`: the module rest
                    found.append(Import(module, submodule, None, node.lineno))
                    module_aliases[alias.asname or alias.name] = submodule
                else:
                    found.append(Import(module, base, alias.name, node.lineno))
    for node in ast.walk(tree):  # rest._private, through a module bound by an import
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_aliases:
            found.append(Import(module, module_aliases[node.value.id], node.attr, node.lineno))
    return found


ALL_IMPORTS = [imp for module, path in MODULES.items() for imp in _imports(module, path)]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _component(module)


def test_no_module_imports_another_modules_private_names() -> None:
    """Shared code is public in the module both import (``request_policy``, ``retry``...). Modules whose
    name starts with an underscore (``_version``, ``_files``, ``_secret``) are package-private *modules*:
    importing them is fine, but only their public names."""
    offences = [
        str(imp) for imp in ALL_IMPORTS if imp.name is not None and _private(imp.name) and imp.target != imp.importer
    ]
    assert offences == []


def test_modules_import_only_their_own_component_or_lower_layers() -> None:
    offences = []
    for imp in ALL_IMPORTS:
        mine, theirs = _component(imp.importer), _component(imp.target)
        if mine != theirs and LAYER_OF[theirs] >= LAYER_OF[mine]:
            offences.append(f"{imp} ({mine}, layer {LAYER_OF[mine]} -> {theirs}, layer {LAYER_OF[theirs]})")
    assert offences == []


def test_the_checker_sees_late_and_relative_imports() -> None:
    """The parser itself: a function-level import and ``from . import module`` are seen as such."""
    informer = [imp for imp in ALL_IMPORTS if imp.importer == f"{PACKAGE}.watch.informer"]
    assert any(imp.target == f"{PACKAGE}.rbac.preflight" and imp.name == "check_access" for imp in informer)
    discovery = [imp for imp in ALL_IMPORTS if imp.importer == f"{PACKAGE}.discovery"]
    assert any(imp.target == f"{PACKAGE}.rest" and imp.name is None for imp in discovery)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_exception_is_in_the_sdk_family(module: str) -> None:
    """``except InclusterSDKError`` catches whatever the SDK raises of its own (warnings and private
    control-flow signals that never leave their module aside)."""
    if module.endswith("__main__"):
        return
    loaded = importlib.import_module(module)
    for name, value in vars(loaded).items():
        if (
            inspect.isclass(value)
            and value.__module__ == module
            and issubclass(value, BaseException)
            and not issubclass(value, Warning)
            and not name.startswith("_")
        ):
            assert issubclass(value, InclusterSDKError), f"{module}.{name} is not an InclusterSDKError"
