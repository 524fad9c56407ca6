"""One ComponentResource per module; each takes a pydantic Args model and parents all it creates."""

from infra.components.addons import ClusterAddons, ClusterAddonsArgs
from infra.components.budget_alarms import BudgetAlarms, BudgetAlarmsArgs
from infra.components.cluster import Cluster, ClusterArgs
from infra.components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from infra.components.interruption_queue import InterruptionQueue, InterruptionQueueArgs
from infra.components.network import Network, NetworkArgs
from infra.components.scaling_schedule import ScalingSchedule, ScalingScheduleArgs
from infra.components.shared_cache import SharedCache, SharedCacheArgs
from infra.components.system_nodes import SystemNodes, SystemNodesArgs
from infra.components.workload_identity import WorkloadIdentity, WorkloadIdentityArgs

__all__ = [
    "ClusterAddons",
    "ClusterAddonsArgs",
    "BudgetAlarms",
    "BudgetAlarmsArgs",
    "Cluster",
    "ClusterArgs",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "Network",
    "NetworkArgs",
    "ScalingSchedule",
    "ScalingScheduleArgs",
    "SharedCache",
    "SharedCacheArgs",
    "InterruptionQueue",
    "InterruptionQueueArgs",
    "SystemNodes",
    "SystemNodesArgs",
    "WorkloadIdentity",
    "WorkloadIdentityArgs",
]
