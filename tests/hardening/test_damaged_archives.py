"""A damaged archive and one from a newer Tokentide: every command says so in one line.

Damage is real: a page of the file is overwritten with garbage, as a failing disk or a copy
cut short leaves it. The future archive records a migration this version does not know; no
command may write to it (its bytes stay the same), and `serve` shows it read-only (see
tests/site/test_hardening.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bot.clock import to_iso, utcnow
from bot.store.db import open_db

from .process import clean_env, one_error_line, tokentide

CONFIG = (
    "feeds:\n"
    '  - {name: "Offline feed", url: "http://127.0.0.1:9/rss", outlet: Nowhere}\n'
    "fetch: {timeout_s: 1}\n"
    'openrouter: {base_url: "http://127.0.0.1:9", timeout_s: 1, max_retries: 0}\n'
)


def seed(path: Path) -> None:
    """An archive with a feed, 400 articles and 40 stories from the last hours."""
    db = open_db(path)
    now = to_iso(utcnow())
    with db.conn:
        db.execute(
            "INSERT INTO feeds (url, name, origin, created_at) "
            "VALUES ('http://127.0.0.1:9/rss', 'Offline feed', 'config', ?)",
            [now],
        )
        for n in range(1, 41):
            db.execute(
                "INSERT INTO stories (id, title, first_seen, last_seen, article_count, "
                "outlet_count, first_outlet, topics) VALUES (?, ?, ?, ?, 10, 1, 'SCMP', ?)",
                [n, f"Chip export story {n} " + "x" * 200, now, now, json.dumps(["chips"])],
            )
            for k in range(10):
                db.execute(
                    "INSERT INTO articles (feed_id, url, title, summary, outlet, published_at, "
                    "fetched_at, story_id, topics, analyzed_at) "
                    "VALUES (1, ?, ?, ?, 'SCMP', ?, ?, ?, ?, ?)",
                    [
                        f"https://news.example/{n}/{k}",
                        f"Chip export story {n}, report {k}",
                        "y" * 300,
                        now,
                        now,
                        n,
                        json.dumps(["chips"]),
                        now,
                    ],
                )
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def damage(path: Path, table: str) -> int:
    """Overwrite the root page of `table` with garbage; returns its page number."""
    db = open_db(path)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
    db.close()
    with path.open("r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(b"\xff" * page_size)
    return page


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "feeds.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "subs.opml").write_text(
        '<opml version="2.0"><body><outline type="rss" text="New" '
        'xmlUrl="https://news.example/new.xml"/></body></opml>',
        encoding="utf-8",
    )
    seed(tmp_path / "archive.db")
    return tmp_path


def run(workdir: Path, *args: str):
    return tokentide(*args, cwd=workdir, env=clean_env(TOKENTIDE_DB=str(workdir / "archive.db")))


@pytest.mark.parametrize(
    ("table", "args"),
    [
        ("stories", ("stories",)),
        ("stories", ("digest",)),
        ("feeds", ("poll",)),
        ("feeds", ("feeds",)),
        ("articles", ("story", "3")),
    ],
)
def test_a_damaged_page_is_one_line(workdir, table, args):
    damage(workdir / "archive.db", table)
    proc = run(workdir, *args)
    assert proc.returncode == 1
    line = one_error_line(proc)
    path = workdir / "archive.db"
    assert line.startswith(f"error: archive damaged: {path}: "), line
    assert "database disk image is malformed. Restore it from a backup" in line
    assert f"`sqlite3 {path} .recover | sqlite3 recovered.db`" in line


def test_a_damaged_schema_bookkeeping_page_fails_at_open(workdir):
    damage(workdir / "archive.db", "_migrations")
    proc = run(workdir, "stories")
    assert proc.returncode == 1
    assert one_error_line(proc).startswith(
        f"error: archive damaged: {workdir / 'archive.db'}: cannot open the archive: "
    )


def test_not_an_archive_at_all_is_one_line(workdir):
    (workdir / "archive.db").write_bytes(b"this is a text file, not SQLite\n" * 200)
    proc = run(workdir, "stories")
    assert proc.returncode == 1
    assert "archive damaged" in one_error_line(proc) and "file is not a database" in proc.stderr


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "args",
    [
        ("poll",),
        ("feeds",),
        ("stories",),
        ("story", "3"),
        ("digest",),
        ("digest", "--post"),
        ("deliver",),
        ("analyze",),
        ("share",),
        ("run", "--once"),
        ("import-opml", "subs.opml"),
    ],
)
def test_an_archive_from_a_newer_version_is_refused_and_untouched(workdir, args):
    path = workdir / "archive.db"
    db = open_db(path)
    with db.conn:
        db.execute("INSERT INTO _migrations (name, applied_at) VALUES ('future-1', 'later')")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    before = file_digest(path)

    proc = run(workdir, *args)

    assert proc.returncode == 1
    line = one_error_line(proc)
    assert line == (
        "error: the archive was written by a newer Tokentide (unknown migrations: future-1); "
        "upgrade tokentide, or browse it read-only with `tokentide serve`"
    )
    assert file_digest(path) == before
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
