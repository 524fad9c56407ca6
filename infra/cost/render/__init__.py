"""Renderers of a cost Report: table (rich), json (frugal.cost/v1), markdown (PR comment), html."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from infra.cost.model import Range, cents

if TYPE_CHECKING:
    from infra.cost.model import Report

FORMATS = ("table", "json", "markdown", "html")


def money(value: Decimal | None) -> str:
    """'$1,234.56'; unknown is '-', never 0."""
    if value is None:
        return "-"
    v = cents(value)
    return f"-${-v:,.2f}" if v < 0 else f"${v:,.2f}"


def signed(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return money(value) if cents(value) < 0 else "+" + money(value)


def span(r: Range) -> str:
    """'$12.00' when fixed, '$10.00 - $14.00' when a range, '-' when unknown."""
    if not r.known:
        return "-"
    low, expected, high = r.values()
    if cents(low) == cents(high):
        return money(expected)
    return f"{money(low)} - {money(high)}"


def quantity(value: Decimal | None) -> str:
    if value is None:
        return "-"
    q = value.quantize(Decimal("0.01"))
    return f"{q:,.2f}".rstrip("0").rstrip(".") if q != q.to_integral() else f"{q:,.0f}"


def unit_price(r: Range) -> str:
    if not r.known:
        return "-"

    def fmt(v: Decimal) -> str:
        shown = v if v < Decimal("0.001") else v.quantize(Decimal("0.0001"))
        return f"${shown.normalize():f}"

    low, expected, high = r.values()
    return fmt(expected) if low == high else f"{fmt(low)} | {fmt(expected)} | {fmt(high)}"


def render(report: Report, fmt: str) -> str:
    """The report in one of FORMATS (renderer modules are imported only when used)."""
    if fmt == "json":
        from infra.cost.render.json_out import to_json

        return to_json(report)
    if fmt == "markdown":
        from infra.cost.render.markdown import to_markdown

        return to_markdown(report)
    if fmt == "html":
        from infra.cost.render.html import to_html

        return to_html(report)
    from infra.cost.render.table import to_text

    return to_text(report)
