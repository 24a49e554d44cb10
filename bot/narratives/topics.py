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

import hashlib
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


def head_for(head: Mapping[str, Any], model_id: str) -> Mapping[str, Any]:
    """The fitted head for `model_id`: the file's own, or one of its `others` (the int8 fast
    path has its own, its vectors being on another scale)."""
    for other in head.get("others", ()):
        if other.get("model") == model_id:
            return other
    return head


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
    def __init__(self, rules: Sequence[TopicRule], fingerprint: str | None = None) -> None:
        self.rules = list(rules)
        # `definitions_hash` of what built the rules; None for hand-made rules.
        self.fingerprint = fingerprint

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
        head = head_for(load_head() if head is None else head, model_id)
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
        return cls(rules, definitions_hash(topics, model_id, head))

    @property
    def topic_ids(self) -> list[str]:
        return [r.topic_id for r in self.rules]

    def scores(self, vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Each article's probability for each topic: shape (articles, topics), topics in
        configuration order. An article without any words scores 0 everywhere."""
        out = np.zeros((len(texts), len(self.rules)), np.float64)
        if not len(texts):
            return out
        for j, rule in enumerate(self.rules):
            out[:, j] = rule.probability(vectors, texts)
        empty = [i for i, text in enumerate(texts) if not text.strip()]
        out[empty] = 0.0
        return out

    def tag_scored(
        self, vectors: np.ndarray, texts: Sequence[str]
    ) -> tuple[list[list[str]], list[dict[str, float]]]:
        """Topic ids per article, best-first (highest probability first, ties in configuration
        order), and every topic's probability per article (rounded to 4 places)."""
        probs = self.scores(vectors, texts)
        tags: list[list[str]] = []
        scored: list[dict[str, float]] = []
        for row in probs:
            chosen = [
                (-float(p), j)
                for j, (rule, p) in enumerate(zip(self.rules, row, strict=True))
                if p >= rule.threshold and p > 0
            ]
            tags.append([self.rules[j].topic_id for _, j in sorted(chosen)])
            scored.append(
                {r.topic_id: round(float(p), 4) for r, p in zip(self.rules, row, strict=True)}
            )
        return tags, scored

    def tag(self, vectors: np.ndarray, texts: Sequence[str]) -> list[list[str]]:
        """Topic ids per article, best-first."""
        return self.tag_scored(vectors, texts)[0]


def definitions_hash(topics: Mapping[str, Any], model_id: str, head: Mapping[str, Any]) -> str:
    """A fingerprint of everything that decides an article's tags: the topic definitions in
    order, the embedding model and the fitted weights. Stored per article (`topics_hash`), so
    `analyze --retag` redoes exactly the articles tagged under other definitions."""
    spec = {
        "topics": [
            [tid, t.description, list(t.keywords), list(t.examples), t.threshold]
            for tid, t in topics.items()
        ],
        "model": model_id,
        "head": head,
    }
    text = json.dumps(spec, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
