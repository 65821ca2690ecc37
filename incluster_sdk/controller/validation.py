"""The names kube-apiserver checks before an apply or a finalizer edit: field managers and finalizers, checked
here first so a bad one fails before any request, with the rule it breaks.
"""

from __future__ import annotations

import re
from typing import Any

from .object_errors import ObjectError

__all__ = ["FIELD_MANAGER_MAX_LENGTH", "STANDARD_FINALIZERS", "validate_field_manager", "validate_finalizer_name"]

FIELD_MANAGER_MAX_LENGTH = 128
"""The longest field manager name, in bytes (UTF-8): 128, kube-apiserver's ``FieldManagerMaxLength``
(apimachinery meta/v1/validation)."""

STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})
"""The finalizers without a "/" that kube-apiserver accepts on built-in kinds (apimachinery
``IsStandardFinalizerName``)."""
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")  # apimachinery qualifiedNameFmt
_QUALIFIED_NAME_MAX = 63
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_SUBDOMAIN_MAX = 253


# -- field managers (server-side apply) -----------------------------------------------------------------------
def validate_field_manager(field_manager: Any) -> str:
    """Check ``field_manager`` as kube-apiserver checks it for an apply patch (``ValidatePatchOptions``,
    ``ValidateFieldManager``): required (non-empty), at most 128 bytes (UTF-8), printable characters only.

    :param field_manager: the value to check (anything: a non-string fails).
    :returns: ``field_manager``, unchanged.
    :raises ~incluster_sdk.controller.object_errors.ObjectError: naming the rule it breaks.
    """
    if not isinstance(field_manager, str) or not field_manager:
        raise ObjectError(
            f"field_manager={field_manager!r}: server-side apply needs a field manager, the name your controller"
            " owns its fields under (e.g. 'example.com/my-controller'); kube-apiserver requires it for apply"
        )
    if len(field_manager.encode()) > FIELD_MANAGER_MAX_LENGTH:
        raise ObjectError(
            f"field_manager={field_manager[:40]!r}...: {len(field_manager.encode())} bytes; kube-apiserver allows"
            f" at most {FIELD_MANAGER_MAX_LENGTH}: use a shorter name"
        )
    for position, char in enumerate(field_manager):
        if not char.isprintable():
            raise ObjectError(
                f"field_manager={field_manager!r}: invalid character {char!r} (U+{ord(char):04X}) at position"
                f" {position}; kube-apiserver allows printable characters only"
            )
    return field_manager


# -- finalizers -----------------------------------------------------------------------------------------------
def validate_finalizer_name(finalizer: Any) -> str:
    """Check ``finalizer`` as kube-apiserver checks it (apimachinery ``ValidateFinalizerName``: a qualified name,
    i.e. an optional DNS-subdomain prefix and "/", then 1-63 of ``[A-Za-z0-9_.-]`` starting and ending
    alphanumeric).

    A name without a prefix is refused too unless it is a standard one (:data:`STANDARD_FINALIZERS`):
    kube-apiserver refuses those on built-in kinds and warns on custom resources.

    :param finalizer: the value to check (anything: a non-string fails), e.g. ``example.com/cleanup``.
    :returns: ``finalizer``, unchanged.
    :raises ~incluster_sdk.controller.object_errors.ObjectError: naming the rule it breaks.
    """
    example = "use a domain you own as prefix, e.g. 'example.com/cleanup'"
    if not isinstance(finalizer, str) or not finalizer:
        raise ObjectError(f"finalizer={finalizer!r}: empty; {example}")
    prefix, slash, name = finalizer.rpartition("/")
    if "/" in prefix:
        raise ObjectError(f"finalizer={finalizer!r}: more than one '/'; a finalizer is PREFIX/NAME, {example}")
    if slash and (not prefix or len(prefix) > _DNS1123_SUBDOMAIN_MAX or not _DNS1123_SUBDOMAIN.match(prefix)):
        raise ObjectError(
            f"finalizer={finalizer!r}: the prefix {prefix!r} is not a DNS subdomain (lower-case letters, digits,"
            f" '-' and '.', at most {_DNS1123_SUBDOMAIN_MAX} characters); {example}"
        )
    if not slash and name not in STANDARD_FINALIZERS:
        raise ObjectError(
            f"finalizer={finalizer!r}: not fully qualified; kube-apiserver refuses unprefixed finalizers on built-in"
            f" kinds (other than {', '.join(sorted(STANDARD_FINALIZERS))}) and warns on custom resources; {example}"
        )
    if not name or len(name) > _QUALIFIED_NAME_MAX or not _QUALIFIED_NAME.match(name):
        raise ObjectError(
            f"finalizer={finalizer!r}: the name part {name!r} must be 1-{_QUALIFIED_NAME_MAX} characters of"
            " letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        )
    return finalizer
