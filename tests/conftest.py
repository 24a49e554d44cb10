"""Fixtures shared by every test module. Room-specific ones live in tests/<room>/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "archive.db"


@pytest.fixture
def db(db_path: Path):
    from bot.store.db import open_db

    handle = open_db(db_path)
    yield handle
    handle.close()
