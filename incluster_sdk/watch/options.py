"""An informer's options, validated once: one frozen :class:`InformerOptions` taken by both drivers and both
factories."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypedDict, TypeVar, overload

from .cache import Transform, strip_managed_fields
from .store import Indexer

#: Resync replays the cache to the handlers; more often than once a second is a busy loop (client-go's floor).
MIN_RESYNC_PERIOD = 1.0


class InitialList(enum.Enum):
    """How the informer gets the initial state."""

    AUTO = "auto"  # streaming where the server has it, else paged LIST
    STREAM = "stream"  # streaming list; still falls back to LIST if the server refuses it
    LIST = "list"  # paged LIST only


@dataclass(frozen=True, kw_only=True, eq=False)
class InformerOptions:
    """What to watch and how. Every field is also a keyword argument of :class:`~.informer.Informer`,
    :class:`~.aio.AsyncInformer` and the factories.

    - ``namespace``: None watches all namespaces.
    - ``label_selector`` / ``field_selector``: narrow the collection on the server.
    - ``indexers``: extra indexes, name → function returning index values (``namespace`` is always there).
    - ``transform``: applied to each object before it is stored and handed to handlers (default: drop
      ``managedFields``; None keeps objects whole).
    - ``metadata_only``: the server sends only metadata (PartialObjectMetadata): the lightest cache.
    - ``compress``: keep cached objects deflated (about a tenth of their JSON for objects of one kind; each
      read costs a few µs more). Default False: cached objects are kept as JSON bytes either way
      (see :mod:`~incluster_sdk.watch.store`).
    - ``initial_list``: "auto" (streaming list where the server has it, else paged LIST), "stream", "list".
    - ``resync_period``: seconds; replays the cache to handlers as ``on_update(obj, obj)``. At least 1 s.
    - ``preflight``: check list/watch permissions at start and fail fast naming the fix.
    """

    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    indexers: Mapping[str, Indexer] | None = None
    transform: Transform | None = strip_managed_fields
    metadata_only: bool = False
    compress: bool = False
    initial_list: InitialList = InitialList.AUTO
    resync_period: float | None = None
    preflight: bool = True

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "initial_list", InitialList(self.initial_list))
        except ValueError:
            raise ValueError(
                f"initial_list must be one of {[m.value for m in InitialList]}, not {self.initial_list!r}"
            ) from None
        if self.resync_period is not None and self.resync_period < MIN_RESYNC_PERIOD:
            raise ValueError(f"resync_period must be at least {MIN_RESYNC_PERIOD}s (or None for no resync)")

    @classmethod
    def of(cls, options: InformerOptions | None, overrides: Mapping[str, Any]) -> InformerOptions:
        """``options`` (or the defaults) with ``overrides`` (keyword arguments) applied, validated."""
        if options is None:
            return cls(**overrides)
        return dataclasses.replace(options, **overrides) if overrides else options


class InformerKeywords(TypedDict, total=False):
    """The keyword arguments the informers and factories take: the fields of :class:`InformerOptions`, so
    that a type checker checks their names and types at every call."""

    namespace: str | None
    label_selector: str | None
    field_selector: str | None
    indexers: Mapping[str, Indexer] | None
    transform: Transform | None
    metadata_only: bool
    compress: bool
    initial_list: InitialList | str
    resync_period: float | None
    preflight: bool


T = TypeVar("T")


class Part(Generic[T]):
    """A read-only attribute that reads the attribute of the same name of one of its owner's parts
    (``driver.options.namespace`` as ``driver.namespace``). Typed like the attribute it reads."""

    def __init__(self, part: str) -> None:
        self.part = part

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, owner_object: None, owner: type) -> Part[T]: ...

    @overload
    def __get__(self, owner_object: object, owner: type) -> T: ...

    def __get__(self, owner_object: object | None, owner: type) -> Part[T] | T:
        if owner_object is None:
            return self
        value: T = getattr(getattr(owner_object, self.part), self.name)
        return value

    def __set__(self, owner_object: object, value: NoReturn) -> None:  # read-only, for type checkers too
        raise AttributeError(f"{self.name} is read-only (it is {self.part}.{self.name})")


class OptionAttributes:
    """Read-only attributes of both drivers: ``informer.namespace``, ``informer.field_selector`` (which the
    RBAC preflight reads) and the other options, from ``informer.options``."""

    options: InformerOptions

    namespace: Part[str | None] = Part("options")
    label_selector: Part[str | None] = Part("options")
    field_selector: Part[str | None] = Part("options")
    metadata_only: Part[bool] = Part("options")
    resync_period: Part[float | None] = Part("options")
    preflight: Part[bool] = Part("options")
