"""Which collection a request names, and the URL for it: shared by watch (informers) and rbac (the preflight).

Constants name the standard kinds' collections, in the version every supported server serves them in
(``apps/v1`` deployments, ``v1`` namespaces). For anything else, a custom resource or a version that varies
between servers, ask the server: :func:`incluster_sdk.discovery.resource_for` (``resource_for(client,
"CronJob")``, ``resource_for(client, "widgets.example.com")``).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """A resource collection, e.g. ``Resource("v1", "pods")`` or ``Resource("apps/v1", "deployments")``.

    ``api_version`` is ``group/version`` (``v1`` for the core group), ``plural`` the resource's URL name,
    ``namespaced`` whether objects live in namespaces (False: ``Namespace``, ``Node``, ``ClusterRole``...).
    """

    api_version: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        """The API group (``""`` for the core group)."""
        return self.api_version.rpartition("/")[0]

    def path(self, namespace: str | None) -> str:
        """The collection's URL path: ``/api/v1/namespaces/ns/pods`` (``namespace`` None, or a cluster-scoped
        resource: across all namespaces, ``/api/v1/pods``). The namespace is percent-quoted."""
        prefix = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if namespace and self.namespaced:
            return f"{prefix}/namespaces/{urllib.parse.quote(namespace)}/{self.plural}"
        return f"{prefix}/{self.plural}"


# The standard kinds. Each is served in this version by Kubernetes 1.20 and every later release (checked
# against kube-apiserver's discovery by tests/e2e/test_discovery_catalog_e2e.py), except the three marked
# 1.21+, whose v1 came in 1.21 (1.20 serves CronJob, PodDisruptionBudget and EndpointSlice as v1beta1 only,
# and 1.25 removed those: resource_for(client, "cronjobs") picks what the server serves).
# core
CONFIGMAPS = Resource("v1", "configmaps")
ENDPOINTS = Resource("v1", "endpoints")
EVENTS = Resource("v1", "events")
LIMIT_RANGES = Resource("v1", "limitranges")
NAMESPACES = Resource("v1", "namespaces", namespaced=False)
NODES = Resource("v1", "nodes", namespaced=False)
PERSISTENT_VOLUME_CLAIMS = Resource("v1", "persistentvolumeclaims")
PERSISTENT_VOLUMES = Resource("v1", "persistentvolumes", namespaced=False)
PODS = Resource("v1", "pods")
POD_TEMPLATES = Resource("v1", "podtemplates")
REPLICATION_CONTROLLERS = Resource("v1", "replicationcontrollers")
RESOURCE_QUOTAS = Resource("v1", "resourcequotas")
SECRETS = Resource("v1", "secrets")
SERVICE_ACCOUNTS = Resource("v1", "serviceaccounts")
SERVICES = Resource("v1", "services")
# apps, batch, autoscaling, policy
CONTROLLER_REVISIONS = Resource("apps/v1", "controllerrevisions")
DAEMON_SETS = Resource("apps/v1", "daemonsets")
DEPLOYMENTS = Resource("apps/v1", "deployments")
REPLICA_SETS = Resource("apps/v1", "replicasets")
STATEFUL_SETS = Resource("apps/v1", "statefulsets")
JOBS = Resource("batch/v1", "jobs")
CRON_JOBS = Resource("batch/v1", "cronjobs")  # 1.21+
HORIZONTAL_POD_AUTOSCALERS = Resource("autoscaling/v1", "horizontalpodautoscalers")
POD_DISRUPTION_BUDGETS = Resource("policy/v1", "poddisruptionbudgets")  # 1.21+
# networking, discovery
INGRESSES = Resource("networking.k8s.io/v1", "ingresses")
INGRESS_CLASSES = Resource("networking.k8s.io/v1", "ingressclasses", namespaced=False)
NETWORK_POLICIES = Resource("networking.k8s.io/v1", "networkpolicies")
ENDPOINT_SLICES = Resource("discovery.k8s.io/v1", "endpointslices")  # 1.21+
# rbac, coordination, certificates
ROLES = Resource("rbac.authorization.k8s.io/v1", "roles")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io/v1", "rolebindings")
CLUSTER_ROLES = Resource("rbac.authorization.k8s.io/v1", "clusterroles", namespaced=False)
CLUSTER_ROLE_BINDINGS = Resource("rbac.authorization.k8s.io/v1", "clusterrolebindings", namespaced=False)
LEASES = Resource("coordination.k8s.io/v1", "leases")
CERTIFICATE_SIGNING_REQUESTS = Resource("certificates.k8s.io/v1", "certificatesigningrequests", namespaced=False)
# storage, scheduling, node, extension points
STORAGE_CLASSES = Resource("storage.k8s.io/v1", "storageclasses", namespaced=False)
CSI_DRIVERS = Resource("storage.k8s.io/v1", "csidrivers", namespaced=False)
CSI_NODES = Resource("storage.k8s.io/v1", "csinodes", namespaced=False)
VOLUME_ATTACHMENTS = Resource("storage.k8s.io/v1", "volumeattachments", namespaced=False)
PRIORITY_CLASSES = Resource("scheduling.k8s.io/v1", "priorityclasses", namespaced=False)
RUNTIME_CLASSES = Resource("node.k8s.io/v1", "runtimeclasses", namespaced=False)
CUSTOM_RESOURCE_DEFINITIONS = Resource("apiextensions.k8s.io/v1", "customresourcedefinitions", namespaced=False)
MUTATING_WEBHOOK_CONFIGURATIONS = Resource(
    "admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", namespaced=False
)
VALIDATING_WEBHOOK_CONFIGURATIONS = Resource(
    "admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", namespaced=False
)
API_SERVICES = Resource("apiregistration.k8s.io/v1", "apiservices", namespaced=False)

#: Constants whose version Kubernetes 1.20 does not serve yet (it serves their v1beta1).
SINCE_1_21 = frozenset({CRON_JOBS, POD_DISRUPTION_BUDGETS, ENDPOINT_SLICES})
