"""Transactions and migrations on a real SQLite file: all or nothing, even on a full disk."""

from __future__ import annotations

import sqlite3

import pytest

from bot.errors import StoreError
from bot.store import migrations
from bot.store.db import open_db, open_read_only, transaction


def _tables(db) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_transaction_rolls_back_every_statement_on_error(tmp_path):
    db = open_db(tmp_path / "a.db")
    with pytest.raises(RuntimeError), transaction(db):
        db.execute("INSERT INTO chat_state (key, value, updated_at) VALUES ('a', '1', 'now')")
        db.execute("INSERT INTO chat_state (key, value, updated_at) VALUES ('b', '2', 'now')")
        raise RuntimeError("injected")
    assert db.execute("SELECT count(*) FROM chat_state").fetchone() == (0,)
    assert not db.conn.in_transaction


def test_nested_block_is_a_savepoint(tmp_path):
    db = open_db(tmp_path / "a.db")
    with transaction(db):
        db.execute("INSERT INTO chat_state (key, value, updated_at) VALUES ('outer', '1', 'n')")
        with pytest.raises(RuntimeError), transaction(db):
            db.execute("INSERT INTO chat_state (key, value, updated_at) VALUES ('inner', '1', 'n')")
            raise RuntimeError("injected")
    assert [r[0] for r in db.execute("SELECT key FROM chat_state")] == ["outer"]


def test_other_connections_see_nothing_until_commit(tmp_path):
    db = open_db(tmp_path / "a.db")
    reader = open_read_only(tmp_path / "a.db")
    with transaction(db):
        db.execute("INSERT INTO chat_state (key, value, updated_at) VALUES ('a', '1', 'now')")
        assert reader.execute("SELECT count(*) FROM chat_state").fetchone() == (0,)
    assert reader.execute("SELECT count(*) FROM chat_state").fetchone() == (1,)


def test_read_only_connection_refuses_writes(tmp_path):
    open_db(tmp_path / "a.db").close()
    reader = open_read_only(tmp_path / "a.db")
    with pytest.raises(sqlite3.OperationalError):
        reader.execute("INSERT INTO chat_state (key, value, updated_at) VALUES ('a', '1', 'n')")


def test_a_failing_migration_leaves_nothing_behind(tmp_path, monkeypatch):
    db = open_db(tmp_path / "a.db")
    before = _tables(db)

    def half_then_fail(db) -> None:
        db.execute("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO half_done (id) VALUES (1)")
        raise sqlite3.OperationalError("injected failure half-way through a migration")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, ("x-1", half_then_fail)])
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        migrations.migrate(db)
    assert _tables(db) == before
    assert "x-1" not in migrations.applied_migrations(db)


def test_migrations_on_a_full_disk_leave_an_empty_archive_that_later_upgrades(tmp_path):
    path = tmp_path / "full.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    db = open_db(path, migrate_schema=False)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 12}")  # room for a few tables, not all
    with pytest.raises(sqlite3.OperationalError, match="full"):
        migrations.migrate(db)
    applied = migrations.applied_migrations(db)
    # Whatever migrations completed are recorded with all their tables; none is half-applied.
    assert "core-1" not in applied or {"feeds", "articles", "deliveries"} <= _tables(db)
    assert not (_tables(db) - {"_migrations"}) or "core-1" in applied
    db.close()
    # Space returns: the next open finishes the job.
    db = open_db(path)
    assert migrations.applied_migrations(db) == [name for name, _ in migrations.MIGRATIONS]


def test_an_archive_from_a_newer_version_is_refused(tmp_path):
    db = open_db(tmp_path / "a.db")
    db.execute("INSERT INTO _migrations (name, applied_at) VALUES ('future-9', 'later')")
    db.close()
    with pytest.raises(StoreError, match="newer Tokentide.*future-9.*read-only"):
        open_db(tmp_path / "a.db")
