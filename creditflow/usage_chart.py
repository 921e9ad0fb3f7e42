"""Usage per day and meter for a billing period, from the wallet's ledger (what was charged), and the chart of it
as SVG drawn on the server: one stacked bar a day, one colour a meter, a legend a person reads at a glance."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from html import escape
from typing import Any

PALETTE = ("#1f5fbf", "#e07a1f", "#2e9e5b", "#b8336a", "#6b4fbb", "#8c6d1f")
NOT_USAGE = ("topup", "grant", "expiry", "void", "refund", "adjustment")


def per_day(rows: list[dict[str, Any]], first: date, last: date) -> tuple[list[date], dict[str, dict[date, Decimal]]]:
    """Credits charged per meter (its description) and day, from ledger rows, days first..last included."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    found: dict[str, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        if row["type"] in NOT_USAGE or row["type"].startswith("monthly_fee:"):
            continue
        day = date.fromisoformat(row["datetime"][:10])
        if first <= day <= last:
            found[row["description"]][day] += -Decimal(row["value"])
    return days, {meter: dict(by_day) for meter, by_day in sorted(found.items())}


def chart_svg(days: list[date], series: dict[str, dict[date, Decimal]], *, title: str, unit: str) -> str:
    width, height, left, bottom, top = 720, 260, 48, 36, 16
    plot_w, plot_h = width - left - 12, height - bottom - top
    totals = [sum((s.get(d, Decimal(0)) for s in series.values()), Decimal(0)) for d in days]
    peak = max(totals, default=Decimal(0)) or Decimal(1)
    bar = plot_w / max(len(days), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 24 * len(series)}" '
        f'role="img" aria-label="{escape(title)}" style="width:100%;height:auto;font:12px system-ui,sans-serif">',
        f"<title>{escape(title)}</title>",
    ]
    for k in range(5):  # horizontal grid with its values
        y = top + plot_h - plot_h * k / 4
        value = peak * k / 4
        parts.append(f'<line x1="{left}" x2="{width - 12}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dde1e8"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6475">{value:.2f}</text>')
    for i, day in enumerate(days):
        base: float = top + plot_h
        for n, (_, by_day) in enumerate(series.items()):
            amount = by_day.get(day, Decimal(0))
            if amount:
                h = float(plot_h * amount / peak)
                base -= h
                parts.append(
                    f'<rect x="{left + i * bar + 1:.1f}" y="{base:.1f}" width="{max(bar - 2, 1):.1f}" '
                    f'height="{h:.1f}" fill="{PALETTE[n % len(PALETTE)]}"/>'
                )
        if i % max(1, len(days) // 8) == 0:
            parts.append(
                f'<text x="{left + i * bar + bar / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                f'fill="#5b6475">{day.day}/{day.month}</text>'
            )
    for n, meter in enumerate(series):
        y = height + 24 * n
        total = sum(series[meter].values(), Decimal(0))
        parts.append(f'<rect x="{left}" y="{y}" width="14" height="14" fill="{PALETTE[n % len(PALETTE)]}"/>')
        parts.append(f'<text x="{left + 20}" y="{y + 12}">{escape(meter)} — {total:.2f} {escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)
