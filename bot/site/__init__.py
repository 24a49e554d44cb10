"""Datasette: metadata, canned queries, plugins for browsing the archive."""
