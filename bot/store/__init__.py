"""The SQLite archive: schema migrations and queries returning plain data."""
