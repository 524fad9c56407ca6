"""Embeddings: one Call through the same dispatch pipeline as chat (runtime/pipeline.py).

The chain is every tier serving embeddings under the requested name (`auto`: any), in configured
order, limited to the tiers the tenant may use. The bound is the JSON-encoded input's length in
bytes (runtime/accounting.py embeddings_bound); the charge is the upstream's prompt tokens.
"""

from __future__ import annotations

from typing import Any

import orjson

from runtime import forwarding
from runtime.accounting import Bound, embeddings_bound, embeddings_usage
from runtime.auth import TenantInfo
from runtime.disconnect import Receive
from runtime.errors import UpstreamUnavailable
from runtime.openai_shape import EmbeddingsShape, answered_model
from runtime.pipeline import Call, Outcome, dispatch
from runtime.routing import TierState
from runtime.schema import EmbeddingsRequest
from runtime.state import Runtime

EMBEDDINGS_PATH = "/v1/embeddings"


async def embed(
    rt: Runtime, tenant: TenantInfo, payload: dict[str, Any], req: EmbeddingsRequest, receive: Receive | None
) -> Outcome:
    decision = rt.router.decide_embeddings(rt.router.resolve(req.model), tenant)
    worst = embeddings_bound(payload["input"])
    asked = req.model or rt.settings.routing.default_model

    def bound(tier: TierState, first: bool) -> Bound:
        return worst

    def body(tier: TierState, b: Bound) -> bytes:
        return orjson.dumps({**forwarding.allowed(payload, forwarding.EMBEDDINGS_FIELDS), "model": tier.upstream_model})

    def nothing_fits() -> UpstreamUnavailable:
        return UpstreamUnavailable("no embeddings tier is ready")

    return await dispatch(
        rt,
        Call(
            tenant,
            EMBEDDINGS_PATH,
            decision,
            bound,
            body,
            embeddings_usage,
            nothing_fits,
            receive=receive,
            shape=lambda tier: EmbeddingsShape(answered_model(asked, tier.name)),
        ),  # fmt: skip
    )
