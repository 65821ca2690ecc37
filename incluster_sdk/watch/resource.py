"""Re-exports :class:`~incluster_sdk.resource.Resource` and ``PODS``, which moved to the bottom layer
(:mod:`incluster_sdk.resource`) because rbac uses them too; ``from incluster_sdk.watch import Resource``
keeps working."""

from ..resource import PODS, Resource

__all__ = ["PODS", "Resource"]
