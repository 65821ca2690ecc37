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

TOKEN_RELOAD_INTERVAL = filewatch.PULL_INTERVAL
"""Seconds between re-reads of a token file on the request path: 60 s, client-go's one-minute period for file
tokens (kubernetes#68164). A backstop for the file watch's own pull thread, which keeps the same period."""


#: What a bearer token may hold: visible ASCII, spaces and tabs. Anything else (a line break, a non-Latin
#: character) cannot go in an HTTP header, and http.client would print the whole header in its error.
_HEADER_SAFE = re.compile(r"[\x20-\x7e\t]*")


def check_token(token: str, *, where: str, error: type[ConfigError] = ConfigError) -> str:
    """Check that a bearer token can be sent in an ``Authorization`` header (visible ASCII, spaces and tabs).

    :param token: the bearer token, without ``Bearer``.
    :param where: what held it, for the message (e.g. ``"token file /path"``); the message never shows the token.
    :param error: the exception class to raise; default :class:`~incluster_sdk.errors.ConfigError`.
    :returns: ``token`` itself.
    :raises ~incluster_sdk.errors.ConfigError: (as ``error``) the token holds a line break or another character
        an HTTP header cannot carry.
    """
    if not _HEADER_SAFE.fullmatch(token):
        lines = " (it has more than one line)" if "\n" in token.strip() else ""
        raise error(
            f"{where} holds a character that cannot be sent in an HTTP header{lines}. "
            "A bearer token is one line of printable ASCII; check what wrote it."
        )
    return token


@dataclass(frozen=True)
class RequestCredential:
    """What one request carries, as one consistent pair from :meth:`Credentials.request_credential`.

    Clients keep it until the answer, so that a 401 can say *which* credential was refused
    (:meth:`Credentials.unauthorized`).

    :param header: the whole ``Authorization`` value, e.g. ``"Bearer "`` and the token; None: send no
        ``Authorization`` header. Never in the repr.
    :param generation: the generation of the credential it came from (successful reads of a token file, or runs of
        an exec plugin, counted from 1); None: the source keeps no generations (its credential never changes).
    """

    header: str | None = field(default=None, repr=False)
    generation: int | None = None


class Credentials:
    """Base class of the sources of request authentication; an instance of the base class sends none.

    :attr:`Config.credentials <incluster_sdk.config.Config.credentials>` holds one; every client asks it for the
    header at send time, so a rotated credential reaches every client. The base class is what a kubeconfig user
    with only a client certificate (or nothing: anonymous) gets. A subclass overrides :meth:`auth_header` and, if its
    credential can change, :meth:`request_credential` and :meth:`unauthorized`. Its repr is
    ``<ClassName description>`` (:meth:`describe`), never a secret.
    """

    may_block: bool = False
    """True when :meth:`auth_header` may block (it runs a subprocess: an exec plugin); the asyncio client then
    calls it in a thread. False for the base class and the token sources, which return a held string (a token
    file is re-read on that path at most once a minute: a small local read, kept on the event loop)."""

    def auth_header(self) -> str | None:
        """The ``Authorization`` header value for the next request.

        :returns: the whole value, ``"Bearer "`` and a token, or ``"Basic "`` and base64 of ``user:password``;
            None to send no ``Authorization`` header (the base class).
        :raises ~incluster_sdk.errors.CredentialError: a source that runs an exec plugin could not get a credential
            (the plugin failed or its output is unusable).
        """
        return None

    def request_credential(self) -> RequestCredential:
        """What to send with the next request, and the generation it came from (one consistent pair).

        :returns: the header and generation; the base class pairs :meth:`auth_header` with generation None.
        :raises ~incluster_sdk.errors.CredentialError: as :meth:`auth_header`.
        """
        return RequestCredential(self.auth_header())

    def unauthorized(self, sent: RequestCredential) -> bool:
        """Handle a 401 for a request sent with ``sent``: refresh, unless refreshed since it was sent.

        The credential is refreshed only if ``sent`` is of the current generation, so a late 401 for an old
        credential never discards a newer one (client-go's ``ResetTokenOlderThan``). The base class (a
        credential that never changes) refreshes nothing.

        :param sent: what the refused request carried, as :meth:`request_credential` gave it.
        :returns: True if the credential now differs from ``sent``, so a retry may succeed; False for the base
            class.
        """
        return False

    def claims(self) -> TokenClaims | None:
        """The decoded claims of the current bearer token (expiry, subject), for diagnostics.

        :returns: the claims (empty ones for a token that is not a JWT); None when the source has no bearer
            token (the base class, basic auth).
        """
        return None

    @property
    def client_certificate(self) -> ClientCertificate | None:
        """A client certificate this source supplies and may rotate (exec plugins), else None."""
        return None

    def describe(self) -> str:
        """Say what the source is, for logs and reprs, without the secret.

        :returns: a short description, e.g. ``"no credentials"`` (the base class) or ``"service-account token
            file /var/run/secrets/kubernetes.io/serviceaccount/token (1a2b3c4d, expires in 3120s)"``, where
            ``1a2b3c4d`` is a fingerprint (the first 8 hex digits of the SHA-256 of the header), not the token.
        """
        return "no credentials"

    def close(self) -> None:
        """Release watchers or threads; the source keeps serving its last credential. The base class does nothing."""

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
    never the contents. A :class:`CachingTokenSource` (or a :class:`TokenFile`) holds what it reads.

    :param path: the token file.
    :param what: what the file is, for messages and :meth:`describe`; default ``"token file"``.
    :param fix: the advice that ends each error message; default ``"Check the path and that the file holds a
        bearer token."``.
    :param error: the :class:`~incluster_sdk.errors.ConfigError` subclass that :meth:`read` raises; default
        ``ConfigError`` itself (the in-cluster loader passes
        :class:`~incluster_sdk.errors.InClusterConfigError`, the kubeconfig loader
        :class:`~incluster_sdk.errors.KubeconfigError`).
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
        """Read the token in the file now.

        :returns: the token (whitespace around it removed) in a holder whose repr shows only a fingerprint;
            ``.reveal()`` gives the string.
        :raises ~incluster_sdk.errors.ConfigError: (the ``error`` given at construction) the file is missing, a
            dangling symlink, not a regular file, unreadable, larger than 64 MiB, not UTF-8, empty, or holds a
            character an HTTP header cannot carry (e.g. more than one line).
        """
        token = read_file_text(self.path, what=self.what, fix=self._fix, error=self._error).strip()
        return Secret(check_token(token, where=f"{self.what} {self.path}", error=self._error))

    def describe(self) -> str:
        """Say which file this is, for logs and reprs.

        :returns: ``what`` and ``path``, e.g. ``"token file /path/to/token"``.
        """
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

    A request records the generation it was sent with, and a 401 resets the cache only if no read happened
    since. Its repr shows the header's fingerprint, never the token.

    :param header: the ``Authorization`` value, ``"Bearer "`` and the token, in a holder whose repr shows only a
        fingerprint (``.reveal()`` gives the string).
    :param claims: the token's decoded claims (empty ones if it is not a JWT).
    :param generation: successful reads of the source so far, from 1 (client-go's fetch time ``t``, as a count).
    :param since: the generation at which this token's value first appeared, so "has the token changed since
        generation ``g``" is ``since > g``.
    :param first_seen: when this value was first read (UTC).
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

    :param source: where the token comes from: an object with ``read()``, which returns the token (as
        :meth:`FileTokenSource.read` does) or raises :class:`~incluster_sdk.errors.ConfigError`, and
        ``describe() -> str``; usually a :class:`FileTokenSource`. Read once at construction.
    :param refresh_interval: seconds between re-reads on the hot path; default :data:`TOKEN_RELOAD_INTERVAL`
        (60 s, client-go's period for file tokens). Settable later as the attribute of the same name.
    :raises ~incluster_sdk.errors.ConfigError: the first read failed (there is no last good token to keep).
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
        """Re-read the source now (a file event, or a caller that knows the token changed).

        A failed read keeps the last good token and logs a warning (without the token); a successful one counts
        a generation even if the token is the same.

        :param reason: why, for the log lines (e.g. ``"periodic re-read"``); default ``"requested"``.
        :returns: True if the token changed; False if it is the same or the read failed.
        """
        with self._lock:
            return self._refresh_locked(reason)

    def reset_older_than(self, generation: int, reason: str = "HTTP 401") -> bool:
        """Handle the refusal of a request sent with ``generation``: re-read, unless a read happened since.

        After a newer read, that token stands: a late 401 never discards it, and many 401s for one token cause
        one re-read.

        :param generation: the generation the refused request was sent with (:attr:`CachedToken.generation`, or
            :attr:`RequestCredential.generation`).
        :param reason: why, for the log lines; default ``"HTTP 401"``.
        :returns: True if the token now differs from the one that request carried, so a retry may succeed.
        """
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

    :param source: the token file: a :class:`FileTokenSource`, or a path (then one with its default wording and
        error class). Read once at construction.
    :param reload_interval: seconds between re-reads on the request path; default :data:`TOKEN_RELOAD_INTERVAL`
        (60 s, client-go's period for file tokens).
    :raises ~incluster_sdk.errors.ConfigError: (the source's error class) the first read failed: see
        :meth:`FileTokenSource.read`.
    """

    def __init__(self, source: FileTokenSource | Path, *, reload_interval: float = TOKEN_RELOAD_INTERVAL) -> None:
        self.source = source if isinstance(source, FileTokenSource) else FileTokenSource(source)
        self.cache = CachingTokenSource(self.source, refresh_interval=reload_interval)
        """Holds the current token and its generation (:attr:`CachingTokenSource.peek` reads it without I/O)."""
        self._own_watch: filewatch.FileWatch | None = None

    @property
    def path(self) -> Path:
        """The token file's path."""
        return self.source.path

    @property
    def reload_interval(self) -> float:
        """Seconds between re-reads on the request path (settable)."""
        return self.cache.refresh_interval

    @reload_interval.setter
    def reload_interval(self, value: float) -> None:
        self.cache.refresh_interval = value

    @property
    def generation(self) -> int:
        """Successful reads of the file so far (see :class:`CachedToken`)."""
        return self.cache.peek.generation

    def reload(self, reason: str = "requested") -> bool:
        """Re-read the file now; the file watch calls this on events in the token's directory.

        A failed read keeps the last good token and logs a warning naming the file (never the token).

        :param reason: why, for the log lines (the watch passes e.g. ``"periodic re-read"``); default
            ``"requested"``.
        :returns: True if the token changed; False if it is the same or the read failed.
        """
        return self.cache.refresh(reason)

    def watch(self, *also: _Reloadable) -> str:
        """Watch the token's directory and reload this token (and ``also``) on changes. Deprecated.

        The loaders already set up a :class:`~incluster_sdk.filewatch.FileWatch` for the files they own
        (:attr:`Config.file_watch <incluster_sdk.config.Config.file_watch>`); this is for a :class:`TokenFile` made by
        hand. No warning is emitted. :meth:`close` ends the watch.

        :param also: other files in the same directory to reload on their events: objects with
            ``reload(reason) -> bool`` and a ``source`` path, e.g. a :class:`~incluster_sdk.tls.TrustBundle`.
        :returns: ``"inotify"`` (push) or ``"polling"`` (inotify could not start).
        """
        owners: dict[str, _Reloadable] = {self.path.name: self}
        owners.update({o.source.name: o for o in also if isinstance(o, _HasSource)})
        self._own_watch = filewatch.FileWatch(self.path.parent, owners)
        return self._own_watch.mode

    @property
    def watch_mode(self) -> str:
        """How rotations are noticed: "inotify" (push), "polling" (fallback), or "none" (pull only)."""
        return filewatch.owner_mode(self.path.parent, self)

    def close(self) -> None:
        """Stop watching the file (a :meth:`watch` of its own, and its part in a shared watch of its directory).

        The last token stays in use, and the request path still re-reads the file every ``reload_interval``.
        """
        if self._own_watch is not None:
            self._own_watch.close()
            self._own_watch = None
        filewatch.unwatch(self.path.parent, self)

    # -- Credentials ---------------------------------------------------------------------------------
    def auth_header(self) -> str:
        """The ``Authorization`` value for the next request, re-reading the file first if the last read is
        ``reload_interval`` old (a failed re-read keeps the last good token).

        :returns: ``"Bearer "`` and the current token.
        """
        return self.cache.current.header.reveal()

    def request_credential(self) -> RequestCredential:
        """The header for the next request and its generation, from one snapshot (as :meth:`auth_header`).

        :returns: the header and the generation (successful reads of the file so far).
        """
        current = self.cache.current
        return RequestCredential(current.header.reveal(), current.generation)

    def unauthorized(self, sent: RequestCredential) -> bool:
        """Handle a 401: re-read the file unless it was read since ``sent`` was handed out.

        See :meth:`CachingTokenSource.reset_older_than`.

        :param sent: what the refused request carried; one with generation None (not from this source) counts as
            sent with the current token.
        :returns: True if the token now differs from the one ``sent`` carried, so a retry may succeed.
        """
        if sent.generation is None:  # not one of ours: treat as sent with the current token
            return self.cache.reset_older_than(self.cache.peek.generation)
        return self.cache.reset_older_than(sent.generation)

    def claims(self) -> TokenClaims:
        """The decoded claims of the current token (no re-read).

        :returns: the claims; empty ones (all None) if the token is not a JWT.
        """
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
        """Say which file, which token (by fingerprint) and when it expires, for logs and reprs.

        :returns: e.g. ``"service-account token file /var/run/secrets/kubernetes.io/serviceaccount/token
            (1a2b3c4d, expires in 3120s)"``; the expiry part is left out for a token without ``exp``.
        """
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
