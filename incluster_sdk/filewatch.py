"""Push + pull reloading of mounted credentials, with bounded resources.

Push: ``watchdog`` watches the *directory* (kubelet never rewrites a file in place; it renames a new
``..data`` symlink over the old one, which a watch on the file itself would never see).
Pull: one timer re-reads everything every ``PULL_INTERVAL`` regardless of events, so a lost or unsupported
event can never leave a stale credential for long. If inotify cannot start (e.g. ``max_user_watches``
exhausted), watchdog's polling observer takes over and that is logged once.

One observer thread and one pull thread per process, one watch per directory, however many configs are
loaded; reload callbacks are held weakly, so a dropped config stops being reloaded on its own.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler

log = logging.getLogger(__name__)

#: client-go re-reads projected tokens every minute (kubernetes#68164): kubelet refreshes at 80% of a TTL of
#: at least 10 min, so a one-minute pull can never miss a rotation by more than a minute, events or not.
PULL_INTERVAL = 60.0
#: Polling fallback period: a rotation is still seen within about a second without inotify.
POLL_FALLBACK_INTERVAL = 1.0

Reload = Callable[[str], object]


class _Handler:
    """What a watchdog observer calls (its ``dispatch``) for each event in one directory. Not a subclass of
    watchdog's handler class, so that watchdog loads only when a first watch is scheduled (``import
    incluster_sdk`` stays cheap: watchdog's observers take 20-30 ms to import)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        names = {Path(str(event.src_path)).name, Path(str(getattr(event, "dest_path", "") or "")).name}
        entry = _registry.get(self._directory)
        # "..data" is kubelet's swap; plain names cover files rewritten in place (kubeconfig tokenFile).
        if entry is not None and names & (entry.names | {"..data"}):
            entry.fire(f"file event: {event.event_type} {', '.join(sorted(n for n in names if n))}")


@dataclass
class _Entry:
    directory: Path
    names: frozenset[str]
    reloads: list[weakref.WeakMethod[Reload]] = field(default_factory=list)
    observer: Any = None
    watch: Any = None
    mode: str = "none"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def live(self) -> list[Reload]:
        alive = [r for r in (ref() for ref in self.reloads) if r is not None]
        self.reloads = [weakref.WeakMethod(r) for r in alive]
        return alive

    def fire(self, reason: str) -> None:
        with self.lock:  # serialise reloads from the observer and the puller
            for reload in self.live():
                try:
                    reload(reason)
                except Exception:  # a reload must never kill a watcher thread
                    log.exception("reload after %s failed", reason)


_registry: dict[Path, _Entry] = {}
_registry_lock = threading.Lock()
_observer: Any = None
_puller: threading.Thread | None = None
_fallback_logged = False


def _shared_observer() -> Any:
    global _observer
    if _observer is None:
        from watchdog.observers import Observer

        observer = Observer()
        observer.daemon = True
        observer.start()
        _observer = observer
    return _observer


def _schedule(entry: _Entry) -> None:
    global _fallback_logged
    # watchdog calls only the handler's dispatch(): duck-typed, see _Handler
    handler = cast("FileSystemEventHandler", _Handler(entry.directory))
    try:
        entry.observer = _shared_observer()
        entry.watch = entry.observer.schedule(handler, str(entry.directory), recursive=False)
        entry.mode = "inotify"
    except OSError as exc:
        if not _fallback_logged:
            _fallback_logged = True
            log.warning(
                "file events unavailable for %s (%s); polling every %.0fs instead",
                entry.directory,
                exc.strerror or exc,
                POLL_FALLBACK_INTERVAL,
            )
        from watchdog.observers.polling import PollingObserver

        observer = PollingObserver(timeout=POLL_FALLBACK_INTERVAL)
        observer.daemon = True
        observer.schedule(handler, str(entry.directory), recursive=False)
        observer.start()
        entry.observer, entry.watch, entry.mode = observer, None, "polling"


def _unschedule(entry: _Entry) -> None:
    if entry.mode == "inotify":
        with contextlib.suppress(KeyError, OSError):
            entry.observer.unschedule(entry.watch)
    elif entry.mode == "polling":
        entry.observer.stop()
    entry.mode = "stopped"


def _pull_loop() -> None:
    while True:
        time.sleep(PULL_INTERVAL)
        with _registry_lock:
            entries = list(_registry.values())
        for entry in entries:
            entry.fire("periodic re-read")
            if not entry.reloads:
                unwatch_directory(entry.directory)


def watch(directory: Path, reloads: list[Reload], *, names: frozenset[str] = frozenset()) -> str:
    """Call each (bound-method) ``reload(reason)`` when ``directory`` changes and every ``PULL_INTERVAL``.

    Returns the mode in force: "inotify" or "polling".
    """
    global _puller
    directory = directory.absolute()
    with _registry_lock:
        entry = _registry.get(directory)
        if entry is None:
            entry = _registry[directory] = _Entry(directory, names)
            _schedule(entry)
        entry.names = entry.names | names
        entry.reloads.extend(weakref.WeakMethod(r) for r in reloads)
        if _puller is None:
            _puller = threading.Thread(target=_pull_loop, name="incluster-sdk-pull", daemon=True)
            _puller.start()
        return entry.mode


def unwatch(directory: Path, owner: object) -> None:
    """Stop reloading ``owner``'s methods for ``directory``; the watch ends with its last owner."""
    directory = directory.absolute()
    with _registry_lock:
        entry = _registry.get(directory)
        if entry is None:
            return
        entry.reloads = [
            ref for ref in entry.reloads if (m := ref()) is not None and getattr(m, "__self__", None) is not owner
        ]
        empty = not entry.reloads
    if empty:
        unwatch_directory(directory)


def unwatch_directory(directory: Path) -> None:
    with _registry_lock:
        entry = _registry.pop(directory.absolute(), None)
    if entry is not None:
        _unschedule(entry)


def mode(directory: Path) -> str:
    """How ``directory`` is watched: "inotify", "polling", or "none"."""
    entry = _registry.get(directory.absolute())
    return entry.mode if entry else "none"


def owner_mode(directory: Path, owner: object) -> str:
    """How ``owner`` is reloaded from ``directory``: "inotify", "polling", or "none" (not watched)."""
    entry = _registry.get(directory.absolute())
    if entry is None:
        return "none"
    watched = any(getattr(ref(), "__self__", None) is owner for ref in entry.reloads)
    return entry.mode if watched else "none"


class _Reloadable(Protocol):
    def reload(self, reason: str = ...) -> bool: ...


class FileWatch:
    """The watch one set of files owns: a mount (token and CA) or a kubeconfig's token file.

    The owner of the files (the in-cluster or kubeconfig loader) names them and what reloads each; every
    owner's ``reload(reason)`` runs on events in the directory and every ``PULL_INTERVAL``. Owners are held
    weakly, as everywhere here: dropping them ends their reloads. :meth:`close` ends them at once.
    """

    def __init__(self, directory: Path, owners: Mapping[str, _Reloadable]) -> None:
        self.directory = directory
        self.names = frozenset(owners)
        self._owners = [weakref.ref(owner) for owner in owners.values()]
        self._mode = watch(directory, [owner.reload for owner in owners.values()], names=self.names)

    @property
    def mode(self) -> str:
        """ "inotify", "polling", or "none" once closed."""
        return mode(self.directory) if self._owners else "none"

    def close(self) -> None:
        owners, self._owners = self._owners, []
        for ref in owners:
            owner = ref()
            if owner is not None:
                unwatch(self.directory, owner)

    def __repr__(self) -> str:
        return f"<FileWatch {self.directory} {sorted(self.names)} ({self.mode})>"
