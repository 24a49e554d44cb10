"""One package, so room folders import as tests.<room>: a top-level `site` would be the stdlib."""
