"""The Datasette instance `serve` builds, driven in-process (no server needed)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from bot.errors import StoreError
from bot.site.site import ARCHIVE_NAME, build_datasette
from bot.store.db import open_db

from .conftest import KNOWN_HEADLINE


async def test_paths_with_uri_characters_open_the_right_file(archive, tmp_path):
    # "#", "?" and "%" would cut or change an unquoted file: URI and open another file.
    path = tmp_path / "my data #1" / "archive?%20.db"
    path.parent.mkdir()
    shutil.copy(archive[0], path)
    ds = build_datasette(path)
    response = await ds.client.get("/archive/articles.json?_search=annualized+revenue&_shape=array")
    assert response.status_code == 200
    assert [r["title"] for r in response.json()] == [KNOWN_HEADLINE]


async def test_datasette_gets_no_write_connection(archive, tmp_path):
    path = tmp_path / "tokentide.db"
    shutil.copy(archive[0], path)
    ds = build_datasette(path)
    database = ds.get_database(ARCHIVE_NAME)
    with pytest.raises(StoreError, match="read-only"):
        await database.execute_write("DELETE FROM articles")
    # Read connections refuse writes in SQLite itself, too.
    result = await database.execute("PRAGMA query_only")
    assert result.first()[0] == 1
    db = open_db(path, migrate_schema=False)
    assert db["articles"].count == archive[1]["articles"]
    db.close()


def test_a_missing_archive_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no archive here"):
        build_datasette(tmp_path / "nothing.db")


def test_the_guard_plugin_stands_alone():
    # The plugin module is loaded by Datasette's plugin manager; it needs nothing from the site.
    code = "import sys, bot.site.guard; print('bot.site.site' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
