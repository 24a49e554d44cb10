"""Digest composer (pure) and renderers: Discord embeds, Markdown, text, charts."""
