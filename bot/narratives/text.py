"""Turning an article row into the text we embed, and the names we compare stories by.

Feeds put HTML, entities and whole article bodies into summaries; the model only reads about
256 word pieces anyway, so the text is cleaned and capped before it costs anything.
"""

from __future__ import annotations

import html
import re

MAX_CHARS = 1500  # ~256 word pieces with room to spare; longer text only costs time

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-\.&']*[A-Za-z0-9]|[A-Za-z0-9]")
# Capitalised words that say nothing about which event an article covers.
_NOT_NAMES = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "in",
        "on",
        "at",
        "to",
        "for",
        "of",
        "by",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "he",
        "she",
        "they",
        "we",
        "you",
        "i",
        "his",
        "her",
        "their",
        "our",
        "your",
        "after",
        "before",
        "over",
        "under",
        "into",
        "amid",
        "why",
        "how",
        "what",
        "when",
        "where",
        "who",
        "new",
        "says",
        "said",
        "us",
        "u.s",
        "china",
        "chinese",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "reuters",
        "ap",
        "bloomberg",
        "news",
        "update",
        "breaking",
        "report",
        "reports",
        "exclusive",
        "tech",
        # Nearly every article on this beat says "AI": sharing it links no two events.
        "ai",
        "inc",
        "corp",
        "ltd",
        "co",
        "mr",
        "ms",
        "will",
        "can",
        "could",
        "would",
        "should",
        "has",
        "have",
        "had",
        "not",
        "no",
        "yes",
        "here",
        "there",
        "more",
        "most",
        "first",
        "last",
    ]
)


def clean(text: str | None, max_chars: int = MAX_CHARS) -> str:
    """Plain text: tags dropped, entities decoded, whitespace collapsed, length capped."""
    if not text:
        return ""
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0]
    return text


ECHO_TAIL = 4  # words a summary may add to a repeated headline and still be an echo


def article_text(title: str | None, summary: str | None) -> str:
    """`title + ". " + summary` (the eval set's convention), either part may be missing.

    A summary that only repeats the headline, maybe followed by a few words (Google News
    descriptions are the headline and the outlet's name), adds nothing and is left out: the
    text stays a headline and is clustered as one."""
    title = clean(title, 300)
    summary = clean(summary)
    if title and summary:
        if is_echo(title, summary):
            return title
        return f"{title}. {summary}"
    return title or summary


def is_echo(title: str, summary: str) -> bool:
    """Whether `summary` is `title` again plus at most ECHO_TAIL words."""
    head = _TOKEN.findall(title.lower())
    body = _TOKEN.findall(summary.lower())
    return bool(head) and body[: len(head)] == head and len(body) - len(head) <= ECHO_TAIL


def normalise_title(title: str | None) -> str:
    """Title reduced to lower-case words, for spotting syndicated copies with the same headline."""
    return " ".join(_TOKEN.findall(clean(title, 300).lower()))


def names(text: str) -> frozenset[str]:
    """Capitalised words and tokens with digits (companies, agencies, model names, amounts).

    A cheap stand-in for named-entity recognition: two articles about one event share
    "Nexperia", "H20" or "140"; two articles that only share a theme mostly do not.
    """
    found = set()
    for match in _TOKEN.finditer(text):
        token = match.group(0).strip(".'&-")
        if len(token) < 2:
            continue
        if not (token[0].isupper() or any(c.isdigit() for c in token)):
            continue
        low = token.lower()
        if low in _NOT_NAMES:
            continue
        found.add(low)
    return frozenset(found)
