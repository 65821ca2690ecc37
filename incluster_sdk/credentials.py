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


class Credentials:
    """Base class: a source of request authentication. The default authenticates nothing."""

    #: True when ``auth_header`` may block (runs a subprocess); async callers use a thread then.
    may_block: bool = False

    def auth_header(self) -> str | None:
        """The ``Authorization`` header value for the next request, or None."""
        return None

    def on_unauthorized(self, sent_header: str | None) -> bool:
        """A request sent with ``sent_header`` got 401. Refresh; True if a retry may now succeed."""
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


class TokenFile(Credentials):
    """A bearer token read from a file that may be rotated underneath us (projected SA token).

    Keeps the last good token whenever a re-read fails or finds the file empty mid-swap.
    """

    def __init__(
        self,
        path: Path,
        *,
        what: str = "token file",
        fix: str = "Check the path and that the file holds a bearer token.",
        error: type[ConfigError] = ConfigError,
        reload_interval: float = TOKEN_RELOAD_INTERVAL,
    ) -> None:
        self.path = path
        self.reload_interval = reload_interval
        self._what = what
        self._fix = fix
        self._lock = threading.Lock()
        self._header: Secret
        self._claims: TokenClaims
        self._loaded_mono = 0.0
        self._loaded_at = dt.datetime.now(dt.timezone.utc)
        self._watched: list[object] = []
        # The first read must succeed: there is no last good token to fall back on.
        self._install(self._read(error))

    # -- reading -------------------------------------------------------------------------------------
    def _read(self, error: type[ConfigError] = ConfigError) -> str:
        token = read_file_text(self.path, what=self._what, fix=self._fix, error=error).strip()
        return check_token(token, where=f"{self._what} {self.path}", error=error)

    def _install(self, token: str) -> bool:
        header = Secret(f"Bearer {token}")
        changed = not hasattr(self, "_header") or header != self._header
        if changed:
            self._claims = decode_claims(token)
            self._loaded_at = dt.datetime.now(dt.timezone.utc)
        self._header = header
        self._loaded_mono = time.monotonic()
        return changed

    def reload(self, reason: str = "requested") -> bool:
        """Re-read the file now. Returns True if the token changed; keeps the last good one on failure."""
        with self._lock:
            try:
                token = self._read()
            except ConfigError as exc:
                # Mid-swap reads can see an empty or missing file; the next event or pull fixes it.
                log.warning("keeping the last good token: re-read (%s) failed: %s", reason, str(exc))
                self._loaded_mono = time.monotonic()
                return False
            changed = self._install(token)
        if changed:
            log.info("token reloaded from %s (%s): now %s", self.path, reason, self._header.fingerprint)
        return changed

    def watch(self, *also: _Reloadable) -> str:
        """Reload on file events in the token's directory (and every minute), together with ``also``
        (e.g. the CA bundle from the same mount). Returns "inotify" or "polling"."""
        owners: list[_Reloadable] = [self, *also]
        self._watched = list(owners)
        names = frozenset(o.source.name if isinstance(o, _HasSource) else self.path.name for o in owners)
        return filewatch.watch(self.path.parent, [o.reload for o in owners], names=names)

    @property
    def watch_mode(self) -> str:
        """How rotations are noticed: "inotify" (push), "polling" (fallback), or "none" (pull only)."""
        return filewatch.mode(self.path.parent) if self._watched else "none"

    def close(self) -> None:
        for owner in self._watched:
            filewatch.unwatch(self.path.parent, owner)
        self._watched = []

    # -- Credentials ---------------------------------------------------------------------------------
    def auth_header(self) -> str:
        if time.monotonic() - self._loaded_mono >= self.reload_interval and self._lock.acquire(False):
            # Only one caller does the periodic pull; the others keep using the current token.
            self._lock.release()
            self.reload("periodic re-read")
        return self._header.reveal()

    def on_unauthorized(self, sent_header: str | None) -> bool:
        if sent_header is not None and sent_header != self._header.reveal():
            return True  # already rotated since that request was sent
        return self.reload("HTTP 401")

    def claims(self) -> TokenClaims:
        return self._claims

    @property
    def loaded_at(self) -> dt.datetime:
        """When the current token was first seen."""
        return self._loaded_at

    @property
    def age(self) -> dt.timedelta:
        """How long the current token has been in use."""
        return dt.datetime.now(dt.timezone.utc) - self._loaded_at

    def describe(self) -> str:
        exp = self._claims.expires_in()
        tail = f", expires in {int(exp.total_seconds())}s" if exp is not None else ""
        return f"{self._what} {self.path} ({self._header.fingerprint}{tail})"


@runtime_checkable
class _Reloadable(Protocol):
    def reload(self, reason: str = ...) -> bool: ...


@runtime_checkable
class _HasSource(Protocol):
    source: Path
