"""Where Chromium is missing, browser tests skip with the reason; in CI they fail instead."""

from __future__ import annotations

import pytest

from . import test_browser


def test_without_ci_a_missing_browser_skips_with_the_fix(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        test_browser._unavailable("/usr/bin/chromium not found")


def test_in_ci_a_missing_browser_fails(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        test_browser._unavailable("/usr/bin/chromium not found")
