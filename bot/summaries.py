"""One line per job run, for the daemon's log, `run --once` and `tokentide status`.

Pure: each takes the dict a step returned (`{"job", "status", ...counts}`, see
bot/pipeline.py) and says what happened in words a person watching the log reads at a glance:

    poll: 26 feeds, 143 new, 3 not modified, 1 failed (SCMP – Semicond…: HTTP 503) in 2.1 s
    analyze: 143 articles → 12 new stories, 31 joined in 40.2 s
    breaking: 43 stories checked, 2 breaking, 2 alerts queued in 0.1 s
    tokens: snapshot 2026-11-29, CN 58.1% (+0.4), US 38.3% (-0.2) in 0.8 s
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# job_runs.job → the word a summary starts with.
LABELS = {
    "poll_feeds": "poll",
    "analyze": "analyze",
    "breaking_alerts": "breaking",
    "poll_tokens": "tokens",
    "detect_changes": "changes",
    "daily_digest": "digest",
    "deliver": "deliver",
}

MAX_FAILURES_SHOWN = 3


def clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _count(value: Any) -> int:
    """A count a step reports as a number or as the list of what it did."""
    if isinstance(value, list | tuple | set | dict):
        return len(value)
    return int(value or 0)


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _poll(r: dict) -> str:
    failures = r.get("failures") or []
    text = (
        f"{_n(r.get('feeds_polled', 0), 'feed')}, {r.get('new_articles', 0)} new, "
        f"{r.get('not_modified', 0)} not modified, {r.get('errors', len(failures))} failed"
    )
    if failures:
        shown = [f"{clip(f['feed'], 20)}: {clip(f['error'], 60)}" for f in failures]
        if len(shown) > MAX_FAILURES_SHOWN:
            more = len(shown) - MAX_FAILURES_SHOWN
            shown = [*shown[:MAX_FAILURES_SHOWN], f"+{more} more"]
        text += f" ({'; '.join(shown)})"
    return text


def _analyze(r: dict) -> str:
    if r.get("held"):
        return f"skipped this time: {clip(r['held'], 120)}"
    if not r.get("analyzed"):
        return "nothing new"
    return (
        f"{_n(r['analyzed'], 'article')} → {_n(r.get('new_stories', 0), 'new story', 'new stories')}"
        f", {r.get('stories_joined', 0)} joined"
    )


def _breaking(r: dict) -> str:
    if r.get("enabled") is False:
        return "off (alerts.breaking.enabled is false)"
    text = (
        f"{_n(r.get('stories_checked', 0), 'story', 'stories')} checked, "
        f"{_count(r.get('breaking'))} breaking, {_n(_count(r.get('queued')), 'alert')} queued"
    )
    if r.get("capped"):
        text += f", {r['capped']} held back by the daily cap"
    return text


def _points(delta: float | None) -> str:
    return "" if delta is None else f" ({delta:+.1f})"


def _tokens(r: dict) -> str:
    day = str(r.get("as_of") or "")[:10] or "?"
    text = f"snapshot {day}" + ("" if r.get("stored", True) else " (unchanged)")
    share = r.get("share")
    if share:
        deltas = share.get("deltas") or {}
        for country, value in share.get("shares", {}).items():
            text += f", {country} {100 * value:.1f}%{_points(deltas.get(country))}"
    else:
        text += ", no complete period to share yet"
    skipped = sum((r.get("skipped") or {}).values())
    if skipped:
        text += f", {_n(skipped, 'bad row')} skipped"
    if r.get("errors"):
        text += f" ({_n(len(r['errors']), 'source')} failed first)"
    return text


def _changes(r: dict) -> str:
    queued = _count(r.get("enqueued"))
    return f"{_n(queued, 'share alert')} queued" if queued else "no share move to report"


def _digest(r: dict) -> str:
    if r.get("queued"):
        return f"queued (delivery {r.get('delivery_id')})"
    return "already queued for this period"


def _deliver(r: dict) -> str:
    counts = [(k, _count(r.get(k))) for k in ("sent", "failed", "retrying")]
    text = ", ".join(f"{n} {k}" for k, n in counts) if any(n for _, n in counts) else "nothing due"
    if r.get("held"):
        text += f"; waiting: {clip(r.get('held_by') or 'held by another sender', 120)}"
    return text


def _other(r: dict) -> str:
    parts = [
        f"{k} {v}"
        for k, v in r.items()
        if k not in ("job", "status", "error", "duration_s")
        and isinstance(v, int | float | str)
        and not isinstance(v, bool)
    ]
    return ", ".join(parts) or "done"


SUMMARIES: dict[str, Callable[[dict], str]] = {
    "poll_feeds": _poll,
    "analyze": _analyze,
    "breaking_alerts": _breaking,
    "poll_tokens": _tokens,
    "detect_changes": _changes,
    "daily_digest": _digest,
    "deliver": _deliver,
}


def _took(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f" in {seconds:.1f} s" if seconds < 60 else f" in {seconds / 60:.1f} min"


def summarize(result: dict[str, Any]) -> str:
    """The one line for a step's result: what it did, or why it failed, and how long it took."""
    job = str(result.get("job", "job"))
    label = LABELS.get(job, job)
    took = _took(result.get("duration_s"))
    status = result.get("status", "ok")
    if status == "error":
        return f"{label}: failed{took}: {result.get('error') or 'unknown error'}"
    if status != "ok":
        return f"{label}: {status}{took}"
    return f"{label}: {SUMMARIES.get(job, _other)(result)}{took}"


def is_idle(result: dict[str, Any]) -> bool:
    """True for an outbox check that found nothing due: it runs every few seconds, so a line
    at INFO each time would bury everything else (it logs at DEBUG)."""
    return (
        result.get("job") == "deliver"
        and result.get("status") == "ok"
        and not any(_count(result.get(k)) for k in ("sent", "failed", "retrying", "held"))
    )
