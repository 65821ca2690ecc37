"""Apps' type checkers check the informers' keyword arguments (names and types), as the docs promise."""

from __future__ import annotations

from pathlib import Path

from mypy import api

APP = """
import incluster_sdk
from incluster_sdk.watch import PODS, AsyncInformer, Informer, InformerFactory

client = incluster_sdk.api_client()
Informer(client, PODS, namespace="x", field_selector="metadata.name=a", initial_list="list")
Informer(client, PODS, namespce="x")
Informer(client, PODS, resync_period="often")
InformerFactory(client, namespace="x", label_selectr="a=b")
"""


def test_wrong_informer_keywords_are_type_errors(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    out, err, status = api.run(["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(app)])
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out + err
    assert [line.split(":")[1] for line in errors] == ["7", "8", "9"], out
    assert 'Unexpected keyword argument "namespce"' in out and '"resync_period"' in out and "label_selectr" in out


def test_an_unknown_keyword_names_the_option_and_the_nearest_one() -> None:
    """Not ``InformerOptions.__init__() got an unexpected keyword``: the informer's own words, with a suggestion."""
    import pytest

    from incluster_sdk.watch import PODS, Informer

    with pytest.raises(TypeError, match=r"unknown informer option 'namspace' \(did you mean 'namespace'\?\)"):
        Informer(object(), PODS, namspace="x")  # type: ignore[arg-type, call-arg]
