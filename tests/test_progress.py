"""bot/progress.py: a bar on a terminal, plain periodic lines anywhere else."""

from __future__ import annotations

import io
import os
import pty
import select

import pytest

from bot.progress import progress


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_not_a_terminal_prints_a_line_every_interval_and_at_the_end():
    out, clock = io.StringIO(), FakeClock()
    with progress(5000, "analyze", "articles", file=out, every_s=10, clock=clock) as bar:
        for _ in range(10):
            clock.t += 3  # a batch of 500 every 3 s: a line every 4th batch (12 s > 10 s)
            bar.update(500)
    assert out.getvalue().splitlines() == [
        "analyze: 2000/5000 articles (40%)",
        "analyze: 4000/5000 articles (80%)",
        "analyze: 5000/5000 articles (100%) in 30.0 s",
    ]
    assert "\r" not in out.getvalue()


def test_not_a_terminal_says_where_it_stopped():
    out, clock = io.StringIO(), FakeClock()
    with (
        pytest.raises(KeyboardInterrupt),
        progress(90, "backfill-tokens", "days", file=out, clock=clock) as bar,
    ):
        bar.update(30)
        clock.t += 125
        raise KeyboardInterrupt
    assert out.getvalue() == "backfill-tokens: 30/90 days (33%), stopped after 2 min 5 s\n"


def test_nothing_to_do_is_one_line():
    out = io.StringIO()
    with progress(0, "analyze", "articles", file=out, clock=FakeClock()):
        pass
    assert out.getvalue() == "analyze: 0/0 articles (100%) in 0.0 s\n"


def test_a_terminal_gets_the_bar_and_no_log_lines():
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as tty:
            assert tty.isatty()
            clock = FakeClock()
            with progress(4, "analyze", "articles", file=tty, every_s=0, clock=clock) as bar:
                for _ in range(4):
                    clock.t += 60
                    bar.update(1)
            tty.flush()
        shown = b""
        # Read until the bar's closing sequence (it shows the cursor again); the select
        # timeout only guards against a hang.
        while b"\x1b[?25h" not in shown and select.select([leader], [], [], 5)[0]:
            shown += os.read(leader, 65536)
    finally:
        os.close(leader)
        os.close(follower)
    text = shown.decode()
    assert "\r" in text and "analyze  [####" in text and "100%" in text
    assert "4/4 articles" not in text  # the bar, not the plain lines
