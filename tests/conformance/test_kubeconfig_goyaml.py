"""Kubeconfig YAML scalars and keys as client-go 1.20 reads them (go-yaml v2 + sigs.k8s.io/yaml's JSON step).

The differential test puts generated plain scalars into a string field (the context's ``namespace``, an exec
``args`` element) and into the exec cluster extension (as a key and as a value) and compares our load with the
client-go oracle's (tests/conformance/oracle.py): ok vs error, and what was read when both load. The plain
tests pin the instances a tester found ("kind 1": values of the wrong type).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incluster_sdk.kubeconfig_yaml import go_resolve
from tests.conformance.oracle import ClientGoOracle
from tests.conformance.ours import resolve_ours

EXTENSION = "client.authentication.k8s.io/exec"


def kubeconfig(*, namespace: str = "ns1", arg: str = "a", extension: str = "{}", extra: str = "") -> str:
    """A kubeconfig whose context namespace, exec argument and exec extension are the given YAML text."""
    return f"""apiVersion: v1
kind: Config
current-context: x
clusters:
- name: c
  cluster:
    server: https://h:6443
    extensions:
    - name: {EXTENSION}
      extension: {extension}
contexts:
- name: x
  context:
    cluster: c
    user: u
    namespace: {namespace}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: p
      provideClusterInfo: true
      args:
      - {arg}
{extra}"""


def ours(tmp_path: Path, text: str) -> dict[str, Any]:
    path = tmp_path / "config"
    path.write_text(text)
    return resolve_ours(str(tmp_path), None, str(path), "")


def extension_of(answer: dict[str, Any]) -> Any:
    return answer["exec"]["cluster"].get("config")


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: Go writes the float 1000 as ``1000``, Python as ``1000.0``; both are one number."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_json, a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or float(a) == float(b)
    return bool(a == b)


# -- the instances found ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["1e3", "1.0e3", "08", "0o17", "0X1F", "0B101", "1_000", ".5", "-.5e1"])
def test_a_number_in_a_string_field_is_an_error(tmp_path: Path, value: str) -> None:
    answer = ours(tmp_path, kubeconfig(extra=f"    token: {value}\n"))
    assert not answer["ok"] and "must be a string, not a number" in answer["error"]
    answer = ours(tmp_path, kubeconfig().replace("- name: c\n", f"- name: {value}\n"))
    assert not answer["ok"] and "must be a string, not a number" in answer["error"]


@pytest.mark.parametrize("value", ["1.0e+400", "0x", "0b", "1e", "._5", "2024-01-01", "1:30", "0x1p3", "+inf"])
def test_text_that_go_yaml_does_not_read_as_a_number_is_a_string(tmp_path: Path, value: str) -> None:
    answer = ours(tmp_path, kubeconfig(extra=f"    token: {value}\n"))
    assert answer["ok"], answer
    assert answer["token_sha256"] == hashlib.sha256(value.encode()).hexdigest()


@pytest.mark.parametrize("value", [".inf", "-.inf", "+.INF", ".nan", ".NaN"])
def test_infinity_or_nan_anywhere_fails_the_file(tmp_path: Path, value: str) -> None:
    answer = ours(tmp_path, kubeconfig(extra=f"unused: {{deep: [{value}]}}\n"))
    assert not answer["ok"] and "holds .inf or .nan" in answer["error"] and str(tmp_path) in answer["error"]
    assert ours(tmp_path, kubeconfig(extra=f"unused: {{{value}: 1}}\n"))["ok"]  # as a key it is text


@pytest.mark.parametrize("key", ["~", "null", "NULL", ""])
def test_a_null_key_anywhere_fails_the_file_without_showing_values(tmp_path: Path, key: str) -> None:
    answer = ours(
        tmp_path, kubeconfig(extra=f"unused: {{{key}: S3CRETvalue}}\n" if key else "unused:\n  ? \n  : S3CRETvalue\n")
    )
    assert not answer["ok"] and "mapping key that is null" in answer["error"], answer
    assert "S3CRET" not in answer["error"]


def test_an_unsigned_64_bit_key_fails_the_file(tmp_path: Path) -> None:
    assert not ours(tmp_path, kubeconfig(extra="unused: {9223372036854775808: 1}\n"))["ok"]
    assert ours(tmp_path, kubeconfig(extra="unused: {9223372036854775807: 1, 18446744073709551616: 1}\n"))["ok"]


def test_exec_extension_keys_and_values_as_client_go_passes_them(tmp_path: Path) -> None:
    extension = "{n: 1, y: 2, 1: 3, 1.5: 4, 1e6: 5, 0.1: 6, a: 1e3, b: 08, c: 18446744073709551616, d: 0x1F, e: '08'}"
    answer = ours(tmp_path, kubeconfig(extension=extension))
    assert answer["ok"], answer
    expected = {"false": 1, "true": 2, "1": 3, "1.5": 4, "1e+06": 5, "0.1": 6, "a": 1000, "b": 8}
    expected |= {"c": 2.0**64, "d": 31, "e": "08"}
    assert same_json(extension_of(answer), expected)
    assert isinstance(extension_of(answer)["b"], float)  # yamlStyleFloat: 08 is not octal, so a float


def test_explicit_tags_and_binary_follow_go_yaml(tmp_path: Path) -> None:
    extension = "{a: !!binary aGk=, b: !!float 1, c: !!int '12', d: !foo x, e: ! 12, f: !!set {x}}"
    answer = ours(tmp_path, kubeconfig(extension=extension))
    assert answer["ok"], answer
    assert same_json(extension_of(answer), {"a": "hi", "b": 1, "c": 12, "d": "x", "e": "12", "f": {"x": None}})
    assert not ours(tmp_path, kubeconfig(extension="{a: !!int 1e3}"))["ok"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("", None),
        ("~", None),
        ("y", True),
        ("N", False),
        ("on", True),
        ("OFF", False),
        ("<<", "<<"),
        ("0", 0),
        ("-0", 0),
        ("+12", 12),
        ("0x_1F", 31),
        ("0b-101", -5),
        ("1__0", 10),
        ("1e_3", 1000.0),
        ("9223372036854775808", 1 << 63),
        ("-9223372036854775809", float(-(1 << 63))),
        ("0.e3", 0.0),
        (".5_5", 0.55),
        ("._5", "._5"),
        ("1e-400", 0.0),
        ("1e400", "1e400"),
        ("+.nan", "+.nan"),
        (".inF", ".inF"),
    ],
)
def test_go_resolve(text: str, value: Any) -> None:
    resolved = go_resolve(text)[1]
    assert resolved == value and type(resolved) is type(value)


# -- the differential test -----------------------------------------------------------------------------------------
def _plain_in_yaml(text: str) -> bool:
    """``text`` reads back as one plain scalar, as a value and as a key (so only resolution can differ)."""
    try:
        nodes = [yaml.compose(f"k: {text}\n"), yaml.compose(f"{text}: 0\n")]
    except yaml.YAMLError:
        return False
    scalars = [nodes[0].value[0][1], nodes[1].value[0][0]] if all(nodes) else []
    return len(scalars) == 2 and all(n.value == text and n.style is None for n in scalars)


_PIECES = [*"0123456789+-._eExXoObBpyYnNtTfF~", "0x", "0o", "0b", "1e", "e+", "e-", "inf", "nan", "Inf", "NaN"]
_WORDS = ["yes", "No", "on", "OFF", "true", "False", "null", "Null", "~", "<<", ".inf", "-.Inf", ".NaN", "=", "\uff59"]
SCALARS = st.one_of(
    st.lists(st.sampled_from(_PIECES), max_size=7).map("".join),
    st.sampled_from(_WORDS),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
).filter(_plain_in_yaml)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(text=SCALARS)
def test_plain_scalars_agree_with_client_go(clientgo_oracle: ClientGoOracle, tmp_path_factory: Any, text: str) -> None:
    placements = {
        "namespace": kubeconfig(namespace=text),
        "args": kubeconfig(arg=text),
        "extension": kubeconfig(extension=f"\n        v: {text}\n        {text}: 0"),
    }
    for where, document in placements.items():
        directory = tmp_path_factory.mktemp("goyaml")
        path = directory / "config"
        path.write_text(document)
        theirs = clientgo_oracle.resolve(cwd=directory, explicit=path)
        mine = resolve_ours(str(directory), None, str(path), "")
        assert mine["ok"] == theirs["ok"], (where, text, mine.get("error"), theirs.get("error"))
        if theirs["ok"]:
            assert mine["namespace"] == theirs["namespace"], (where, text)
            assert mine["exec"]["args"] == theirs["exec"]["args"], (where, text)
            assert same_json(extension_of(mine), extension_of(theirs)), (where, text)
