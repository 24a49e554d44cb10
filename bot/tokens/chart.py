"""PNGs of token shares and token prices over time (matplotlib, imported only when a chart is
drawn).

Drawn on a `Figure` of its own through the Agg canvas, never through pyplot: pyplot keeps
global state, and charts are drawn from worker threads (/share, the digest).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.clock import parse_iso
from bot.errors import TokentideError
from bot.tokens.report import share_series
from bot.tokens.sources import citation

MAX_LINES = 8  # more lines than this are unreadable; the rest are summed as "other"


def render_share_chart(
    db: sqlite_utils.Database,
    path: str | Path,
    *,
    by: str = "country",
    now: datetime,
    period: str = "week",
) -> Path:
    """Write a line chart of shares per period (the current period's source) to `path`."""
    found = share_series(db, by=by, period=period, now=now)
    if found is None:
        raise TokentideError("no token data to chart yet: run `tokentide poll-tokens` first")
    source, as_of, points = found
    latest = points[-1][1]
    keys = list(latest)[:MAX_LINES]
    xs = [parse_iso(end) for end, _ in points]
    fig = _figure(4.8)
    ax = fig.add_subplot()
    for key in keys:
        ax.plot(xs, [100 * s.get(key, 0.0) for _, s in points], marker="o", label=key)
    rest = [100 * sum(v for k, v in s.items() if k not in keys) for _, s in points]
    if any(r > 0 for r in rest):
        ax.plot(xs, rest, marker=".", linestyle="--", color="grey", label="other")
    ax.set_ylabel("share of tokens (%)")
    ax.set_title(f"OpenRouter token share by {by} ({source}, period ending)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return _write(fig, citation(as_of), path)


def _figure(height: float) -> Any:
    """A matplotlib Figure drawn off-screen (no pyplot, so no process-wide state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, height), dpi=110)
    FigureCanvasAgg(fig)  # attaches itself to the figure; savefig renders through it
    return fig


def _write(fig: Any, cite: str, path: str | Path) -> Path:
    """Date the x axis, add the source line and write the PNG to `path`."""
    fig.autofmt_xdate()
    fig.text(0.01, 0.01, cite, fontsize=7, color="grey")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def render_price_chart(
    db: sqlite_utils.Database,
    path: str | Path,
    *,
    by: str = "country",
    now: datetime,
    period: str = "week",
    pair: tuple[str, ...] = ("CN", "US"),
) -> Path:
    """Write the blended price per group (top) and the gap between `pair` (bottom, by country
    only) per period to `path`, over the periods a price list covers."""
    from bot.tokens.price_report import price_series

    found = price_series(db, by=by, period=period, now=now, pair=pair)
    if found is None:
        raise TokentideError("no token data to chart yet: run `tokentide poll-tokens` first")
    source, cite, points = found
    if not points:
        raise TokentideError(
            "no priced period to chart yet: prices exist only from the first price snapshot "
            "onwards (run `tokentide poll-tokens`)"
        )
    xs = [parse_iso(end) for end, _, _ in points]
    keys = [k for k in pair if k in points[-1][1]] if by == "country" else []
    keys += [k for k in points[-1][1] if k not in keys][: max(0, MAX_LINES - len(keys))]
    gaps = [g["ratio"] if g else None for _, _, g in points]
    with_gap = by == "country" and any(g is not None for g in gaps)
    fig = _figure(6.4 if with_gap else 4.8)
    axes = fig.subplots(2, 1, sharex=True) if with_gap else [fig.add_subplot()]
    top = axes[0]
    for key in keys:
        ys = [prices.get(key) for _, prices, _ in points]
        top.plot(xs, [float("nan") if y is None else y for y in ys], marker="o", label=key)
    top.set_ylabel("blended USD per million tokens")
    top.set_title(f"OpenRouter blended token price by {by} ({source}, period ending)")
    top.grid(alpha=0.3)
    top.legend(loc="best", fontsize="small")
    if with_gap:
        bottom = axes[1]
        bottom.plot(xs, [float("nan") if g is None else g for g in gaps], marker="o", color="black")
        bottom.set_ylabel(f"price gap {pair[0]}-{pair[1]} (x)")
        bottom.grid(alpha=0.3)
    return _write(fig, cite, path)
