"""Cost Anomaly Detection alerts (IMMEDIATE subscriptions publish one JSON document per anomaly).

Shape (sample: tests/infra/data/alerts/anomaly.json, from AWS's Cost Anomaly Detection user guide):
anomalyId, anomalyStartDate, anomalyEndDate, dimensionalValue, monitorName/monitorArn,
impact {maxImpact, totalActualSpend, totalExpectedSpend, totalImpact, totalImpactPercentage},
rootCauses [{service, region, usageType, linkedAccount, linkedAccountName, impact {contribution}}],
anomalyDetailsLink.
"""

from __future__ import annotations

from typing import Any

from .model import Alert, money

MAX_ROOT_CAUSES = 5


def looks_like_anomaly(doc: dict[str, Any]) -> bool:
    return "anomalyId" in doc and "impact" in doc


def _cause(cause: dict[str, Any]) -> str:
    where = " / ".join(str(cause[k]) for k in ("service", "usageType", "region", "linkedAccountName") if cause.get(k))
    contribution = (cause.get("impact") or {}).get("contribution")
    return f"{where or 'unattributed'}: {money(contribution)}" if contribution is not None else where


def parse_anomaly(doc: dict[str, Any]) -> Alert:
    impact = doc.get("impact") or {}
    total, pct = impact.get("totalImpact"), impact.get("totalImpactPercentage")
    causes = [c for c in doc.get("rootCauses") or [] if isinstance(c, dict)]
    causes.sort(key=lambda c: -float((c.get("impact") or {}).get("contribution") or 0))
    top = causes[0].get("service") if causes else None
    service = str(top or doc.get("dimensionalValue") or "unknown service")
    pct_text = f" (+{float(pct):.0f}% over the expected spend)" if pct is not None else ""
    return Alert(
        kind="anomaly",
        title=f"Cost anomaly: {service}, {money(total)} unexpected spend",
        summary=(
            f"Cost Anomaly Detection found {money(total)} of unexpected spend{pct_text} between "
            f"{str(doc.get('anomalyStartDate', '?'))[:10]} and {str(doc.get('anomalyEndDate', '?'))[:10]}."
        ),
        facts=(
            ("Service", service),
            ("Impact", money(total)),
            (
                "Actual / expected",
                f"{money(impact.get('totalActualSpend'))} / {money(impact.get('totalExpectedSpend'))}",
            ),
            ("Monitor", str(doc.get("monitorName") or doc.get("monitorArn") or "?")),
        ),
        details=tuple(f"Root cause: {_cause(c)}" for c in causes[:MAX_ROOT_CAUSES]),
        link=doc.get("anomalyDetailsLink"),
    )
