"""Breaking-story alerts, each rule on a real archive with `now` passed in: the threshold, the
window, a backlog or a restart staying quiet, one alert per story (also after merges), the
daily cap, syndicated copies and undated articles adding no outlet, off-topic stories."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import to_iso
from bot.config import parse_settings
from bot.digest.limits import check_message
from bot.narratives.breaking import breaking_moment
from bot.pipeline import enqueue_breaking_alerts

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
# Outlets with the country ingest stores beside them (articles.outlet_country, from the registry).
COUNTRY = {
    "South China Morning Post": "HK",
    "Global Times": "CN",
    "Reuters": "GB",
    "Bloomberg": "US",
    "The Verge": "US",
    "Caixin": "CN",
}
DONE_WHEN = list(COUNTRY)


@pytest.fixture
def settings(db_path):
    return replace(parse_settings({"feeds": []}, "test.yaml"), db_path=str(db_path))


def with_breaking(settings, **values):
    alerts = settings.alerts
    return replace(settings, alerts=replace(alerts, breaking=replace(alerts.breaking, **values)))


_urls = iter(range(1, 1_000_000))


def add_story(db, sid, reports, *, topics=("export_controls",), title=None, now=NOW):
    """A clustered story; `reports` are (outlet, hours before `now`, or None for undated,
    optional duplicate_of article id)."""
    times = [h for _, h, *_ in reports if h is not None]
    first = to_iso(now - timedelta(hours=max(times))) if times else to_iso(now)
    last = to_iso(now - timedelta(hours=min(times))) if times else to_iso(now)
    ids = []
    with db.conn:
        db.execute(
            "INSERT INTO stories (id, title, first_seen, last_seen, article_count, outlet_count, "
            "topics) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                sid,
                title or f"Story {sid}: US widens chip export curbs",
                first,
                last,
                len(reports),
                len({r[0] for r in reports}),
                json.dumps(list(topics)),
            ],
        )
        for outlet, hours, *dup in reports:
            published = None if hours is None else to_iso(now - timedelta(hours=hours))
            cur = db.execute(
                "INSERT INTO articles (url, title, outlet, outlet_country, published_at, "
                "fetched_at, story_id, duplicate_of, topics, analyzed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    f"https://news.example/{next(_urls)}",
                    f"{outlet} on story {sid}",
                    outlet,
                    COUNTRY.get(outlet),
                    published,
                    to_iso(now),
                    sid,
                    dup[0] if dup else None,
                    json.dumps(list(topics)),
                    to_iso(now),
                ],
            )
            ids.append(cur.lastrowid)
    return ids


def alerts(db):
    return db.execute(
        "SELECT key, payload, created_at FROM deliveries WHERE kind = 'story_alert' ORDER BY id"
    ).fetchall()


def test_four_outlets_within_the_window_raise_one_alert(db, settings):
    add_story(db, 1, [("Reuters", 5), ("Bloomberg", 4), ("The Verge", 3)])
    result = enqueue_breaking_alerts(db, settings, now=NOW)
    assert result["queued"] == [] and alerts(db) == []  # three outlets: below the threshold

    with db.conn:
        db.execute(
            "INSERT INTO articles (url, title, outlet, published_at, fetched_at, story_id, "
            "analyzed_at) VALUES ('https://x.example/4', 't', 'Caixin', ?, ?, 1, ?)",
            [to_iso(NOW - timedelta(hours=1))] * 3,
        )
    result = enqueue_breaking_alerts(db, settings, now=NOW)
    assert len(result["queued"]) == 1
    [(key, payload, created)] = alerts(db)
    assert key == "1" and created == to_iso(NOW)
    story = json.loads(payload)["story"]
    assert [o["name"] for o in story["outlets"]] == ["Reuters", "Bloomberg", "The Verge", "Caixin"]
    assert story["broke_at"] == to_iso(NOW - timedelta(hours=1))


def test_min_outlets_is_a_setting(db, settings):
    add_story(db, 1, [("Reuters", 5), ("Bloomberg", 4)])
    assert enqueue_breaking_alerts(db, settings, now=NOW)["queued"] == []
    two = with_breaking(settings, min_outlets=2)
    assert len(enqueue_breaking_alerts(db, two, now=NOW)["queued"]) == 1


def test_outlets_spread_wider_than_the_window_raise_none(db, settings):
    # Four outlets over 20 hours: no 12-hour span holds four of them.
    add_story(db, 1, [("Reuters", 20), ("Bloomberg", 13), ("The Verge", 6.5), ("Caixin", 0.5)])
    assert enqueue_breaking_alerts(db, settings, now=NOW)["queued"] == []
    # A longer window catches them.
    wide = with_breaking(settings, window_hours=24)
    assert len(enqueue_breaking_alerts(db, wide, now=NOW)["queued"]) == 1


def test_old_backlog_story_raises_none(db, settings):
    """A first poll of a backlog: six outlets, but the newest article is 30 hours old."""
    add_story(db, 1, [(o, 35 - n) for n, o in enumerate(DONE_WHEN)])
    assert enqueue_breaking_alerts(db, settings, now=NOW)["queued"] == []
    assert alerts(db) == []


def test_restart_after_downtime_does_not_flood(db, settings):
    """Stories that broke while the process was down (more than a window ago) stay quiet,
    even when one more outlet reported since."""
    for sid in range(1, 6):
        add_story(db, sid, [("Reuters", 16), ("Bloomberg", 15), ("AP", 14), ("AFP", 13)])
    add_story(db, 6, [("Reuters", 16), ("Bloomberg", 15), ("AP", 14), ("AFP", 13), ("BBC", 1)])
    assert enqueue_breaking_alerts(db, settings, now=NOW)["queued"] == []


def test_one_outlet_story_raises_none(db, settings):
    add_story(db, 1, [("Reuters", h) for h in (5, 4, 3, 2, 1)])
    assert enqueue_breaking_alerts(db, settings, now=NOW)["queued"] == []


def test_syndicated_copies_and_undated_articles_add_no_outlet(db, settings):
    ids = add_story(db, 1, [("Reuters", 5), ("Bloomberg", 4), ("The Verge", 3)])
    add_more = [("Yahoo Finance", 2, ids[0]), ("Caixin", None)]  # a copy; an undated article
    with db.conn:
        for n, (outlet, hours, *dup) in enumerate(add_more):
            db.execute(
                "INSERT INTO articles (url, title, outlet, published_at, fetched_at, story_id, "
                "duplicate_of, analyzed_at) VALUES (?, 't', ?, ?, ?, 1, ?, ?)",
                [
                    f"https://more.example/{n}",
                    outlet,
                    None if hours is None else to_iso(NOW - timedelta(hours=hours)),
                    to_iso(NOW),
                    dup[0] if dup else None,
                    to_iso(NOW),
                ],
            )
    assert enqueue_breaking_alerts(db, settings, now=NOW)["queued"] == []


def test_outlet_spellings_differing_in_case_or_spaces_are_one_outlet(db, settings):
    add_story(db, 1, [("Reuters", 4), ("reuters", 3), (" Reuters ", 2), ("Bloomberg", 1)])
    assert enqueue_breaking_alerts(db, settings, now=NOW)["queued"] == []


def test_off_topic_story_raises_none(db, settings):
    add_story(db, 1, [(o, 5 - n) for n, o in enumerate(DONE_WHEN)], topics=())
    assert enqueue_breaking_alerts(db, settings, now=NOW)["queued"] == []


def test_exactly_one_alert_per_story_across_checks(db, settings):
    add_story(db, 1, [(o, 9 - n) for n, o in enumerate(DONE_WHEN)])
    first = enqueue_breaking_alerts(db, settings, now=NOW)
    later = enqueue_breaking_alerts(db, settings, now=NOW + timedelta(minutes=15))
    assert len(first["queued"]) == 1 and later["queued"] == []
    assert len(alerts(db)) == 1


def test_no_second_alert_after_a_merge(db, settings):
    add_story(db, 1, [(o, 9 - n) for n, o in enumerate(DONE_WHEN[:4])])
    assert len(enqueue_breaking_alerts(db, settings, now=NOW)["queued"]) == 1
    # Story 2 breaks on its own, then story 1 is merged into it: the same event, told once.
    add_story(db, 2, [("AP", 3), ("AFP", 2), ("BBC", 1.5), ("CNBC", 1)])
    with db.conn:
        db.execute("UPDATE stories SET merged_into = 2 WHERE id = 1")
    assert enqueue_breaking_alerts(db, settings, now=NOW)["queued"] == []
    # And the other way round: an alerted survivor does not alert again for what joined it.
    with db.conn:
        db.execute("UPDATE stories SET merged_into = NULL WHERE id = 1")
    assert enqueue_breaking_alerts(db, settings, now=NOW)["queued"] != []  # story 2, once
    add_story(db, 3, [("NHK", 3), ("DW", 2), ("RFI", 1.5), ("ABC", 1)])
    with db.conn:
        db.execute("UPDATE stories SET merged_into = 2 WHERE id = 3")
    assert enqueue_breaking_alerts(db, settings, now=NOW)["queued"] == []
    assert sorted(k for k, _, _ in alerts(db)) == ["1", "2"]


def test_daily_cap_holds_the_rest_until_the_next_day(db, settings):
    late = NOW.replace(hour=23)
    for sid in range(1, 8):
        add_story(db, sid, [(o, 4 - n * 0.5) for n, o in enumerate(DONE_WHEN[:4])], now=late)
    result = enqueue_breaking_alerts(db, settings, now=late)
    assert len(result["queued"]) == 5 and result["capped"] == 2
    again = enqueue_breaking_alerts(db, settings, now=late + timedelta(minutes=15))
    assert again["queued"] == [] and again["daily_cap_reached"] is True
    # After midnight the two still breaking go out; nothing more the same day.
    next_day = late + timedelta(hours=1, minutes=30)
    assert len(enqueue_breaking_alerts(db, settings, now=next_day)["queued"]) == 2
    assert len({k for k, _, _ in alerts(db)}) == 7


def test_daily_cap_follows_the_digest_time_zone(db, settings):
    shanghai = replace(settings, digest=replace(settings.digest, timezone="Asia/Shanghai"))
    one = with_breaking(shanghai, max_per_day=1)
    at = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    add_story(db, 1, [(o, 3 - n * 0.5) for n, o in enumerate(DONE_WHEN[:4])], now=at)
    add_story(db, 2, [(o, 3 - n * 0.5) for n, o in enumerate(DONE_WHEN[:4])], now=at)
    assert len(enqueue_breaking_alerts(db, one, now=at)["queued"]) == 1
    # 16:30 UTC is the next day in Shanghai (still the same UTC day).
    assert len(enqueue_breaking_alerts(db, one, now=at + timedelta(hours=1))["queued"]) == 1


def test_switched_off_in_settings(db, settings):
    add_story(db, 1, [(o, 9 - n) for n, o in enumerate(DONE_WHEN)])
    off = with_breaking(settings, enabled=False)
    assert enqueue_breaking_alerts(db, off, now=NOW) == {"enabled": False}
    assert alerts(db) == []


def test_done_when_story_lists_six_outlets_lead_and_fits_discord(db, settings):
    """SCMP, Global Times, Reuters, Bloomberg, The Verge and Caixin over nine hours."""
    hostile = "@everyone **US** [bans](https://evil.example) <@&1> H20 ||exports||"
    add_story(db, 1, [(o, 10 - n * 1.8) for n, o in enumerate(DONE_WHEN)], title=hostile)
    enqueue_breaking_alerts(db, settings, now=NOW)
    [(_, raw, _)] = alerts(db)
    payload = json.loads(raw)
    story = payload["story"]
    assert [o["name"] for o in story["outlets"]] == DONE_WHEN
    assert [o["country"] for o in story["outlets"]] == ["HK", "CN", "GB", "US", "US", "CN"]
    # First Chinese report (SCMP, 10 h ago) to the first Western one (Reuters, 6.4 h ago).
    assert story["lead"]["china"]["outlet"] == "South China Morning Post"
    assert story["lead"]["west"]["outlet"] == "Reuters"
    assert story["lead"]["hours"] == pytest.approx(3.6)
    for message in payload["messages"]:
        assert check_message(message) == []
    text = json.dumps(payload["messages"])
    assert "CN press first, +4 h" in text
    assert "@everyone" not in text and "<@&1>" not in text and "evil.example" not in text
    assert "CN press first" in payload["markdown"] and "CN press first" in payload["text"]


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        ([5, 4, 3, 2], 2),  # the fourth outlet's report is the break
        ([20, 5, 4, 3, 0.5], 0.5),  # 20 h ago is outside every window that ends since
        ([12, 8, 4, 0], 0),  # exactly the window's length still counts
    ],
)
def test_breaking_moment(hours, expected):
    reports = [(NOW - timedelta(hours=h), f"outlet {n}") for n, h in enumerate(hours)]
    found = breaking_moment(
        reports,
        min_outlets=4,
        window=timedelta(hours=12),
        since=NOW - timedelta(hours=12),
        until=NOW,
    )
    assert found is not None and found[0] == NOW - timedelta(hours=expected)
    assert len(found[1]) >= 4


# --- through the cycle: poll → analyze → breaking alerts → deliver, twice ------------------


async def test_two_cycles_cluster_alert_once_and_deliver_to_the_console(db, db_path):
    """No Discord configured: the alert is printed and kept as Markdown beside the archive,
    and a second cycle queues nothing new."""
    import io

    from bot.app import open_app
    from bot.chat.sinks import ConsoleSink
    from bot.config import Secrets
    from bot.pipeline import run_cycle

    from .conftest import HashingEmbedder, insert_article

    data = {
        "feeds": [],
        "openrouter": {"base_url": "http://127.0.0.1:9", "timeout_s": 1, "max_retries": 0},
        "stories": {"threshold": 0.5, "window_days": 5, "decay": 0.0, "name_weight": 0.0},
        "topics": {
            "export_controls": {
                "description": "US export controls and curbs on chips sold to China",
                "keywords": ["export curbs", "export controls", "SMIC", "Entity List"],
                "threshold": 0.3,
            }
        },
    }
    settings = replace(parse_settings(data, "test.yaml"), db_path=str(db_path), secrets=Secrets())
    headline = "US widens export curbs on China's SMIC and adds chip firms to Entity List"
    for n, outlet in enumerate(DONE_WHEN):
        insert_article(
            db,
            url=f"https://{n}.example/curbs",
            title=f"{headline} ({outlet})",
            outlet=outlet,
            outlet_country=COUNTRY[outlet],
            published_at=to_iso(NOW - timedelta(hours=9 - n * 1.8)),
            fetched_at=to_iso(NOW - timedelta(hours=9 - n * 1.8)),
        )
    # An old backlog story and a one-outlet story in the same archive raise nothing.
    for n, outlet in enumerate(DONE_WHEN):
        insert_article(
            db,
            url=f"https://{n}.example/old",
            title=f"Netherlands tightens export controls on ASML lithography tools ({outlet})",
            outlet=outlet,
            published_at=to_iso(NOW - timedelta(hours=40 - n)),
        )
    for h in (3, 2, 1):
        insert_article(
            db,
            url=f"https://solo.example/{h}",
            title=f"Restaurant hires priest to bless its kitchen, part {h}",
            outlet="Local Paper",
            published_at=to_iso(NOW - timedelta(hours=h)),
        )
    out = io.StringIO()
    async with open_app(settings, db, sink=ConsoleSink(settings, stream=out)) as app:
        app.embedder = HashingEmbedder()
        first = {r["job"]: r for r in await run_cycle(app, now=NOW)}
        second = {r["job"]: r for r in await run_cycle(app, now=NOW + timedelta(minutes=15))}
    assert first["breaking_alerts"]["status"] == "ok"
    assert len(first["breaking_alerts"]["queued"]) == 1
    assert second["breaking_alerts"]["queued"] == []
    stories = db.execute(
        "SELECT outlet_count, topics FROM stories ORDER BY outlet_count DESC, id"
    ).fetchall()
    # The backlog story is an on-topic six-outlet story too, just not news any more.
    assert stories[:2] == [(6, '["export_controls"]'), (6, '["export_controls"]')]
    [(key, raw, _)] = alerts(db)
    assert key == str(db.execute("SELECT story_id FROM articles WHERE id = 1").fetchone()[0])
    assert db.execute("SELECT status FROM deliveries WHERE kind = 'story_alert'").fetchone() == (
        "sent",
    )
    printed = out.getvalue()
    assert printed.count("BREAKING STORY") == 1 and "Caixin" in printed
    markdown = (db_path.parent / "digests" / f"story_alert-{key}.md").read_text()
    assert markdown.startswith("# Breaking story:") and "South China Morning Post" in markdown
    runs = db.execute("SELECT status FROM job_runs WHERE job = 'breaking_alerts'").fetchall()
    assert runs == [("ok",), ("ok",)]


async def test_run_once_twice_through_the_cli_raises_exactly_one_alert(tmp_path):
    """`tokentide run --once` as a user runs it (a real process, no Discord configured), twice:
    one story_alert, printed and kept as Markdown; an old backlog story and a one-outlet story
    in the same archive raise none."""
    from bot.clock import utcnow
    from bot.store.db import open_db
    from tests.chat.test_commands import tokentide, write_config

    write_config(tmp_path)
    db_path = tmp_path / "data" / "tokentide.db"
    db = open_db(db_path)
    now = utcnow()
    add_story(db, 1, [(o, 9.5 - n * 1.8) for n, o in enumerate(DONE_WHEN)], now=now)
    add_story(db, 2, [(o, 40 - n) for n, o in enumerate(DONE_WHEN)], now=now)  # backlog
    add_story(db, 3, [("Reuters", h) for h in (3, 2, 1)], now=now)  # one outlet
    db.close()
    printed = []
    for _ in range(2):
        code, out, err = await tokentide("run", "--once", cwd=tmp_path)
        assert code == 0, err
        printed.append(out)
    assert printed[0].count("BREAKING STORY") == 1 and "1 alert queued" in printed[0]
    assert "BREAKING STORY" not in printed[1] and "0 alerts queued" in printed[1]
    db = open_db(db_path)
    rows = db.execute("SELECT key, status FROM deliveries WHERE kind = 'story_alert'").fetchall()
    assert rows == [("1", "sent")]
    markdown = (tmp_path / "data" / "digests" / "story_alert-1.md").read_text()
    assert "CN press first" in markdown and "Caixin" in markdown
    db.close()
