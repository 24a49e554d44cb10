"""Token prices. Pure: the `/api/v1/models` body and usage rows in, blended prices out.

OpenRouter's keyless `GET /api/v1/models` lists every model it routes: `id` (`author/model`,
plus `:variant` such as `:free`), `canonical_slug` (the rankings' permaslug), `hugging_face_id`
(non-empty → open weights) and `pricing.prompt` / `pricing.completion` in USD per token as
decimal strings. The list is checked as a whole: any bad entry rejects it with one
PriceListError naming every problem found, so a half-read list never replaces a good one.

Joining usage rows to prices, in order:
  * a row's variant is its `variant` field, else the `:suffix` of its model slug; OpenRouter's
    rankings call the plain variant "standard", the model list leaves it off: both mean
    "standard";
  * `free` rows cost $0 whether or not the `:free` id is still listed (the variant is the price);
  * other rows join on (canonical slug, variant), compared exactly first and then with the
    `-20YYMMDD` date suffix removed (`parse.model_key`, as the stored usage rows are); when two
    dated listings share an undated name, the newest one prices it;
  * no match (an unlisted model, a `batch` variant with no `:batch` listing, a row with no
    prompt/completion split such as `rankings-daily`) → left out of the price and counted
    against coverage. Usage rows summed over variants (`token_usage` rows stored before variants
    were kept) cannot be priced and are left out the same way (variant `SUMMED`).

Which list prices a period: see `PRICE_GRACE` and `bot.store.prices.prices_for_period`.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.clock import to_iso
from bot.errors import OpenRouterError, TokentideError
from bot.models import PriceRow, PriceSnapshot
from bot.tokens.parse import STANDARD, model_key, tokens_value
from bot.tokens.shares import BY, key_of

__all__ = ["PriceRow", "PriceSnapshot"]  # records of this room, defined in bot.models

SOURCE = "OpenRouter /api/v1/models"
# A period is priced by the price list in effect at its end: the newest list fetched no later
# than one day after the period ends, provided a poll still found it at or after the period's
# start. The day lets a period be priced by the poll that fetched its own figures (OpenRouter
# publishes a day's rankings after it ends); older periods are never priced by newer lists.
PRICE_GRACE = timedelta(days=1)
SUMMED = "(all variants)"  # variant of a usage row summed over variants: never priced
MAX_USD_PER_TOKEN = Decimal("0.001")  # $1,000 per million tokens: above it, suspect a unit change
VARIES = Decimal(-1)  # OpenRouter's "price depends on the routed model" (openrouter/auto)
FREE = "free"
MILLION = 1_000_000
_SHOWN_PROBLEMS = 5


class PriceListError(OpenRouterError):
    """The model list cannot be used; `problems` holds every reason found."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


@dataclass(frozen=True)
class GroupPrice:
    key: str
    usd_per_million: float | None  # None when no token of the group could be priced
    tokens: int
    priced_tokens: int
    # Fractions of the group's tokens; a model not in the list has unknown weights, so
    # open + closed + unknown = 1 and `open_weights` is a lower bound.
    open_weights: float
    closed_weights: float
    weights_unknown: float

    @property
    def coverage(self) -> float:
        return self.priced_tokens / self.tokens if self.tokens else 0.0


@dataclass(frozen=True)
class PriceReport:
    by: str
    period: tuple[str, str] | None  # (start, end) of the usage rows' window
    as_of: str  # when the price list was fetched
    groups: tuple[GroupPrice, ...]  # most tokens first
    tokens: int
    priced_tokens: int
    usd_per_million: float | None  # all groups together
    unpriced: tuple[tuple[str, int], ...]  # (model, tokens) left out, most tokens first

    @property
    def coverage(self) -> float:
        return self.priced_tokens / self.tokens if self.tokens else 0.0

    @property
    def prices(self) -> dict[str, float]:
        return {g.key: g.usd_per_million for g in self.groups if g.usd_per_million is not None}


# --- the model list -------------------------------------------------------------------------


def _reject(problems: list[str]) -> PriceListError:
    shown = "; ".join(problems[:_SHOWN_PROBLEMS])
    more = len(problems) - _SHOWN_PROBLEMS
    if more > 0:
        shown += f"; and {more} more"
    return PriceListError(
        f"{SOURCE}: price list rejected: {shown} - keeping the last stored prices",
        tuple(problems),
    )


def _decode(body: bytes) -> Any:
    text = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise _reject(["the body is empty"])
    if text[:1] == b"<":
        start = text[:40].decode("utf-8", "replace").split("\n")[0]
        raise _reject([f"got an HTML page instead of JSON (starts {start!r})"])
    try:
        return json.loads(text, parse_float=Decimal)
    except RecursionError:
        raise _reject(["the JSON is nested too deeply to read"]) from None
    except json.JSONDecodeError as exc:
        raise _reject(
            [f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}; truncated?)"]
        ) from None
    except UnicodeDecodeError:
        raise _reject(["the body is not UTF-8 text"]) from None


def _price(value: Any, where: str, problems: list[str]) -> Decimal | None:
    """A USD-per-token price; VARIES for "-1"; None (with a problem noted) when unusable."""
    if value is None:
        problems.append(f"{where} is missing")
        return None
    number = None
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = None
    elif isinstance(value, int | Decimal) and not isinstance(value, bool):
        number = Decimal(value)
    shown = repr(value) if isinstance(value, str) else str(value)
    if number is None or not number.is_finite():
        problems.append(f"{where} {shown} is not a number")
        return None
    if number == VARIES:
        return VARIES
    if number < 0:
        problems.append(f"{where} {shown} is negative")
        return None
    if number > MAX_USD_PER_TOKEN:
        problems.append(
            f"{where} {shown} is ${number * MILLION:,.2f} per million tokens, "
            f"above the ${MAX_USD_PER_TOKEN * MILLION:,.0f} sanity limit (unit change?)"
        )
        return None
    return number + 0  # turns -0 into 0


def _plain(number: Decimal) -> str:
    """'0.00000060' and '6E-7' both → '0.0000006', so trailing zeros are not a new price."""
    return format(number.normalize(), "f")


def parse_models(body: bytes, *, fetched_at: datetime) -> PriceSnapshot:
    """The `/api/v1/models` body → a PriceSnapshot, or PriceListError naming what is wrong.

    Rejected as a whole: a body that is not JSON (HTML, truncated, not UTF-8, nested too deep),
    no `data` list or an empty one, a `data` item that is not an object, an item without an id
    or a `pricing` object, duplicate ids, and prompt/completion prices that are missing, not
    numbers, negative or above $1,000 per million tokens. An item priced "-1" (OpenRouter's
    "varies with the routed model", e.g. openrouter/auto) is not an error: it has no price of
    its own, so it is listed in `varies` and left out of the rows.
    """
    payload = _decode(body)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        got = type(payload).__name__
        if isinstance(payload, dict):
            got = "keys " + ", ".join(sorted(map(str, payload))[:8])
        raise _reject([f"expected {{'data': [...]}}, got {got}"])
    if not data:
        raise _reject(["'data' is an empty list"])
    problems: list[str] = []
    first_seen: dict[str, int] = {}
    priced: list[tuple[PriceRow, tuple[str, ...]]] = []
    varies: list[str] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            problems.append(f"data[{i}] is {type(item).__name__}, not an object")
            continue
        model_id = item.get("id")
        if not isinstance(model_id, str) or not model_id.strip():
            problems.append(f"data[{i}] has no 'id'")
            continue
        model_id = model_id.strip()
        where = f"data[{i}] ({model_id})"
        if model_id in first_seen:
            problems.append(f"duplicate id {model_id!r} at data[{first_seen[model_id]}] and [{i}]")
            continue
        first_seen[model_id] = i
        base, _, suffix = model_id.partition(":")
        variant = suffix.strip().lower() or STANDARD
        slug = item.get("canonical_slug")
        if slug is not None and not isinstance(slug, str):
            problems.append(f"{where}: canonical_slug is {type(slug).__name__}, not text")
            continue
        slug = (slug or "").strip() or base  # an entry without one is its own permaslug
        hf_id = item.get("hugging_face_id")
        if hf_id is not None and not isinstance(hf_id, str):
            problems.append(f"{where}: hugging_face_id is {type(hf_id).__name__}, not text")
            continue
        pricing = item.get("pricing")
        if not isinstance(pricing, dict):
            problems.append(f"{where} has no 'pricing' object")
            continue
        prompt = _price(pricing.get("prompt"), f"{where} pricing.prompt", problems)
        completion = _price(pricing.get("completion"), f"{where} pricing.completion", problems)
        if prompt is None or completion is None:
            continue
        if VARIES in (prompt, completion):
            varies.append(model_id)
            continue
        hf_id = (hf_id or "").strip() or None
        row = PriceRow(
            model_id, slug, variant, float(prompt), float(completion), hf_id, model_key(slug)
        )
        priced.append((row, (model_id, slug, variant, _plain(prompt), _plain(completion), hf_id)))
    if problems:
        raise _reject(problems)
    if not priced:
        raise _reject([f"no model has a fixed price ({len(varies)} priced '-1', i.e. varies)"])
    priced.sort(key=lambda p: p[0].id)
    canonical = json.dumps([p[1] for p in priced], separators=(",", ":"), ensure_ascii=False)
    return PriceSnapshot(
        fetched_at=to_iso(fetched_at),
        rows=tuple(p[0] for p in priced),
        content_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        varies=tuple(sorted(varies)),
    )


# --- joining usage rows to prices -----------------------------------------------------------


def _variant(row: Mapping[str, Any]) -> str:
    explicit = str(row.get("variant") or "").strip().lower()
    if not explicit:
        explicit = str(row.get("model") or "").partition(":")[2].strip().lower()
    return explicit or STANDARD


def _exact(slug: str) -> str:
    return slug.strip().lstrip("~").split(":", 1)[0]


@dataclass(frozen=True)
class PriceIndex:
    """A price list ready to join: build it once per list when pricing many periods."""

    exact: dict[tuple[str, str], PriceRow]
    undated: dict[tuple[str, str], PriceRow]
    open_by_model: dict[str, bool]  # undated slug → open weights (any listing has an HF id)

    @classmethod
    def of(cls, prices: PriceSnapshot) -> PriceIndex:
        exact: dict[tuple[str, str], PriceRow] = {}
        undated: dict[tuple[str, str], PriceRow] = {}
        open_by_model: dict[str, bool] = {}
        # Newest dated slug last so it wins the undated name; '~' aliases first so real ids win.
        for row in sorted(prices.rows, key=lambda r: (r.canonical_slug, not r.id.startswith("~"))):
            exact[(_exact(row.canonical_slug), row.variant.lower())] = row
            undated[(model_key(row.canonical_slug), row.variant.lower())] = row
            key = model_key(row.canonical_slug)
            open_by_model[key] = open_by_model.get(key, False) or row.open_weights
        return cls(exact, undated, open_by_model)

    def price(self, model: str, variant: str) -> tuple[float, float] | None:
        if variant == FREE:
            return 0.0, 0.0
        row = self.exact.get((_exact(model), variant)) or self.undated.get(
            (model_key(model), variant)
        )
        return None if row is None else (row.prompt, row.completion)


def _tokens(row: Mapping[str, Any]) -> tuple[int | None, int | None, int]:
    prompt = tokens_value(row.get("prompt_tokens"))
    completion = tokens_value(row.get("completion_tokens"))
    if prompt is not None and completion is not None:
        return prompt, completion, prompt + completion
    return None, None, tokens_value(row.get("total_tokens")) or 0


def blended_prices(
    rows: Iterable[Mapping[str, Any]],
    prices: PriceSnapshot,
    by: str = "country",
    *,
    period: tuple[str, str] | None = None,
    index: PriceIndex | None = None,
) -> PriceReport:
    """Blended USD per million tokens per group (see the module docstring for the join).

    Rows are usage rows as `share` reads them (`model`, `author`, `country`, `prompt_tokens`,
    `completion_tokens`, `total_tokens`, optionally `variant`). A group's price is
    Σ(prompt × prompt price + completion × completion price) ÷ Σ(prompt + completion) over its
    priced rows; coverage is priced tokens ÷ all tokens. Open weights come from any listing of
    the same model (variants share weights); a model not listed at all is "unknown".
    """
    if by not in BY:
        raise TokentideError(f"prices: by must be one of {', '.join(BY)}, got {by!r}")
    index = index or PriceIndex.of(prices)
    cost: dict[str, float] = defaultdict(float)
    tokens: dict[str, int] = defaultdict(int)
    priced: dict[str, int] = defaultdict(int)
    open_tokens: dict[str, int] = defaultdict(int)
    closed_tokens: dict[str, int] = defaultdict(int)
    unpriced: dict[str, int] = defaultdict(int)
    for row in rows:
        group = key_of(row, by)
        model = str(row.get("model") or "")
        prompt, completion, total = _tokens(row)
        tokens[group] += total
        weights = index.open_by_model.get(model_key(model))
        if weights is True:
            open_tokens[group] += total
        elif weights is False:
            closed_tokens[group] += total
        price = None if prompt is None else index.price(model, _variant(row))
        if price is None:
            unpriced[model] += total
            continue
        cost[group] += prompt * price[0] + completion * price[1]
        priced[group] += total
    groups = tuple(
        GroupPrice(
            key=key,
            usd_per_million=cost[key] / priced[key] * MILLION if priced[key] else None,
            tokens=total,
            priced_tokens=priced[key],
            open_weights=open_tokens[key] / total if total else 0.0,
            closed_weights=closed_tokens[key] / total if total else 0.0,
            weights_unknown=(total - open_tokens[key] - closed_tokens[key]) / total
            if total
            else 0.0,
        )
        for key, total in sorted(tokens.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    all_priced = sum(priced.values())
    return PriceReport(
        by=by,
        period=period,
        as_of=prices.fetched_at,
        groups=groups,
        tokens=sum(tokens.values()),
        priced_tokens=all_priced,
        usd_per_million=sum(cost.values()) / all_priced * MILLION if all_priced else None,
        unpriced=tuple(
            sorted(((m, n) for m, n in unpriced.items() if n), key=lambda kv: (-kv[1], kv[0]))
        ),
    )


def price_gap(report: PriceReport, a: str = "CN", b: str = "US") -> float | None:
    """Blended price of group `a` ÷ that of `b` (0.2 = a's tokens cost a fifth of b's);
    None when either has no price or `b` costs nothing."""
    prices = report.prices
    if a not in prices or not prices.get(b):
        return None
    return prices[a] / prices[b]


def to_json(report: PriceReport) -> dict:
    """The `prices --json` document; groups with no priced token are left out of `prices`.

    USD per million to 4 places (prices start near $0.01/M), coverage to 4 (0.01%).
    """
    return {
        "period": None
        if report.period is None
        else {"start": report.period[0], "end": report.period[1]},
        "by": report.by,
        "prices": {k: round(v, 4) for k, v in report.prices.items()},
        "coverage": round(report.coverage, 4),
        "as_of": report.as_of,
    }
