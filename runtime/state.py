"""What lives for the app's lifetime (built in the lifespan, never at import): clients, stores, tiers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from runtime.auth import KeyStore
from runtime.budget import BudgetStore
from runtime.cache import ResponseCache
from runtime.clock import Clock
from runtime.gateway import Gateway
from runtime.metrics import Metrics
from runtime.routing import Router, TierState
from runtime.settings import Settings
from runtime.supervisor import Supervisor
from runtime.upstream import Transport


@dataclass
class Runtime:
    settings: Settings
    upstream: Transport
    clock: Clock
    tiers: dict[str, TierState]
    router: Router
    keys: KeyStore
    budget: BudgetStore
    cache: ResponseCache
    metrics: Metrics
    supervisor: Supervisor
    gateway: Gateway


class State(TypedDict):
    rt: Runtime
