"""The client-go oracle itself answers sensibly (the differential tests trust it)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .oracle import ClientGoOracle

CONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://h.example:6443/prefix/", tls-server-name: sni.example}
users:
- name: u
  user: {token: secret-token}
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: team-a}
current-context: ctx
"""


def test_valid_file(clientgo_oracle: ClientGoOracle, tmp_path: Path) -> None:
    (tmp_path / "config").write_text(CONFIG)
    answer = clientgo_oracle.resolve(cwd=tmp_path, explicit="config")
    assert answer == {
        "ok": True,
        "context": "ctx",
        "namespace": "team-a",
        "host": "https://h.example:6443/prefix",
        "server_name": "sni.example",
        "insecure": False,
        "ca_sha256": None,
        "cert_sha256": None,
        "key_sha256": None,
        "token_sha256": hashlib.sha256(b"secret-token").hexdigest(),
        "token_file": None,
        "username": None,
        "password_sha256": None,
        "exec": None,
        "exec_used": False,
        "proxy_url": None,
    }


def test_relative_exec_command_made_absolute(clientgo_oracle: ClientGoOracle, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "config").write_text(
        CONFIG.replace(
            "user: {token: secret-token}",
            "user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./plugin.sh, args: [a]}}",
        )
    )
    (sub / "plugin.sh").write_text("#!/bin/sh\nexit 1\n")
    (sub / "plugin.sh").chmod(0o755)
    answer = clientgo_oracle.resolve(cwd=tmp_path, kubeconfig=["sub/config"])
    assert answer["ok"], answer
    assert answer["exec"]["command"] == str(sub / "plugin.sh")
    assert answer["exec"]["args"] == ["a"]
    assert answer["exec_used"] is True
    assert answer["token_sha256"] is None


def test_missing_context_is_a_load_error(clientgo_oracle: ClientGoOracle, tmp_path: Path) -> None:
    (tmp_path / "config").write_text(CONFIG)
    answer = clientgo_oracle.resolve(cwd=tmp_path, explicit="config", context="nope")
    assert answer == {"ok": False, "error": 'context "nope" does not exist', "stage": "load"}


def test_duplicate_cluster_names_in_one_file(clientgo_oracle: ClientGoOracle, tmp_path: Path) -> None:
    (tmp_path / "config").write_text(
        CONFIG.replace("clusters:\n", "clusters:\n- name: c\n  cluster: {server: 'https://other:6443'}\n")
    )
    answer = clientgo_oracle.resolve(cwd=tmp_path, explicit="config")
    assert answer["ok"] is False
    assert answer["stage"] == "load"
    assert 'duplicate name "c" in list' in answer["error"]


def test_keeps_serving_after_a_bad_request(clientgo_oracle: ClientGoOracle, tmp_path: Path) -> None:
    (tmp_path / "config").write_text(CONFIG)
    bad = clientgo_oracle.resolve(cwd=tmp_path / "missing-dir", explicit="config")
    assert bad["ok"] is False
    assert bad["stage"] == "request"
    assert clientgo_oracle.resolve(cwd=tmp_path, explicit="config")["ok"] is True
