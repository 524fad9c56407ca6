"""One ComponentResource per module; each takes a pydantic Args model and parents all it creates."""

from infra.components.budget_alarms import BudgetAlarms, BudgetAlarmsArgs
from infra.components.cluster import Cluster, ClusterArgs
from infra.components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from infra.components.network import Network, NetworkArgs
from infra.components.scaling_schedule import ScalingSchedule, ScalingScheduleArgs
from infra.components.shared_cache import SharedCache, SharedCacheArgs

__all__ = [
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
]
