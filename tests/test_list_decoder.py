"""wire.ListDecoder: a LIST body in any cut gives exactly its items, in order, and the list's metadata."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incluster_sdk.watch.wire import ListDecoder, WatchProtocolError

# Strings that try to look like separators: braces, quotes, backslashes, the first keys themselves.
TRICKY = st.sampled_from(['},{"metadata":', '"', "\\", '\\"', "{", "}", "]", "[", ",", ":", "é", "\u2028", "items"])
TEXT = st.lists(st.one_of(TRICKY, st.text(max_size=5)), max_size=4).map("".join)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), TEXT)


def values(first_key: str) -> st.SearchStrategy[Any]:
    """JSON values, with arrays of objects that begin with the items' own first key (false separators)."""
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(TEXT, inner, max_size=3),
            st.lists(st.dictionaries(TEXT, inner, max_size=2).map(lambda d: {first_key: d, **d}), max_size=3),
        ),
        max_leaves=12,
    )


def item(first_key: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda name, rest, nested: {first_key: {"name": name}, **rest, "spec": nested},
        TEXT,
        st.dictionaries(TEXT.filter(lambda k: k not in ("spec",)), values(first_key), max_size=3),
        values(first_key),
    )


def body_typed(items: list[dict[str, Any]], meta: dict[str, Any]) -> bytes:
    """As kube-apiserver writes a typed list: kind, apiVersion, metadata, then items."""
    return orjson.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items})


def body_unstructured(items: list[dict[str, Any]], meta: dict[str, Any]) -> bytes:
    """As kube-apiserver writes a custom resource's list: a Go map, keys sorted (items before kind, metadata)."""
    return orjson.dumps(
        {"apiVersion": "example.com/v1", "items": items, "kind": "WidgetList", "metadata": meta},
        option=orjson.OPT_SORT_KEYS,
    )


def chunked(body: bytes, cuts: list[int]) -> bytes:
    pieces, last = [], 0
    for cut in [*sorted(cuts), len(body)]:
        if cut > last:
            pieces.append(b"%x\r\n%s\r\n" % (cut - last, body[last:cut]))
            last = cut
    return b"".join(pieces) + b"0\r\n\r\n"


def decode(data: bytes, cuts: list[int], *, chunked: bool = False) -> tuple[list[dict[str, Any]], ListDecoder]:
    decoder = ListDecoder(chunked=chunked)
    out, last = [], 0
    for cut in [*sorted(set(cuts)), len(data)]:
        if cut > last:
            decoder.receive_data(data[last:cut])
            out.extend(decoder.items())
            last = cut
    if not decoder.done:
        decoder.receive_data(b"")
        out.extend(decoder.items())
    assert decoder.done
    return out, decoder


META = st.fixed_dictionaries(
    {"resourceVersion": st.text("0123456789", min_size=1, max_size=6)},
    optional={"continue": st.text("abcXYZ=", max_size=8)},
)


@settings(max_examples=200, deadline=None)
@given(st.data(), META, st.sampled_from(["typed", "unstructured", "pretty"]), st.booleans())
def test_items_come_out_exactly_as_they_went_in(
    data: st.DataObject, meta: dict[str, Any], shape: str, frame: bool
) -> None:
    first_key = "apiVersion" if shape == "unstructured" else "metadata"
    items = data.draw(st.lists(item(first_key), max_size=6))
    if shape == "unstructured":
        items = [{k: i[k] for k in sorted(i)} for i in items]  # what the server writes: sorted keys
        first_key = min(items[0]) if items else first_key
        body = body_unstructured(items, meta)
    elif shape == "typed":
        body = body_typed(items, meta)
    else:  # pretty (kube-apiserver does this for ?pretty=true): decoded whole, still correct
        body = orjson.dumps(orjson.loads(body_typed(items, meta)), option=orjson.OPT_INDENT_2)
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=8))
    wire = chunked(body, data.draw(st.lists(st.integers(0, len(body)), max_size=5))) if frame else body
    out, decoder = decode(wire, cuts, chunked=frame)
    assert out == orjson.loads(body)["items"]
    kind = "WidgetList" if shape == "unstructured" else "PodList"
    assert decoder.header["metadata"] == meta and decoder.header["kind"] == kind


def test_the_header_of_a_typed_list_is_known_before_its_last_item() -> None:
    body = body_typed([{"metadata": {"name": f"p{i}"}} for i in range(3)], {"resourceVersion": "7"})
    decoder = ListDecoder()
    decoder.receive_data(body[:-8])
    first = list(decoder.items())
    assert [i["metadata"]["name"] for i in first] == ["p0", "p1"]
    assert decoder.header == {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}}
    decoder.receive_data(body[-8:])
    decoder.receive_data(b"")
    assert [i["metadata"]["name"] for i in decoder.items()] == ["p2"] and decoder.done


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}',
        b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":null}',
        b'{"apiVersion":"example.com/v1","items":[],"kind":"WidgetList","metadata":{"resourceVersion":"1"}}\n',
    ],
)
def test_an_empty_list(body: bytes) -> None:
    out, decoder = decode(body, [5, 40])
    assert out == [] and decoder.header["metadata"] == {"resourceVersion": "1"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{"metadata":{}},{"metad',  # cut short
        b'{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{"metadata":{}}',  # no closing ]
        b"[1,2,3]",  # not an object
        b'{"kind":"PodList","items":[1,2]}',  # items that are not objects
        b"<html>502 Bad Gateway</html>",
    ],
)
def test_a_body_that_is_not_a_whole_list_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(WatchProtocolError):
        decode(body, [3, 17])


def test_a_chunked_body_cut_before_its_last_chunk_is_a_protocol_error() -> None:
    decoder = ListDecoder(chunked=True)
    decoder.receive_data(chunked(body_typed([{"metadata": {}}], {}), [10])[:-5])
    list(decoder.items())
    with pytest.raises(WatchProtocolError, match="closed in the middle"):
        decoder.receive_data(b"")


def test_items_past_the_separator_limit_are_decoded_whole_at_the_end() -> None:
    """No separator found within max_item_bytes (a huge item, or items that all begin with a new key): the rest
    is kept and decoded at the end, still correct."""
    items = [{"metadata": {"name": "x" * 300}}, {"metadata": {"name": "y"}}, {"other": 1}, {"metadata": {}}]
    body = body_typed(items, {"resourceVersion": "3"})
    decoder = ListDecoder(max_item_bytes=100)
    out = []
    for start in range(0, len(body), 50):
        decoder.receive_data(body[start : start + 50])
        out.extend(decoder.items())
    decoder.receive_data(b"")
    out.extend(decoder.items())
    assert out == items and decoder.done


def test_an_item_with_another_first_key_is_found_and_its_key_learned() -> None:
    items = [{"apiVersion": "a", "n": 1}, {"Zebra": 1, "apiVersion": "a"}, {"Zebra": 2}, {"apiVersion": "b"}]
    out, _ = decode(body_unstructured(items, {}), [30, 45, 60])
    assert out == items
