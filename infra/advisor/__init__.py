"""The right-sizing advisor: from a model, a quality bound and a concurrency to the cheapest GPU instance.

Pure arithmetic over dated, sourced data files in infra/data/ (no Pulumi, no CLI, no runtime imports).
docs/advisor.md explains which figures are measured, which published, which scaled, and how.
"""

from infra.advisor.advice import SCHEMA, Advice, advice_dict, advise
from infra.advisor.facts import ModelFacts
from infra.advisor.families import family
from infra.advisor.memory import MemoryPlan, kv_cache, plan
from infra.advisor.rank import Verdict, fits, pool_warnings, usd_per_1k_output_tokens

__all__ = [
    "SCHEMA",
    "Advice",
    "MemoryPlan",
    "ModelFacts",
    "Verdict",
    "advice_dict",
    "advise",
    "family",
    "fits",
    "kv_cache",
    "plan",
    "pool_warnings",
    "usd_per_1k_output_tokens",
]
