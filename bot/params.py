"""Click parameter types for the numbers people type: bounded and finite, so `--hours nan`,
`--hours 1e308` or `story 9223372036854775808` end as one usage line (exit 2) naming the
option, never as a traceback deep in the code or a silent wrong answer."""

from __future__ import annotations

import math
from typing import Any

import click

SQLITE_MAX_INT = 2**63 - 1
YEAR_HOURS = 24 * 366


class Number(click.ParamType):
    """A finite number above `above` and at most `at_most`."""

    name = "number"

    def __init__(self, *, above: float, at_most: float, meaning: str) -> None:
        self.above, self.at_most, self.meaning = above, at_most, meaning

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, float) and math.isfinite(value):
            number = value
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                self.fail(f"{str(value)[:40]!r} is not a number", param, ctx)
        if not (math.isfinite(number) and self.above < number <= self.at_most):
            self.fail(
                f"expected {self.meaning}, above {self.above:g} and at most {self.at_most:g}; "
                f"got {str(value)[:40]}",
                param,
                ctx,
            )
        return number


HOURS = Number(above=0, at_most=YEAR_HOURS, meaning="a number of hours")
# How far back to list: up to a million hours (114 years), i.e. the whole archive.
LOOKBACK_HOURS = Number(above=0, at_most=1_000_000, meaning="a number of hours")
STORY_ID = click.IntRange(1, SQLITE_MAX_INT)


def count(at_most: int) -> click.IntRange:
    """A whole number from 1 to `at_most` (a --limit, --top, --batch-size)."""
    return click.IntRange(1, at_most)
