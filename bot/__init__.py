"""Tokentide: news on AI chips and export controls, and the token share of Chinese vs US models."""

__version__ = "0.1.0"
