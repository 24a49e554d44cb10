"""Making feed text safe to show: plain text, Discord markdown, links, and length limits.

Headlines come from strangers' feeds. Before any of it reaches Discord we collapse it to one
line, drop control and bidi-override characters (they can reorder or hide text), strip markdown
link syntax, escape markdown, and break mentions with a zero-width space — `allowed_mentions`
already stops pings, but a visible "@everyone" in a bot post still looks like one.

Lengths are counted in UTF-16 code units, which is never less than the code-point count, so a
text that fits here fits whichever way Discord (or a test) counts.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, urlsplit

ELLIPSIS = "…"
ZWSP = "\u200b"

# Bidi embeddings/overrides/isolates: they let a headline display differently from its bytes.
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), None)
_WS = re.compile(r"\s+")
# [text](url) and [text](<url>) — the masked-link syntax Discord and Markdown both honour.
_MD_LINK = re.compile(r"\[([^\[\]]*)\]\(\s*<?[^()\s>]*>?(?:\s+\"[^\"]*\")?\s*\)")
# Inline markup anywhere; block markup (headings, quotes, lists) only matters at the start.
_MD_SPECIAL = re.compile(r"([\\*_~`|\[\]<>])")
_MD_BLOCK = re.compile(r"^([#>+-])")
_MD_ORDERED = re.compile(r"^(\d+)\.")
_EVERYONE = re.compile(r"@(?=(everyone|here)\b)", re.IGNORECASE)
# <@id>, <@!id>, <@&id>, <#id>, </cmd:id>, <:emoji:id>, <a:emoji:id>, <t:...> all start this way.
_ANGLE = re.compile(r"<(?=[@#/:]|a:|t:)")
_URLISH = re.compile(
    r"(?i)(\b[a-z][a-z0-9+.-]*://|\bwww\.|\b[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}\b|@)"
)


def dlen(text: str) -> int:
    """Length as Discord may count it (UTF-16 units; ≥ the number of code points)."""
    return len(text.encode("utf-16-le")) // 2


def one_line(text: object) -> str:
    """Collapse whitespace, drop control/format characters that could hide or reorder text."""
    raw = "" if text is None else str(text)
    raw = raw.translate(_BIDI)
    kept = []
    for ch in raw:
        cat = unicodedata.category(ch)
        if cat == "Cc":
            kept.append(" ")  # newlines, tabs, ANSI ESC: all become a plain space
        elif cat == "Cs":
            continue  # lone surrogates cannot be encoded for Discord
        else:
            kept.append(ch)
    return _WS.sub(" ", "".join(kept)).strip()


def strip_markdown_links(text: str) -> str:
    """`[label](url)` → `label`, so a headline can never carry a masked link of its own."""
    previous = None
    while previous != text:  # nested or repeated constructions
        previous = text
        text = _MD_LINK.sub(lambda m: m.group(1), text)
    return text


def escape_markdown(text: str) -> str:
    """Backslash every character Discord/CommonMark markdown could interpret.

    Escaping more than strictly needed is harmless: a backslash before ASCII punctuation
    renders as the punctuation itself in both Discord and CommonMark.
    """
    escaped = _MD_SPECIAL.sub(r"\\\1", text)
    escaped = _MD_BLOCK.sub(r"\\\1", escaped)
    return _MD_ORDERED.sub(r"\1\\.", escaped)


def neutralise_mentions(text: str) -> str:
    """Break @everyone/@here and <@…>/<#…>-style tokens with a zero-width space."""
    text = _EVERYONE.sub("@" + ZWSP, text)
    return _ANGLE.sub("<" + ZWSP, text)


def truncate(text: str, limit: int) -> str:
    """Shorten to at most `limit` UTF-16 units, cutting at a word boundary, ending in '…'."""
    if limit <= 0:
        return ""
    if dlen(text) <= limit:
        return text
    budget = limit - dlen(ELLIPSIS)
    cut = text[:budget]
    while dlen(cut) > budget:  # astral characters take two units
        cut = cut[:-1]
    space = cut.rfind(" ")
    # Prefer a word boundary, unless that throws away most of the text (one huge "word").
    if space >= len(cut) // 2:
        cut = cut[:space]
    cut = cut.rstrip(" ,;:-–—")
    # A trailing lone backslash would escape the ellipsis; drop it so the text reads cleanly.
    if cut.endswith("\\") and not cut.endswith("\\\\"):
        cut = cut[:-1]
    return cut + ELLIPSIS


def safe_inline(text: object, limit: int) -> str:
    """Feed text ready for Discord markdown: one line, no links, escaped, no pings, ≤ limit."""
    clean = strip_markdown_links(one_line(text))
    return truncate(neutralise_mentions(escape_markdown(clean)), limit)


def plain(text: object, limit: int | None = None) -> str:
    """Feed text for plain-text output: one line, no control characters, no pings."""
    clean = neutralise_mentions(strip_markdown_links(one_line(text)))
    return clean if limit is None else truncate(clean, limit)


def safe_url(url: object, *, max_len: int = 512) -> str | None:
    """An http(s) URL made safe to put inside `(...)`, or None when unusable.

    Parentheses, spaces, angle brackets, quotes and "@" are percent-encoded so the URL can
    neither end a masked link early nor look like a mention; other schemes (javascript:,
    data:), user-info tricks and very long URLs are refused.
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if "@" in parts.netloc:
        return None  # "https://scmp.com@evil.example" shows one host and opens another
    encoded = quote(url, safe="/:?&=#%;,+!$'*~._-[]")
    encoded = encoded.replace("'", "%27").replace("*", "%2A").replace("~", "%7E")
    if len(encoded) > max_len:
        return None
    return encoded


def link_text(label: object, url: str, limit: int = 64) -> str:
    """Plain text naming a link: the outlet's name, or the target's own host.

    A label that looks like a URL, domain or address could point somewhere other than the
    link, so it is replaced by the host of the real target.
    """
    text = strip_markdown_links(one_line(label))
    if not text or _URLISH.search(text):
        host = urlsplit(url).hostname or "link"
        return truncate(host.removeprefix("www."), limit)
    return truncate(neutralise_mentions(text), limit)


def link_label(label: object, url: str, limit: int = 64) -> str:
    """`link_text` escaped for use inside `[...]` of a masked link."""
    return truncate(escape_markdown(link_text(label, url, limit)), limit)


def masked_link(label: object, url: object) -> str | None:
    """`[label](url)` with a safe label and URL, or None when the URL is unusable."""
    target = safe_url(url)
    if target is None:
        return None
    return f"[{link_label(label, target)}]({target})"
