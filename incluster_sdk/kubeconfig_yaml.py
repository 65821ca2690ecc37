"""Kubeconfig YAML read the way client-go reads it: go-yaml v2's scalars, then sigs.k8s.io/yaml's JSON step.

client-go (1.20) reads a kubeconfig with sigs.k8s.io/yaml: go-yaml v2.2.8 decodes the document into
``interface{}``, ``convertToJSONableObject`` turns map keys into strings, and the JSON is decoded strictly into
typed structs (``kubeconfig_schema``). PyYAML's own YAML 1.1 rules differ from go-yaml's on many plain
scalars (``1e3`` is a number there, ``08`` an octal-looking number, ``y`` a boolean), so this loader parses
with PyYAML but resolves every scalar with go-yaml's ``resolve()`` (``resolve.go``), and builds the same
JSON-shaped result: string keys only, and no infinity or NaN, which JSON cannot carry. A value then has the
same type, and a file the same fate, for us and for kubectl. Only the first document is read.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from pathlib import Path
from typing import Any

import yaml

from ._files import read_file_text
from .errors import KubeconfigError

_TAG = "tag:yaml.org,2002:"
STR, BOOL, INT, FLOAT, NULL, TIMESTAMP = (_TAG + t for t in ("str", "bool", "int", "float", "null", "timestamp"))
BINARY, MERGE = _TAG + "binary", _TAG + "merge"
_RESOLVABLE = {STR, BOOL, INT, FLOAT, NULL, TIMESTAMP}  # go-yaml's resolvableTag(); other tags keep the text

# go-yaml's resolveMap: looked up first, for a scalar whose first character has a hint in resolveTable.
_RESOLVE_MAP: dict[str, tuple[str, Any]] = {
    word: item
    for words, item in (
        ("y Y yes Yes YES true True TRUE on On ON", (BOOL, True)),
        ("n N no No NO false False FALSE off Off OFF", (BOOL, False)),
        ("~ null Null NULL", (NULL, None)),
        (".nan .NaN .NAN", (FLOAT, math.nan)),
        (".inf .Inf .INF +.inf +.Inf +.INF", (FLOAT, math.inf)),
        ("-.inf -.Inf -.INF", (FLOAT, -math.inf)),
    )
    for word in words.split()
} | {"": (NULL, None)}
_HINTED = set("+-0123456789.yYnNtTfFoO~")  # resolveTable's non-zero entries ('<' is not: "<<" stays text)

_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")  # go-yaml's yamlStyleFloat
_GO_DECIMAL_FLOAT = re.compile(r"[-+]?[0-9_]*\.?[0-9_]*([eE][-+]?[0-9][0-9_]*)?")  # ASCII; float() checks the rest
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?.*)?")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _go_parse_uint(text: str, base: int = 0) -> int | None:
    """Go's ``strconv.ParseUint(text, base, 64)``: no sign; base 0 reads a 0x/0o/0b prefix (any case), else a
    leading 0 means octal, else decimal. None for a syntax error or overflow."""
    if not text:
        return None
    if base == 0:
        prefix = text[1:2].lower()
        if text[0] != "0":
            base = 10
        elif len(text) >= 3 and prefix in ("b", "o", "x"):
            base, text = {"b": 2, "o": 8, "x": 16}[prefix], text[2:]
        else:
            base, text = 8, text[1:]
    if any(c not in _DIGITS[:base] for c in text.lower()):
        return None
    significant = text.lstrip("0")
    if len(significant) > 64:  # overflows in any base (and stays clear of Python's int-digit limit)
        return None
    value = int(significant or "0", base)
    return value if value < 1 << 64 else None


def _go_parse_int(text: str, base: int = 0) -> int | None:
    """Go's ``strconv.ParseInt(text, base, 64)``: an optional sign, then ``ParseUint``, within int64."""
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text[1:] if text[:1] == "+" else text)
    value = _go_parse_uint(digits, base) if digits else None
    return None if value is None or not -(1 << 63) <= sign * value < 1 << 63 else sign * value


def _go_parse_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat(text, 64)`` for decimal text (underscores between digits); None on overflow."""
    if not _GO_DECIMAL_FLOAT.fullmatch(text):
        return None
    try:
        value = float(text)  # Python's underscore rule is Go's underscoreOK for decimals
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def go_resolve(text: str) -> tuple[str, Any]:
    """go-yaml v2's ``resolve("", text)`` for a plain scalar: its tag and value."""
    hint = text[:1]
    if (hint in _HINTED or not text) and text in _RESOLVE_MAP:
        return _RESOLVE_MAP[text]
    if hint == ".":  # not in the map: ParseFloat(in) or text
        value = _go_parse_float(text)
        return (STR, text) if value is None else (FLOAT, value)
    if hint and hint in "+-0123456789":
        if _TIMESTAMP.fullmatch(text):  # go-yaml's timestamps stay text in interface{} (nothing else would match)
            return TIMESTAMP, text
        plain = text.replace("_", "")
        # ParseInt(plain, 0, 64), then ParseUint(plain, 0, 64), then yamlStyleFloat + ParseFloat (not on
        # overflow), then "0b"/"-0b" + ParseInt/ParseUint(rest, 2, 64).
        number: int | float | None = _go_parse_int(plain)
        if number is None:
            number = _go_parse_uint(plain)
        if number is None and _YAML_STYLE_FLOAT.fullmatch(plain):
            number = _go_parse_float(plain)
            if number is not None:
                return FLOAT, number
        if number is None and plain.startswith("0b"):
            number = _go_parse_int(plain[2:], 2)
            number = _go_parse_uint(plain[2:], 2) if number is None else number
        elif number is None and plain.startswith("-0b"):
            number = _go_parse_int("-" + plain[3:], 2)
        if number is not None:
            return INT, number
    return STR, text


def _go_scalar(tag: str, text: str) -> Any:
    """A scalar as go-yaml v2 decodes it into ``interface{}`` (``decoder.scalar``), under its tag."""
    if tag == BINARY:  # base64 (line breaks ignored) to a Go string; JSON then replaces invalid UTF-8 bytes
        try:
            data = base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
        except binascii.Error:
            raise ValueError("invalid !!binary") from None
        return re.sub("[\udc80-\udcff]", "\ufffd", data.decode("utf-8", "surrogateescape"))
    if tag == STR or tag not in _RESOLVABLE:  # quoted, !!str, or a tag go-yaml does not resolve ("!", !foo)
        return text
    rtag, value = go_resolve(text)
    if rtag == TIMESTAMP:  # kept as text in interface{}
        value = text
    if rtag == tag:
        return value
    if tag == FLOAT and rtag == INT and value < 1 << 63:  # an int or int64 is converted; a uint64 is not
        return float(value)
    raise ValueError("a scalar that does not fit its explicit tag")  # go-yaml: "cannot decode !!x as a !!y"


class _NotJSON(ValueError):
    """The document has something sigs.k8s.io/yaml cannot turn into JSON; the message says what."""


def _float32_key(value: float) -> str:
    """``strconv.FormatFloat(key, 'g', -1, 32)``, with go-yaml's ``.inf``/``-.inf``/``.nan``."""
    try:
        f32 = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        f32 = math.copysign(math.inf, value)
    if not math.isfinite(f32):
        return ".nan" if math.isnan(f32) else ".inf" if f32 > 0 else "-.inf"
    if f32 == 0:
        return "-0" if math.copysign(1, f32) < 0 else "0"
    for digits in range(1, 10):  # the shortest decimal that reads back as the same float32
        text = f"{f32:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == f32:
            break
    exponent = int(text.partition("e")[2])
    return text if exponent < -4 or exponent >= 6 else f"{f32:.{max(digits - 1 - exponent, 0)}f}"


def _json_key(key: Any) -> str:
    """sigs.k8s.io/yaml's map keys: string, bool, int (int64) and float become strings; anything else fails."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int) and -(1 << 63) <= key < 1 << 63:
        return str(key)
    if isinstance(key, float):
        return _float32_key(key)
    what = "null" if key is None else "an integer of 2^63 or more" if isinstance(key, int) else "not a scalar"
    raise _NotJSON(f"has a mapping key that is {what}, which client-go cannot read: quote the key or remove it")


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise _NotJSON("holds .inf or .nan, which client-go cannot read (JSON has no such number): quote the value")
    return value


class _GoYAMLLoader(yaml.SafeLoader):
    """PyYAML's safe parser and composer; go-yaml v2's scalars; sigs.k8s.io/yaml's keys and values."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:  # plain: go-yaml's resolve; "<<" marks a merge key
            return MERGE if value == "<<" else go_resolve(value)[0]
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]

    def compose_scalar_node(self, anchor: Any) -> Any:
        # PyYAML resolves `! 12`; go-yaml keeps the text
        nonspecific = self.peek_event().tag == "!"  # type: ignore[no-untyped-call]
        node = super().compose_scalar_node(anchor)
        if nonspecific:
            node.tag = "!"
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        return {
            _json_key(self.construct_object(k, deep=True)): _json_value(self.construct_object(v, deep=deep))
            for k, v in node.value
        }

    def construct_sequence(self, node: Any, deep: bool = False) -> list[Any]:
        return [_json_value(self.construct_object(child, deep=deep)) for child in node.value]


def _construct(loader: _GoYAMLLoader, node: Any) -> Any:
    """Every node, whatever its tag, as go-yaml v2 decodes it into ``interface{}``: a mapping is a map, a
    sequence a list (``!!set``, ``!!omap`` and unknown tags too), a scalar goes through :func:`_go_scalar`."""
    if isinstance(node, yaml.MappingNode):
        return loader.construct_yaml_map(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_yaml_seq(node)
    return _go_scalar(node.tag, loader.construct_scalar(node))


_GoYAMLLoader.yaml_constructors = {None: _construct}


def load_yaml(path: Path) -> Any:
    """The file's first YAML document, as client-go reads it (``None`` for an empty file); errors name the
    file and the line."""
    text = read_file_text(
        path, what="kubeconfig", fix="Fix or remove the file.", error=KubeconfigError, allow_empty=True
    )
    try:
        return _json_value(next(iter(yaml.load_all(text, Loader=_GoYAMLLoader)), None))  # a safe loader
    except _NotJSON as exc:
        raise KubeconfigError(f"kubeconfig {path} {exc}.") from None
    except (ValueError, KeyError, AttributeError, TypeError, RecursionError) as exc:
        # A scalar that does not fit its explicit !!tag, invalid !!binary, nesting past the stack: the
        # value is not shown (it could be a credential).
        raise KubeconfigError(
            f"kubeconfig {path} holds a value that cannot be read ({type(exc).__name__}): "
            "check explicit !!tags and deep nesting."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML{where}: {problem}.") from None
