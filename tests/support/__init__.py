"""This project's own test machinery, kept out of the installed package.

- ``fake_apiserver``: a tiny recording HTTPS server standing in for kube-apiserver (unit tests, benchmarks).
- ``history``: a recorder of informer handler calls that finds impossible sequences.
- ``secrets_seen``: the tokens the run handed out, for the secret-leak check of ``tests/conftest.py``.
- ``reliability``: the fault suite, ``python -m tests.support.reliability`` (docs/reliability.md).
"""
