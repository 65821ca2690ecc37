"""The official Python client's loading cases, ported (issue #15).

Sources: kubernetes-client/python ``kubernetes/base/config/kube_config_test.py``, ``incluster_config_test.py``
and ``exec_provider_test.py``. Inputs and expectations are theirs, written again against our public API.
Where the Python client is lenient and client-go strict, the case expects client-go's error; each such
docstring says so. Not ported: auth-provider refresh (gcp/oidc/azure: we refuse auth-provider, tested once),
cmd-path (a gcp auth-provider option), file-like objects and dicts as input, config persistence, the
``ConfigNode``/``FileOrData`` helpers as such, and the generated ``Configuration`` class.
"""

from __future__ import annotations

import ipaddress
import os
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import incluster_sdk
from incluster_sdk import CredentialError, InClusterConfigError, KubeconfigError
from incluster_sdk.testing import FakeServiceAccountMount

from ..waiting import wait_until
from . import ported_support
from .ported_support import (
    V1BETA1,
    Plugin,
    b64,
    client_pem,
    credential,
    kubeconfig_doc,
    load,
    mentions,
    one_context,
    pki,
    write_kubeconfig,
    write_text,
)

# The Python suite's TEST_HOST is the scheme-less "test-host". Over a scheme-less server client-go sends no
# credentials at all (it talks plain HTTP: client_config.go ClientConfig, IsConfigTransportTLS) and we refuse
# such a server; test_ported_clientgo.py covers that. Here the host gets its https:// so that the cases test
# what they were written for.
TEST_HOST = "https://test-host"
TEST_HOST_URL = TEST_HOST
TEST_SSL_HOST = "https://test-host"
TEST_DATA = "test-data"
TEST_DATA_BASE64 = b64(TEST_DATA)  # the Python suite's token value
TEST_USERNAME = "me"
TEST_PASSWORD = "pass"
TEST_BASIC_TOKEN = "Basic bWU6cGFzcw=="  # me:pass
TEST_TLS_SERVER_NAME = "kubernetes.io"
TEST_PROXY_URL = "http://proxy.example.com:3128"


def the_python_client_kubeconfig(directory: Path, plugin: Plugin | None = None) -> Path:
    """``TestKubeConfigLoader.TEST_KUBE_CONFIG``, with real PEM material where the Python suite used
    placeholder strings (client-go parses certificates, so placeholders would be errors), the exec users
    pointed at a scripted plugin, and the gcp/oidc users kept: unused, they must not stop other contexts."""
    material = pki()
    exec_user = plugin.exec_config(V1BETA1) if plugin else {"apiVersion": V1BETA1, "command": "unused"}
    # contexts by cluster and user; most users have the name of their context
    contexts: dict[str, dict[str, str]] = {"no_user": {"cluster": "default"}}
    for name in ("simple_token", "gcp", "oidc", "user_pass", "non_existing_user", "exec_cred_user"):
        contexts[name] = {"cluster": "default", "user": name}
    for name in ("ssl", "ssl-no_file", "ssl-local-file"):
        contexts[name] = {"cluster": name, "user": name}
    for name in ("no_ssl_verification", "tls-server-name"):
        contexts[name] = {"cluster": name, "user": "ssl"}
    contexts["exec_cred_user_certificate"] = {"cluster": "ssl", "user": "exec_cred_user_certificate"}
    contexts["proxy_cluster_context"] = {"cluster": "proxy_cluster", "user": "token_only"}
    clusters = {
        "default": {"server": TEST_HOST},
        "ssl-no_file": {"server": TEST_SSL_HOST, "certificate-authority": "cert-auth"},
        "ssl-local-file": {"server": TEST_SSL_HOST, "certificate-authority": "cert_test"},
        "ssl": {
            "server": TEST_SSL_HOST,
            "certificate-authority-data": b64(material.ca),
            "insecure-skip-tls-verify": False,
        },
        "no_ssl_verification": {"server": TEST_SSL_HOST, "insecure-skip-tls-verify": True},
        "clustertestcmdpath": {},
        "tls-server-name": {
            "server": TEST_SSL_HOST,
            "certificate-authority-data": b64(material.ca),
            "insecure-skip-tls-verify": False,
            "tls-server-name": TEST_TLS_SERVER_NAME,
        },
        "proxy_cluster": {"server": TEST_HOST, "proxy-url": TEST_PROXY_URL},
    }
    users = {
        "simple_token": {"token": TEST_DATA_BASE64, "username": TEST_USERNAME, "password": TEST_PASSWORD},
        "token_only": {"token": TEST_DATA_BASE64},
        "gcp": {"auth-provider": {"name": "gcp", "config": {"access-token": TEST_DATA_BASE64}}},
        "oidc": {"auth-provider": {"name": "oidc", "config": {"id-token": "not.a.jwt"}}},
        "user_pass": {"username": TEST_USERNAME, "password": TEST_PASSWORD},
        "ssl-no_file": {"token": TEST_DATA_BASE64, "client-certificate": "client-cert", "client-key": "client-key"},
        "ssl-local-file": {"tokenFile": "token_file", "client-certificate": "client_cert", "client-key": "client_key"},
        "ssl": {
            "token": TEST_DATA_BASE64,
            "client-certificate-data": b64(material.cert),
            "client-key-data": b64(material.key),
        },
        "exec_cred_user": {"exec": exec_user},
        "exec_cred_user_certificate": {"exec": exec_user},
    }
    doc = kubeconfig_doc(clusters=clusters, users=users, contexts=contexts, current="no_user")
    return write_kubeconfig(directory / "config", doc)


@pytest.fixture
def python_client_config(isolated_env: Path, tmp_path: Path) -> Path:
    return the_python_client_kubeconfig(tmp_path / "kc")


# == kube_config_test.py: TestKubeConfigLoader ================================================================


def test_no_user_context(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_no_user_context: a context without a user is anonymous."""
    cfg = load(python_client_config, context="no_user")
    assert cfg.host == TEST_HOST_URL
    assert cfg.credentials.auth_header() is None
    assert (cfg.tls.client_cert_file, cfg.tls.client_key_file) == (None, None)


def test_current_context_is_the_default(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_current_context: without context=, current-context is used."""
    cfg = load(python_client_config)
    assert cfg.context == "no_user"
    assert cfg.host == TEST_HOST_URL


def test_set_active_context(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_set_active_context (and test_list_contexts): any context in
    the file can be chosen instead of current-context."""
    cfg = load(python_client_config, context="ssl")
    assert cfg.context == "ssl"
    assert cfg.host == TEST_SSL_HOST


def test_simple_token(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_simple_token and test_load_user_token: the bearer token.

    The Python suite's user also has username/password ("should be ignored"); client-go calls that more than one
    authentication method (validation.go validateAuthInfo), so this case uses the token alone and
    test_simple_token_with_basic_auth_is_an_error covers the pair."""
    cfg = load(python_client_config, context="proxy_cluster_context")
    assert cfg.credentials.auth_header() == f"Bearer {TEST_DATA_BASE64}"


def test_simple_token_with_basic_auth_is_an_error(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_simple_token, client-go's way: token + username/password is
    'more than one authentication method' (validation.go validateAuthInfo); the Python client ignores them."""
    with pytest.raises(KubeconfigError, match="more than one authentication method") as info:
        load(python_client_config, context="simple_token")
    mentions(info.value, "simple_token")


def test_auth_provider_is_refused(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_gcp_no_refresh (standing for every gcp/oidc/azure case):
    we do not implement auth-provider; choosing such a user is a clear error that says what to use instead."""
    with pytest.raises(KubeconfigError, match="auth-provider") as info:
        load(python_client_config, context="gcp")
    mentions(info.value, "gcp", "exec")


def test_user_pass(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_user_pass and test_load_user_pass_token: basic auth."""
    cfg = load(python_client_config, context="user_pass")
    assert cfg.host == TEST_HOST_URL
    assert cfg.credentials.auth_header() == TEST_BASIC_TOKEN


def test_ssl_no_cert_files(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_ssl_no_cert_files: a CA file that does not exist."""
    with pytest.raises(KubeconfigError, match="does not exist") as info:
        load(python_client_config, context="ssl-no_file")
    mentions(info.value, "certificate-authority", "cert-auth")


def test_ssl(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_ssl: token, inline client certificate and key, inline CA,
    verification on. The inline data lands in files holding exactly those bytes."""
    material = pki()
    cfg = load(python_client_config, context="ssl")
    assert cfg.host == TEST_SSL_HOST
    assert cfg.credentials.auth_header() == f"Bearer {TEST_DATA_BASE64}"
    assert cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == material.ca
    assert cfg.tls.client_cert_file is not None and cfg.tls.client_cert_file.read_bytes() == material.cert
    assert cfg.tls.client_key_file is not None and cfg.tls.client_key_file.read_bytes() == material.key
    assert cfg.tls.insecure_skip_verify is False


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("certificate-authority-data", "cert-auth", "certificate-authority-data"),
        ("client-certificate-data", "client-cert", r"client[- ]certificate"),
        ("client-key-data", "client-key", r"client[- ]key|key"),
    ],
)
def test_ssl_with_the_python_suites_placeholder_pem(
    isolated_env: Path, tmp_path: Path, field: str, value: str, named: str
) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_ssl, with its own placeholder data ('cert-auth',
    'client-cert', 'client-key'): the Python client loads them; client-go rejects them when it builds the TLS
    config (transport/transport.go TLSConfigFor), so they are load errors here, naming the field."""
    material = pki()
    cluster = {"server": TEST_SSL_HOST, "certificate-authority-data": b64(material.ca)}
    user = {"client-certificate-data": b64(material.cert), "client-key-data": b64(material.key)}
    (cluster if field.startswith("certificate") else user)[field] = b64(value)
    path = one_context(tmp_path / "config", cluster=cluster, user=user)
    with pytest.raises(KubeconfigError, match=named) as info:
        load(path)
    mentions(info.value, "the-cluster" if field.startswith("certificate") else "the-user")


def test_ssl_no_verification(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_ssl_no_verification: insecure-skip-tls-verify, no CA."""
    material = pki()
    cfg = load(python_client_config, context="no_ssl_verification")
    assert cfg.tls.insecure_skip_verify is True
    assert cfg.tls.ca_file is None
    assert cfg.tls.client_cert_file is not None and cfg.tls.client_cert_file.read_bytes() == material.cert
    assert cfg.credentials.auth_header() == f"Bearer {TEST_DATA_BASE64}"


def test_tls_server_name(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_tls_server_name."""
    cfg = load(python_client_config, context="tls-server-name")
    assert cfg.tls.server_name == TEST_TLS_SERVER_NAME
    assert cfg.tls.insecure_skip_verify is False
    assert cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == pki().ca


def test_proxy_url_from_cluster(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_proxy_url_from_cluster and test_new_client_from_config_proxy."""
    cfg = load(python_client_config, context="proxy_cluster_context")
    assert cfg.proxy_url == TEST_PROXY_URL
    assert cfg.host == TEST_HOST_URL


def test_ssl_with_relative_ssl_files(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_ssl_with_relative_ssl_files: relative CA, client cert, key
    and tokenFile are found next to the kubeconfig file (not in the working directory)."""
    material = pki()
    directory = tmp_path / "kc"
    path = the_python_client_kubeconfig(directory)
    (directory / "cert_test").write_bytes(material.ca)
    (directory / "client_cert").write_bytes(material.cert)
    (directory / "client_key").write_bytes(material.key)
    (directory / "token_file").write_text(TEST_DATA_BASE64)
    monkeypatch.chdir(tmp_path)
    cfg = load(path, context="ssl-local-file")
    assert cfg.credentials.auth_header() == f"Bearer {TEST_DATA_BASE64}"
    assert cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == material.ca
    assert cfg.tls.client_cert_file is not None and cfg.tls.client_cert_file.read_bytes() == material.cert
    assert cfg.tls.client_key_file is not None and cfg.tls.client_key_file.read_bytes() == material.key


def test_load_kube_config_from_file_path(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_load_kube_config_from_file_path and test_new_client_from_config:
    host and bearer token of a chosen context."""
    cfg = load(python_client_config, context="proxy_cluster_context")
    assert (cfg.host, cfg.credentials.auth_header()) == (TEST_HOST_URL, f"Bearer {TEST_DATA_BASE64}")


@pytest.mark.parametrize("text", ["", "null\n...\n", "---\n"], ids=["empty", "yaml-null", "empty-document"])
def test_load_kube_config_from_empty_file(isolated_env: Path, tmp_path: Path, text: str) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_load_kube_config_from_empty_file: nothing to load is an error
    (client-go: 'no configuration has been provided'), naming the file."""
    path = write_text(tmp_path / "config", text)
    with pytest.raises(KubeconfigError) as info:
        load(path)
    mentions(info.value, str(path))


@pytest.mark.parametrize("users", [None, []], ids=["no-users-section", "empty-users"])
def test_no_users_section(isolated_env: Path, tmp_path: Path, users: list[Any] | None) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_no_users_section: the context names a user and there is no
    users section. The Python client falls back to anonymous; client-go's validation reports
    'user "gcp" was not found for context' (validation.go validateContext), and so do we."""
    doc = kubeconfig_doc(
        clusters={"default": {"server": TEST_HOST}}, contexts={"gcp": {"cluster": "default", "user": "gcp"}}
    )
    if users is not None:
        doc["users"] = users
    path = write_kubeconfig(tmp_path / "config", doc)
    with pytest.raises(KubeconfigError) as info:
        load(path, context="gcp")
    mentions(info.value, "gcp")


def test_non_existing_user(python_client_config: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_non_existing_user: as test_no_users_section, client-go's
    validation (validation.go validateContext) makes it an error naming the user; the Python client is anonymous."""
    with pytest.raises(KubeconfigError) as info:
        load(python_client_config, context="non_existing_user")
    mentions(info.value, "non_existing_user")


def test_user_exec_auth(isolated_env: Path, tmp_path: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_user_exec_auth: the plugin's token is the bearer token."""
    plugin = Plugin(tmp_path / "plugin", credential("dummy"))
    path = the_python_client_kubeconfig(tmp_path / "kc", plugin)
    cfg = load(path, context="exec_cred_user")
    assert cfg.host == TEST_HOST_URL
    assert cfg.credentials.auth_header() == "Bearer dummy"


def test_user_exec_auth_with_expiry(isolated_env: Path, tmp_path: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_user_exec_auth_with_expiry: an expired token is replaced by
    running the plugin again; the fresh one is then kept. (client-go may hand out the first token once, on the
    request that fetched it; every later request gets the fresh one, and the plugin runs twice in all.)"""
    plugin = Plugin(
        tmp_path / "plugin",
        credential("expired", expiry=ported_support.an_hour_ago()),
        credential("current", expiry=ported_support.in_an_hour()),
    )
    path = the_python_client_kubeconfig(tmp_path / "kc", plugin)
    cfg = load(path, context="exec_cred_user")
    headers = [cfg.credentials.auth_header() for _ in range(3)]
    assert headers[1:] == ["Bearer current", "Bearer current"]
    assert len(plugin.runs) == 2


def test_user_exec_auth_certificates(isolated_env: Path, tmp_path: Path) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_user_exec_auth_certificates: the plugin answers with a client
    certificate and key (no token); the cluster's CA still applies."""
    material = pki()
    plugin = Plugin(tmp_path / "plugin", credential(cert=material.cert, key=material.key))
    path = the_python_client_kubeconfig(tmp_path / "kc", plugin)
    cfg = load(path, context="exec_cred_user_certificate")
    assert cfg.credentials.auth_header() is None
    pem = client_pem(cfg)
    assert material.cert.strip() in pem and material.key.strip() in pem
    assert cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == material.ca


def test_user_exec_cwd(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kube_config_test.py TestKubeConfigLoader.test_user_exec_cwd (and exec_provider_test.py test_run_in_dir):
    the Python client runs the plugin in the kubeconfig's directory; client-go does not set cmd.Dir
    (plugin/pkg/client/auth/exec/exec.go refreshCredsLocked), so the plugin runs in our working directory."""
    plugin = Plugin(tmp_path / "plugin", credential("dummy"))
    path = the_python_client_kubeconfig(tmp_path / "kc", plugin)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    load(path, context="exec_cred_user").credentials.auth_header()
    assert Path(plugin.runs[0]["cwd"]).resolve() == elsewhere.resolve()


# == kube_config_test.py: TestFileOrData and TestConfigNode, as loader behaviour ===============================


def test_file_given_file(isolated_env: Path, tmp_path: Path) -> None:
    """kube_config_test.py TestFileOrData.test_file_given_file: a CA given as a file is used as that file's bytes."""
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(pki().ca)
    path = one_context(tmp_path / "config", cluster={"server": TEST_SSL_HOST, "certificate-authority": str(ca_path)})
    cfg = load(path)
    assert cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == pki().ca


def test_file_given_non_existing_file(isolated_env: Path, tmp_path: Path) -> None:
    """kube_config_test.py TestFileOrData.test_file_given_non_existing_file: 'does not exist', naming file and field."""
    missing = tmp_path / "zz_non_existing_file_472398324"
    path = one_context(
        tmp_path / "config",
        cluster={"server": TEST_SSL_HOST},
        user={"client-certificate": str(missing), "client-key": str(missing)},
    )
    with pytest.raises(KubeconfigError, match="does not exist") as info:
        load(path)
    mentions(info.value, "client-certificate", str(missing))


def test_file_given_data(isolated_env: Path, tmp_path: Path) -> None:
    """kube_config_test.py TestFileOrData.test_file_given_data (and test_data_given_data): base64 data is decoded
    into a file holding exactly the decoded bytes."""
    material = pki()
    path = one_context(
        tmp_path / "config",
        cluster={"server": TEST_SSL_HOST, "certificate-authority-data": b64(material.ca)},
        user={"client-certificate-data": b64(material.cert), "client-key-data": b64(material.key)},
    )
    cfg = load(path)
    assert cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == material.ca
    assert cfg.tls.client_cert_file is not None and cfg.tls.client_cert_file.read_bytes() == material.cert
    assert cfg.tls.client_key_file is not None and cfg.tls.client_key_file.read_bytes() == material.key


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ("cluster", "certificate-authority"),
        ("user", "client-certificate"),
        ("user", "client-key"),
    ],
)
def test_file_and_data_both_given(isolated_env: Path, tmp_path: Path, section: str, field: str) -> None:
    """kube_config_test.py TestFileOrData.test_data_given_file_and_data and test_file_given_file_and_data: the
    Python client lets the data win; client-go's validation says 'X-data and X are both specified'
    (validation.go validateClusterInfo/validateAuthInfo), so it is an error naming both fields."""
    material = pki()
    files = {"certificate-authority": material.ca, "client-certificate": material.cert, "client-key": material.key}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    cluster: dict[str, Any] = {"server": TEST_SSL_HOST, "certificate-authority-data": b64(material.ca)}
    user: dict[str, Any] = {"client-certificate-data": b64(material.cert), "client-key-data": b64(material.key)}
    (cluster if section == "cluster" else user)[field] = str(tmp_path / field)
    path = one_context(tmp_path / "config", cluster=cluster, user=user)
    with pytest.raises(KubeconfigError) as info:
        load(path)
    mentions(info.value, field, f"{field}-data")


def test_file_with_custom_dirname(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kube_config_test.py TestFileOrData.test_file_with_custom_dirname: a bare file name is looked up in the
    kubeconfig's directory, even when the working directory has a file of that name."""
    (tmp_path / "kc").mkdir()
    (tmp_path / "kc" / "ca.pem").write_bytes(pki().ca)
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "ca.pem").write_bytes(pki().other_ca)
    monkeypatch.chdir(tmp_path / "cwd")
    path = one_context(tmp_path / "kc" / "config", cluster={"server": TEST_SSL_HOST, "certificate-authority": "ca.pem"})
    cfg = load(path)
    assert cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == pki().ca


def test_file_recreation(isolated_env: Path, tmp_path: Path) -> None:
    """kube_config_test.py TestFileOrData.test_file_recreation: if the file written for inline data is removed,
    loading again writes it again."""
    path = one_context(
        tmp_path / "config", cluster={"server": TEST_SSL_HOST, "certificate-authority-data": b64(pki().ca)}
    )
    first = load(path).tls.ca_file
    assert first is not None
    first.unlink()
    second = load(path).tls.ca_file
    assert second is not None and second.read_bytes() == pki().ca


def test_get_with_name_on_duplicate_name(isolated_env: Path, tmp_path: Path) -> None:
    """kube_config_test.py TestConfigNode.test_get_with_name_on_duplicate_name: two entries of one name in one list
    ('Expected only one object with name'; client-go loader.go: 'duplicate name ... in list')."""
    path = write_text(
        tmp_path / "config",
        """\
        current-context: test_name
        clusters: [{name: c, cluster: {server: "https://s:1"}}]
        contexts:
        - {name: test_name, context: {cluster: c}}
        - {name: test_name, context: {cluster: c, namespace: other}}
        """,
    )
    with pytest.raises(KubeconfigError) as info:
        load(path)
    mentions(info.value, "test_name", str(path))


def test_get_with_name_on_name_does_not_exists(python_client_config: Path) -> None:
    """kube_config_test.py TestConfigNode.test_get_with_name_on_name_does_not_exists: an unknown context name."""
    with pytest.raises(KubeconfigError) as info:
        load(python_client_config, context="no-name")
    mentions(info.value, "no-name")


def test_get_with_name_on_invalid_object(isolated_env: Path, tmp_path: Path) -> None:
    """kube_config_test.py TestConfigNode.test_get_with_name_on_invalid_object: a list entry without 'name' is an
    error in the Python client; client-go decodes it under the name "" (loader.go), so the context that wanted
    the cluster does not find it. Either way, loading fails and says which cluster."""
    path = write_text(
        tmp_path / "config",
        """\
        current-context: a
        clusters: [{cluster: {server: "https://s:1"}}]
        contexts: [{name: a, context: {cluster: c}}]
        """,
    )
    with pytest.raises(KubeconfigError) as info:
        load(path)
    mentions(info.value, "cluster")


def test_get_with_name_on_non_list_object(isolated_env: Path, tmp_path: Path) -> None:
    """kube_config_test.py TestConfigNode.test_get_with_name_on_non_list_object: 'contexts' is not a list."""
    path = write_text(
        tmp_path / "config",
        """\
        current-context: a
        clusters: [{name: c, cluster: {server: "https://s:1"}}]
        contexts: {a: {cluster: c}}
        """,
    )
    with pytest.raises(KubeconfigError) as info:
        load(path)
    mentions(info.value, "contexts")


# == kube_config_test.py: TestKubeConfigMerger ================================================================


def _merger_set1(directory: Path) -> list[Path]:
    """``TestKubeConfigMerger.TEST_KUBE_CONFIG_SET1`` as six files (real PEM in place of the placeholders)."""
    material = pki()
    oidc = {"auth-provider": {"name": "oidc", "config": {"id-token": "not.a.jwt", "client-id": "tectonic"}}}
    parts: list[dict[str, Any]] = [
        kubeconfig_doc(
            clusters={"default": {"server": TEST_HOST}},
            users={},
            contexts={"no_user": {"cluster": "default"}},
            current="no_user",
        ),
        kubeconfig_doc(
            clusters={"ssl": {"server": TEST_SSL_HOST, "certificate-authority-data": b64(material.ca)}},
            users={
                "ssl": {
                    "token": TEST_DATA_BASE64,
                    "client-certificate-data": b64(material.cert),
                    "client-key-data": b64(material.key),
                }
            },
            contexts={
                "ssl": {"cluster": "ssl", "user": "ssl"},
                "simple_token": {"cluster": "default", "user": "simple_token"},
            },
            current="",
        ),
        kubeconfig_doc(
            clusters={},
            users={
                "expired_oidc": oidc,
                "simple_token": {"token": TEST_DATA_BASE64, "username": TEST_USERNAME, "password": TEST_PASSWORD},
            },
            contexts={
                "expired_oidc": {"cluster": "default", "user": "expired_oidc"},
                "ssl": {"cluster": "skipped-part2-defined-this-context", "user": "skipped"},
            },
            current="no_user",
        ),
        {"current-context": "no_user"},
        kubeconfig_doc(
            clusters={"clustertestcmdpath": {}},
            users={"usertestcmdpath": {"auth-provider": {"name": "gcp", "config": {"cmd-path": "cmdtorun"}}}},
            contexts={"contexttestcmdpath": {"cluster": "clustertestcmdpath", "user": "usertestcmdpath"}},
        ),
        {**kubeconfig_doc(clusters={"default": {"server": "https://never-used"}}), "users": None},
    ]
    return [write_kubeconfig(directory / f"part{i}" / "config", doc) for i, doc in enumerate(parts)]


def test_merger_list_kube_config_contexts(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kube_config_test.py TestKubeConfigMerger.test_list_kube_config_contexts: six files in KUBECONFIG; the first
    current-context wins, the first file to name an entry wins ('ssl' from part 2, not part 3's), a null users
    list and unused auth-provider users do not get in the way."""
    files = _merger_set1(tmp_path)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(str(f) for f in files))
    current = incluster_sdk.load_config()
    assert (current.context, current.host) == ("no_user", TEST_HOST_URL)
    ssl = incluster_sdk.load_config(context="ssl")
    assert ssl.host == TEST_SSL_HOST
    assert ssl.credentials.auth_header() == f"Bearer {TEST_DATA_BASE64}"
    assert ssl.tls.client_cert_file is not None and ssl.tls.client_cert_file.read_bytes() == pki().cert


def test_merger_new_client_from_config(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kube_config_test.py TestKubeConfigMerger.test_new_client_from_config: context 'simple_token' (part 2) uses
    cluster 'default' (part 1) and user 'simple_token' (part 3). That user has token + username/password, which
    client-go rejects (validation.go validateAuthInfo), so the merged lookup ends in that error, naming the user."""
    files = _merger_set1(tmp_path)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(str(f) for f in files))
    with pytest.raises(KubeconfigError, match="more than one authentication method") as info:
        incluster_sdk.load_config(context="simple_token")
    mentions(info.value, "simple_token")


def test_merge_with_context_in_different_file(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kube_config_test.py TestKubeConfigMerger.test_merge_with_context_in_different_file (TEST_KUBE_CONFIG_SET2):
    cluster, context + current-context and user each in their own file. (The user's ignored username/password are
    left out: client-go rejects them, see test_simple_token_with_basic_auth_is_an_error.)"""
    files = [
        write_kubeconfig(
            tmp_path / "a" / "config", {"clusters": [{"name": "default", "cluster": {"server": TEST_HOST}}]}
        ),
        write_kubeconfig(
            tmp_path / "b" / "config",
            {
                "current-context": "simple_token",
                "contexts": [{"name": "simple_token", "context": {"cluster": "default", "user": "simple_token"}}],
            },
        ),
        write_kubeconfig(
            tmp_path / "c" / "config", {"users": [{"name": "simple_token", "user": {"token": TEST_DATA_BASE64}}]}
        ),
    ]
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(str(f) for f in files))
    cfg = incluster_sdk.load_config()
    assert (cfg.context, cfg.host) == ("simple_token", TEST_HOST_URL)
    assert cfg.credentials.auth_header() == f"Bearer {TEST_DATA_BASE64}"


# == exec_provider_test.py =====================================================================================


def _exec_user(tmp_path: Path, exec_section: Any) -> Path:
    return one_context(tmp_path / "config", cluster={"server": "https://name.company.com"}, user={"exec": exec_section})


@pytest.mark.parametrize(
    ("section", "field"),
    [({}, "command"), ({"command": ""}, "command"), ({"apiVersion": ""}, "command"), ({"command": "x"}, "apiVersion")],
    ids=["empty", "empty-command", "empty-apiVersion", "no-apiVersion"],
)
def test_missing_input_keys(isolated_env: Path, tmp_path: Path, section: dict[str, str], field: str) -> None:
    """exec_provider_test.py ExecProviderTest.test_missing_input_keys: 'exec: malformed request. missing key'
    (client-go validation.go: 'command must be specified', 'apiVersion must be specified')."""
    with pytest.raises(KubeconfigError) as info:
        load(_exec_user(tmp_path, section))
    mentions(info.value, field, "the-user")


def test_error_code_returned(isolated_env: Path, tmp_path: Path) -> None:
    """exec_provider_test.py ExecProviderTest.test_error_code_returned: a non-zero exit is an error with the code."""
    plugin = Plugin(tmp_path / "plugin")
    plugin.answer("", exit_code=1, stderr="login required")
    with pytest.raises(CredentialError, match=r"\b1\b"):
        load(_exec_user(tmp_path, plugin.exec_config())).credentials.auth_header()


def test_nonjson_output_returned(isolated_env: Path, tmp_path: Path) -> None:
    """exec_provider_test.py ExecProviderTest.test_nonjson_output_returned: output that is not JSON."""
    plugin = Plugin(tmp_path / "plugin", "")
    with pytest.raises(CredentialError):
        load(_exec_user(tmp_path, plugin.exec_config())).credentials.auth_header()


@pytest.mark.parametrize(
    ("output", "named"),
    [
        (credential("dummy", api_version=None), "apiVersion"),
        (credential("dummy", kind=None), "kind"),
        (credential("dummy", status=False), "status"),
    ],
    ids=["no-apiVersion", "no-kind", "no-status"],
)
def test_missing_output_keys(isolated_env: Path, tmp_path: Path, output: str, named: str) -> None:
    """exec_provider_test.py ExecProviderTest.test_missing_output_keys: apiVersion, kind and status are required
    ('exec: malformed response. missing key'); the error names the missing one."""
    plugin = Plugin(tmp_path / "plugin", output)
    with pytest.raises(CredentialError) as info:
        load(_exec_user(tmp_path, plugin.exec_config())).credentials.auth_header()
    mentions(info.value, named)


def test_mismatched_api_version(isolated_env: Path, tmp_path: Path) -> None:
    """exec_provider_test.py ExecProviderTest.test_mismatched_api_version: configured v1beta1, answered v1."""
    plugin = Plugin(tmp_path / "plugin", credential("dummy", api_version="client.authentication.k8s.io/v1"))
    with pytest.raises(CredentialError) as info:
        load(_exec_user(tmp_path, plugin.exec_config(V1BETA1))).credentials.auth_header()
    mentions(info.value, "client.authentication.k8s.io/v1", V1BETA1)


def test_ok_01(isolated_env: Path, tmp_path: Path) -> None:
    """exec_provider_test.py ExecProviderTest.test_ok_01: args are passed and the token is used."""
    plugin = Plugin(tmp_path / "plugin", credential("dummy"))
    section = plugin.exec_config()
    section["args"] += ["token", "-i", "dummy"]
    assert load(_exec_user(tmp_path, section)).credentials.auth_header() == "Bearer dummy"
    assert plugin.runs[0]["argv"] == ["token", "-i", "dummy"]


def test_with_cluster_info(isolated_env: Path, tmp_path: Path) -> None:
    """exec_provider_test.py ExecProviderTest.test_with_cluster_info: provideClusterInfo puts the server into
    KUBERNETES_EXEC_INFO spec.cluster."""
    plugin = Plugin(tmp_path / "plugin", credential("dummy"))
    path = _exec_user(tmp_path, plugin.exec_config(provideClusterInfo=True))
    load(path).credentials.auth_header()
    assert plugin.exec_info()["spec"]["cluster"]["server"] == "https://name.company.com"


def test_with_cluster_info_from_exec_extension(isolated_env: Path, tmp_path: Path) -> None:
    """exec_provider_test.py ExecProviderTest.test_with_cluster_info_from_exec_extension: the cluster's
    'client.authentication.k8s.io/exec' extension becomes spec.cluster.config."""
    plugin = Plugin(tmp_path / "plugin", credential("dummy"))
    cluster = {
        "server": "https://name.company.com",
        "extensions": [
            {"name": "client.authentication.k8s.io/exec", "extension": {"namespace": "myproject", "name": "mycluster"}}
        ],
    }
    path = one_context(tmp_path / "config", cluster=cluster, user={"exec": plugin.exec_config(provideClusterInfo=True)})
    load(path).credentials.auth_header()
    spec_cluster = plugin.exec_info()["spec"]["cluster"]
    assert spec_cluster["server"] == "https://name.company.com"
    assert spec_cluster["config"] == {"namespace": "myproject", "name": "mycluster"}


# == incluster_config_test.py ==================================================================================

_TEST_TOKEN = "temp_token"
_TEST_NEW_TOKEN = "temp_new_token"


def _sa_dir(directory: Path, *, token: str | None = _TEST_TOKEN, ca: bytes | None = None) -> Path:
    """A plain service-account directory (no kubelet symlinks): token, ca.crt, namespace."""
    directory.mkdir(parents=True, exist_ok=True)
    if token is not None:
        (directory / "token").write_text(token)
    if ca is not None:
        (directory / "ca.crt").write_bytes(ca)
    (directory / "namespace").write_text("default")
    return directory


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: str(ipaddress.IPv6Address(a))),
    st.lists(_label, min_size=1, max_size=4).map(".".join).filter(lambda h: not h.replace(".", "").isdigit()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(host=_hosts, port=st.integers(1, 65535))
def test_join_host_port(isolated_env: Path, host: str, port: int) -> None:
    """incluster_config_test.py InClusterConfigTest.test_join_host_port: https://host:port, an IPv6 address in
    brackets (net.JoinHostPort), for any IPv4/IPv6 address or DNS name and any port."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBERNETES_SERVICE_HOST", host)
        mp.setenv("KUBERNETES_SERVICE_PORT", str(port))
        cfg = incluster_sdk.load_config(in_cluster=True, service_account_dir=_sa_dir(Path(tmp), ca=pki().ca))
        try:
            assert cfg.host == f"https://{_join_host_port(host, port)}"
        finally:
            cfg.close()


def test_join_host_port_examples(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """incluster_config_test.py InClusterConfigTest.test_join_host_port: its two literal examples."""
    sa = _sa_dir(tmp_path / "sa", ca=pki().ca)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "80")
    for host, url in (("127.0.0.1", "https://127.0.0.1:80"), ("::1", "https://[::1]:80")):
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
        cfg = incluster_sdk.load_config(in_cluster=True, service_account_dir=sa)
        assert cfg.host == url
        cfg.close()


def test_incluster_load_config(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """incluster_config_test.py InClusterConfigTest.test_load_config: host, CA bytes and the bearer token."""
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "80")
    cfg = incluster_sdk.load_config(in_cluster=True, service_account_dir=_sa_dir(tmp_path / "sa", ca=pki().ca))
    try:
        assert cfg.host == "https://127.0.0.1:80"
        assert cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == pki().ca
        assert cfg.credentials.auth_header() == f"Bearer {_TEST_TOKEN}"
    finally:
        cfg.close()


# Go's unicode.IsSpace, which strings.TrimSpace uses (Python's str.strip agrees on all of these).
_GO_SPACE = " \t\n\v\f\r\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    before=st.text(st.sampled_from(_GO_SPACE), max_size=4),
    token=st.text(st.sampled_from(string.ascii_letters + string.digits + "-._~+/="), min_size=1, max_size=15),
    after=st.text(st.sampled_from(_GO_SPACE), max_size=4),
)
def test_incluster_token_whitespace(isolated_env: Path, before: str, token: str, after: str) -> None:
    """incluster_config_test.py InClusterConfigTest.test_load_config, as a family: whitespace around the token in
    the file is not sent. (The Python client sends 'bearer ' + the file as it is; client-go's requests carry the
    file's token trimmed: rest.InClusterConfig sets BearerTokenFile, transport/token_source.go TrimSpace.)"""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        mp.setenv("KUBERNETES_SERVICE_PORT", "80")
        sa = _sa_dir(Path(tmp), token=None, ca=pki().ca)
        (sa / "token").write_bytes((before + token + after).encode())
        cfg = incluster_sdk.load_config(in_cluster=True, service_account_dir=sa)
        try:
            assert cfg.credentials.auth_header() == f"Bearer {token}"
        finally:
            cfg.close()


def test_load_incluster_sets_request_authorization_header(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """incluster_config_test.py InClusterConfigTest.test_load_incluster_sets_request_authorization_header."""
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "80")
    cfg = incluster_sdk.load_config(in_cluster=True, service_account_dir=_sa_dir(tmp_path / "sa", ca=pki().ca))
    try:
        header = cfg.credentials.auth_header()
        assert header is not None and header.lower().startswith("bearer ")
    finally:
        cfg.close()


def test_refresh_token(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """incluster_config_test.py InClusterConfigTest.test_refresh_token: a rotated token file is picked up."""
    mount = FakeServiceAccountMount(tmp_path / "sa", token=_TEST_TOKEN, ca=pki().ca)
    for key, value in mount.env.items():
        monkeypatch.setenv(key, value)
    cfg = incluster_sdk.load_config(in_cluster=True)
    try:
        assert cfg.credentials.auth_header() == f"Bearer {_TEST_TOKEN}"
        mount.rotate(token=_TEST_NEW_TOKEN)
        wait_until(lambda: cfg.credentials.auth_header() == f"Bearer {_TEST_NEW_TOKEN}", timeout=15)
    finally:
        cfg.close()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KUBERNETES_SERVICE_HOST": "127.0.0.1"}, "KUBERNETES_SERVICE_PORT"),
        ({"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": ""}, "KUBERNETES_SERVICE_PORT"),
        ({"KUBERNETES_SERVICE_PORT": "80"}, "KUBERNETES_SERVICE_HOST"),
        ({"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": "80"}, "KUBERNETES_SERVICE_HOST"),
    ],
    ids=["test_no_port", "test_empty_port", "test_no_host", "test_empty_host"],
)
def test_incluster_host_port_missing(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    """incluster_config_test.py InClusterConfigTest.test_no_port, test_empty_port, test_no_host, test_empty_host."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(InClusterConfigError) as info:
        incluster_sdk.load_config(in_cluster=True, service_account_dir=_sa_dir(tmp_path / "sa", ca=pki().ca))
    mentions(info.value, named)


@pytest.mark.parametrize(
    ("token", "ca", "named"),
    [
        (_TEST_TOKEN, None, "ca.crt"),
        (_TEST_TOKEN, b"", "ca.crt"),
        (None, b"", "token"),
        ("", b"", "token"),
    ],
    ids=["test_no_cert_file", "test_empty_cert_file", "test_no_token_file", "test_empty_token_file"],
)
def test_incluster_files_missing_or_empty(
    isolated_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    token: str | None,
    ca: bytes | None,
    named: str,
) -> None:
    """incluster_config_test.py InClusterConfigTest.test_no_cert_file, test_empty_cert_file, test_no_token_file,
    test_empty_token_file. (client-go only logs a bad CA file and goes on with the system roots; the Python client
    and we refuse it. A usable CA is given where the token is the subject.)"""
    if named == "token":
        ca = pki().ca
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "80")
    with pytest.raises(InClusterConfigError) as info:
        incluster_sdk.load_config(in_cluster=True, service_account_dir=_sa_dir(tmp_path / "sa", token=token, ca=ca))
    mentions(info.value, named)
