"""No secret in any log line: a filter on the root logger's handlers.

Libraries log what they send: httpx's INFO line names every URL, a webhook's secret token
included (`POST …/webhooks/123/TOKEN?wait=true`). The filter installed here sits on the root
logger's handlers, so it sees every record that reaches the log, from our modules and from
third-party ones alike, and rewrites it before it is formatted: webhook tokens and OpenRouter
keys by their shape, and each configured secret by its value, become `[redacted]`.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable

REDACTED = "[redacted]"
# Secrets shorter than this would match ordinary text; they are not worth guessing anyway.
MIN_SECRET_LENGTH = 8
# A webhook URL's last path segment is its token (Discord's: 68 URL-safe characters).
WEBHOOK_TOKEN = re.compile(r"(/webhooks/[^/\s]+/)[^/?#\s'\"<>]+")
OPENROUTER_KEY = re.compile(r"sk-or-v1-[A-Za-z0-9]+")


class Redactor:
    """Replaces secrets in text: webhook tokens and OpenRouter keys by their shape, then each
    configured secret (and a webhook URL's token on its own) by its value."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        for value in list(values):
            if "/webhooks/" in value:
                token = value.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
                if len(token) >= MIN_SECRET_LENGTH:
                    values.add(token)
        self.values = sorted(values, key=len, reverse=True)  # a URL before the token in it

    def __call__(self, text: str) -> str:
        # Shapes first, so a webhook URL keeps its host and id: …/webhooks/123/[redacted].
        text = WEBHOOK_TOKEN.sub(lambda m: m.group(1) + REDACTED, text)
        text = OPENROUTER_KEY.sub(REDACTED, text)
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """A handler filter: the record's message, traceback and stack are redacted in place."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("tokentide-redact")
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it as it always does
            return True
        clean = self.redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_redaction(secrets: Iterable[str | None] = ()) -> Redactor:
    """Put the redacting filter on every handler of the root logger (replacing one installed
    before), so every record that reaches the log is cleaned. Returns the redactor, for text
    printed directly (the CLI's error line)."""
    redact = Redactor(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingFilter(redact))
    return redact
