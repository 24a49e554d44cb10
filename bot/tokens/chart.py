"""PNG of token shares over time (matplotlib, imported only when a chart is drawn).

Drawn on a `Figure` of its own through the Agg canvas, never through pyplot: pyplot keeps
global state, and charts are drawn from worker threads (/share, the digest).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    xs = [parse_iso(end) for end, _ in points]
    fig = Figure(figsize=(9, 4.8), dpi=110)
    FigureCanvasAgg(fig)  # attaches itself to the figure; savefig renders through it
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
    fig.autofmt_xdate()
    fig.text(0.01, 0.01, citation(as_of), fontsize=7, color="grey")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
