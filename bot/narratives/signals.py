"""Who broke a story: its outlets in order of first report, the China/West lead, coverage by region.

Pure: takes a story's articles as plain records (mappings or objects with `outlet`, `country`,
`kind`, `published_at`, `duplicate_of`) and returns plain data. Outlet names are expected to be
normalised already (bot/feeds/outlets.py); pass `name_key` to merge spellings here instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.clock import parse_iso, to_iso

CHINA = frozenset({"CN", "HK"})
# EU member states, plus Iceland, Liechtenstein and Norway for the EEA. "EU" itself is not an ISO
# country, but a row that says EU is plainly Western.
_EU_EEA_CODES = (
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO EU"
)
EU_EEA = frozenset(_EU_EEA_CODES.split())
WEST = frozenset({"US", "CA", "GB", "IE", "CH", "AU", "NZ"}) | EU_EEA
REGIONS = ("china", "west", "other", "unknown")
# Government sources (BIS, the Federal Register, MOFCOM) are listed among a story's outlets but
# never count as the first report: the lead compares the press.
NOT_PRESS = frozenset({"official"})


def region_of(country: str | None) -> str | None:
    """'china' for CN and HK, 'west' for the US, Canada, UK, EU/EEA, Switzerland, Australia and
    New Zealand, None for everyone else (and for an unknown country)."""
    code = (country or "").strip().upper()
    if code in CHINA:
        return "china"
    if code in WEST:
        return "west"
    return None


@dataclass(frozen=True)
class StoryArticle:
    """The few fields of an article that signals need (a database row works as well)."""

    outlet: str | None
    country: str | None = None
    kind: str | None = None
    published_at: datetime | str | None = None
    duplicate_of: int | str | None = None


@dataclass(frozen=True)
class OutletReport:
    name: str
    country: str | None
    kind: str | None
    first_at: datetime | None  # None when every article of this outlet is undated

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "country": self.country,
            "kind": self.kind,
            "first_at": to_iso(self.first_at),
        }


@dataclass(frozen=True)
class FirstReport:
    outlet: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"outlet": self.outlet, "at": to_iso(self.at)}


@dataclass(frozen=True)
class Lead:
    """First Chinese and first Western report; hours = west.at − china.at (positive when the
    Chinese press was first), None unless both are known."""

    china: FirstReport | None
    west: FirstReport | None
    hours: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "china": self.china.to_json() if self.china else None,
            "west": self.west.to_json() if self.west else None,
            "hours": None if self.hours is None else round(self.hours, 2),
        }


@dataclass(frozen=True)
class StorySignals:
    outlets: tuple[OutletReport, ...]
    lead: Lead
    share: Mapping[str, float]  # china / west / other / unknown: share of distinct outlets
    unattributed: int  # original articles with no outlet (an aggregator item without a source)

    def to_json(self) -> dict[str, Any]:
        return {
            "outlets": [o.to_json() for o in self.outlets],
            "lead": self.lead.to_json(),
            "share": dict(self.share),
            "unattributed": self.unattributed,
        }


def _field(article: Any, name: str) -> Any:
    if isinstance(article, Mapping):
        return article.get(name)
    return getattr(article, name, None)


def _when(value: Any) -> datetime | None:
    """A timestamp as aware UTC; anything unreadable counts as undated, never as an error."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, str):
        try:
            return parse_iso(value.strip())
        except ValueError:
            return None
    return None


def story_signals(
    articles: Iterable[Any], name_key: Callable[[str], str] | None = None
) -> StorySignals:
    """Outlets in order of first report, the China/West lead and each region's share of outlets.

    Syndicated copies (`duplicate_of` set) add no outlet and do not count as a report: the
    outlet that carried the original did. Undated articles still make their outlet a member of
    the story (listed after the dated ones, in input order) but never set `first_at` or the lead.
    """
    key_of = name_key or (lambda name: name)
    firsts: dict[str, dict[str, Any]] = {}
    unattributed = 0
    for order, art in enumerate(articles):
        if _field(art, "duplicate_of") not in (None, ""):
            continue
        name = " ".join(str(_field(art, "outlet") or "").split())
        if not name:
            unattributed += 1
            continue
        key = key_of(name)
        at = _when(_field(art, "published_at"))
        seen = firsts.get(key)
        if seen is None:
            firsts[key] = seen = {"name": name, "country": None, "kind": None, "at": None}
            seen["order"] = order
        seen["country"] = seen["country"] or _field(art, "country") or None
        seen["kind"] = seen["kind"] or _field(art, "kind") or None
        if at is not None and (seen["at"] is None or at < seen["at"]):
            seen["at"] = at
    ranked = sorted(
        firsts.values(), key=lambda s: (s["at"] is None, s["at"] or datetime.min, s["order"])
    )
    outlets = tuple(OutletReport(s["name"], s["country"], s["kind"], s["at"]) for s in ranked)
    return StorySignals(outlets, lead_of(outlets), _share(outlets), unattributed)


def lead_of(outlets: Iterable[OutletReport]) -> Lead:
    """The first dated Chinese and Western press outlets and the gap between them in hours
    (official sources such as BIS or MOFCOM do not count)."""
    first: dict[str, FirstReport] = {}
    for o in outlets:
        region = region_of(o.country)
        if region is None or o.first_at is None or o.kind in NOT_PRESS:
            continue
        if region not in first or o.first_at < first[region].at:
            first[region] = FirstReport(o.name, o.first_at)
    china, west = first.get("china"), first.get("west")
    hours = (west.at - china.at).total_seconds() / 3600 if china and west else None
    return Lead(china, west, hours)


def _share(outlets: tuple[OutletReport, ...]) -> dict[str, float]:
    counts = dict.fromkeys(REGIONS, 0)
    for o in outlets:
        region = region_of(o.country) or ("other" if o.country else "unknown")
        counts[region] += 1
    total = len(outlets)
    return {r: round(n / total, 3) if total else 0.0 for r, n in counts.items()}


def lead_marker(lead: Lead | Mapping[str, Any] | None) -> str | None:
    """A few words for a digest line: 'CN press first, +3 h', 'West first, +2 h', or None when
    the lead is unknown. Gaps of two days or more are told in days. Takes a `Lead` or its JSON
    (`Lead.to_json`, as story documents carry it)."""
    hours = lead.get("hours") if isinstance(lead, Mapping) else getattr(lead, "hours", None)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours != hours:
        return None
    gap = abs(hours)
    if gap < 0.5:
        return "CN press and West within the hour"
    amount = f"+{round(gap / 24)} d" if gap >= 48 else f"+{round(gap)} h"
    return f"{'CN press' if hours > 0 else 'West'} first, {amount}"
