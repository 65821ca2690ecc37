"""Which collection a request names, and the URL for it: shared by watch (informers) and rbac (the preflight).

Constants name the standard kinds' collections, in the version every supported server serves them in
(``apps/v1`` deployments, ``v1`` namespaces). For anything else, a custom resource or a version that varies
between servers, ask the server: :func:`incluster_sdk.discovery.resource_for` (``resource_for(client,
"CronJob")``, ``resource_for(client, "widgets.example.com")``).

The constants, each a :class:`Resource`. Kubernetes 1.20 and every later release serve each in this version
(checked against kube-apiserver's discovery by an end-to-end test), except the three marked 1.21+
(:data:`SINCE_1_21`): their ``v1`` came in 1.21, and 1.20 serves them as ``v1beta1`` only (1.25 removed
those; ``resource_for(client, "cronjobs")`` picks what the server serves). Scope "cluster": objects live
outside namespaces.

| Constant                              | Kind                           | apiVersion | Scope |
|---------------------------------------|--------------------------------|---|---|
| ``CONFIGMAPS``                        | ConfigMap                      | v1 | namespaced |
| ``ENDPOINTS``                         | Endpoints                      | v1 | namespaced |
| ``EVENTS``                            | Event                          | v1 | namespaced |
| ``LIMIT_RANGES``                      | LimitRange                     | v1 | namespaced |
| ``NAMESPACES``                        | Namespace                      | v1 | cluster |
| ``NODES``                             | Node                           | v1 | cluster |
| ``PERSISTENT_VOLUME_CLAIMS``          | PersistentVolumeClaim          | v1 | namespaced |
| ``PERSISTENT_VOLUMES``                | PersistentVolume               | v1 | cluster |
| ``PODS``                              | Pod                            | v1 | namespaced |
| ``POD_TEMPLATES``                     | PodTemplate                    | v1 | namespaced |
| ``REPLICATION_CONTROLLERS``           | ReplicationController          | v1 | namespaced |
| ``RESOURCE_QUOTAS``                   | ResourceQuota                  | v1 | namespaced |
| ``SECRETS``                           | Secret                         | v1 | namespaced |
| ``SERVICE_ACCOUNTS``                  | ServiceAccount                 | v1 | namespaced |
| ``SERVICES``                          | Service                        | v1 | namespaced |
| ``CONTROLLER_REVISIONS``              | ControllerRevision             | apps/v1 | namespaced |
| ``DAEMON_SETS``                       | DaemonSet                      | apps/v1 | namespaced |
| ``DEPLOYMENTS``                       | Deployment                     | apps/v1 | namespaced |
| ``REPLICA_SETS``                      | ReplicaSet                     | apps/v1 | namespaced |
| ``STATEFUL_SETS``                     | StatefulSet                    | apps/v1 | namespaced |
| ``JOBS``                              | Job                            | batch/v1 | namespaced |
| ``CRON_JOBS``                         | CronJob                        | batch/v1 (1.21+) | namespaced |
| ``HORIZONTAL_POD_AUTOSCALERS``        | HorizontalPodAutoscaler        | autoscaling/v1 | namespaced |
| ``POD_DISRUPTION_BUDGETS``            | PodDisruptionBudget            | policy/v1 (1.21+) | namespaced |
| ``INGRESSES``                         | Ingress                        | networking.k8s.io/v1 | namespaced |
| ``INGRESS_CLASSES``                   | IngressClass                   | networking.k8s.io/v1 | cluster |
| ``NETWORK_POLICIES``                  | NetworkPolicy                  | networking.k8s.io/v1 | namespaced |
| ``ENDPOINT_SLICES``                   | EndpointSlice                  | discovery.k8s.io/v1 (1.21+) | namespaced |
| ``ROLES``                             | Role                           | rbac.authorization.k8s.io/v1 | namespaced |
| ``ROLE_BINDINGS``                     | RoleBinding                    | rbac.authorization.k8s.io/v1 | namespaced |
| ``CLUSTER_ROLES``                     | ClusterRole                    | rbac.authorization.k8s.io/v1 | cluster |
| ``CLUSTER_ROLE_BINDINGS``             | ClusterRoleBinding             | rbac.authorization.k8s.io/v1 | cluster |
| ``LEASES``                            | Lease                          | coordination.k8s.io/v1 | namespaced |
| ``CERTIFICATE_SIGNING_REQUESTS``      | CertificateSigningRequest      | certificates.k8s.io/v1 | cluster |
| ``STORAGE_CLASSES``                   | StorageClass                   | storage.k8s.io/v1 | cluster |
| ``CSI_DRIVERS``                       | CSIDriver                      | storage.k8s.io/v1 | cluster |
| ``CSI_NODES``                         | CSINode                        | storage.k8s.io/v1 | cluster |
| ``VOLUME_ATTACHMENTS``                | VolumeAttachment               | storage.k8s.io/v1 | cluster |
| ``PRIORITY_CLASSES``                  | PriorityClass                  | scheduling.k8s.io/v1 | cluster |
| ``RUNTIME_CLASSES``                   | RuntimeClass                   | node.k8s.io/v1 | cluster |
| ``CUSTOM_RESOURCE_DEFINITIONS``       | CustomResourceDefinition       | apiextensions.k8s.io/v1 | cluster |
| ``MUTATING_WEBHOOK_CONFIGURATIONS``   | MutatingWebhookConfiguration   | admissionregistration.k8s.io/v1 | cluster |
| ``VALIDATING_WEBHOOK_CONFIGURATIONS`` | ValidatingWebhookConfiguration | admissionregistration.k8s.io/v1 | cluster |
| ``API_SERVICES``                      | APIService                     | apiregistration.k8s.io/v1 | cluster |
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """A resource collection, e.g. ``Resource("v1", "pods")`` or ``Resource("apps/v1", "deployments")``.

    Frozen and hashable. The standard kinds have constants (the module's table); any other comes from
    :func:`~incluster_sdk.discovery.resource_for`, or is written out as here.

    :param api_version: ``group/version`` (``apps/v1``), or ``v1`` for the core group.
    :param plural: the resource's name in URLs and RBAC rules (``pods``, ``deployments``).
    :param namespaced: whether objects live in namespaces; default True. False for cluster-scoped resources
        (``Namespace``, ``Node``, ``ClusterRole``...).
    """

    api_version: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        """The API group (``""`` for the core group)."""
        return self.api_version.rpartition("/")[0]

    def path(self, namespace: str | None) -> str:
        """The collection's URL path, without the server's address.

        :param namespace: the namespace (percent-quoted in the path); None or ``""``: all namespaces. Ignored
            for a cluster-scoped resource.
        :returns: ``/api/v1/namespaces/ns/pods`` in a namespace, ``/api/v1/pods`` across all (and for a
            cluster-scoped resource, ``/api/v1/nodes``); ``/apis/apps/v1/...`` for a named group.
        """
        prefix = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if namespace and self.namespaced:
            return f"{prefix}/namespaces/{urllib.parse.quote(namespace)}/{self.plural}"
        return f"{prefix}/{self.plural}"


# The standard kinds: the module docstring's table lists them (tests/e2e/test_discovery_catalog_e2e.py checks
# them against kube-apiserver's discovery).
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

SINCE_1_21 = frozenset({CRON_JOBS, POD_DISRUPTION_BUDGETS, ENDPOINT_SLICES})
"""The constants whose version needs a 1.21+ server (``CRON_JOBS``, ``POD_DISRUPTION_BUDGETS``,
``ENDPOINT_SLICES``): Kubernetes 1.20 serves only their ``v1beta1``."""
