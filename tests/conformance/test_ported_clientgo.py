"""client-go's clientcmd and exec-plugin cases, ported (issue #15).

Sources (kubernetes/client-go): ``tools/clientcmd/loader_test.go``, ``client_config_test.go``,
``validation_test.go`` and ``plugin/pkg/client/auth/exec/exec_test.go``, with the behaviour they pin down read
from ``loader.go``, ``client_config.go``, ``validation.go``, ``exec.go`` and ``transport/``. Inputs and
expectations are client-go's, written again against our public API. A few cases pin the loader's stated
target where it is stricter than client-go; their docstrings say so.

Not ported: ConfigOverrides (command-line flags), writing and migrating kubeconfig files, file locking, the
merge helper and error-aggregation internals, the authenticator cache key, plugin allowlists (kuberc),
``StdinUnavailable`` (not settable from a kubeconfig), the install-hint rate limit, and valid impersonation
(we refuse ``as:``).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import string
import tempfile
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import incluster_sdk
from incluster_sdk import ConfigError, CredentialError, KubeconfigError

from .ported_support import (
    V1,
    V1BETA1,
    Plugin,
    an_hour_ago,
    b64,
    client_pem,
    credential,
    escaped_like_client_go,
    in_an_hour,
    kubeconfig_doc,
    load,
    mentions,
    one_context,
    pki,
    shell_plugin,
    standard_input,
    write_kubeconfig,
    write_text,
)

SERVER = "https://anything.com:8080"
FAMILY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW_FAMILY = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def clean(tmp_path: Path, **user: Any) -> Path:
    """client_config_test.go createValidTestConfig: cluster/user/context 'clean', https, a token."""
    return one_context(
        tmp_path / "config",
        cluster={"server": SERVER},
        user=user or {"token": "the-token"},
        name="clean",
        cluster_name="clean",
        user_name="clean",
    )


def exec_user_config(tmp_path: Path, exec_section: Any, *, cluster: dict[str, Any] | None = None, **user: Any) -> Path:
    return one_context(
        tmp_path / "config",
        cluster=cluster or {"server": SERVER},
        user={"exec": exec_section, **user},
        name="exec-ctx",
        user_name="exec-user",
    )


# == loader_test.go ===========================================================================================


# testConfigAlfa .. testConfigDelta and testConfigConflictAlfa. client-go's servers are http://; over plain
# http client-go sends no credentials (client_config.go ClientConfig: user identification only when
# IsConfigTransportTLS), which would hide which user won, so these use https://.
def loader_test_config(context: str, user: str, cluster: str, namespace: str) -> dict[str, Any]:
    """One of testConfigAlfa .. testConfigDelta: one context of a user with a token ``<colour>-token`` and a
    cluster served at ``https://<animal>.org:8080``."""
    return kubeconfig_doc(
        users={user: {"token": user.replace("-user", "-token")}},
        clusters={cluster: {"server": f"https://{cluster.removesuffix('-cluster')}.org:8080"}},
        contexts={context: {"user": user, "cluster": cluster, "namespace": namespace}},
    )


ALFA = loader_test_config("federal-context", "red-user", "cow-cluster", "hammer-ns")
BRAVO = loader_test_config("queen-anne-context", "black-user", "pig-cluster", "saw-ns")
CHARLIE = loader_test_config("shaker-context", "green-user", "horse-cluster", "chisel-ns")
DELTA = loader_test_config("gothic-context", "blue-user", "chicken-cluster", "plane-ns")
CONFLICT_ALFA = kubeconfig_doc(
    users={"red-user": {"token": "a-different-red-token"}, "yellow-user": {"token": "yellow-token"}},
    clusters={
        "cow-cluster": {"server": "https://a-different-cow.org:8080", "insecure-skip-tls-verify": True},
        "donkey-cluster": {"server": "https://donkey.org:8080", "insecure-skip-tls-verify": True},
    },
    current="federal-context",
)


def set_kubeconfig(monkeypatch: pytest.MonkeyPatch, *paths: Path | str) -> None:
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(str(p) for p in paths))


def test_example_merging_some_with_conflict(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """loader_test.go Example_mergingSomeWithConflict: for a name in both files the first file wins (cow-cluster,
    red-user), and the first non-empty current-context wins (the second file's)."""
    set_kubeconfig(
        monkeypatch,
        write_kubeconfig(tmp_path / "a" / "config", ALFA),
        write_kubeconfig(tmp_path / "b" / "config", CONFLICT_ALFA),
    )
    cfg = incluster_sdk.load_config()
    assert cfg.context == "federal-context"
    assert cfg.host == "https://cow.org:8080"
    assert cfg.tls.insecure_skip_verify is False
    assert cfg.credentials.auth_header() == "Bearer red-token"
    assert cfg.namespace == "hammer-ns"


def test_example_no_merging_on_explicit_paths(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """loader_test.go Example_noMergingOnExplicitPaths: an explicit file is read alone; KUBECONFIG is ignored, so
    there is no current-context and the conflicting file's entries are not there."""
    alfa = write_kubeconfig(tmp_path / "a" / "config", ALFA)
    set_kubeconfig(monkeypatch, write_kubeconfig(tmp_path / "b" / "config", CONFLICT_ALFA))
    with pytest.raises(KubeconfigError, match="current-context"):
        incluster_sdk.load_config(kubeconfig=alfa)
    cfg = incluster_sdk.load_config(kubeconfig=alfa, context="federal-context")
    assert (cfg.host, cfg.credentials.auth_header()) == ("https://cow.org:8080", "Bearer red-token")
    assert cfg.kubeconfig_files == (alfa,)


def test_conflicting_current_context(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """loader_test.go TestConflictingCurrentContext: the explicit file's current-context, not KUBECONFIG's."""
    explicit = write_kubeconfig(tmp_path / "a" / "config", {**ALFA, "current-context": "federal-context"})
    env_file = write_kubeconfig(tmp_path / "b" / "config", {**BRAVO, "current-context": "queen-anne-context"})
    set_kubeconfig(monkeypatch, env_file)
    assert incluster_sdk.load_config(kubeconfig=explicit).context == "federal-context"


def test_example_merging_everything_no_conflicts(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """loader_test.go Example_mergingEverythingNoConflicts: four files, every context usable, no current-context."""
    files = [
        write_kubeconfig(tmp_path / n / "config", d) for n, d in zip("abcd", (ALFA, BRAVO, CHARLIE, DELTA), strict=True)
    ]
    set_kubeconfig(monkeypatch, *files)
    expected = {
        "federal-context": ("https://cow.org:8080", "red-token", "hammer-ns"),
        "queen-anne-context": ("https://pig.org:8080", "black-token", "saw-ns"),
        "shaker-context": ("https://horse.org:8080", "green-token", "chisel-ns"),
        "gothic-context": ("https://chicken.org:8080", "blue-token", "plane-ns"),
    }
    for context, (host, token, namespace) in expected.items():
        cfg = incluster_sdk.load_config(context=context)
        assert (cfg.host, cfg.credentials.auth_header(), cfg.namespace) == (host, f"Bearer {token}", namespace)
    with pytest.raises(KubeconfigError, match="current-context"):
        incluster_sdk.load_config()


def test_non_existent_command_line_file(isolated_env: Path, tmp_path: Path) -> None:
    """loader_test.go TestNonExistentCommandLineFile: an explicit file that does not exist, named."""
    with pytest.raises(KubeconfigError) as info:
        incluster_sdk.load_config(kubeconfig=tmp_path / "bogus_file")
    mentions(info.value, "bogus_file")


def test_tolerating_missing_files(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """loader_test.go TestToleratingMissingFiles: missing files in KUBECONFIG are skipped."""
    alfa = write_kubeconfig(tmp_path / "a" / "config", {**ALFA, "current-context": "federal-context"})
    set_kubeconfig(monkeypatch, tmp_path / "bogus1", alfa, tmp_path / "bogus2")
    cfg = incluster_sdk.load_config()
    assert cfg.kubeconfig_files == (alfa,)
    assert cfg.host == "https://cow.org:8080"


def test_warning_missing_files(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """loader_test.go TestWarningMissingFiles: KUBECONFIG names only a missing file. client-go warns 'Config not
    found: bogus' and then has no configuration; we fail, naming the file."""
    set_kubeconfig(monkeypatch, tmp_path / "bogus")
    with pytest.raises(ConfigError) as info:
        incluster_sdk.load_config()
    mentions(info.value, str(tmp_path / "bogus"))


def test_error_reading_file(isolated_env: Path, tmp_path: Path) -> None:
    """loader_test.go TestErrorReadingFile: a file that is not a kubeconfig ('bogus value'), named."""
    path = write_text(tmp_path / "config", "bogus value")
    with pytest.raises(KubeconfigError) as info:
        load(path)
    mentions(info.value, str(path))


def test_error_reading_non_file(isolated_env: Path, tmp_path: Path) -> None:
    """loader_test.go TestErrorReadingNonFile: a directory given as the kubeconfig, named."""
    directory = tmp_path / "adir"
    directory.mkdir()
    with pytest.raises(KubeconfigError) as info:
        load(directory)
    mentions(info.value, str(directory))


def test_loading_empty_maps(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """loader_test.go TestLoadingEmptyMaps: a file with only current-context loads (its maps are empty) and merges
    with the file that defines that context."""
    only_current = write_kubeconfig(tmp_path / "a" / "config", {"current-context": "federal-context"})
    set_kubeconfig(monkeypatch, only_current, write_kubeconfig(tmp_path / "b" / "config", ALFA))
    assert incluster_sdk.load_config().host == "https://cow.org:8080"


_DUPLICATES = {
    "cluster": """\
        clusters:
        - {name: kubeconfig-cluster, cluster: {server: "https://kubernetes.default.svc:443"}}
        - {name: kubeconfig-cluster, cluster: {server: "https://test.example.server:443"}}
        contexts: [{name: kubeconfig-context, context: {cluster: kubeconfig-cluster, user: kubeconfig-user}}]
        users: [{name: kubeconfig-user, user: {token: t}}]
        """,
    "context": """\
        clusters: [{name: kubeconfig-cluster, cluster: {server: "https://kubernetes.default.svc:443"}}]
        contexts:
        - {name: kubeconfig-context, context: {cluster: kubeconfig-cluster, user: kubeconfig-user}}
        - {name: kubeconfig-context, context: {cluster: test-example-cluster, user: test-example-user}}
        users: [{name: kubeconfig-user, user: {token: t}}]
        """,
    "user": """\
        clusters: [{name: kubeconfig-cluster, cluster: {server: "https://kubernetes.default.svc:443"}}]
        contexts: [{name: kubeconfig-context, context: {cluster: kubeconfig-cluster, user: kubeconfig-user}}]
        users:
        - {name: kubeconfig-user, user: {token: t}}
        - {name: kubeconfig-user, user: {token: u}}
        """,
    "extension": """\
        clusters: [{name: kubeconfig-cluster, cluster: {server: "https://kubernetes.default.svc:443"}}]
        contexts: [{name: kubeconfig-context, context: {cluster: kubeconfig-cluster, user: kubeconfig-user}}]
        users: [{name: kubeconfig-user, user: {token: t}}]
        extensions:
        - {name: test-extension, extension: {bytes: test}}
        - {name: test-extension, extension: {bytes: some-example}}
        """,
}


@pytest.mark.parametrize("kind", list(_DUPLICATES))
def test_duplicate_name(isolated_env: Path, tmp_path: Path, kind: str) -> None:
    """loader_test.go TestDuplicateClusterName, TestDuplicateContextName, TestDuplicateUserName,
    TestDuplicateExtensionName: 'duplicate name ... in list' within one file is an error naming file and name."""
    path = write_text(tmp_path / "config", "current-context: kubeconfig-context\n" + textwrap.dedent(_DUPLICATES[kind]))
    with pytest.raises(KubeconfigError) as info:
        load(path)
    mentions(info.value, str(path), {"extension": "test-extension"}.get(kind, f"kubeconfig-{kind}"))


def test_deduplicate(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """loader_test.go TestDeduplicate: a path repeated in KUBECONFIG is read once."""
    a = write_kubeconfig(tmp_path / "a" / "config", {**ALFA, "current-context": "federal-context"})
    b = write_kubeconfig(tmp_path / "b" / "config", BRAVO)
    set_kubeconfig(monkeypatch, a, b, a, b)
    assert incluster_sdk.load_config().kubeconfig_files == (a, b)


@pytest.mark.parametrize("case", ["default", "explicit", "envvar-single", "envvar-multiple"])
def test_loading_get_loading_precedence(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """loader_test.go TestLoadingGetLoadingPrecedence: ~/.kube/config by default, else the explicit file, else
    KUBECONFIG's one or several files, in order."""
    doc = {**ALFA, "current-context": "federal-context"}
    default = write_kubeconfig(isolated_env / ".kube" / "config", doc)
    explicit = write_kubeconfig(tmp_path / "explicit" / "kubeconfig", doc)
    env1 = write_kubeconfig(tmp_path / "env" / "kubeconfig", doc)
    env2 = write_kubeconfig(tmp_path / "other" / "kubeconfig", BRAVO)
    if case == "default":
        assert incluster_sdk.load_config().kubeconfig_files == (default,)
    elif case == "explicit":
        set_kubeconfig(monkeypatch, env1)
        assert incluster_sdk.load_config(kubeconfig=explicit).kubeconfig_files == (explicit,)
    elif case == "envvar-single":
        set_kubeconfig(monkeypatch, env1)
        assert incluster_sdk.load_config().kubeconfig_files == (env1,)
    else:
        set_kubeconfig(monkeypatch, env1, env2)
        assert incluster_sdk.load_config().kubeconfig_files == (env1, env2)


def test_resolve_relative_paths(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """loader_test.go TestResolveRelativePaths: relative CA, client certificate and key, and an exec command with
    a separator are resolved against the absolute directory of the file that defines them (two files, two
    directories, '..' allowed); absolute paths stay; a command without a separator is looked up in PATH. The
    KUBECONFIG entries are themselves relative, and the working directory changes after loading."""
    material = pki()
    root = tmp_path / "root"
    dir1 = root / "one"
    dir2 = root / "two" / "sub"
    absolute = tmp_path / "absolute"
    files = {
        dir1 / "relative/client/cert": material.cert,
        root / "relative/client/key": material.key,
        root / "relative/ca": material.ca,
        dir2 / "relative/client/cert2": material.other_cert,
        root / "two/relative/client/key2": material.other_key,
        root / "two/relative/ca2": material.ca,
        absolute / "client/cert": material.cert,
        absolute / "client/key": material.key,
        absolute / "ca": material.ca,
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    shell_plugin(root / "relative/client/cmd", "relative-cmd")
    shell_plugin(absolute / "client/cmd", "absolute-cmd")
    shell_plugin(tmp_path / "bin" / "kc-ported-plugin", "from-path")
    shell_plugin(dir1 / "kc-ported-plugin", "decoy-next-to-kubeconfig")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")

    def exec_of(command: str) -> dict[str, Any]:
        return {"exec": {"apiVersion": V1BETA1, "command": command}}

    write_kubeconfig(
        dir1 / ".kubeconfig",
        clusters={
            "relative-server-1": {"server": SERVER, "certificate-authority": "../relative/ca"},
            "absolute-server-1": {"server": SERVER, "certificate-authority": str(absolute / "ca")},
        },
        users={
            "relative-user-1": {"client-certificate": "relative/client/cert", "client-key": "../relative/client/key"},
            "absolute-user-1": {
                "client-certificate": str(absolute / "client/cert"),
                "client-key": str(absolute / "client/key"),
            },
            "relative-cmd-1": exec_of("../relative/client/cmd"),
            "absolute-cmd-1": exec_of(str(absolute / "client/cmd")),
            "PATH-cmd-1": exec_of("kc-ported-plugin"),
        },
        contexts={
            "relative-1": {"cluster": "relative-server-1", "user": "relative-user-1"},
            "absolute-1": {"cluster": "absolute-server-1", "user": "absolute-user-1"},
            "relative-cmd": {"cluster": "absolute-server-1", "user": "relative-cmd-1"},
            "absolute-cmd": {"cluster": "absolute-server-1", "user": "absolute-cmd-1"},
            "path-cmd": {"cluster": "absolute-server-1", "user": "PATH-cmd-1"},
        },
    )
    write_kubeconfig(
        dir2 / ".kubeconfig",
        clusters={"relative-server-2": {"server": SERVER, "certificate-authority": "../relative/ca2"}},
        users={
            "relative-user-2": {"client-certificate": "relative/client/cert2", "client-key": "../relative/client/key2"}
        },
        contexts={"relative-2": {"cluster": "relative-server-2", "user": "relative-user-2"}},
    )
    monkeypatch.chdir(root)
    set_kubeconfig(monkeypatch, "one/.kubeconfig", "two/sub/.kubeconfig")
    configs = {
        name: incluster_sdk.load_config(context=name)
        for name in ("relative-1", "absolute-1", "relative-2", "relative-cmd", "absolute-cmd", "path-cmd")
    }
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # nothing resolved may depend on the directory we loaded from

    def norm(path: Path | None) -> Path:
        assert path is not None and path.is_absolute(), path
        return Path(os.path.normpath(path))

    one, two, absolute_one = configs["relative-1"], configs["relative-2"], configs["absolute-1"]
    assert norm(one.tls.ca_file) == root / "relative/ca"
    assert norm(one.tls.client_cert_file) == dir1 / "relative/client/cert"
    assert norm(one.tls.client_key_file) == root / "relative/client/key"
    assert norm(two.tls.ca_file) == root / "two/relative/ca2"
    assert norm(two.tls.client_cert_file) == dir2 / "relative/client/cert2"
    assert norm(two.tls.client_key_file) == root / "two/relative/client/key2"
    assert norm(absolute_one.tls.ca_file) == absolute / "ca"
    assert norm(absolute_one.tls.client_cert_file) == absolute / "client/cert"
    assert configs["relative-cmd"].credentials.auth_header() == "Bearer relative-cmd"
    assert configs["absolute-cmd"].credentials.auth_header() == "Bearer absolute-cmd"
    assert configs["path-cmd"].credentials.auth_header() == "Bearer from-path"


# == client_config_test.go ====================================================================================


def test_create_clean(isolated_env: Path, tmp_path: Path) -> None:
    """client_config_test.go TestCreateClean, TestCreateCleanDefault, TestCreateCleanDefaultCluster: server, token,
    verification on, no server name; current-context is the default."""
    path = clean(tmp_path)
    for cfg in (load(path, context="clean"), load(path)):
        assert cfg.host == SERVER
        assert cfg.credentials.auth_header() == "Bearer the-token"
        assert cfg.tls.insecure_skip_verify is False
        assert cfg.tls.server_name is None


@pytest.mark.parametrize(
    "server",
    [
        "https://anything.com:8080/foo/bar",
        "http://anything.com:8080/foo/bar",
        "http://anything.com:8080/foo/bar/",
        "http://anything.com:8080/",
        "http://anything.com:8080//",
    ],
)
def test_create_clean_with_prefix(isolated_env: Path, tmp_path: Path, server: str) -> None:
    """client_config_test.go TestCreateCleanWithPrefix (servers with a scheme): a path is kept as a prefix for
    every request (a proxy in front of the API server); a trailing slash is not significant."""
    path = one_context(tmp_path / "config", cluster={"server": server})
    assert load(path).host.rstrip("/") == server.rstrip("/")


@pytest.mark.parametrize("server", ["anything.com:8080/foo/bar", "anything.com:8080", "anything.com", "anything"])
def test_create_clean_with_prefix_schemeless(isolated_env: Path, tmp_path: Path, server: str) -> None:
    """client_config_test.go TestCreateCleanWithPrefix (servers without a scheme). With a path, client-go fails:
    'host must be a URL or a host:port pair' (rest/url_utils.go DefaultServerURL). Without one, client-go talks
    plain HTTP to it and sends no credentials (client_config.go ClientConfig, IsConfigTransportTLS); we refuse
    every scheme-less server instead (docs/config.md), naming the field and the cluster."""
    path = one_context(tmp_path / "config", cluster={"server": server}, user={"token": "t"})
    with pytest.raises(KubeconfigError, match="server") as info:
        load(path)
    mentions(info.value, server, "the-cluster")


_label = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_host = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.lists(_label, min_size=1, max_size=4).map(".".join),
)


@FAMILY
@given(
    host=_host,
    port=st.none() | st.integers(1, 65535),
    prefix=st.lists(_label, max_size=3).map(lambda parts: "".join("/" + p for p in parts)),
)
def test_create_clean_with_prefix_family(isolated_env: Path, host: str, port: int | None, prefix: str) -> None:
    """client_config_test.go TestCreateCleanWithPrefix, as a family: any https server (DNS name, IPv4, bracketed
    IPv6; with or without a port and a path prefix) is used as written."""
    server = f"https://{host}{'' if port is None else f':{port}'}{prefix}"
    with tempfile.TemporaryDirectory() as tmp:
        path = one_context(Path(tmp) / "config", cluster={"server": server}, user={"token": "t"})
        cfg = load(path)
        assert cfg.host.rstrip("/") == server
        assert cfg.credentials.auth_header() == "Bearer t"


def test_plain_http_server_sends_no_credentials(isolated_env: Path, tmp_path: Path) -> None:
    """client_config_test.go TestCreateCleanWithPrefix's http:// servers, as client_config.go ClientConfig treats
    them: user identification (token, certificates) is only merged when the transport is TLS."""
    path = one_context(tmp_path / "config", cluster={"server": "http://anything.com:8080"}, user={"token": "t"})
    cfg = load(path)
    assert cfg.host == "http://anything.com:8080"
    assert cfg.credentials.auth_header() is None


def test_create_missing_context(isolated_env: Path, tmp_path: Path) -> None:
    """client_config_test.go TestCreateMissingContext and TestCreateMissingContextNoDefault:
    'context was not found for specified context: not-present'."""
    with pytest.raises(KubeconfigError) as info:
        load(clean(tmp_path), context="not-present")
    mentions(info.value, "not-present")


def test_certificate_data(isolated_env: Path, tmp_path: Path) -> None:
    """client_config_test.go TestCertificateData: CA, certificate and key data reach the TLS configuration."""
    material = pki()
    path = one_context(
        tmp_path / "config",
        cluster={"server": "https://localhost:8443", "certificate-authority-data": b64(material.ca)},
        user={"client-certificate-data": b64(material.cert), "client-key-data": b64(material.key)},
    )
    cfg = load(path)
    assert cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == material.ca
    pem = client_pem(cfg)
    assert material.cert in pem and material.key in pem


@pytest.mark.parametrize(
    ("proxy_url", "ok"),
    [
        ("", True),
        ("socks5://example.com", True),
        ("https://example.com", True),
        ("http://example.com", True),
        ("socks6://example.com", False),
        ("example.com", False),
        ("chewbacca@example.com", False),
        ("http://", False),  # the loader's target; client-go's parseProxyURL checks only the scheme
    ],
)
def test_proxy_url(isolated_env: Path, tmp_path: Path, proxy_url: str, ok: bool) -> None:
    """client_config_test.go TestProxyURL: http, https and socks5 proxies; another scheme, no scheme or not a URL
    is an error naming proxy-url (helpers.go parseProxyURL). The last row is our target (a host is required)."""
    cluster: dict[str, Any] = {"server": "https://localhost:8443"}
    if proxy_url:
        cluster["proxy-url"] = proxy_url
    path = one_context(tmp_path / "config", cluster=cluster, user={})
    if not ok:
        with pytest.raises(KubeconfigError, match="proxy-url") as info:
            load(path)
        mentions(info.value, "the-cluster")
        return
    if proxy_url.startswith("socks5"):
        try:
            cfg = load(path)
        except KubeconfigError as exc:  # SOCKS needs optional packages; the error must say which
            mentions(exc, "proxy-url")
            return
    else:
        cfg = load(path)
    assert cfg.proxy_url == (proxy_url or None)


def test_basic_auth_data(isolated_env: Path, tmp_path: Path) -> None:
    """client_config_test.go TestBasicAuthData."""
    cfg = load(clean(tmp_path, username="myuser", password="mypass"))
    assert cfg.credentials.auth_header() == "Basic " + base64.b64encode(b"myuser:mypass").decode()


def test_basic_token_file(isolated_env: Path, tmp_path: Path) -> None:
    """client_config_test.go TestBasicTokenFile."""
    (tmp_path / "tokenfile").write_text("exampletoken")
    cfg = load(clean(tmp_path, tokenFile=str(tmp_path / "tokenfile")))
    assert cfg.credentials.auth_header() == "Bearer exampletoken"


# Go's unicode.IsSpace, which strings.TrimSpace uses (Python's str.strip agrees on all of these).
GO_SPACE = " \t\n\v\f\r\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
TOKEN_CHARS = string.ascii_letters + string.digits + "-._~+/="


@FAMILY
@given(
    before=st.text(st.sampled_from(GO_SPACE), max_size=4),
    token=st.text(st.sampled_from(TOKEN_CHARS), min_size=1, max_size=40),
    after=st.text(st.sampled_from(GO_SPACE), max_size=4),
)
def test_basic_token_file_whitespace(isolated_env: Path, before: str, token: str, after: str) -> None:
    """client_config_test.go TestBasicTokenFile, as a family: whitespace around the token in the file is not part
    of the token (transport/token_source.go fileTokenSource.Token: strings.TrimSpace)."""
    with tempfile.TemporaryDirectory() as tmp:
        token_file = Path(tmp) / "tokenfile"
        token_file.write_bytes((before + token + after).encode())
        cfg = load(clean(Path(tmp), tokenFile=str(token_file)))
        try:
            assert cfg.credentials.auth_header() == f"Bearer {token}"
        finally:
            cfg.close()


def test_precedence_token_file(isolated_env: Path, tmp_path: Path) -> None:
    """client_config_test.go TestPrecedenceTokenFile: with token and tokenFile, rest.Config.BearerToken is the
    inline token, but every request carries the file's token when the file is readable
    (transport/round_trippers.go bearerAuthRoundTripper.RoundTrip re-reads it), so that is the header."""
    (tmp_path / "tokenfile").write_text("exampletoken")
    cfg = load(clean(tmp_path, token="expected", tokenFile=str(tmp_path / "tokenfile")))
    assert cfg.credentials.auth_header() == "Bearer exampletoken"


def test_merge_context_namespace(isolated_env: Path, tmp_path: Path) -> None:
    """client_config_test.go TestMergeContext and TestNamespaceOverride: the context's namespace ('default' when
    it has none) unless a namespace is given explicitly."""
    path = one_context(tmp_path / "config", cluster={"server": SERVER}, context={"namespace": "from-context"})
    assert load(path).namespace == "from-context"
    assert load(path, namespace="overridden-namespace").namespace == "overridden-namespace"
    bare = one_context(tmp_path / "bare", cluster={"server": SERVER})
    assert load(bare).namespace == "default"


@pytest.mark.parametrize("context_namespace", ["from-context", None])
def test_pod_namespace_is_not_for_kubeconfig(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, context_namespace: str | None
) -> None:
    """client_config_test.go TestMergeContext, with POD_NAMESPACE set: DirectClientConfig.Namespace never reads it
    (only inClusterClientConfig.Namespace does), so a kubeconfig's context namespace, or 'default', is used."""
    monkeypatch.setenv("POD_NAMESPACE", "pod-namespace")
    context = {"namespace": context_namespace} if context_namespace else {}
    path = one_context(tmp_path / "config", cluster={"server": SERVER}, context=context)
    assert load(path).namespace == (context_namespace or "default")


def test_in_cluster_namespace(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """client_config.go inClusterClientConfig.Namespace (merged_client_builder_test.go TestInClusterConfigNamespace):
    POD_NAMESPACE first, then the service account's namespace file (trimmed), then 'default'."""
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("tok")
    (sa / "ca.crt").write_bytes(pki().ca)
    (sa / "namespace").write_text(" from-file\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")

    def namespace() -> str:
        cfg = incluster_sdk.load_config(in_cluster=True, service_account_dir=sa)
        cfg.close()
        return cfg.namespace

    assert namespace() == "from-file"
    monkeypatch.setenv("POD_NAMESPACE", "pod-namespace")
    assert namespace() == "pod-namespace"
    monkeypatch.delenv("POD_NAMESPACE")
    (sa / "namespace").unlink()
    assert namespace() == "default"


# client_config_test.go TestCleanANSIEscapeCodes
ANSI_TABLE = [
    (
        "DenyBoldCharacters",
        "\x1b[1mbold tuna\x1b[0m, fish, \x1b[1mbold marlin\x1b[0m",
        "U+001B[1mbold tunaU+001B[0m, fish, U+001B[1mbold marlinU+001B[0m",
    ),
    ("DenyCursorNavigation", "\x1b[2Aup up, \x1b[2Cright right", "U+001B[2Aup up, U+001B[2Cright right"),
    ("DenyClearScreen", "clear: \x1b[2J", "clear: U+001B[2J"),
    ("AllowSpaceCharactersUnchanged", "tuna\nfish\r\nmarlin\t\r\ntuna\vfish\fmarlin", None),
    ("AllowLetters", "alpha: \u03b1, beta: \u03b2, gamma: \u03b3", None),
    ("AllowMarks", "tu\u0301na with a mark over the u, fi\u0302sh with a mark over the i", None),
    ("AllowNumbers", "t1na, f2sh, m3rlin, t12a, f34h, m56lin, t123, f456, m567n", None),
    ("AllowPunctuation", '"here\'s a sentence; with! some...punctuation ;)"', None),
    ("AllowSymbols", "\u222b\u2081\u207f f(x) dx \u2248 \u2211\u2090\u208c\u2081\u207f f(x), a \u2208 \u2115", None),
    ("AllowSepatators", "here is a paragraph separator\u2029and here\u2003are\u2003some\u2003em\u2003spaces", None),
    (
        "TestCreateAuthConfigExecInstallHintCleanup",
        "some install hint with \x1b[1mcontrol chars\x1b[0m\nand a newline",
        "some install hint with U+001B[1mcontrol charsU+001B[0m\nand a newline",
    ),
]


def _missing_plugin_error(tmp_path: Path, hint: str) -> str:
    exec_section = {"apiVersion": V1BETA1, "command": str(tmp_path / "does-not-exist"), "installHint": hint}
    path = exec_user_config(tmp_path, exec_section)
    with pytest.raises(CredentialError) as info:
        load(path).credentials.auth_header()
    return str(info.value)


@pytest.mark.parametrize(("name", "hint", "shown"), ANSI_TABLE, ids=[row[0] for row in ANSI_TABLE])
def test_install_hint_escaped(isolated_env: Path, tmp_path: Path, name: str, hint: str, shown: str | None) -> None:
    """client_config_test.go TestCreateAuthConfigExecInstallHintCleanup and TestCleanANSIEscapeCodes: a missing
    plugin's error shows the installHint with control characters (ESC...) written as U+XXXX, and letters, marks,
    numbers, punctuation, symbols, separators and \\t-\\r as they are."""
    message = _missing_plugin_error(tmp_path, hint)
    assert (shown or hint) in message
    assert "\x1b" not in message


_hint_chars = st.characters(
    categories=("L", "M", "N", "P", "S", "Zs", "Zl", "Zp", "Cc", "Cf"), exclude_characters="\x00"
)


@FAMILY
@given(hint=st.text(_hint_chars, min_size=1, max_size=30).filter(lambda h: h == h.strip() and h.strip()))
def test_install_hint_escaped_family(isolated_env: Path, hint: str) -> None:
    """client_config_test.go TestCleanANSIEscapeCodes, as a family: any installHint is shown exactly as client-go's
    cleanANSIEscapeCodes would show it, and no control character other than \\t-\\r reaches the message."""
    with tempfile.TemporaryDirectory() as tmp:
        message = _missing_plugin_error(Path(tmp), hint)
    assert escaped_like_client_go(hint) in message
    assert escaped_like_client_go(message) == message


def test_auth_config_merge(isolated_env: Path, tmp_path: Path) -> None:
    """client_config_test.go TestAuthConfigMerge: args and provideClusterInfo from the user's exec, config from the
    cluster's 'client.authentication.k8s.io/exec' extension, namespace from the context."""
    plugin = Plugin(tmp_path / "plugin", credential("foo-token"))
    section = plugin.exec_config(provideClusterInfo=True)
    section["args"] += ["arg-1", "arg-2"]
    cluster = {
        "server": "https://localhost:8080",
        "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {"audience": "foo", "other": "bar"}}],
    }
    path = one_context(tmp_path / "config", cluster=cluster, user={"exec": section}, context={"namespace": "bar"})
    cfg = load(path)
    assert cfg.namespace == "bar"
    assert cfg.credentials.auth_header() == "Bearer foo-token"
    assert plugin.runs[0]["argv"] == ["arg-1", "arg-2"]
    assert plugin.exec_info()["spec"]["cluster"]["config"] == {"audience": "foo", "other": "bar"}


# == validation_test.go ========================================================================================


def _dirty_and_clean(tmp_path: Path) -> Path:
    return write_kubeconfig(
        tmp_path / "config",
        clusters={
            "missing ca": {"server": "https://anything", "certificate-authority": str(tmp_path / "missing")},
            "clean": {"server": "https://anything"},
        },
        users={"error": {"username": "anything", "token": "here"}, "clean": {"token": "here"}},
        contexts={"dirty": {"cluster": "missing ca", "user": "error"}, "clean": {"cluster": "clean", "user": "clean"}},
    )


def test_confirm_usable_bad_info_but_ok_config(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestConfirmUsableBadInfoButOkConfig: broken entries elsewhere in the file do not stop a
    clean context from loading; only what the chosen context uses is validated."""
    cfg = load(_dirty_and_clean(tmp_path), context="clean")
    assert cfg.credentials.auth_header() == "Bearer here"


def test_confirm_usable_bad_info_config(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestConfirmUsableBadInfoConfig: the dirty context (missing CA file, token + basic auth)
    fails; client-go reports 'unable to read certificate-authority' among its errors."""
    with pytest.raises(KubeconfigError, match=r"certificate-authority|more than one authentication method"):
        load(_dirty_and_clean(tmp_path), context="dirty")


@pytest.mark.parametrize(
    ("context", "named"),
    [("missing-user", "garbage"), ("missing-cluster", "garbage"), ("missing-both", "missing")],
    ids=["missing-user", "missing-cluster", "TestValidateMissingReferencesConfig"],
)
def test_confirm_usable_missing_objects(isolated_env: Path, tmp_path: Path, context: str, named: str) -> None:
    """validation_test.go TestConfirmUsableMissingObjects and TestValidateMissingReferencesConfig:
    'user "garbage" was not found for context', 'cluster "garbage" was not found for context'."""
    path = write_kubeconfig(
        tmp_path / "config",
        clusters={"kind-cluster": {"server": "https://anything"}},
        users={"kind-user": {"token": "any-value"}},
        contexts={
            "missing-user": {"cluster": "kind-cluster", "user": "garbage"},
            "missing-cluster": {"cluster": "garbage", "user": "kind-user"},
            "missing-both": {"cluster": "missing", "user": "missing"},
        },
    )
    with pytest.raises(KubeconfigError) as info:
        load(path, context=context)
    mentions(info.value, named, context)


@pytest.mark.parametrize("context", [None, "not-here"])
def test_confirm_usable_empty_config(isolated_env: Path, tmp_path: Path, context: str | None) -> None:
    """validation_test.go TestConfirmUsableEmptyConfig, TestConfirmUsableMissingConfig, TestValidateEmptyConfig:
    'no configuration has been provided'."""
    path = write_kubeconfig(tmp_path / "config", kubeconfig_doc())
    with pytest.raises(KubeconfigError) as info:
        load(path, context=context)
    mentions(info.value, context or str(path))


def test_validate_missing_current_context_config(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateMissingCurrentContextConfig: current-context names no context."""
    path = write_kubeconfig(tmp_path / "config", kubeconfig_doc(current="anything"))
    with pytest.raises(KubeconfigError) as info:
        load(path)
    mentions(info.value, "anything")


def test_validate_empty_context(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateEmptyContext: a context with no cluster ('cluster was not specified')."""
    path = write_kubeconfig(tmp_path / "config", contexts={"anything": {}}, current="anything")
    with pytest.raises(KubeconfigError) as info:
        load(path)
    mentions(info.value, "anything", "cluster")


def test_validate_empty_context_name(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateEmptyContextName: 'empty context name ... is not allowed'."""
    path = write_text(
        tmp_path / "config",
        """\
        current-context: anything
        clusters: [{name: missing, cluster: {server: "https://s"}}]
        contexts: [{name: "", context: {cluster: missing, user: missing}}]
        """,
    )
    with pytest.raises(KubeconfigError):
        load(path)


def test_validate_empty_cluster_info(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateEmptyClusterInfo: 'cluster has no server defined'."""
    path = one_context(tmp_path / "config", cluster={}, cluster_name="empty")
    with pytest.raises(KubeconfigError, match="server") as info:
        load(path)
    mentions(info.value, "empty")


def test_validate_missing_ca_file_cluster_info(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateMissingCAFileClusterInfo: 'unable to read certificate-authority'."""
    missing = tmp_path / "missing"
    path = one_context(
        tmp_path / "config", cluster={"server": "https://anything", "certificate-authority": str(missing)}
    )
    with pytest.raises(KubeconfigError, match="certificate-authority") as info:
        load(path)
    mentions(info.value, str(missing), "the-cluster")


def test_validate_clean_cluster_info(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateCleanClusterInfo and TestValidateCleanWithCAClusterInfo (with a readable CA
    file; client-go's own case uses an empty file, which its transport then ignores)."""
    assert load(one_context(tmp_path / "a", cluster={"server": "https://anything"})).host == "https://anything"
    (tmp_path / "ca.crt").write_bytes(pki().ca)
    cfg = load(
        one_context(
            tmp_path / "b", cluster={"server": "https://anything", "certificate-authority": str(tmp_path / "ca.crt")}
        )
    )
    assert cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == pki().ca


def test_validate_empty_auth_info(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateEmptyAuthInfo: an empty user is valid and anonymous."""
    cfg = load(one_context(tmp_path / "config", cluster={"server": SERVER}, user={}))
    assert cfg.credentials.auth_header() is None
    assert client_pem(cfg) == b""


def test_validate_cert_files_not_found_auth_info(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateCertFilesNotFoundAuthInfo: 'unable to read client-cert', '... client-key'."""
    user = {"client-certificate": str(tmp_path / "missing"), "client-key": str(tmp_path / "missing")}
    with pytest.raises(KubeconfigError, match=r"client-certificate|client-key") as info:
        load(one_context(tmp_path / "config", cluster={"server": SERVER}, user=user))
    mentions(info.value, str(tmp_path / "missing"), "the-user")


def test_validate_cert_data_overrides_files(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateCertDataOverridesFiles: certificate and key each given as file and data:
    'client-cert-data and client-cert are both specified'."""
    material = pki()
    (tmp_path / "cert").write_bytes(material.cert)
    (tmp_path / "key").write_bytes(material.key)
    user = {
        "client-certificate": str(tmp_path / "cert"),
        "client-certificate-data": b64(material.cert),
        "client-key": str(tmp_path / "key"),
        "client-key-data": b64(material.key),
    }
    with pytest.raises(KubeconfigError, match=r"client-certificate|client-key") as info:
        load(one_context(tmp_path / "config", cluster={"server": SERVER}, user=user))
    mentions(info.value, "the-user")


def test_validate_clean_cert_files_auth_info(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateCleanCertFilesAuthInfo: readable certificate and key files."""
    material = pki()
    (tmp_path / "cert").write_bytes(material.cert)
    (tmp_path / "key").write_bytes(material.key)
    user = {"client-certificate": str(tmp_path / "cert"), "client-key": str(tmp_path / "key")}
    cfg = load(one_context(tmp_path / "config", cluster={"server": SERVER}, user=user))
    assert (cfg.tls.client_cert_file, cfg.tls.client_key_file) == (tmp_path / "cert", tmp_path / "key")


def test_validate_clean_token_auth_info(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateCleanTokenAuthInfo."""
    assert load(clean(tmp_path, token="any-value")).credentials.auth_header() == "Bearer any-value"


@pytest.mark.parametrize(
    "user",
    [
        {"token": "token", "username": "username"},
        {"token": "token", "password": "password"},
        {"tokenFile": "TOKENFILE", "username": "username", "password": "password"},
    ],
    ids=["token+username", "token+password", "tokenFile+basic"],
)
def test_validate_multiple_methods_auth_info(isolated_env: Path, tmp_path: Path, user: dict[str, str]) -> None:
    """validation_test.go TestValidateMultipleMethodsAuthInfo: 'more than one authentication method ... token,
    basicAuth' (a password alone counts as basicAuth). tokenFile + basic auth passes client-go's validation but
    its transport refuses it ('username/password or bearer token may be set, but not both',
    transport/round_trippers.go HTTPWrappersForConfig)."""
    (tmp_path / "token").write_text("from-file")
    user = {k: str(tmp_path / "token") if v == "TOKENFILE" else v for k, v in user.items()}
    with pytest.raises(KubeconfigError) as info:
        load(one_context(tmp_path / "config", cluster={"server": SERVER}, user=user))
    mentions(info.value, "the-user")
    assert "more than one authentication method" in str(info.value) or "not both" in str(info.value)


def test_validate_auth_info_exec(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateAuthInfoExec and TestValidateAuthInfoExecNoEnv: command, apiVersion, args and
    env (an empty value is fine) are a valid exec block; the env reaches the plugin."""
    plugin = Plugin(tmp_path / "plugin", credential("ok"))
    section = plugin.exec_config(env=[{"name": "foo", "value": "bar"}, {"name": "empty", "value": ""}])
    section["args"] += ["hello", "world"]
    cfg = load(exec_user_config(tmp_path, section))
    assert cfg.credentials.auth_header() == "Bearer ok"
    run = plugin.runs[0]
    assert run["argv"] == ["hello", "world"]
    assert (run["env"]["foo"], run["env"]["empty"]) == ("bar", "")


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"command": "/bin/example"}, "apiVersion"),
        ({"apiVersion": V1BETA1}, "command"),
        ({}, "command"),
        ({"command": "/bin/example", "apiVersion": V1BETA1, "env": [{"value": "x"}]}, "env"),
        ({"command": "/bin/example", "apiVersion": V1BETA1, "env": [{"name": "", "value": "x"}]}, "env"),
        ({"command": "/bin/example", "apiVersion": V1}, "interactiveMode"),
        ({"command": "/bin/example", "apiVersion": V1, "interactiveMode": "invalid"}, "interactiveMode"),
        ({"command": "/bin/example", "apiVersion": V1BETA1, "interactiveMode": "invalid"}, "interactiveMode"),
    ],
    ids=[
        "TestValidateAuthInfoExecNoVersion",
        "TestValidateAuthInfoExecNoCommand",
        "exec-empty",
        "env-without-name",
        "env-empty-name",
        "TestValidateAuthInfoExecInteractiveModeMissing",
        "TestValidateAuthInfoExecInteractiveModeInvalid",
        "interactiveMode-invalid-v1beta1",
    ],
)
def test_validate_auth_info_exec_invalid(
    isolated_env: Path, tmp_path: Path, section: dict[str, Any], named: str
) -> None:
    """validation_test.go TestValidateAuthInfoExecNoVersion, ...NoCommand, ...InteractiveModeMissing,
    ...InteractiveModeInvalid, and validation.go's 'env variable name must be specified': the exec block is
    refused at load (an empty one too), naming the field and the user. interactiveMode is required for v1 (v1beta1
    defaults it, api/v1/defaults.go) and must be Never, IfAvailable or Always."""
    with pytest.raises(KubeconfigError, match=named) as info:
        load(exec_user_config(tmp_path, section))
    mentions(info.value, "exec-user")


def test_validate_auth_info_exec_with_auth_provider(isolated_env: Path, tmp_path: Path) -> None:
    """validation_test.go TestValidateAuthInfoExecWithAuthProvider: 'authProvider cannot be provided in
    combination with an exec plugin' (we refuse auth-provider in any case)."""
    section = {"command": "/bin/example", "apiVersion": V1BETA1}
    with pytest.raises(KubeconfigError, match=r"auth-provider|authProvider") as info:
        load(exec_user_config(tmp_path, section, **{"auth-provider": {"name": "oidc"}}))
    mentions(info.value, "exec-user")


@pytest.mark.parametrize(
    ("field", "value"),
    [("as-groups", ["group-1", "group-2"]), ("as-user-extra", {"key": ["val1", "val2"]}), ("as-uid", "abc123")],
    ids=[
        "TestValidateAuthInfoImpersonateGroupsWithoutUserInvalid",
        "TestValidateAuthInfoImpersonateExtraWithoutUserInvalid",
        "TestValidateAuthInfoImpersonateUIDWithoutUserInvalid",
    ],
)
def test_validate_impersonation_without_user(isolated_env: Path, tmp_path: Path, field: str, value: Any) -> None:
    """validation_test.go TestValidateAuthInfoImpersonate*WithoutUserInvalid: 'requesting uid, groups or user-extra
    for user without impersonating a user'."""
    with pytest.raises(KubeconfigError, match=field) as info:
        load(one_context(tmp_path / "config", cluster={"server": SERVER}, user={field: value}))
    mentions(info.value, "the-user")


# == exec_test.go ===============================================================================================

# TestRefreshCreds rows: exec apiVersion, interactiveMode, whether stdin is a terminal, the plugin's output, the
# expected outcome (a token, or an error pattern) and the KUBERNETES_EXEC_INFO spec the plugin must get.
OK_BETA = credential("foo-bar")
NOT_INTERACTIVE = {"interactive": False}
INTERACTIVE = {"interactive": True}


def refresh_row(
    name: str,
    mode: str | None,
    tty: bool,
    spec: dict[str, Any] | None = NOT_INTERACTIVE,
    *,
    api: str = V1BETA1,
    output: str = OK_BETA,
    error: str | None = None,
) -> Any:
    return pytest.param(api, mode, tty, output, error, spec, id=name)


REFRESH_CREDS = [
    refresh_row("beta-basic-request", "IfAvailable", False),
    refresh_row("beta-basic-request-with-never-interactive-mode", "Never", False),
    refresh_row("beta-basic-request-with-if-available-interactive-mode", "IfAvailable", False),
    refresh_row("beta-basic-request-with-if-available-interactive-mode-and-terminal", "IfAvailable", True, INTERACTIVE),
    refresh_row("beta-never-interactive-mode-and-terminal", "Never", True),
    refresh_row("beta-interactive-mode-defaults-to-if-available", None, True, INTERACTIVE),
    refresh_row("beta-basic-request-with-always-interactive-mode", "Always", False, None, error="(?i)terminal"),
    refresh_row("beta-basic-request-with-always-interactive-mode-and-terminal", "Always", True, INTERACTIVE),
    refresh_row("beta-expiry", "IfAvailable", False, output=credential("foo-bar", expiry="2006-01-02T15:04:05Z")),
    refresh_row("beta-no-group-version", None, False, output=credential("x", api_version=None), error="apiVersion"),
    refresh_row("beta-no-kind", None, False, output=credential("x", kind=None), error="kind"),
    refresh_row("beta-wrong-kind", None, False, output=credential("x", kind="Status"), error="kind"),
    refresh_row("beta-no-status", None, False, output=credential(status=False), error="status"),
    refresh_row("beta-no-token", None, False, output=credential(status={}), error="token"),
    refresh_row("v1-basic-request", "IfAvailable", False, api=V1, output=credential("foo-bar", api_version=V1)),
    refresh_row("v1-answered-with-v1beta1", "Never", False, api=V1, error=V1BETA1),
]


@pytest.mark.parametrize(("api_version", "mode", "tty", "output", "error", "spec"), REFRESH_CREDS)
def test_refresh_creds(
    isolated_env: Path,
    tmp_path: Path,
    api_version: str,
    mode: str | None,
    tty: bool,
    output: str,
    error: str | None,
    spec: dict[str, Any] | None,
) -> None:
    """exec_test.go TestRefreshCreds (table): what the plugin is told in KUBERNETES_EXEC_INFO (exactly, and
    spec.interactive by interactiveMode and whether stdin is a terminal; Always without one is an error when
    the plugin would run), and which answers are refused: no apiVersion, no or another kind, no status, neither
    token nor certificate, an apiVersion other than the configured one."""
    plugin = Plugin(tmp_path / "plugin", output)
    extra = {} if mode is None else {"interactiveMode": mode}
    path = exec_user_config(tmp_path, plugin.exec_config(api_version, **extra))
    with standard_input(terminal=tty):
        cfg = load(path)  # client-go runs the plugin on the first request, never while loading
        if error is not None:
            with pytest.raises(CredentialError, match=error) as info:
                cfg.credentials.auth_header()
            mentions(info.value, "exec-user")
            return
        header = cfg.credentials.auth_header()
    assert header == "Bearer foo-bar"
    assert plugin.exec_info() == {"apiVersion": api_version, "kind": "ExecCredential", "spec": spec}


def test_refresh_creds_v1_with_missing_interactive_mode(isolated_env: Path, tmp_path: Path) -> None:
    """exec_test.go TestRefreshCreds 'v1-with-missing-interactive-mode': 'unknown interactiveMode: ""'; the
    kubeconfig validation (validation.go) already refuses it at load, and the plugin never runs."""
    plugin = Plugin(tmp_path / "plugin", credential("foo-bar", api_version=V1))
    with pytest.raises(ConfigError, match="interactiveMode"):
        load(exec_user_config(tmp_path, plugin.exec_config(V1))).credentials.auth_header()
    assert plugin.runs == []


def test_refresh_creds_with_tls_credentials(isolated_env: Path, tmp_path: Path) -> None:
    """exec_test.go TestRefreshCreds 'beta-with-TLS-credentials': a certificate and key instead of a token."""
    material = pki()
    plugin = Plugin(tmp_path / "plugin", credential(cert=material.cert, key=material.key))
    cfg = load(exec_user_config(tmp_path, plugin.exec_config()))
    assert cfg.credentials.auth_header() is None
    pem = client_pem(cfg)
    assert material.cert.strip() in pem and material.key.strip() in pem


@pytest.mark.parametrize(
    ("cert", "key", "named"),
    [
        ("bar", "foo", r"(?i)certificate|key"),
        ("CERT", None, "(?i)key"),
        (None, "KEY", "(?i)certificate"),
        ("CERT", "OTHER_KEY", r"(?i)certificate|key"),
    ],
    ids=["beta-with-bad-TLS-credentials", "beta-cert-but-no-key", "key-but-no-cert", "cert-and-key-do-not-match"],
)
def test_refresh_creds_bad_tls_credentials(
    isolated_env: Path, tmp_path: Path, cert: str | None, key: str | None, named: str
) -> None:
    """exec_test.go TestRefreshCreds 'beta-with-bad-TLS-credentials' and 'beta-cert-but-no-key': 'exec plugin
    returned only certificate or key, not both', 'failed parsing client key/certificate'."""
    material = pki()
    real = {"CERT": material.cert.decode(), "KEY": material.key.decode(), "OTHER_KEY": material.other_key.decode()}
    plugin = Plugin(tmp_path / "plugin", credential(cert=real.get(cert or "", cert), key=real.get(key or "", key)))
    with pytest.raises(CredentialError, match=named) as info:
        client_pem(load(exec_user_config(tmp_path, plugin.exec_config())))
    mentions(info.value, "exec-user")


def test_refresh_creds_unknown_binary(isolated_env: Path, tmp_path: Path) -> None:
    """exec_test.go TestRefreshCreds 'unknown-binary': the error carries the installHint."""
    message = _missing_plugin_error(tmp_path, "some install hint")
    assert "some install hint" in message


def test_refresh_creds_binary_fails(isolated_env: Path, tmp_path: Path) -> None:
    """exec_test.go TestRefreshCreds 'binary-fails': 'failed with exit code 73'."""
    plugin = Plugin(tmp_path / "plugin")
    plugin.answer("", exit_code=73)
    with pytest.raises(CredentialError, match=r"\b73\b") as info:
        load(exec_user_config(tmp_path, plugin.exec_config())).credentials.auth_header()
    mentions(info.value, "exec-user")


def test_unsupported_exec_api_version(isolated_env: Path, tmp_path: Path) -> None:
    """exec.go newAuthenticator: 'exec plugin: invalid apiVersion' for anything but v1 and v1beta1 (v1alpha1 is
    gone); the plugin never runs."""
    plugin = Plugin(tmp_path / "plugin", credential("x", api_version="client.authentication.k8s.io/v1alpha1"))
    section = plugin.exec_config("client.authentication.k8s.io/v1alpha1", interactiveMode="Never")
    with pytest.raises(ConfigError, match="v1alpha1"):
        load(exec_user_config(tmp_path, section)).credentials.auth_header()
    assert plugin.runs == []


CLUSTER_INFO_EXTENSION = {"apiVersion": "group/v1", "kind": "PluginConfig", "spec": {"audience": "snorlax"}}


@pytest.mark.parametrize(
    "provide", [True, False], ids=["is-serialized", "without-provide-cluster-info-is-not-serialized"]
)
def test_refresh_creds_with_cluster(isolated_env: Path, tmp_path: Path, provide: bool) -> None:
    """exec_test.go TestRefreshCreds 'beta-with-cluster-and-provide-cluster-info-is-serialized' and
    '...-without-provide-cluster-info-is-not-serialized': spec.cluster carries server, tls-server-name,
    certificate-authority-data and the exec extension as config (rest/exec.go ConfigToExecCluster), only when
    provideClusterInfo is set."""
    material = pki()
    plugin = Plugin(tmp_path / "plugin", OK_BETA)
    cluster = {
        "server": "https://foo",
        "tls-server-name": "bar",
        "certificate-authority-data": b64(material.ca),
        "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": CLUSTER_INFO_EXTENSION}],
    }
    section = plugin.exec_config(interactiveMode="IfAvailable", provideClusterInfo=provide)
    with standard_input(terminal=False):
        assert load(exec_user_config(tmp_path, section, cluster=cluster)).credentials.auth_header() == "Bearer foo-bar"
    spec: dict[str, Any] = {"interactive": False}
    if provide:
        spec["cluster"] = {
            "server": "https://foo",
            "tls-server-name": "bar",
            "certificate-authority-data": b64(material.ca),
            "config": CLUSTER_INFO_EXTENSION,
        }
    assert plugin.exec_info() == {"apiVersion": V1BETA1, "kind": "ExecCredential", "spec": spec}


def test_cluster_info_insecure_and_proxy(isolated_env: Path, tmp_path: Path) -> None:
    """exec_test.go TestRefreshCreds with-cluster, the other fields of rest/exec.go ConfigToExecCluster:
    insecure-skip-tls-verify and proxy-url appear when set; the extension absent, config is absent."""
    plugin = Plugin(tmp_path / "plugin", OK_BETA)
    cluster = {"server": "https://foo", "insecure-skip-tls-verify": True, "proxy-url": "http://proxy:3128"}
    load(
        exec_user_config(tmp_path, plugin.exec_config(provideClusterInfo=True), cluster=cluster)
    ).credentials.auth_header()
    assert plugin.exec_info()["spec"]["cluster"] == {
        "server": "https://foo",
        "insecure-skip-tls-verify": True,
        "proxy-url": "http://proxy:3128",
    }


def test_round_tripper(isolated_env: Path, tmp_path: Path) -> None:
    """exec_test.go TestRoundTripper: the token is cached; a 401 runs the plugin again; a token with an expiry is
    kept until then; an expired token is replaced before use, without a 401."""
    plugin = Plugin(tmp_path / "plugin", credential("token1"))
    creds = load(exec_user_config(tmp_path, plugin.exec_config())).credentials
    assert plugin.runs == []  # nothing runs at load: client-go runs the plugin on the first request
    assert creds.auth_header() == "Bearer token1"
    plugin.answer(credential("token2"))
    sent = creds.request_credential()
    assert sent.header == "Bearer token1"  # cached
    creds.unauthorized(sent)
    sent = creds.request_credential()
    assert sent.header == "Bearer token2"  # rotated by the 401
    plugin.answer(credential("token3", expiry=an_hour_ago()))
    creds.unauthorized(sent)
    plugin.answer(credential("token4", expiry=in_an_hour()))
    headers = [creds.auth_header() for _ in range(3)]
    assert headers[1:] == ["Bearer token4", "Bearer token4"]  # token3 had expired: refreshed, no 401 needed
    assert len(plugin.runs) == 4


def test_refresh_after_401_only_once(isolated_env: Path, tmp_path: Path) -> None:
    """exec.go maybeRefreshCreds ('unless they were rotated already'), as TestRoundTripper relies on: a 401 for a
    token that has already been replaced does not run the plugin again."""
    plugin = Plugin(tmp_path / "plugin", credential("token1"), credential("token2"), credential("token3"))
    creds = load(exec_user_config(tmp_path, plugin.exec_config())).credentials
    first = creds.request_credential()
    assert first.header == "Bearer token1"
    assert creds.unauthorized(first)
    assert creds.auth_header() == "Bearer token2"
    assert creds.unauthorized(first)  # a late 401 for a request sent with the old token: retry, no new run
    assert creds.auth_header() == "Bearer token2"
    assert len(plugin.runs) == 2


def test_concurrent_401s_for_one_credential_run_the_plugin_once(isolated_env: Path, tmp_path: Path) -> None:
    """exec.go maybeRefreshCreds under concurrency: requests that all carried the same credential and all got a
    401 cause one plugin run (the first refreshes, the others see a newer generation and retry with it)."""
    plugin = Plugin(tmp_path / "plugin", credential("token1"), credential("token2"), credential("token3"))
    creds = load(exec_user_config(tmp_path, plugin.exec_config())).credentials
    sent = creds.request_credential()
    start = threading.Barrier(8)
    answers: list[bool] = []

    def refused() -> None:
        start.wait()
        answers.append(creds.unauthorized(sent))

    threads = [threading.Thread(target=refused) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [True] * 8
    assert len(plugin.runs) == 2
    assert creds.auth_header() == "Bearer token2"


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ({"token": "token1f"}, "Bearer token1f"),
        ({"username": "marshmallow", "password": "zelda"}, "Basic " + base64.b64encode(b"marshmallow:zelda").decode()),
        ({"tokenFile": "TOKENFILE"}, "Bearer from-file"),
        ({"client-certificate-data": "CERT", "client-key-data": "KEY"}, None),
    ],
    ids=["bearer token", "basic auth", "token file", "cert auth"],
)
def test_authorization_header_present_cancels_exec_action(
    isolated_env: Path, tmp_path: Path, user: dict[str, str], expected: str | None
) -> None:
    """exec_test.go TestAuthorizationHeaderPresentCancelsExecAction: with a static bearer token, basic auth or a
    client certificate, the exec plugin is never run (exec.go UpdateTransportConfig returns early when
    HasTokenAuth, HasBasicAuth or HasCertAuth). So for 'cert auth' the static certificate is used and no bearer
    token is sent."""
    material = pki()
    (tmp_path / "token").write_text("from-file")
    replacements = {"CERT": b64(material.cert), "KEY": b64(material.key), "TOKENFILE": str(tmp_path / "token")}
    static = {k: replacements.get(v, v) for k, v in user.items()}
    plugin = Plugin(tmp_path / "plugin", credential("from-plugin"))
    cfg = load(exec_user_config(tmp_path, plugin.exec_config(), **static))
    assert cfg.credentials.auth_header() == expected
    pem = client_pem(cfg)
    assert plugin.runs == []
    if expected is None:
        assert material.cert in pem


def test_tls_credentials_rotate(isolated_env: Path, tmp_path: Path) -> None:
    """exec_test.go TestTLSCredentials: the plugin's certificate is used; when it expires the plugin runs again and
    the new certificate is used, and then the old one again."""
    material = pki()
    plugin = Plugin(
        tmp_path / "plugin",
        credential(cert=material.cert, key=material.key, expiry=an_hour_ago()),
        credential(cert=material.other_cert, key=material.other_key, expiry=an_hour_ago()),
        credential(cert=material.cert, key=material.key, expiry=in_an_hour()),
    )
    cfg = load(exec_user_config(tmp_path, plugin.exec_config()))
    assert material.cert.strip() in client_pem(cfg)
    assert material.other_cert.strip() in client_pem(cfg)
    assert material.cert.strip() in client_pem(cfg)
    assert material.cert.strip() in client_pem(cfg)
    assert len(plugin.runs) == 3


def test_concurrent_update_transport_config(isolated_env: Path, tmp_path: Path) -> None:
    """exec_test.go TestConcurrentUpdateTransportConfig: many threads asking for credentials at once run the
    plugin once and all get its token."""
    plugin = Plugin(tmp_path / "plugin", credential("shared", expiry=in_an_hour()))
    creds = load(exec_user_config(tmp_path, plugin.exec_config())).credentials
    headers: list[str | None] = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait()
        headers.extend(creds.auth_header() for _ in range(5))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert headers == ["Bearer shared"] * 40
    assert len(plugin.runs) == 1


# -- expirationTimestamp: metav1.Time, RFC 3339 ------------------------------------------------------------------


def _rfc3339(instant: dt.datetime, frac_digits: int, offset_minutes: int | None) -> str:
    zone = dt.timezone.utc if offset_minutes is None else dt.timezone(dt.timedelta(minutes=offset_minutes))
    local = instant.astimezone(zone)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if frac_digits:
        text += "." + f"{local.microsecond:06d}{'0' * 3}"[:frac_digits]
    if offset_minutes is None:
        return text + "Z"
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


@SLOW_FAMILY
@given(
    minutes=st.integers(90, 60 * 24 * 365 * 50),
    future=st.booleans(),
    frac_digits=st.integers(0, 9),
    offset=st.none() | st.integers(-14 * 60, 14 * 60),
)
def test_expiration_timestamp_family(
    isolated_env: Path, minutes: int, future: bool, frac_digits: int, offset: int | None
) -> None:
    """exec_test.go TestRefreshCreds 'beta-expiry', as a family: any RFC 3339 expirationTimestamp (fractional
    seconds of 0-9 digits, Z or a numeric offset) is honoured: a future one keeps the token, a past one runs the
    plugin again before the next use."""
    now = dt.datetime.now(dt.timezone.utc)
    instant = now + dt.timedelta(minutes=minutes if future else -minutes)
    assume(dt.datetime(1971, 1, 1, tzinfo=dt.timezone.utc) < instant < dt.datetime(9000, 1, 1, tzinfo=dt.timezone.utc))
    stamp = _rfc3339(instant, frac_digits, offset)
    with tempfile.TemporaryDirectory() as tmp:
        plugin = Plugin(Path(tmp) / "plugin", credential("t", expiry=stamp))
        creds = load(exec_user_config(Path(tmp), plugin.exec_config())).credentials
        assert creds.auth_header() == "Bearer t"
        assert creds.auth_header() == "Bearer t"
        assert len(plugin.runs) == (1 if future else 2), stamp


@pytest.mark.parametrize(
    "stamp",
    [
        "",
        "2006-01-02",
        "2006-01-02T15:04:05",
        "2006-01-02 15:04:05Z",
        "2006-01-02T15:04:05+0700",
        "20060102T150405Z",
        "tomorrow",
        1136214245,
    ],
)
def test_expiration_timestamp_not_rfc3339(isolated_env: Path, tmp_path: Path, stamp: Any) -> None:
    """exec_test.go TestRefreshCreds 'beta-expiry', the other side: metav1.Time accepts only an RFC 3339 string
    (time.Parse(time.RFC3339)); anything else fails decoding the plugin's answer."""
    plugin = Plugin(tmp_path / "plugin", credential("t", expiry=stamp))
    with pytest.raises(CredentialError, match="expirationTimestamp") as info:
        load(exec_user_config(tmp_path, plugin.exec_config())).credentials.auth_header()
    mentions(info.value, "exec-user")


# == the loader's target, where a peer test has the input ======================================================


def test_static_credentials_beat_exec(isolated_env: Path, tmp_path: Path) -> None:
    """client_config.go getUserIdentificationPartialConfig + exec.go UpdateTransportConfig
    (TestAuthorizationHeaderPresentCancelsExecAction): token and exec in one user is not 'more than one
    authentication method' (validation.go counts only token and basicAuth); the token wins, the plugin is not run."""
    plugin = Plugin(tmp_path / "plugin", credential("from-plugin"))
    cfg = load(exec_user_config(tmp_path, plugin.exec_config(), token="static"))
    assert cfg.credentials.auth_header() == "Bearer static"
    assert plugin.runs == []


@pytest.mark.parametrize(
    ("location", "field", "value", "expected_type"),
    [
        ("cluster", "insecure-skip-tls-verify", "false", "bool"),
        ("cluster", "server", 6443, "str"),
        ("cluster", "certificate-authority-data", 12345, "str|base64"),
        ("cluster", "extensions", {"name": "x"}, "list|array|sequence"),
        ("user", "token", 12345, "str"),
        ("user", "tokenFile", True, "str"),
        ("user", "exec", "kubectl-plugin", "map|dict|object"),
        ("exec", "args", "a b", "list|array|sequence"),
        ("exec", "env", {"name": "x", "value": "y"}, "list|array|sequence"),
        ("exec", "provideClusterInfo", "true", "bool"),
        ("context", "namespace", 5, "str"),
        ("context", "cluster", ["a"], "str"),
    ],
)
def test_strict_field_types(
    isolated_env: Path, tmp_path: Path, location: str, field: str, value: Any, expected_type: str
) -> None:
    """loader.go Load (clientcmdlatest.Codec.Decode into the typed v1 Config): a value of the wrong type is a
    decoding error ('cannot unmarshal string into ... of type bool'), never a guess. Ours names the file, the
    entry, the field and the expected type."""
    cluster: dict[str, Any] = {"server": SERVER}
    exec_section: dict[str, Any] = {"apiVersion": V1BETA1, "command": "/bin/true"}
    user: dict[str, Any] = {"exec": exec_section} if location == "exec" else {"token": "t"}
    context: dict[str, Any] = {}
    target = {"cluster": cluster, "user": user, "exec": exec_section, "context": context}[location]
    target[field] = value
    if field == "exec":
        user.pop("token")
    path = one_context(tmp_path / "config", cluster=cluster, user=user, context=context)
    with pytest.raises(KubeconfigError, match=expected_type) as info:
        load(path)
    entry = {"cluster": "the-cluster", "user": "the-user", "exec": "the-user", "context": "ctx"}[location]
    mentions(info.value, str(path), entry, field)


def test_strict_type_of_current_context(isolated_env: Path, tmp_path: Path) -> None:
    """loader.go Load, typed decoding: current-context must be a string."""
    path = write_text(tmp_path / "config", "current-context: 1\ncontexts: [{name: '1', context: {cluster: c}}]\n")
    with pytest.raises(KubeconfigError, match="current-context") as info:
        load(path)
    mentions(info.value, str(path))


_B64_FIELDS = [
    ("cluster", "certificate-authority-data", "ca"),
    ("user", "client-certificate-data", "cert"),
    ("user", "client-key-data", "key"),
]


def _data_kubeconfig(directory: Path, field: str, encoded: str) -> Path:
    material = pki()
    cluster: dict[str, Any] = {"server": SERVER, "certificate-authority-data": b64(material.ca)}
    user: dict[str, Any] = {"client-certificate-data": b64(material.cert), "client-key-data": b64(material.key)}
    (cluster if field.startswith("certificate") else user)[field] = encoded
    return one_context(directory / "config", cluster=cluster, user=user)


@FAMILY
@given(
    which=st.sampled_from(_B64_FIELDS),
    extra_newlines=st.integers(0, 2),
    mutation=st.sampled_from(["insert", "unpad", "urlsafe"]),
    data=st.data(),
)
def test_strict_base64(
    isolated_env: Path, which: tuple[str, str, str], extra_newlines: int, mutation: str, data: st.DataObject
) -> None:
    """TestCertificateData's *-data fields, as a family: they are []byte in client-go's v1 types, decoded with
    encoding/json's strict standard base64. A stray character, missing padding or the URL-safe alphabet is an
    error naming the field; nothing is silently skipped."""
    _, field, attr = which
    raw = getattr(pki(), attr) + b"\n" * extra_newlines
    encoded = b64(raw)
    if mutation == "insert":
        position = data.draw(st.integers(0, len(encoded)))
        bad = data.draw(st.sampled_from(" !*@#$%-_.,:;"))
        encoded = encoded[:position] + bad + encoded[position:]
    elif mutation == "unpad":
        assume(encoded.endswith("="))
        encoded = encoded.rstrip("=")
    else:
        assume("+" in encoded or "/" in encoded)
        encoded = encoded.replace("+", "-").replace("/", "_")
    with tempfile.TemporaryDirectory() as tmp:
        path = _data_kubeconfig(Path(tmp), field, encoded)
        with pytest.raises(KubeconfigError, match=field):
            load(path)


@FAMILY
@given(which=st.sampled_from(_B64_FIELDS), data=st.data())
def test_base64_line_breaks_are_ignored(isolated_env: Path, which: tuple[str, str, str], data: st.DataObject) -> None:
    """TestCertificateData's *-data fields, the permitted side: Go's base64 decoder skips \\r and \\n anywhere
    (encoding/base64 'New line characters (\\r and \\n) are ignored'), so wrapped base64 decodes to the same bytes."""
    _, field, attr = which
    raw = getattr(pki(), attr)
    encoded = b64(raw)
    positions = sorted(data.draw(st.lists(st.integers(0, len(encoded)), min_size=1, max_size=4)), reverse=True)
    for position in positions:
        encoded = encoded[:position] + data.draw(st.sampled_from(["\n", "\r\n", "\r"])) + encoded[position:]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load(_data_kubeconfig(Path(tmp), field, encoded))
        if attr == "ca":
            assert cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == raw
        else:
            assert raw in client_pem(cfg)


@pytest.mark.parametrize(
    "ca",
    ["cert+junk", "key-only", "cert+key", "garbage-pem"],
)
def test_ca_bundle_only_certificates(isolated_env: Path, tmp_path: Path, ca: str) -> None:
    """TestCertificateData's CA, the loader's target: a CA bundle must hold only certificates. (Stricter than
    client-go, whose transport (transport.go rootCertPool, x509 AppendCertsFromPEM) skips what is not a
    certificate and needs just one.)"""
    material = pki()
    bundle = {
        "cert+junk": material.ca + b"this line is not a certificate\n",
        "key-only": material.key,
        "cert+key": material.ca + material.key,
        "garbage-pem": b"-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n",
    }[ca]
    for form in ("data", "file"):
        (tmp_path / "ca.crt").write_bytes(bundle)
        cluster = {"server": SERVER}
        cluster.update(
            {"certificate-authority-data": b64(bundle)}
            if form == "data"
            else {"certificate-authority": str(tmp_path / "ca.crt")}
        )
        with pytest.raises(KubeconfigError, match="certificate-authority") as info:
            load(one_context(tmp_path / f"config-{form}", cluster=cluster))
        mentions(info.value, "the-cluster")


def test_ca_with_insecure_skip_tls_verify(isolated_env: Path, tmp_path: Path) -> None:
    """client_config_test.go TestInsecureOverridesCA's input without the override: a CA and
    insecure-skip-tls-verify together ('specifying a root certificates file with the insecure flag is not
    allowed', transport/transport.go TLSConfigFor)."""
    cluster = {"server": SERVER, "certificate-authority-data": b64(pki().ca), "insecure-skip-tls-verify": True}
    with pytest.raises(KubeconfigError, match="insecure-skip-tls-verify") as info:
        load(one_context(tmp_path / "config", cluster=cluster))
    mentions(info.value, "the-cluster")


def test_client_cert_and_key_must_match(isolated_env: Path, tmp_path: Path) -> None:
    """TestCertificateData with a key that is not the certificate's: tls.X509KeyPair 'private key does not match
    public key' (transport.go TLSConfigFor), refused at load and naming the user."""
    material = pki()
    user = {"client-certificate-data": b64(material.cert), "client-key-data": b64(material.other_key)}
    with pytest.raises(KubeconfigError, match=r"certificate|key") as info:
        load(one_context(tmp_path / "config", cluster={"server": SERVER}, user=user))
    mentions(info.value, "the-user")


def test_plugin_inherits_environment_and_adds_its_own(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """exec_test.go TestRefreshCreds's env handling (exec.go refreshCredsLocked: os.Environ() + the exec env +
    KUBERNETES_EXEC_INFO): the plugin sees our environment, the kubeconfig's env entries (winning over ours) and
    KUBERNETES_EXEC_INFO."""
    monkeypatch.setenv("PORTED_FROM_PARENT", "parent")
    monkeypatch.setenv("PORTED_OVERRIDDEN", "parent")
    plugin = Plugin(tmp_path / "plugin", OK_BETA)
    section = plugin.exec_config(env=[{"name": "PORTED_OVERRIDDEN", "value": "kubeconfig"}])
    load(exec_user_config(tmp_path, section)).credentials.auth_header()
    env = plugin.runs[0]["env"]
    assert (env["PORTED_FROM_PARENT"], env["PORTED_OVERRIDDEN"]) == ("parent", "kubeconfig")
    assert "KUBERNETES_EXEC_INFO" in env


def test_exec_command_path_lookup_uses_our_path(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """loader_test.go TestResolveRelativePaths 'PATH-cmd-1': a command without a separator is run from PATH, not
    from the kubeconfig's directory nor the working directory."""
    shell_plugin(tmp_path / "bin" / "kc-path-only", "from-path")
    shell_plugin(tmp_path / "kc" / "kc-path-only", "from-kubeconfig-dir")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path / "kc")
    path = one_context(
        tmp_path / "kc" / "config",
        cluster={"server": SERVER},
        user={"exec": {"apiVersion": V1BETA1, "command": "kc-path-only"}},
    )
    assert load(path).credentials.auth_header() == "Bearer from-path"
