"""LIST and watch responses on the wire, sans-I/O: bytes in, decoded objects out (the shape of h11).

    decoder = WatchDecoder(chunked=True)      # raw socket bytes; chunked=False for an already de-chunked body
    decoder.receive_data(data)                # b"" when the connection closed
    while isinstance(event := decoder.next_event(), dict):
        ...                                   # then NEED_DATA (read more) or END (the response is over)

kube-apiserver sends a watch as HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), one chunk per event, and
each event is one line of JSON. Python's ``http.client`` hands a chunked body out one chunk per read, so a
thread reading through it would wake once per event however many have arrived; the threaded informer reads
what the connection holds and this module strips the framing. (h11 does this too, but it must own the
connection from its first byte; there urllib3 has already read the response head.)

A LIST response is one JSON object whose ``items`` can be hundreds of megabytes (kube-apiserver answers
``resourceVersion=0`` from its watch cache in one response, whatever the ``limit``). :class:`ListDecoder`
returns its items one by one as they arrive, so neither the whole body nor all its decoded objects are ever
held at once (see its docstring for how items are found without a JSON tokenizer in Python).

Anything that is not a stream of JSON objects raises :class:`WatchProtocolError`, and nothing else escapes:
the informer then reconnects. This module imports nothing from the rest of the watch package.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from typing import Any, Final

import orjson

from ..errors import InclusterSDKError

MAX_SIZE_LINE = 4096
"""Bytes: a chunk-size line longer than this is not HTTP (a size is at most 16 hex digits, and the extensions
servers send, none from kube-apiserver, are short)."""
MAX_EVENT_BYTES = 16 * 2**20
"""Bytes (16 MiB): the largest watch event (or LIST item) accepted. etcd's default request limit is 1.5 MiB per
object, and an event can carry it twice (MODIFIED with an old object on some servers): 16 MiB leaves room, and
stops a stream that never sends a newline from eating the process's memory."""

_HEX_DIGITS = b"0123456789abcdefABCDEF"
_OPEN_BRACE = ord("{")


class WatchProtocolError(InclusterSDKError):
    """The server sent something that is not a list or watch response (bad chunked framing, a line that is not
    a JSON object, a response cut short, an event over :data:`MAX_EVENT_BYTES`); the drivers treat it as a
    failure without a status (back off, then retry the same step)."""


class Signal(enum.Enum):
    """What :meth:`WatchDecoder.next_event` returns when it has no event to give."""

    NEED_DATA = "need data"
    """Every complete event has been returned: receive more bytes."""
    END = "end"
    """The response is over (its last chunk, or the connection closed cleanly between events)."""


NEED_DATA: Final = Signal.NEED_DATA
"""Alias of :attr:`Signal.NEED_DATA`."""
END: Final = Signal.END
"""Alias of :attr:`Signal.END`."""


class ChunkedDecoder:
    """Feed the raw bytes of a chunked body in any pieces; get back its data. ``done`` after the last chunk.

    :meth:`feed` raises :class:`WatchProtocolError` for framing that is not HTTP/1.1 chunked transfer coding.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._left = 0  # data bytes still to come in the current chunk
        self._crlf_due = False  # a chunk's data ended; its CRLF is next
        self._trailers = False  # the last chunk came; trailer lines until an empty one
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """Take the next raw bytes of the body (any cut) and return the data they complete, framing removed
        (``b""`` once :attr:`done`)."""
        if self.done:
            return b""
        buffer = self._buffer + data if self._buffer else data
        view, size, pos = memoryview(buffer), len(buffer), 0
        body: list[memoryview] = []  # slices of view: the data is copied once, by the join
        while pos < size:
            if self._left:  # a chunk that began in an earlier piece
                end = min(size, pos + self._left)
                body.append(view[pos:end])
                self._left -= end - pos
                self._crlf_due = not self._left
                pos = end
                continue
            line_end = buffer.find(b"\r\n", pos)
            if line_end == -1:
                if size - pos > MAX_SIZE_LINE:
                    raise WatchProtocolError("chunked response: a chunk-size line is too long")
                break
            line = buffer[pos:line_end]
            pos = line_end + 2
            if self._crlf_due:
                if line:
                    raise WatchProtocolError("chunked response: a chunk's data is longer than its size")
                self._crlf_due = False
            elif self._trailers:
                if not line:
                    self.done = True
                    break
            elif (length := _chunk_size(line)) and pos + length + 2 <= size:
                # The whole chunk is here (the usual case: a watch event is one chunk, sent in one write).
                end = pos + length
                if buffer[end : end + 2] != b"\r\n":
                    raise WatchProtocolError("chunked response: a chunk's data is longer than its size")
                body.append(view[pos:end])
                pos = end + 2
            else:
                self._left = length
                self._trailers = not length
        self._buffer = buffer[pos:]
        return b"".join(body)


def _unframed(framing: ChunkedDecoder | None, data: bytes, what: str) -> bytes | None:
    """``data`` without its chunked framing (if ``framing``); None for ``b""``, the connection closed, which
    is a :class:`WatchProtocolError` before the last chunk (``what``: the response, for the message)."""
    if not data:
        if framing is not None and not framing.done:
            raise WatchProtocolError(f"the connection closed in the middle of the {what}")
        return None
    return framing.feed(data) if framing is not None else data


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip(b" \t") if b";" in line else line
    if not digits or len(digits) > 16 or digits.strip(_HEX_DIGITS):
        raise WatchProtocolError(f"chunked response: bad chunk size {line[:40]!r}")
    return int(digits, 16)


class WatchDecoder:
    """Bytes of a watch response in (any cut), events out, one JSON object per line.

    Events are decoded one at a time, as the caller asks for them, not a whole read first: decoding dozens of
    pods before storing any triggers CPython's young-generation collector several times per read and promotes
    every pod to the old generation, whose full collections then dominate (measured: about 3,200 vs 250 young
    collections for 50,000 events, docs/performance.md). Lines are parsed in place (no copy per line). Blank
    lines are skipped. Not thread-safe: one reader feeds it.

    :param chunked: True when the bytes are the raw body of a response with ``Transfer-Encoding: chunked``
        (the decoder strips the framing, and knows the response is over at its last chunk); False (default)
        for a body already de-chunked, which is over when :meth:`receive_data` gets ``b""``.
    :param max_event_bytes: the most bytes held after the last newline (an event not yet complete) before
        the stream is refused; default :data:`MAX_EVENT_BYTES`, 16 MiB (room for two objects at etcd's 1.5 MiB
        limit).
    """

    def __init__(self, *, chunked: bool = False, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._framing = ChunkedDecoder() if chunked else None
        self._max = max_event_bytes
        self._buffer = b""  # received body bytes; lines before _pos are consumed, lines after _stop incomplete
        self._view = memoryview(self._buffer)
        self._pos = 0
        self._stop = 0  # where the last complete line ends (its newline)
        self._closed = False

    def receive_data(self, data: bytes) -> None:
        """Add the next bytes of the response (events not taken yet stay; a running :meth:`events` iterator
        does not see the new bytes).

        :param data: bytes as they came off the connection, cut anywhere; ``b""`` means the connection closed.
        :raises WatchProtocolError: for bad chunked framing, for ``b""`` before the last chunk of a chunked
            response, or when more than ``max_event_bytes`` follow the last newline.
        """
        if (body := _unframed(self._framing, data, "response")) is None:
            self._closed = True
            return
        data = body
        rest = self._buffer[self._pos :]
        buffer = rest + data if rest else data
        stop = buffer.rfind(b"\n")
        if len(buffer) - stop - 1 > self._max:
            raise WatchProtocolError(f"watch event larger than {self._max} bytes (no newline)")
        self._buffer, self._view, self._pos, self._stop = buffer, memoryview(buffer), 0, max(stop, 0)

    def next_event(self) -> dict[str, Any] | Signal:
        """Take the next complete event.

        :returns: the event as a dict (``{"type": "ADDED", "object": {...}}``); else :data:`NEED_DATA` (receive
            more bytes), or :data:`END` once the response is over and every event has been taken.
        :raises WatchProtocolError: if the next line is not a JSON object, or the response is over in the middle
            of an event.
        """
        for event in self.events():
            return event
        if self._closed or (self._framing is not None and self._framing.done):
            if self._buffer[self._pos :].strip():
                raise WatchProtocolError("watch stream ended mid-event")
            return END
        return NEED_DATA

    def events(self) -> Iterator[dict[str, Any]]:
        """Take the events complete so far, one at a time, until :meth:`next_event` would say NEED_DATA or END
        (the loop the drivers run: one generator per read, not one method call per event). Good until the
        next :meth:`receive_data`.

        :returns: an iterator of events as dicts (``{"type": "ADDED", "object": {...}}``), each decoded as it is
            asked for.
        :raises WatchProtocolError: while iterating, at a line that is not a JSON object (the events before it
            have been yielded).
        """
        buffer, view, stop = self._buffer, self._view, self._stop
        pos = self._pos
        while pos < stop:
            end = buffer.find(b"\n", pos, stop)
            if end == -1:
                end = stop
            if end > pos and (buffer[pos] == _OPEN_BRACE or not buffer[pos:end].isspace()):
                self._pos = end + 1
                try:
                    event = orjson.loads(view[pos:end])
                except orjson.JSONDecodeError as exc:
                    raise WatchProtocolError(f"watch event is not JSON: {exc}") from None
                if type(event) is not dict:
                    raise WatchProtocolError("watch event is not an object")
                yield event
            pos = end + 1
        self._pos = max(pos, self._pos)


MAX_LIST_HEAD = 2**20
"""Bytes (1 MiB): how far into a LIST body its ``"items"`` must begin. The list's kind, apiVersion and metadata
come first (kube-apiserver's typed lists) and are small; further than this, the body is not a list as we know
it, and is decoded whole at its end."""
_ITEMS = b'"items":'
_FIRST_KEY = re.compile(rb'\{"((?:[^"\\]|\\.)*)":', re.DOTALL)


class ListDecoder:
    """Bytes of a LIST response in (any cut), its items out one at a time, as each is complete.

        decoder = ListDecoder(chunked=True)       # raw socket bytes; chunked=False for a de-chunked body
        decoder.receive_data(data)                # b"" when the connection closed
        for item in decoder.items(): ...          # the items complete so far (after the end: the last ones)
        decoder.done, decoder.header              # once over: {"kind", "apiVersion", "metadata"} of the list

    Finding where each item ends needs no JSON tokenizer in Python (which would cost more than decoding):
    kube-apiserver writes compact JSON, so items are separated by ``},{"KEY":`` where KEY is an item's first
    key (``metadata`` in typed lists; ``apiVersion`` in custom resources' lists, whose keys Go sorts). That
    text never occurs inside a JSON string (an unescaped quote ends a string, and a key cannot follow a
    closing quote), so each occurrence closes an object. When that object is nested in the item (an array of
    objects that begin with KEY, e.g. a StatefulSet's volumeClaimTemplates), the piece up to it is not valid
    JSON, and the search goes on to the next occurrence: a piece that decodes is exactly one item, as no
    prefix of an object and no run of two is valid JSON. An item that begins with another key is found the
    first time it is passed over: the piece then holds whole items and decodes as an array, and its key is
    searched for from then on.

    Bodies of another shape (pretty-printed, ``"items": null``) are decoded whole at the end, as is the rest
    of a body whose separators cannot be found within :data:`MAX_EVENT_BYTES`: correct, only not streamed.

    :param chunked: True for the raw bytes of a chunked body, as :class:`WatchDecoder`'s; default False.
    :param max_item_bytes: bytes: past this many without an item separator, the rest of the body is decoded
        whole at its end; default :data:`MAX_EVENT_BYTES`, 16 MiB.
    """

    def __init__(self, *, chunked: bool = False, max_item_bytes: int = MAX_EVENT_BYTES) -> None:
        self._framing = ChunkedDecoder() if chunked else None
        self._max = max_item_bytes
        self._buffer = b""  # the bytes from the next item on (before the items: the head so far)
        self._pos = 0  # where the next item starts in _buffer
        self._scan = 0  # where the search for the next separator resumes
        self._keys: list[bytes] = []  # the items' first keys (as written), each making a separator
        self._search: re.Pattern[bytes] | None = None  # for several keys
        self._streaming: bool | None = None  # None: the head is not read yet
        # Bytes kept whole, to decode at the end: the whole body (not streaming), or the items from _pos on
        # once no separator could be found (streaming).
        self._whole: list[bytes] | None = None
        self._closed = False
        self.done = False
        """True once the body is over and every item has been taken."""
        self.header: dict[str, Any] = {}
        """The list's kind, apiVersion and metadata (``{"kind": "PodList", "apiVersion": "v1", "metadata":
        {...}}``): what precedes the items as soon as they start (typed lists), all of it once :attr:`done`."""

    def receive_data(self, data: bytes) -> None:
        """Add the next bytes of the response.

        :param data: bytes as they came off the connection, cut anywhere; ``b""`` means the connection closed.
        :raises WatchProtocolError: for bad chunked framing, or ``b""`` before the last chunk of a chunked body.
        """
        if (body := _unframed(self._framing, data, "LIST response")) is None:
            self._closed = True
            return
        data, self._closed = body, self._framing is not None and self._framing.done
        if self._whole is not None:
            self._whole.append(data)
            return
        rest = self._buffer[self._pos :] if self._pos else self._buffer
        self._scan -= self._pos
        self._buffer, self._pos = (rest + data if rest else data), 0

    def items(self) -> Iterator[dict[str, Any]]:
        """Take the items complete so far, in order; once the body is over, the rest, and then :attr:`done`.

        :returns: an iterator of the items as dicts (objects without ``kind`` and ``apiVersion``).
        :raises WatchProtocolError: while iterating, for an item that is not a JSON object, or a body that is not
            a JSON object with an ``items`` list.
        """
        if self._streaming is None and not self._read_head():
            return
        if self._streaming and self._whole is None:
            yield from self._separated()
        if self._closed and not self.done:
            yield from self._finish()
            self.done = True

    def _read_head(self) -> bool:
        """Find where the items begin and decode what precedes them; False: not enough bytes yet."""
        buffer = self._buffer
        at = buffer.find(_ITEMS)
        if at == -1:
            if len(buffer) > MAX_LIST_HEAD or self._closed:
                self._keep_whole(streaming=False)  # not a list as kube-apiserver writes one
                return True
            return False
        start = at + len(_ITEMS)
        if len(buffer) < start + 1 and not self._closed:
            return False
        try:
            head = orjson.loads(buffer[:at] + b'"items":[]}')
        except orjson.JSONDecodeError:
            head = None
        if type(head) is not dict or buffer[start : start + 1] != b"[":
            self._keep_whole(streaming=False)  # pretty-printed, "items": null...
            return True
        head.pop("items")
        self.header, self._streaming = head, True
        self._buffer, self._pos, self._scan = buffer[start + 1 :], 0, 0
        return True

    def _keep_whole(self, *, streaming: bool) -> None:
        """Decode what is left at the end: the whole body (``streaming`` False), or the items from _pos on."""
        self._whole, self._streaming = [self._buffer[self._pos :]], streaming
        self._buffer, self._pos = b"", 0

    def _learn(self, key: bytes) -> None:
        if key not in self._keys:
            self._keys.append(key)
            if len(self._keys) > 1:
                keys = b"|".join(re.escape(k) for k in self._keys)
                self._search = re.compile(rb'\},\{"(?:' + keys + rb')":')

    def _next_separator(self, buffer: bytes, scan: int) -> int:
        """Where the next ``},{"KEY":`` (any known KEY) begins at or after ``scan``, or -1."""
        if self._search is None:
            return buffer.find(b'},{"' + self._keys[0] + b'":', scan)
        found = self._search.search(buffer, scan)
        return -1 if found is None else found.start()

    def _separated(self) -> Iterator[dict[str, Any]]:
        buffer, pos = self._buffer, self._pos
        if not self._keys:
            first = _FIRST_KEY.match(buffer, pos)
            if first is None:
                if buffer[pos : pos + 1] != b"]" and (len(buffer) - pos > 4096 or self._closed):
                    self._keep_whole(streaming=True)  # items that do not start {"KEY": (whitespace, say)
                return  # no items (_finish reads what follows), or the first key has not arrived yet
            self._learn(first.group(1))
        view, scan = memoryview(buffer), max(self._scan, pos)
        while (end := self._next_separator(buffer, scan)) != -1:
            piece = view[pos : end + 1]
            try:
                run = [orjson.loads(piece)]
            except orjson.JSONDecodeError:
                try:  # items that begin with a key not searched for yet
                    run = orjson.loads(b"[" + piece + b"]")
                except orjson.JSONDecodeError:
                    scan = end + 1  # an object nested in the item ended there: look further
                    continue
                for item in run:
                    if type(item) is dict and item:
                        self._learn(orjson.dumps(next(iter(item)))[1:-1])
            pos = scan = self._pos = end + 2
            for item in run:
                if type(item) is not dict:
                    raise WatchProtocolError("LIST item is not an object")
                yield item
        self._pos, self._scan = pos, max(scan, len(buffer) - 1 - max(map(len, self._keys)) - 5)
        if len(buffer) - pos > self._max:
            self._keep_whole(streaming=True)  # no separator for this long: decode the rest at the end

    def _finish(self) -> Iterator[dict[str, Any]]:
        """The body is over: its last items and what follows them (custom resources' lists put their kind
        and metadata there), or, for a body of another shape, all of it."""
        tail = self._buffer[self._pos :] + b"".join(self._whole or ())
        self._buffer, self._pos, self._whole = b"", 0, None
        if not self._streaming:
            body = _loads(tail, "LIST response")
            items = body.pop("items", None)
            if not isinstance(items, list) and items is not None:
                raise WatchProtocolError("LIST response's items are not a list")
            self.header = body
            yield from _objects(items or ())
            return
        close = tail.rfind(b"]")
        if close == -1:
            raise WatchProtocolError("LIST response ended before its items did")
        rest = tail[:close]
        if rest.strip():
            try:
                run = [orjson.loads(rest)]
            except orjson.JSONDecodeError:
                run = _loads(b'{"items":[' + rest + b"]}", "LIST items")["items"]
            yield from _objects(run)
        trailer = _loads(b'{"items":0' + tail[close + 1 :], "LIST response")
        trailer.pop("items")
        self.header.update(trailer)


def _objects(items: Iterable[Any]) -> Iterator[dict[str, Any]]:
    for item in items:
        if type(item) is not dict:
            raise WatchProtocolError("LIST item is not an object")
        yield item


def _loads(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise WatchProtocolError(f"{what} is not JSON: {exc}") from None
    if type(value) is not dict:
        raise WatchProtocolError(f"{what} is not an object")
    return value
