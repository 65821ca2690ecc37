"""Kubeconfig YAML read the way client-go reads it: go-yaml v2's scalars, the first document only.

kubectl reads kubeconfig files with go-yaml v2 (via sigs.k8s.io/yaml); PyYAML's safe loader agrees with it
except on a few plain scalars, adjusted here, so that a value means the same thing to both.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ._files import read_file_text
from .errors import KubeconfigError


class _GoYAMLLoader(yaml.SafeLoader):
    """PyYAML's safe loader, resolving plain scalars as client-go's YAML library (go-yaml v2) does.

    Both follow YAML 1.1, with three differences that change what a field holds: go-yaml also reads ``y``,
    ``Y``, ``n``, ``N`` as booleans, and does not read dates (``2024-01-01`` stays a string) or base-60
    numbers (``1:30`` stays a string). Without this, ``args: [x, y]`` would load here and fail in kubectl.
    """


_GoYAMLLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
        and not (tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in regexp.pattern)
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_GO_BOOLS = {"y": True, "n": False, "yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}
_GoYAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
    list("yYnNtTfFoO"),
)
# Base-60 numbers: the same resolvers without the ':' alternatives.
_GoYAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_GoYAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _go_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    value = str(loader.construct_scalar(node)).lower()
    if value not in _GO_BOOLS:
        raise ValueError("not a boolean")  # reported as a KubeconfigError by load_yaml
    return _GO_BOOLS[value]


_GoYAMLLoader.add_constructor("tag:yaml.org,2002:bool", _go_bool)


def load_yaml(path: Path) -> Any:
    """The file's first YAML document, as client-go reads it (``None`` for an empty file); errors name the
    file and the line."""
    text = read_file_text(
        path, what="kubeconfig", fix="Fix or remove the file.", error=KubeconfigError, allow_empty=True
    )
    try:
        return next(iter(yaml.load_all(text, Loader=_GoYAMLLoader)), None)  # a safe loader
    except (ValueError, KeyError, AttributeError, TypeError, RecursionError) as exc:
        # A tagged scalar PyYAML cannot build (!!int abc, !!bool maybe), digits past Python's limit, nesting
        # past the stack: the value is not shown (it could be a credential).
        raise KubeconfigError(
            f"kubeconfig {path} holds a value that cannot be read ({type(exc).__name__}): "
            "check explicit !!tags, very long numbers and deep nesting."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML{where}: {problem}.") from None
