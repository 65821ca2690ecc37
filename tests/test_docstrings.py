"""Every name the API reference renders says what a reader needs: a docstring, a ``:param:`` field per
parameter (a unit for durations), ``:returns:`` for a value, ``:raises:`` for what its body raises
(tests/support/docstring_audit.py lists the rules)."""

from __future__ import annotations

from tests.support.docstring_audit import audit


def test_the_reference_documents_every_parameter_return_and_raise() -> None:
    findings = audit()
    assert not findings, "\n".join(map(str, findings))
