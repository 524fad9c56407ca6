"""`--format html`: one self-contained file (no scripts, no external assets) with two inline SVG
charts: monthly cost by component category (bar = expected, whisker = low..high) and the savings
waterfall."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from infra.cost.model import Range, Report, WaterfallStep
from infra.cost.render import money, quantity, span
from infra.cost.render.table import by_cost

SVG = "http://www.w3.org/2000/svg"
CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}td,th{border-bottom:1px solid #ddd;padding:.25rem .6rem}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tr.res td{font-weight:600;background:#f6f6f6}
.warn{color:#8a5300}svg text{font-size:12px;font-family:system-ui,sans-serif}
"""


def _categories(report: Report) -> list[tuple[str, Range]]:
    sums: dict[str, Range] = {}
    for r in report.resources:
        for c in r.components:
            sums[c.category] = sums.get(c.category, Range.fixed(Decimal(0))) + c.monthly
    return sorted(sums.items(), key=lambda kv: -(kv[1].expected or 0))


def category_chart(report: Report) -> str:
    rows = _categories(report)
    top = max((float(r.high or 0) for _, r in rows), default=1.0) or 1.0
    width, left, bar_h = 700, 170, 22
    height = 20 + len(rows) * (bar_h + 8)
    parts = [f'<svg xmlns="{SVG}" width="{width}" height="{height}" role="img" aria-label="cost by component">']
    for i, (name, r) in enumerate(rows):
        y = 10 + i * (bar_h + 8)
        scale = (width - left - 110) / top
        w = float(r.expected or 0) * scale
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(name)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#4a7fb5"/>')
        lo, hi = float(r.low or 0) * scale + left, float(r.high or 0) * scale + left
        if hi - lo > 1:
            parts.append(f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{y + bar_h / 2}" y2="{y + bar_h / 2}" stroke="#222"/>')
            parts.append(f'<line x1="{hi:.1f}" x2="{hi:.1f}" y1="{y + 4}" y2="{y + bar_h - 4}" stroke="#222"/>')
        parts.append(f'<text x="{max(hi, left + w) + 6:.1f}" y="{y + 15}">{escape(money(r.expected))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def waterfall_chart(steps: list[WaterfallStep]) -> str:
    if not steps:
        return ""
    top = float(steps[0].monthly) or 1.0
    width, height, base_y, col = 640, 300, 260, 150
    scale = (base_y - 20) / top
    parts = [f'<svg xmlns="{SVG}" width="{width}" height="{height}" role="img" aria-label="savings waterfall">']
    level = 0.0
    for i, s in enumerate(steps):
        x = 20 + i * col
        amount = float(s.monthly)
        if s.kind in ("baseline", "total"):
            lo, hi, colour = 0.0, amount, "#4a7fb5" if s.kind == "baseline" else "#2e8b57"
            level = amount
        else:
            lo, hi, colour = level + amount, level, "#c0504d"
            level += amount
        y = base_y - hi * scale
        h = max((hi - lo) * scale, 1)
        parts.append(f'<rect x="{x}" y="{y:.1f}" width="{col - 40}" height="{h:.1f}" fill="{colour}"/>')
        pct = "" if s.pct_of_baseline is None or s.kind == "baseline" else f" ({s.pct_of_baseline}%)"
        parts.append(f'<text x="{x}" y="{y - 4:.1f}">{escape(money(s.monthly) + pct)}</text>')
        label = s.label.split(":")[0] if s.kind == "baseline" else s.label.split(" instead")[0]
        parts.append(f'<text x="{x}" y="{base_y + 16}">{escape(label[:24])}</text>')
    parts.append(f'<line x1="10" x2="{width - 10}" y1="{base_y}" y2="{base_y}" stroke="#999"/></svg>')
    return "".join(parts)


def to_html(report: Report) -> str:
    total = report.total
    title = f"frugal cost preview: {report.project}/{report.stack}"
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p><b>Expected {escape(money(total.expected))}/month</b> (range {escape(span(total))}), priced "
        f"{escape(report.priced_on)} from the {escape(report.plan_source)} plan.</p>",
    ]
    if report.budget_monthly_usd is not None and total.expected is not None:
        pct = total.expected * 100 / report.budget_monthly_usd
        out.append(f"<p>Budget {escape(money(report.budget_monthly_usd))}/month: expected is {pct:.1f}% of it.</p>")
    out += [
        "<h2>Cost by component</h2><p><small>bar: expected; line: low to high</small></p>",
        category_chart(report),
    ]
    if report.waterfall:
        out += ["<h2>Savings against all on-demand, 24x7 at peak</h2>", waterfall_chart(report.waterfall)]
    out.append(
        "<h2>Breakdown</h2><table><tr><th>resource / component</th><th class=n>quantity</th><th>unit</th>"
        "<th class=n>low</th><th class=n>expected</th><th class=n>high</th></tr>"
    )
    for r in by_cost(report):
        if r.status == "free":
            continue
        m = r.monthly.rounded()
        out.append(
            f"<tr class=res><td>{escape(r.name)} <small>{escape(r.type)}</small></td><td></td><td></td>"
            f"<td class=n>{money(m.low)}</td><td class=n>{money(m.expected)}</td><td class=n>{money(m.high)}</td></tr>"
        )
        for c in r.components:
            cm = c.monthly.rounded()
            out.append(
                f"<tr><td>&nbsp;&nbsp;{escape(c.name)}</td><td class=n>{escape(quantity(c.monthly_quantity))}</td>"
                f"<td>{escape(c.unit)}</td><td class=n>{money(cm.low)}</td><td class=n>{money(cm.expected)}</td>"
                f"<td class=n>{money(cm.high)}</td></tr>"
            )
    out.append(
        f"<tr class=res><td>Total</td><td></td><td></td><td class=n>{money(total.low)}</td>"
        f"<td class=n>{money(total.expected)}</td><td class=n>{money(total.high)}</td></tr></table>"
    )
    if report.unpriced:
        out.append("<p class=warn>Not priced (unknown): " + escape(", ".join(r.name for r in report.unpriced)) + "</p>")
    if report.warnings:
        out.append(
            "<h2>Warnings</h2><ul>" + "".join(f"<li class=warn>{escape(w)}</li>" for w in report.warnings) + "</ul>"
        )
    out.append("<h2>Assumptions</h2><ul>" + "".join(f"<li>{escape(a)}</li>" for a in report.assumptions) + "</ul>")
    out.append(
        "<h2>Price sources</h2><ul>"
        + "".join(
            f"<li>{escape(k)}: {escape(v['source'])} (as of {escape(v['as_of'])})</li>"
            for k, v in report.catalog.items()
        )
        + "</ul></body></html>\n"
    )
    return "\n".join(out)
