"""feeds.yaml + environment → one frozen `Settings`.

Every section has defaults, so a file holding only `feeds:` is valid. Unknown keys and wrong
types fail at start-up with one line naming the file, the key and what was expected. Secrets
(Discord token, webhook URL, OpenRouter key) come only from the environment.

Each section is a frozen dataclass; `_build` checks a mapping against the dataclass's type hints,
so adding a setting is adding a field with a default.
"""

from __future__ import annotations

import ipaddress
import math
import os
import reprlib
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.errors import ConfigError

DEFAULT_CONFIG = "feeds.yaml"
DEFAULT_DB = "data/tokentide.db"


@dataclass(frozen=True)
class FeedConfig:
    url: str
    name: str = ""
    outlet: str = ""
    enabled: bool = True
    # The outlet's country (ISO alpha-2) and kind, over the registry's (bot/feeds/outlets.csv).
    country: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class OutletConfig:
    """One `outlets:` entry (domain -> these) over the shipped registry; `country: ""` says
    the country is unknown."""

    name: str | None = None
    country: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class FetchConfig:
    timeout_s: float = 20.0
    max_bytes: int = 15 * 1024 * 1024
    per_host: int = 2
    max_redirects: int = 5
    max_failures: int = 10
    min_interval_min: float = 15.0
    max_interval_min: float = 1440.0
    backoff_base_min: float = 5.0
    backoff_max_min: float = 1440.0
    retry_after_max_min: float = 1440.0
    user_agent: str = ""
    parse_processes: int = 0


@dataclass(frozen=True)
class TopicConfig:
    description: str = ""
    keywords: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    threshold: float | None = None


@dataclass(frozen=True)
class ModelConfig:
    name: str = "sentence-transformers/all-MiniLM-L6-v2"
    path: str | None = None
    backend: str = "torch"
    batch_size: int = 64
    quantize: bool = False  # torch dynamic int8, opt-in (docs/performance.md#embedding-fast-path)


@dataclass(frozen=True)
class StoriesConfig:
    # None = the value tuned on the labelled dev set, shipped in bot/narratives/.
    method: str | None = None  # hybrid (default) | centroid | learned (link model alone)
    threshold: float | None = None  # cosine (hybrid, centroid) or probability (learned)
    window_days: float | None = None
    name_weight: float | None = None
    decay: float | None = None
    duplicate_threshold: float | None = None
    # Headlines (texts of at most headline_words words) follow their own fitted rule; 0 = off.
    headline_words: int | None = None
    headline_threshold: float | None = None  # centroid cosine for a headline
    headline_merge: float | None = None  # centroid cosine at which headline stories merge


@dataclass(frozen=True)
class NarrativesConfig:
    # None = the value fitted on the labelled threads, shipped in bot/narratives/threads.py.
    threshold: float | None = None  # centroid cosine of two stories of one narrative
    enabled: bool = True


@dataclass(frozen=True)
class AlertConfig:
    track: tuple[str, ...] = ("CN", "US")
    min_points: float = 2.0
    hysteresis_points: float = 0.5
    cooldown_hours: float = 24.0
    top_movers: int = 3
    # The CN-US price gap is cited in a share alert when it moved by this fraction or more.
    price_gap_change: float = 0.1


@dataclass(frozen=True)
class OpenRouterConfig:
    base_url: str = "https://openrouter.ai"
    countries: dict[str, str] = field(default_factory=dict)
    alert: AlertConfig = field(default_factory=AlertConfig)
    timeout_s: float = 30.0
    max_bytes: int = 32 * 1024 * 1024
    max_retries: int = 2
    retry_backoff_s: float = 5.0
    retry_after_max_s: float = 120.0
    requests_per_minute: float = 30.0
    backfill_chunk_days: int = 30
    daily_days: int = 14
    # Whole-snapshot checks before a rankings answer is stored (tokens/checks.py).
    min_rows_parsed: float = 0.9
    min_models: int = 2
    plausible_ratio: float = 3.0


@dataclass(frozen=True)
class DigestConfig:
    time: str = "08:00"
    timezone: str = "UTC"
    per_topic: int = 5
    hours: float = 24.0


@dataclass(frozen=True)
class DiscordConfig:
    channel_id: int | None = None
    api_base: str = "https://discord.com/api/v10"
    allow_private_feed_urls: bool = False
    # Networks (CIDR) Discord-added feeds may reach although they are not public.
    allowed_feed_networks: tuple[str, ...] = ()
    guild_id: int | None = None
    # Outbox delivery: a failed send (5xx, timeout, long rate limit) is retried after
    # backoff_base_s * 2**(attempt-1), capped at backoff_max_s, until max_attempts; the defaults
    # keep retrying for about five hours, so an hour-long Discord outage loses nothing.
    timeout_s: float = 15.0
    max_attempts: int = 15
    backoff_base_s: float = 30.0
    backoff_max_s: float = 1800.0
    # Rate-limit waits up to this long are slept inline; longer ones reschedule the delivery.
    max_inline_wait_s: float = 5.0


@dataclass(frozen=True)
class BreakingConfig:
    # A story on a tracked topic that reaches min_outlets distinct outlets within window_hours
    # is announced once; at most max_per_day announcements per day (digest.timezone).
    enabled: bool = True
    min_outlets: int = 4
    window_hours: float = 12.0
    max_per_day: int = 5


@dataclass(frozen=True)
class AlertsConfig:
    breaking: BreakingConfig = field(default_factory=BreakingConfig)


@dataclass(frozen=True)
class ScheduleConfig:
    poll_minutes: float = 15.0
    tokens_hours: float = 6.0
    deliver_seconds: float = 30.0
    analyze_minutes: float = 15.0
    # On shutdown, in-flight deliveries get this long to finish before the loop stops.
    shutdown_grace_s: float = 30.0


@dataclass(frozen=True)
class Secrets:
    discord_token: str | None = None
    discord_webhook_url: str | None = None
    openrouter_api_key: str | None = None

    def __repr__(self) -> str:  # never print a secret by accident
        shown = {f.name: "set" if getattr(self, f.name) else None for f in fields(self)}
        return f"Secrets({shown})"


@dataclass(frozen=True)
class Settings:
    feeds: tuple[FeedConfig, ...] = ()
    outlets: dict[str, OutletConfig] = field(default_factory=dict)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    topics: dict[str, TopicConfig] = field(default_factory=dict)
    model: ModelConfig = field(default_factory=ModelConfig)
    stories: StoriesConfig = field(default_factory=StoriesConfig)
    narratives: NarrativesConfig = field(default_factory=NarrativesConfig)
    openrouter: OpenRouterConfig = field(default_factory=OpenRouterConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    # Not from YAML: where the settings came from, and secrets from the environment.
    source: str = field(default="<defaults>", compare=False)
    db_path: str = DEFAULT_DB
    secrets: Secrets = field(default_factory=Secrets, compare=False)


_NOT_FROM_YAML = {"source", "db_path", "secrets"}


def delivery_target(settings: Settings) -> tuple[str, str]:
    """Where messages go, as (kind, id): the bot's channel when a bot token and a channel are
    set, else the webhook, else the console (plus Markdown files beside the archive).

    The one place this rule lives: the outbox keys deliveries by it and the sink is chosen
    by it, so what is queued and what is sent can never disagree."""
    if settings.secrets.discord_token and settings.discord.channel_id:
        return "discord-channel", str(settings.discord.channel_id)
    if settings.secrets.discord_webhook_url:
        # The webhook id (not its token) identifies it; the URL itself is a secret.
        parts = settings.secrets.discord_webhook_url.rstrip("/").split("/")
        return "discord-webhook", parts[-2] if len(parts) >= 2 else "webhook"
    return "console", ""


def destination_for(settings: Settings) -> str:
    """The `deliveries.destination` value for these settings ('console' or 'kind:id')."""
    kind, ident = delivery_target(settings)
    return f"{kind}:{ident}" if ident else kind


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_describe(a) for a in args) + " or null"
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping of {_describe(typing.get_args(tp)[1])}"
    if isinstance(tp, type) and hasattr(tp, "__dataclass_fields__"):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, str(tp)
    )


def _show(value: Any) -> str:
    """A short repr for an error message: a value built from YAML aliases can be enormous."""
    return _SHORT_REPR.repr(value)


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlevel = 2
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 80
_SHORT_REPR.maxlist = _SHORT_REPR.maxtuple = _SHORT_REPR.maxdict = _SHORT_REPR.maxset = 4


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    def fail() -> ConfigError:
        return ConfigError(f"{source}: {key}: expected {_describe(tp)}, got {_show(value)}")

    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key, source)
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise fail()
        item_tp = typing.get_args(tp)[0]
        return tuple(_convert(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value))
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise fail()
        val_tp = typing.get_args(tp)[1]
        return {str(k): _convert(v, val_tp, f"{key}.{k}", source) for k, v in value.items()}
    if isinstance(tp, type) and hasattr(tp, "__dataclass_fields__"):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise fail()
        return _build(tp, value, key, source)
    if tp is bool:
        if not isinstance(value, bool):
            raise fail()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail()
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            raise fail() from None
        if not math.isfinite(number):
            raise ConfigError(f"{source}: {key}: expected a finite number, got {_show(value)}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise fail()
        return value
    raise fail()


def _build(cls: type, data: dict, prefix: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if f.name not in _NOT_FROM_YAML}
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key)
        where = f"{prefix}.{key}" if prefix else key
        if key not in known:
            raise ConfigError(
                f"{source}: {where}: unknown key (expected one of: {', '.join(sorted(known))})"
            )
        kwargs[key] = _convert(value, hints[key], where, source)
    for name, f in known.items():
        if name not in kwargs and f.default is MISSING and f.default_factory is MISSING:
            where = f"{prefix}.{name}" if prefix else name
            raise ConfigError(f"{source}: {where}: required, expected {_describe(hints[name])}")
    return cls(**kwargs)


def _check_values(s: Settings) -> None:
    src = s.source

    def need(ok: bool, key: str, expected: str, got: Any) -> None:
        if not ok:
            raise ConfigError(f"{src}: {key}: expected {expected}, got {_show(got)}")

    seen: set[str] = set()
    for i, feed in enumerate(s.feeds):
        need(
            url_problem(feed.url) is None,
            f"feeds[{i}].url",
            "an http(s) URL",
            feed.url,
        )
        need(feed.url not in seen, f"feeds[{i}].url", "a URL listed once", feed.url)
        seen.add(feed.url)
    _check_outlets(s)
    f = s.fetch
    for name in ("timeout_s", "min_interval_min", "backoff_base_min"):
        need(getattr(f, name) > 0, f"fetch.{name}", "a positive number", getattr(f, name))
    for name in ("max_bytes", "per_host", "max_failures"):
        need(getattr(f, name) > 0, f"fetch.{name}", "a positive integer", getattr(f, name))
    need(f.max_redirects >= 0, "fetch.max_redirects", "0 or more", f.max_redirects)
    need(f.parse_processes >= 0, "fetch.parse_processes", "0 or more", f.parse_processes)
    need(
        f.max_interval_min >= f.min_interval_min,
        "fetch.max_interval_min",
        "a number >= fetch.min_interval_min",
        f.max_interval_min,
    )
    need(s.model.batch_size > 0, "model.batch_size", "a positive integer", s.model.batch_size)
    need(
        s.model.backend in ("torch", "onnx"),
        "model.backend",
        "one of torch, onnx",
        s.model.backend,
    )
    st = s.stories
    need(
        st.window_days is None or st.window_days > 0,
        "stories.window_days",
        "a positive number",
        st.window_days,
    )
    need(
        st.method in (None, "hybrid", "learned", "centroid"),
        "stories.method",
        "hybrid, centroid or learned",
        st.method,
    )
    for name in ("threshold", "duplicate_threshold"):
        value = getattr(st, name)
        need(value is None or -1 <= value <= 1, f"stories.{name}", "a number in [-1, 1]", value)
    for name in ("name_weight", "decay"):
        value = getattr(st, name)
        need(value is None or value >= 0, f"stories.{name}", "0 or more", value)
    for name in ("headline_threshold", "headline_merge"):
        value = getattr(st, name)
        need(value is None or -1 <= value <= 1, f"stories.{name}", "a number in [-1, 1]", value)
    need(
        st.headline_words is None or st.headline_words >= 0,
        "stories.headline_words",
        "0 or more",
        st.headline_words,
    )
    nt = s.narratives.threshold
    need(nt is None or -1 <= nt <= 1, "narratives.threshold", "a number in [-1, 1]", nt)
    for tid, topic in s.topics.items():
        need(
            topic.threshold is None or 0 < topic.threshold < 1,
            f"topics.{tid}.threshold",
            "a probability between 0 and 1",
            topic.threshold,
        )
    need(
        url_problem(s.openrouter.base_url) is None,
        "openrouter.base_url",
        "an http(s) URL",
        s.openrouter.base_url,
    )
    o = s.openrouter
    for name in (
        "timeout_s",
        "requests_per_minute",
        "max_bytes",
        "backfill_chunk_days",
        "daily_days",
    ):
        need(getattr(o, name) > 0, f"openrouter.{name}", "a positive number", getattr(o, name))
    for name in ("max_retries", "retry_backoff_s", "retry_after_max_s"):
        need(getattr(o, name) >= 0, f"openrouter.{name}", "0 or more", getattr(o, name))
    need(o.daily_days <= 366, "openrouter.daily_days", "at most 366", o.daily_days)
    need(
        o.backfill_chunk_days <= 366,
        "openrouter.backfill_chunk_days",
        "at most 366 (the Data API's longest range)",
        o.backfill_chunk_days,
    )
    a = o.alert
    for i, code in enumerate(a.track):
        need(
            len(code) == 2 and code.isalpha() and code.isupper(),
            f"openrouter.alert.track[{i}]",
            "an ISO 3166 alpha-2 code such as CN",
            code,
        )
    for name in ("min_points", "hysteresis_points", "cooldown_hours"):
        need(getattr(a, name) >= 0, f"openrouter.alert.{name}", "0 or more", getattr(a, name))
    need(a.top_movers >= 0, "openrouter.alert.top_movers", "0 or more", a.top_movers)
    need(
        a.price_gap_change >= 0,
        "openrouter.alert.price_gap_change",
        "0 or more (a fraction: 0.1 = 10%)",
        a.price_gap_change,
    )
    need(
        0 <= o.min_rows_parsed <= 1,
        "openrouter.min_rows_parsed",
        "a fraction between 0 and 1",
        o.min_rows_parsed,
    )
    need(o.min_models >= 1, "openrouter.min_models", "1 or more", o.min_models)
    need(o.plausible_ratio > 1, "openrouter.plausible_ratio", "a number above 1", o.plausible_ratio)
    for author, country in s.openrouter.countries.items():
        need(
            country == "UNKNOWN" or (len(country) == 2 and country.isalpha() and country.isupper()),
            f"openrouter.countries.{author}",
            "an ISO 3166 alpha-2 code (e.g. CN) or UNKNOWN",
            country,
        )
    hh, _, mm = s.digest.time.partition(":")
    need(
        hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60 and len(mm) == 2,
        "digest.time",
        "a local time HH:MM",
        s.digest.time,
    )
    try:
        ZoneInfo(s.digest.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        need(False, "digest.timezone", "an IANA time zone such as Europe/London", s.digest.timezone)
    need(s.digest.per_topic > 0, "digest.per_topic", "a positive integer", s.digest.per_topic)
    need(
        url_problem(s.discord.api_base) is None,
        "discord.api_base",
        "an http(s) URL",
        s.discord.api_base,
    )
    for i, network in enumerate(s.discord.allowed_feed_networks):
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            need(
                False,
                f"discord.allowed_feed_networks[{i}]",
                "an IP network such as 10.1.2.0/24",
                network,
            )
    for name in ("timeout_s", "backoff_base_s", "backoff_max_s"):
        value = getattr(s.discord, name)
        need(value > 0, f"discord.{name}", "a positive number", value)
    need(
        s.discord.max_attempts > 0,
        "discord.max_attempts",
        "a positive integer",
        s.discord.max_attempts,
    )
    need(
        s.discord.max_inline_wait_s >= 0,
        "discord.max_inline_wait_s",
        "0 or more",
        s.discord.max_inline_wait_s,
    )
    need(
        s.schedule.shutdown_grace_s >= 0,
        "schedule.shutdown_grace_s",
        "0 or more",
        s.schedule.shutdown_grace_s,
    )
    for name in ("poll_minutes", "tokens_hours", "deliver_seconds", "analyze_minutes"):
        value = getattr(s.schedule, name)
        need(value > 0, f"schedule.{name}", "a positive number", value)
    need(s.digest.hours > 0, "digest.hours", "a positive number", s.digest.hours)
    _check_durations(s, need)
    b = s.alerts.breaking
    need(
        b.min_outlets >= 2, "alerts.breaking.min_outlets", "an integer of 2 or more", b.min_outlets
    )
    need(b.window_hours > 0, "alerts.breaking.window_hours", "a positive number", b.window_hours)
    need(b.max_per_day >= 0, "alerts.breaking.max_per_day", "0 or more", b.max_per_day)


def _check_outlets(s: Settings) -> None:
    """`outlets:` and each feed's country and kind, checked as the outlet registry checks its
    own rows (one line naming the key, e.g. outlets.example.com.country)."""
    from bot.feeds.outlets import check_feed_outlet, overrides_from_config

    overrides_from_config(s.outlets, s.source)
    for i, feed in enumerate(s.feeds):
        check_feed_outlet(feed.country, feed.kind, f"feeds[{i}]", s.source)


YEAR_S = 366 * 24 * 3600


def _check_durations(s: Settings, need: Callable[[bool, str, str, Any], None]) -> None:
    """Every timeout, interval and backoff is a year at most: far beyond any use, and far
    below what makes a timedelta or a timer overflow mid-run."""
    per_unit = {"s": 1, "seconds": 1, "min": 60, "minutes": 60, "hours": 3600, "days": 86400}
    durations = {
        "fetch": ("timeout_s", "min_interval_min", "max_interval_min", "backoff_base_min",
                  "backoff_max_min", "retry_after_max_min"),
        "openrouter": ("timeout_s", "retry_backoff_s", "retry_after_max_s"),
        "openrouter.alert": ("cooldown_hours",),
        "stories": ("window_days",),
        "digest": ("hours",),
        "discord": ("timeout_s", "backoff_base_s", "backoff_max_s", "max_inline_wait_s"),
        "schedule": ("poll_minutes", "tokens_hours", "deliver_seconds", "analyze_minutes",
                     "shutdown_grace_s"),
    }  # fmt: skip
    for section, names in durations.items():
        values: Any = s
        for part in section.split("."):
            values = getattr(values, part)
        for name in names:
            value = getattr(values, name)
            unit = per_unit[name.rsplit("_", 1)[-1]]
            need(
                value is None or value * unit <= YEAR_S,
                f"{section}.{name}",
                f"at most a year ({YEAR_S // unit:,})",
                value,
            )


def parse_settings(data: Any, source: str = "<defaults>") -> Settings:
    """Validate a parsed YAML document (a mapping) into Settings, defaults filled in."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    settings = _build(Settings, data, "", source)
    if not settings.topics and "topics" not in data:
        settings = replace(settings, topics=default_topics())
    settings = replace(settings, source=source)
    _check_values(settings)
    return settings


def default_topics() -> dict[str, TopicConfig]:
    """The three topics Tokentide ships with, used when feeds.yaml has no `topics:` section."""
    from bot.narratives.topic_defaults import DEFAULT_TOPICS

    return {
        tid: _build(TopicConfig, dict(spec), f"topics.{tid}", "<built-in topics>")
        for tid, spec in DEFAULT_TOPICS.items()
    }


# A config file is a few hundred values a few levels deep. Aliases are references, so a few
# hundred bytes can describe billions of values, and the loader recurses once per level.
MAX_YAML_DEPTH = 50
MAX_YAML_VALUES = 100_000


def _check_yaml_size(text: str, path: Path) -> None:
    """Refuse a YAML document that nests too deep or expands (through aliases) to too many
    values, before it is loaded: read as events, which needs no recursion and expands nothing.
    """
    expanded: dict[str, int] = {}  # anchor -> how many values it stands for
    open_: list[list[Any]] = []  # [anchor, values so far] per open collection
    total = 0

    def fail(event: Any, what: str) -> ConfigError:
        mark = event.start_mark
        return ConfigError(f"{path}: line {mark.line + 1}, column {mark.column + 1}: {what}")

    def add(event: Any, count: int) -> None:
        nonlocal total
        if open_:
            open_[-1][1] += count
            count = open_[-1][1]
        else:
            total += count
            count = total
        if count > MAX_YAML_VALUES:
            raise fail(
                event,
                f"the YAML expands to more than {MAX_YAML_VALUES:,} values "
                "(anchors and aliases nested inside each other?)",
            )

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                expanded[event.anchor] = 1
            add(event, 1)
        elif isinstance(event, yaml.AliasEvent):
            add(event, expanded.get(event.anchor, 1))  # an unknown alias: the loader says so
        elif isinstance(event, yaml.CollectionStartEvent):
            open_.append([event.anchor, 1])
            if len(open_) > MAX_YAML_DEPTH:
                raise fail(event, f"the YAML nests deeper than {MAX_YAML_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, count = open_.pop()
            if anchor:
                expanded[anchor] = count
            add(event, count)


def load_settings(
    config_path: str | os.PathLike | None = None,
    db_path: str | os.PathLike | None = None,
    env: typing.Mapping[str, str] | None = None,
) -> Settings:
    """Read feeds.yaml and the environment. Missing file or bad key → ConfigError (exit 2)."""
    env = os.environ if env is None else env
    path = Path(config_path or env.get("TOKENTIDE_CONFIG") or DEFAULT_CONFIG)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found (pass --config FILE or set TOKENTIDE_CONFIG)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    try:
        _check_yaml_size(text, path)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from None
    settings = parse_settings(data, str(path))
    return apply_env(settings, env, db_path)


def secrets_from_env(env: typing.Mapping[str, str]) -> Secrets:
    """The secrets, which come only from the environment (empty values count as unset)."""
    return Secrets(
        discord_token=env.get("DISCORD_TOKEN") or None,
        discord_webhook_url=env.get("DISCORD_WEBHOOK_URL") or None,
        openrouter_api_key=env.get("OPENROUTER_API_KEY") or None,
    )


def url_problem(url: str) -> str | None:
    """What keeps `url` from being an http(s) URL with a host, or None when it is one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    if not parts.hostname:
        return "no host name"
    if any(c.isspace() for c in url):
        return "it contains white space"
    return None


def apply_env(
    settings: Settings,
    env: typing.Mapping[str, str],
    db_path: str | os.PathLike | None = None,
) -> Settings:
    """Environment overrides (documented in the README) and secrets."""
    openrouter = settings.openrouter
    if env.get("TOKENTIDE_OPENROUTER_URL"):
        openrouter = replace(openrouter, base_url=env["TOKENTIDE_OPENROUTER_URL"].rstrip("/"))
    discord = settings.discord
    if env.get("DISCORD_API_BASE"):
        discord = replace(discord, api_base=env["DISCORD_API_BASE"].rstrip("/"))
    secrets = secrets_from_env(env)
    for name in ("TOKENTIDE_OPENROUTER_URL", "DISCORD_API_BASE", "DISCORD_WEBHOOK_URL"):
        problem = url_problem(env.get(name) or "")
        if env.get(name) and problem:
            # The webhook URL is a secret: say what is wrong with it, never what it is.
            shown = "" if name == "DISCORD_WEBHOOK_URL" else f", got {_show(env[name])}"
            raise ConfigError(f"environment {name}: expected an http(s) URL ({problem}){shown}")
    db = str(db_path or env.get("TOKENTIDE_DB") or DEFAULT_DB)
    return replace(settings, openrouter=openrouter, discord=discord, secrets=secrets, db_path=db)
