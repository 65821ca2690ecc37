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

MIN_RESYNC_PERIOD = 1.0
"""The shortest ``resync_period``, in seconds: 1 s, client-go's ``minimumResyncPeriod`` (a resync replays the
whole cache to the handlers; more often is a busy loop). client-go raises a shorter period to it; we raise
ValueError."""


class InitialList(enum.Enum):
    """How the informer gets the initial state (the ``initial_list`` option); the string values are accepted too."""

    AUTO = "auto"
    """Ask the server's version first: a streaming list (one WATCH with ``sendInitialEvents=true``) on
    Kubernetes 1.27 and later, else paged LIST. The default."""
    STREAM = "stream"
    """A streaming list without asking the version; falls back to paged LIST, for good, if the server refuses
    it (400/422) or ignores it (the stream ends without the initial-events-end bookmark)."""
    LIST = "list"
    """Paged LIST only (pages of 500, client-go's default), then WATCH."""


@dataclass(frozen=True, kw_only=True, eq=False)
class InformerOptions:
    """What to watch and how, validated once; frozen (derive a variant with :func:`dataclasses.replace`).

    Every field is also a keyword argument of :class:`~incluster_sdk.watch.informer.Informer`,
    :class:`~incluster_sdk.watch.aio.AsyncInformer` and the factories (:class:`InformerKeywords`), applied over
    an ``options`` object if one is given.

    :param namespace: the namespace to watch; default None: all namespaces (client-go's ``NamespaceAll``).
        Ignored for cluster-scoped resources, which have no namespace.
    :param label_selector: a label selector the server filters by, e.g. ``"app=web,tier!=db"``; default None:
        no filter.
    :param field_selector: a field selector the server filters by, e.g. ``"metadata.name=app-config"`` (the
        RBAC preflight then checks access to that one object); default None: no filter.
    :param indexers: extra indexes, name → function called as ``fn(obj) -> Iterable[str]`` on each object
        (a dict, after ``transform``) and returning its values in that index; query them with
        :meth:`Store.by_index(name, value) <incluster_sdk.watch.store.Store.by_index>`. The ``namespace``
        index is always there. An indexer must not raise (use ``.get``): a failure is logged and the watch
        restarts. Default None: only ``namespace``.
    :param transform: called as ``fn(obj) -> obj`` on each object (a dict) before it is stored and handed to
        handlers; it may change and return ``obj``. Default
        :func:`~incluster_sdk.watch.cache.strip_managed_fields` (our choice: ``managedFields`` is often a third
        of an object and apps rarely read it; client-go keeps objects whole); None keeps objects whole;
        :func:`~incluster_sdk.watch.cache.compact` drops more. It must not raise.
    :param metadata_only: the server sends only metadata (``PartialObjectMetadata``: name, namespace, labels,
        annotations, owner references, resourceVersion, timestamps; no ``spec`` or ``status``): the lightest
        cache and traffic. Default False.
    :param compress: keep cached objects deflated
        (:class:`~incluster_sdk.watch.store.CompressedCodec`: about a tenth of their JSON for objects of one
        kind; each read costs a few µs more). Default False (our choice: reads stay cheapest; cached objects
        are JSON bytes either way, see :mod:`incluster_sdk.watch.store`).
    :param initial_list: how to get the initial state, an :class:`InitialList` or its value (``"auto"``,
        ``"stream"``, ``"list"``). Default ``"auto"`` (our choice: a streaming list holds no LIST pages in
        memory, and older servers get paged LIST).
    :param resync_period: seconds between resyncs, each replaying the whole cache to the handlers as
        ``on_update(obj, obj)`` from memory (never a relist); at least 1 s (:data:`MIN_RESYNC_PERIOD`).
        Default None: no resync (client-go's resync period 0).
    :param preflight: at start, check with SelfSubjectAccessReviews that this identity may list and watch the
        collection, and fail fast with :class:`~incluster_sdk.PermissionDeniedError` naming the missing
        permission and the RBAC that grants it. A check that cannot be made (server down, reviews not
        allowed) is logged and skipped. Default True (our choice: a 403 at start instead of a retry loop).
    :raises ValueError: if ``initial_list`` is not one of the :class:`InitialList` values, or
        ``resync_period`` is under 1 s.
    :raises TypeError: for an unknown field name.
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
        """Build the options an informer or factory runs with: ``options`` (or the defaults) with ``overrides``
        applied, validated.

        :param options: the base options; None: the defaults.
        :param overrides: field name → value, the keyword arguments the informer or factory was given.
        :returns: new validated options, or ``options`` itself when ``overrides`` is empty.
        :raises ValueError: for a bad ``initial_list`` or a ``resync_period`` under 1 s.
        :raises TypeError: for a key that is not a field of :class:`InformerOptions`.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(overrides) - fields):
            import difflib

            hints = [f" (did you mean {near[0]!r}?)" if (near := difflib.get_close_matches(name, fields, 1)) else ""
                     for name in unknown]  # fmt: skip
            raise TypeError(
                "unknown informer option" + ("s " if len(unknown) > 1 else " ")
                + ", ".join(f"{name!r}{hint}" for name, hint in zip(unknown, hints, strict=True))
                + f"; the options are: {', '.join(sorted(fields))}"
            )  # fmt: skip
        if options is None:
            return cls(**overrides)
        return dataclasses.replace(options, **overrides) if overrides else options


class InformerKeywords(TypedDict, total=False):
    """The keyword arguments (``**overrides``) that :class:`~incluster_sdk.watch.informer.Informer`,
    :class:`~incluster_sdk.watch.aio.AsyncInformer` and the factories take: the fields of
    :class:`InformerOptions`, typed so that a type checker checks their names and types at every call.

    Every key is optional; one given replaces that field of the ``options`` argument (or of the defaults).
    The full description of each, with its default, is in the parameter table of :class:`InformerOptions`;
    in short:

    - ``namespace`` (``str | None``, default None: all namespaces)
    - ``label_selector``, ``field_selector`` (``str | None``, default None: no filter)
    - ``indexers`` (name → ``fn(obj) -> Iterable[str]``, default None: only the ``namespace`` index)
    - ``transform`` (``fn(obj) -> obj`` or None, default :func:`~incluster_sdk.watch.cache.strip_managed_fields`)
    - ``metadata_only``, ``compress`` (``bool``, default False)
    - ``initial_list`` (:class:`InitialList` or ``"auto"``/``"stream"``/``"list"``, default ``"auto"``)
    - ``resync_period`` (seconds, ``float | None``, at least 1 s; default None: no resync)
    - ``preflight`` (``bool``, default True: check list/watch permission at start)

    Example: ``Informer(client, PODS, namespace="default", resync_period=300)``.
    """

    namespace: str | None
    """The namespace to watch; None (the default) watches all namespaces."""
    label_selector: str | None
    """A label selector the server filters by (``"app=web"``); default None: no filter."""
    field_selector: str | None
    """A field selector the server filters by (``"metadata.name=app-config"``); default None: no filter."""
    indexers: Mapping[str, Indexer] | None
    """Extra store indexes, name → ``fn(obj) -> Iterable[str]``; default None: only ``namespace``."""
    transform: Transform | None
    """``fn(obj) -> obj`` run on each object before it is cached; default
    :func:`~incluster_sdk.watch.cache.strip_managed_fields`; None keeps objects whole."""
    metadata_only: bool
    """Watch ``PartialObjectMetadata`` only (no ``spec``, no ``status``); default False."""
    compress: bool
    """Keep cached objects deflated (smaller, reads a few µs slower); default False."""
    initial_list: InitialList | str
    """``"auto"`` (the default), ``"stream"`` or ``"list"``: see :class:`InitialList`."""
    resync_period: float | None
    """Seconds between replays of the cache as ``on_update(obj, obj)``, at least 1 s; default None: never."""
    preflight: bool
    """Check at start that this identity may list and watch (:class:`~incluster_sdk.PermissionDeniedError`
    if not); default True."""


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
    """The namespace watched (``options.namespace``); None: all namespaces. Read-only."""
    label_selector: Part[str | None] = Part("options")
    """The label selector (``options.label_selector``); None: none. Read-only."""
    field_selector: Part[str | None] = Part("options")
    """The field selector (``options.field_selector``); None: none. Read-only."""
    metadata_only: Part[bool] = Part("options")
    """True if the informer watches ``PartialObjectMetadata`` only (``options.metadata_only``). Read-only."""
    resync_period: Part[float | None] = Part("options")
    """Seconds between resyncs (``options.resync_period``); None: no resync. Read-only."""
    preflight: Part[bool] = Part("options")
    """True if ``start()`` checks list/watch permission first (``options.preflight``). Read-only."""
