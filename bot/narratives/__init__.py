"""Embeddings, topic tags, online story clustering and semantic search."""
