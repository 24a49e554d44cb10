"""The stories store: following merges (the one place it is done) and story reads."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.narratives.stories import story_detail
from bot.store.stories import MERGE_HOPS, get_story, resolve_merged

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def _stories(db, merges: dict[int, int | None]) -> None:
    for sid in merges:
        db.execute("INSERT INTO stories (id, title) VALUES (?, ?)", [sid, f"Story {sid}"])
    db.execute("PRAGMA foreign_keys = OFF")  # a cycle cannot be written with them on
    for sid, into in merges.items():
        db.execute("UPDATE stories SET merged_into = ? WHERE id = ?", [into, sid])
    db.execute("PRAGMA foreign_keys = ON")


def test_merges_are_followed_to_the_survivor(db):
    _stories(db, {1: None, 2: 1, 3: 2, 4: None})
    assert resolve_merged(db, [3, 2, 1, 4, 99]) == {3: 1, 2: 1, 1: 1, 4: 4, 99: 99}
    assert get_story(db, 3).id == 1
    assert get_story(db, 99) is None
    assert story_detail(db, 3, now=NOW)["id"] == 1
    assert story_detail(db, 99, now=NOW) is None


def test_a_merge_cycle_ends_after_a_bounded_number_of_hops(db):
    _stories(db, {1: 2, 2: 1})
    survivor = resolve_merged(db, [1])[1]
    assert survivor == (1 if MERGE_HOPS % 2 == 0 else 2)
