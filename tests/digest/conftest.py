"""Fixtures for the digest tests; the data builders live in builders.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def settings(db_path):
    from bot.config import apply_env, parse_settings

    return apply_env(parse_settings({}), {}, db_path)
