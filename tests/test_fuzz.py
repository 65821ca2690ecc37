"""Bad input of every kind gets the SDK's own documented errors: never a hang, never an unrelated exception.

Fuzzed with hypothesis: kubeconfig documents, token files, CA files, the service env vars, and watch
stream bytes (truncated JSON, unknown event types, wrong shapes, huge lines).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import incluster_sdk
from incluster_sdk.errors import ConfigError
from incluster_sdk.incluster import server_url
from incluster_sdk.tls import validate_ca_pem
from incluster_sdk.tokens import decode_claims
from incluster_sdk.watch.machine import Applied, WatchMachine
from incluster_sdk.watch.options import InitialList
from incluster_sdk.watch.store import Store
from incluster_sdk.watch.wire import WatchDecoder, WatchProtocolError


def raised(fn: Any, *args: Any, **kwargs: Any) -> BaseException | None:
    """Run ``fn``; the exception it raised, or None. Anything but the SDK's documented errors fails the test."""
    try:
        result = fn(*args, **kwargs)
    except (ConfigError, WatchProtocolError) as exc:
        return exc
    if hasattr(result, "close"):
        result.close()
    return None


FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def documents_with_keys(keys: str) -> st.SearchStrategy[Any]:
    """JSON-like values whose objects mostly use the given (space-separated) keys, so that the code under
    test gets past its first lookups."""
    key = st.sampled_from(keys.split())
    return st.recursive(
        json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(key, inner, max_size=6), max_leaves=30
    )


kubeconfig_like = documents_with_keys(
    "apiVersion kind clusters users contexts current-context cluster user context name server token namespace"
    " certificate-authority-data client-certificate-data client-key-data exec command insecure-skip-tls-verify"
    " tokenFile username password"
)


@FUZZ
@given(doc=kubeconfig_like)
def test_kubeconfig_documents(doc: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("kc") / "config"
    path.write_text(yaml.safe_dump(doc))
    error = raised(incluster_sdk.load_config, kubeconfig=path)
    assert error is None or str(path) in str(error) or "kubeconfig" in str(error), error


@FUZZ
@given(text=st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_kubeconfig_raw_text(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("kc") / "config"
    path.write_text(text)
    raised(incluster_sdk.load_config, kubeconfig=path)


@FUZZ
@given(token=st.binary(max_size=400), namespace=st.binary(max_size=60))
def test_mounted_token_and_namespace_files(
    token: bytes, namespace: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from incluster_sdk.testing import FakeServiceAccountMount

    mount = FakeServiceAccountMount(tmp_path_factory.mktemp("sa"), token="placeholder", namespace="ns")
    mount.write_in_place("token", token)
    mount.write_in_place("namespace", namespace)
    with mount.activated():
        error = raised(incluster_sdk.load_config, in_cluster=True)
    if error is not None:  # only a bad token may fail, and the message says it is the token
        assert token.strip() == b"" or not _ascii(token) or any(c < 32 or c == 127 for c in token.strip()), error
        assert "token" in str(error)


def _ascii(data: bytes) -> bool:
    try:
        data.decode("ascii")
    except UnicodeDecodeError:
        return False
    return True


@FUZZ
@given(token=st.text(max_size=300))
def test_token_claims_decode_never_raises(token: str) -> None:
    decode_claims(token)


@FUZZ
@given(data=st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
def test_ca_files(data: bytes) -> None:
    error = raised(validate_ca_pem, data, where="ca.crt", fix="fix it")
    assert error is None or "ca.crt" in str(error)


@FUZZ
@given(host=st.text(max_size=60), port=st.text(max_size=12))
def test_service_env_values(host: str, port: str) -> None:
    error = raised(server_url, host, port)
    assert error is None or "KUBERNETES_SERVICE_" in str(error)


watch_objects = documents_with_keys(
    "metadata name namespace resourceVersion annotations k8s.io/initial-events-end code reason kind apiVersion"
    " items continue spec status"
)
event_types = st.sampled_from(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR", "SURPRISE", "", None, 7])
events = st.fixed_dictionaries({"type": event_types, "object": watch_objects}) | json_values


def _drive(chunks: list[bytes], initial_list: InitialList = InitialList.LIST) -> None:
    watcher = WatchMachine(initial_list=initial_list)
    if initial_list is InitialList.LIST:
        watcher.list_page({"kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": []})
    else:
        watcher.next_request()  # the streaming list: initial events, then the end bookmark
    store = Store()
    decoder = WatchDecoder(max_event_bytes=4096)
    for chunk in [*chunks, b""]:  # b"": the connection closed
        decoder.receive_data(chunk)
        for event in decoder.events():
            change = watcher.watch_event(event)
            if isinstance(change, Applied):
                store.upsert(change.obj)
            if not watcher.reading:
                return  # the driver drops the stream (a 410, an error event)


@FUZZ
@given(
    stream=st.lists(events, max_size=8).map(lambda evs: b"\n".join(orjson.dumps(e) for e in evs) + b"\n"),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=6),
    truncate=st.integers(min_value=0, max_value=200),
    initial_list=st.sampled_from([InitialList.LIST, InitialList.STREAM]),
)
def test_watch_streams(stream: bytes, cuts: list[int], truncate: int, initial_list: InitialList) -> None:
    data = stream[: len(stream) - truncate] if truncate < len(stream) else stream
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    raised(_drive, chunks, initial_list)


@FUZZ
@given(raw=st.binary(max_size=3000))
def test_watch_stream_garbage_bytes(raw: bytes) -> None:
    raised(_drive, [raw])


def test_a_huge_line_is_refused_not_buffered_forever() -> None:
    decoder = WatchDecoder(max_event_bytes=1024)
    for _ in range(5):
        decoder.receive_data(b"x" * 200)
    with pytest.raises(WatchProtocolError, match="larger than 1024 bytes"):
        decoder.receive_data(b"x" * 200)


@FUZZ
@given(body=watch_objects, continued=st.booleans())
def test_list_pages(body: Any, continued: bool) -> None:
    watcher = WatchMachine(initial_list=InitialList.LIST, page_size=5)
    watcher.next_request()
    if continued:
        raised(watcher.list_page, {"kind": "PodList", "metadata": {"continue": "c"}, "items": []})
    if isinstance(body, dict):
        raised(watcher.list_page, body)
