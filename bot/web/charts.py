"""Pure: inline SVG line charts, drawn on the server (no script, nothing fetched).

Honest axes: the y axis is labelled at its bottom and top with the values it actually spans (it
starts at 0 when every value is non-negative and the spread is large, else at a rounded value
below the minimum, and says so), ticks are labelled, the unit is named, and the x axis is the
landed commits in order, labelled by their short SHA. Every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 340, 190
LEFT, RIGHT, TOP, BOTTOM = 64, 36, 16, 48


def _nice(lo: float, hi: float) -> tuple[float, float, float]:
    """(axis low, axis high, tick step): round numbers around [lo, hi]."""
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step, step


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def line_chart(title: str, unit: str, labels: Sequence[str], values: Sequence[float]) -> Markup:
    """One series over the landed commits; `labels` name the x positions (short SHAs)."""
    if not values:
        return Markup("<p class=muted>no data</p>")
    lo, hi = min(values), max(values)
    if lo >= 0 and hi > 0 and lo <= hi * 0.5:
        lo = 0.0  # a non-negative quantity with a wide spread: start at zero
    y0, y1, step = _nice(lo, hi)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w / 2 if len(values) == 1 else i * plot_w / (len(values) - 1))

    def y(v: float) -> float:
        return TOP + plot_h - (v - y0) / (y1 - y0) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" role="img" aria-label="{escape(title)}, {escape(unit)}, axis from {_fmt(y0)} '
             f'to {_fmt(y1)}"><title>{escape(title)}</title>']
    ticks = round((y1 - y0) / step)
    for k in range(ticks + 1):
        v = y0 + k * step
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
                     f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="tick">{_fmt(v)}</text>')
    parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" class="axis"/>'
                 f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" class="axis"/>')
    parts.append(f'<text x="14" y="{TOP + plot_h / 2:.1f}" transform="rotate(-90 14 {TOP + plot_h / 2:.1f})" '
                 f'text-anchor="middle" class="unit">{escape(unit)}</text>')
    every = max(1, math.ceil(len(labels) / 8))
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" class="tick">'
                         f'{escape(label)}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" class="unit">'
                 'landed commits, oldest → newest</text>')
    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    if len(values) > 1:
        parts.append(f'<polyline points="{points}" class="line"/>')
    for i, v in enumerate(values):
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" class="dot">'
                     f'<title>{escape(labels[i])}: {_fmt(v)}</title></circle>')
    parts.append("</svg>")
    return Markup("".join(parts))
