"""Credential sources: the objects that authenticate requests.

A config holds a credential *source*, never a copied token string, so every client built from it sees
rotations. ``auth_header()`` is on the hot path of every request and does no file I/O except the
periodic pull re-read (at most once per ``TOKEN_RELOAD_INTERVAL``).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from . import filewatch
from ._files import read_file_text
from ._secret import Secret
from .errors import ConfigError
from .tls import ClientCertificate
from .tokens import TokenClaims, decode_claims

log = logging.getLogger(__name__)

# The lazy pull on the request path: a backstop for the watcher's own pull thread (same one-minute rule).
TOKEN_RELOAD_INTERVAL = filewatch.PULL_INTERVAL


#: What a bearer token may hold: visible ASCII, spaces and tabs. Anything else (a line break, a non-Latin
#: character) cannot go in an HTTP header, and http.client would print the whole header in its error.
_HEADER_SAFE = re.compile(r"[\x20-\x7e\t]*")


def check_token(token: str, *, where: str, error: type[ConfigError] = ConfigError) -> str:
    """``token`` if it can be sent in an ``Authorization`` header; else ``error`` naming ``where`` (never the
    token)."""
    if not _HEADER_SAFE.fullmatch(token):
        lines = " (it has more than one line)" if "\n" in token.strip() else ""
        raise error(
            f"{where} holds a character that cannot be sent in an HTTP header{lines}. "
            "A bearer token is one line of printable ASCII; check what wrote it."
        )
    return token


@dataclass(frozen=True)
class RequestCredential:
    """What one request carries: the ``Authorization`` value (never in a repr) and the generation of the
    credential it came from (None: the source keeps no generations). Clients keep it until the answer, so a
    401 can say *which* credential was refused."""

    header: str | None = field(default=None, repr=False)
    generation: int | None = None


class Credentials:
    """Base class: a source of request authentication. The default authenticates nothing."""

    #: True when ``auth_header`` may block (runs a subprocess); async callers use a thread then.
    may_block: bool = False

    def auth_header(self) -> str | None:
        """The ``Authorization`` header value for the next request, or None."""
        return None

    def request_credential(self) -> RequestCredential:
        """What to send with the next request, and the generation it came from (one consistent pair)."""
        return RequestCredential(self.auth_header())

    def unauthorized(self, sent: RequestCredential) -> bool:
        """A request sent with ``sent`` got 401. Refresh unless already refreshed since it was sent (its
        generation is older than the current one); True if a retry may now succeed. The default (a credential
        that never changes) refreshes nothing."""
        return False

    def claims(self) -> TokenClaims | None:
        """Decoded claims of the current bearer token (expiry, subject), or None without a token."""
        return None

    @property
    def client_certificate(self) -> ClientCertificate | None:
        """A client certificate this source supplies and may rotate (exec plugins), else None."""
        return None

    def describe(self) -> str:
        return "no credentials"

    def close(self) -> None:
        """Release watchers or threads; the source keeps serving its last credential."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


class StaticToken(Credentials):
    """A bearer token given inline (kubeconfig ``token:``). Never changes."""

    def __init__(self, token: str, *, origin: str = "inline token") -> None:
        # Sent as written, as client-go sends a kubeconfig token (no trimming).
        if not token:
            raise ConfigError(f"{origin} is empty. Set a non-empty bearer token.")
        check_token(token, where=origin)
        self._header = Secret(f"Bearer {token}")
        self._claims = decode_claims(token)
        self._origin = origin

    def auth_header(self) -> str:
        return self._header.reveal()

    def claims(self) -> TokenClaims:
        return self._claims

    def describe(self) -> str:
        return f"{self._origin} ({self._header.fingerprint})"


class BasicAuth(Credentials):
    """HTTP basic auth (kubeconfig ``username``/``password``); deprecated by Kubernetes but still valid."""

    def __init__(self, username: str, password: str) -> None:
        try:
            raw = base64.b64encode(f"{username}:{password}".encode()).decode()
        except UnicodeEncodeError:
            raise ConfigError("username or password is not valid Unicode text (a lone surrogate).") from None
        self._header = Secret(f"Basic {raw}")
        self._username = username

    def auth_header(self) -> str:
        return self._header.reveal()

    def describe(self) -> str:
        return f"basic auth as {self._username!r}"


class FileTokenSource:
    """Reads and validates a bearer token file on every call; caches nothing (client-go's ``fileTokenSource``).

    Whitespace around the token is not part of it (client-go trims it). Errors name the file and the fix,
    never the contents.
    """

    def __init__(
        self,
        path: Path,
        *,
        what: str = "token file",
        fix: str = "Check the path and that the file holds a bearer token.",
        error: type[ConfigError] = ConfigError,
    ) -> None:
        self.path = path
        self.what = what
        self._fix = fix
        self._error = error

    def read(self) -> Secret:
        """The token in the file now, or the ``error`` given at construction (a :class:`ConfigError`)."""
        token = read_file_text(self.path, what=self.what, fix=self._fix, error=self._error).strip()
        return Secret(check_token(token, where=f"{self.what} {self.path}", error=self._error))

    def describe(self) -> str:
        return f"{self.what} {self.path}"

    def __repr__(self) -> str:
        return f"<FileTokenSource {self.describe()}>"


class TokenSource(Protocol):
    """Where a :class:`CachingTokenSource` gets a token: ``read()`` raises :class:`ConfigError` on failure."""

    def read(self) -> Secret: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class CachedToken:
    """One snapshot of a :class:`CachingTokenSource`, swapped whole (a reader never sees half an update).

    ``generation`` counts successful reads of the source (client-go's fetch time ``t``): a request records the
    generation it was sent with, and a 401 resets the cache only if no read happened since. ``since`` is the
    generation at which this token's value first appeared, so "has the token changed since" is one comparison.
    """

    header: Secret
    claims: TokenClaims = field(repr=False)
    generation: int
    since: int
    first_seen: dt.datetime

    def __repr__(self) -> str:
        return f"<CachedToken {self.header.fingerprint} generation {self.generation} (since {self.since})>"


class CachingTokenSource:
    """Holds the current token of a :class:`TokenSource` (client-go's ``cachingTokenSource``).

    Pull: the hot path re-reads the source at most once per ``refresh_interval`` (the one-minute rule, see
    :data:`TOKEN_RELOAD_INTERVAL`), one caller at a time. Push: :meth:`refresh` (file events call it). A failed
    re-read keeps the last good token and is logged (without the token). A 401 goes through
    :meth:`reset_older_than`, client-go's ``ResetTokenOlderThan`` with generations instead of timestamps.
    """

    def __init__(self, source: TokenSource, *, refresh_interval: float = TOKEN_RELOAD_INTERVAL) -> None:
        self.source = source
        self.refresh_interval = refresh_interval
        self._lock = threading.Lock()
        # The first read must succeed: there is no last good token to fall back on.
        token = source.read()
        self._current = CachedToken(
            header=Secret(f"Bearer {token.reveal()}"),
            claims=decode_claims(token.reveal()),
            generation=1,
            since=1,
            first_seen=dt.datetime.now(dt.timezone.utc),
        )
        self._read_mono = time.monotonic()

    @property
    def current(self) -> CachedToken:
        """The snapshot to send now, re-reading first if the last read is ``refresh_interval`` old."""
        if time.monotonic() - self._read_mono >= self.refresh_interval and self._lock.acquire(False):
            # Only one caller does the periodic pull; the others keep using the current token.
            try:
                if time.monotonic() - self._read_mono >= self.refresh_interval:
                    self._refresh_locked("periodic re-read")
            finally:
                self._lock.release()
        return self._current

    @property
    def peek(self) -> CachedToken:
        """The snapshot held now, without a pull."""
        return self._current

    def refresh(self, reason: str = "requested") -> bool:
        """Re-read now. True if the token changed; keeps the last good one on failure."""
        with self._lock:
            return self._refresh_locked(reason)

    def reset_older_than(self, generation: int, reason: str = "HTTP 401") -> bool:
        """A request sent with ``generation`` was refused. Re-read unless a read happened since it was sent
        (then that newer token stands: a late 401 never discards it). True if the token now differs from the
        one that request carried, so a retry may succeed."""
        with self._lock:
            current = self._current
            if current.generation > generation:
                return current.since > generation
            self._refresh_locked(reason)
            return self._current.since > generation

    def _refresh_locked(self, reason: str) -> bool:
        self._read_mono = time.monotonic()
        try:
            token = self.source.read()
        except ConfigError as exc:
            # Mid-swap reads can see an empty or missing file; the next event or pull fixes it.
            log.warning("keeping the last good token: re-read (%s) failed: %s", reason, str(exc))
            return False
        old = self._current
        header = Secret(f"Bearer {token.reveal()}")
        generation = old.generation + 1
        if header == old.header:
            self._current = replace(old, generation=generation)
            return False
        self._current = CachedToken(
            header=header,
            claims=decode_claims(token.reveal()),
            generation=generation,
            since=generation,
            first_seen=dt.datetime.now(dt.timezone.utc),
        )
        log.info("token reloaded from %s (%s): now %s", self.source.describe(), reason, header.fingerprint)
        return True

    def __repr__(self) -> str:
        return f"<CachingTokenSource {self.source.describe()} {self._current!r}>"


class TokenFile(Credentials):
    """A bearer token read from a file that may be rotated underneath us (projected SA token).

    The composition of a :class:`FileTokenSource` (reads), a :class:`CachingTokenSource` (holds the token,
    pulls every ``reload_interval``, keeps the last good one) and the 401 rule (:meth:`unauthorized`). File
    watching belongs to whoever owns the files (:class:`~incluster_sdk.filewatch.FileWatch`, set up by the
    in-cluster and kubeconfig loaders), which calls :meth:`reload` on events.
    """

    def __init__(self, source: FileTokenSource | Path, *, reload_interval: float = TOKEN_RELOAD_INTERVAL) -> None:
        """``source`` is the file (a path: a :class:`FileTokenSource` with its default wording and error);
        ``reload_interval`` (seconds, default :data:`TOKEN_RELOAD_INTERVAL`) is how often it is re-read."""
        self.source = source if isinstance(source, FileTokenSource) else FileTokenSource(source)
        self.cache = CachingTokenSource(self.source, refresh_interval=reload_interval)
        self._own_watch: filewatch.FileWatch | None = None

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def reload_interval(self) -> float:
        return self.cache.refresh_interval

    @reload_interval.setter
    def reload_interval(self, value: float) -> None:
        self.cache.refresh_interval = value

    @property
    def generation(self) -> int:
        """Successful reads of the file so far (see :class:`CachedToken`)."""
        return self.cache.peek.generation

    def reload(self, reason: str = "requested") -> bool:
        """Re-read the file now. Returns True if the token changed; keeps the last good one on failure."""
        return self.cache.refresh(reason)

    def watch(self, *also: _Reloadable) -> str:
        """Deprecated: the loaders set up a :class:`~incluster_sdk.filewatch.FileWatch` for the files they
        own. Watches the token's directory for this token (and ``also``, e.g. a CA bundle). Returns "inotify"
        or "polling"."""
        owners: dict[str, _Reloadable] = {self.path.name: self}
        owners.update({o.source.name: o for o in also if isinstance(o, _HasSource)})
        self._own_watch = filewatch.FileWatch(self.path.parent, owners)
        return self._own_watch.mode

    @property
    def watch_mode(self) -> str:
        """How rotations are noticed: "inotify" (push), "polling" (fallback), or "none" (pull only)."""
        return filewatch.owner_mode(self.path.parent, self)

    def close(self) -> None:
        if self._own_watch is not None:
            self._own_watch.close()
            self._own_watch = None
        filewatch.unwatch(self.path.parent, self)

    # -- Credentials ---------------------------------------------------------------------------------
    def auth_header(self) -> str:
        return self.cache.current.header.reveal()

    def request_credential(self) -> RequestCredential:
        current = self.cache.current
        return RequestCredential(current.header.reveal(), current.generation)

    def unauthorized(self, sent: RequestCredential) -> bool:
        if sent.generation is None:  # not one of ours: treat as sent with the current token
            return self.cache.reset_older_than(self.cache.peek.generation)
        return self.cache.reset_older_than(sent.generation)

    def claims(self) -> TokenClaims:
        return self.cache.peek.claims

    @property
    def loaded_at(self) -> dt.datetime:
        """When the current token was first seen."""
        return self.cache.peek.first_seen

    @property
    def age(self) -> dt.timedelta:
        """How long the current token has been in use."""
        return dt.datetime.now(dt.timezone.utc) - self.cache.peek.first_seen

    def describe(self) -> str:
        current = self.cache.peek
        exp = current.claims.expires_in()
        tail = f", expires in {int(exp.total_seconds())}s" if exp is not None else ""
        return f"{self.source.describe()} ({current.header.fingerprint}{tail})"


@runtime_checkable
class _Reloadable(Protocol):
    def reload(self, reason: str = ...) -> bool: ...


@runtime_checkable
class _HasSource(Protocol):
    source: Path
