"""Topic tags: which of the configured topics an article is about.

Every topic, built-in or the operator's own, is defined in feeds.yaml by a description,
keywords and example headlines. Two features come from that definition:

- prototype similarity: the best cosine between the article and the embedded description and
  examples;
- keyword hits: how many keywords occur as whole words (capped at 3).

For the built-in topics a small logistic model, fitted on the labelled development set by
`benchmarks/quality.py --fit` and shipped as data (`topic_head.json`), adds the article vector
itself as a feature. Topics without fitted weights use pooled coefficients fitted on the same
data over the two definition features, so a user's topic works from its definition alone.
`topics.<id>.threshold` (a probability) overrides the tuned cut-off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

HEAD_FILE = "topic_head.json"
KEYWORD_CAP = 3
DEFAULT_THRESHOLD = 0.5


def load_head() -> dict[str, Any]:
    """The fitted weights shipped with the package ({} when absent)."""
    try:
        text = resources.files("bot.narratives").joinpath(HEAD_FILE).read_text("utf-8")
    except FileNotFoundError:
        return {}
    return json.loads(text)


def keyword_pattern(keywords: Sequence[str]) -> re.Pattern[str] | None:
    """One regex per topic. Short all-caps keywords (BIS, HBM) match case-sensitively so
    'bis' or 'hbm' in ordinary words do not count; the rest ignore case. Hits are counted once
    per distinct keyword form."""
    parts = []
    for kw in keywords:
        kw = kw.strip()
        if not kw:
            continue
        body = r"\s+".join(re.escape(w) for w in kw.split())
        # Plural and version suffixes still count ("chips", "Qwen3"); other letters do not.
        body = rf"(?<![\w-]){body}(?:e?s)?(?![A-Za-z])"
        if not (kw.isupper() and len(kw) <= 5):
            body = f"(?i:{body})"
        parts.append(body)
    return re.compile("|".join(parts)) if parts else None


def keyword_hits(pattern: re.Pattern[str] | None, text: str) -> int:
    if pattern is None:
        return 0
    return len({m.group(0).lower() for m in pattern.finditer(text)})


@dataclass(frozen=True)
class TopicRule:
    """Everything needed to score one topic, as plain arrays and numbers."""

    topic_id: str
    prototypes: np.ndarray  # (k, dim) embedded description + examples
    pattern: re.Pattern[str] | None
    weights: np.ndarray | None  # (dim,) fitted on the article vector, or None
    proto_weight: float
    keyword_weight: float
    bias: float
    threshold: float

    def features(self, vectors: np.ndarray, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if len(self.prototypes):
            proto = (vectors @ self.prototypes.T).max(axis=1)
        else:
            proto = np.zeros(len(vectors), np.float32)
        hits = np.array([min(keyword_hits(self.pattern, t), KEYWORD_CAP) for t in texts], float)
        return proto, hits

    def probability(self, vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        proto, hits = self.features(vectors, texts)
        z = self.bias + self.proto_weight * proto + self.keyword_weight * hits
        if self.weights is not None:
            z = z + vectors @ self.weights
        return 1.0 / (1.0 + np.exp(-z))


class TopicTagger:
    def __init__(self, rules: Sequence[TopicRule]) -> None:
        self.rules = list(rules)

    @classmethod
    def build(
        cls,
        topics: Mapping[str, Any],
        encode: Any,
        model_id: str,
        head: Mapping[str, Any] | None = None,
    ) -> TopicTagger:
        """Rules for the configured topics. `encode(texts) -> vectors` embeds the definitions.

        Fitted weights are used only when they were fitted for the same embedding model.
        """
        head = load_head() if head is None else head
        fitted = head.get("topics", {}) if head.get("model") == model_id else {}
        pooled = head.get(
            "pooled", {"proto": 12.0, "keywords": 1.0, "bias": -6.0, "threshold": 0.5}
        )
        definitions = {
            tid: [t for t in [spec.description, *spec.examples] if t.strip()]
            for tid, spec in topics.items()
        }
        flat = [t for texts in definitions.values() for t in texts]
        embedded = np.asarray(encode(flat), np.float32) if flat else np.zeros((0, 1), np.float32)
        rules, start = [], 0
        for tid, spec in topics.items():
            prototypes = embedded[start : start + len(definitions[tid])]
            start += len(definitions[tid])
            own = fitted.get(tid)
            coef = own or pooled
            threshold = spec.threshold if spec.threshold is not None else coef["threshold"]
            rules.append(
                TopicRule(
                    topic_id=tid,
                    prototypes=prototypes,
                    pattern=keyword_pattern(spec.keywords),
                    weights=np.asarray(own["weights"], np.float32) if own else None,
                    proto_weight=float(coef["proto"]),
                    keyword_weight=float(coef["keywords"]),
                    bias=float(coef["bias"]),
                    threshold=float(threshold),
                )
            )
        return cls(rules)

    def tag(self, vectors: np.ndarray, texts: Sequence[str]) -> list[list[str]]:
        """Topic ids per article, in configuration order."""
        tags: list[list[str]] = [[] for _ in texts]
        if not len(texts):
            return tags
        for rule in self.rules:
            for i in np.nonzero(rule.probability(vectors, texts) >= rule.threshold)[0]:
                tags[int(i)].append(rule.topic_id)
        # An article without any words scores nothing meaningful; never tag it.
        return [t if text.strip() else [] for t, text in zip(tags, texts, strict=True)]
