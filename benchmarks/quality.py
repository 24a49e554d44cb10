"""Quality of topic tags and story clusters on labelled news (the eval schema of ../shared/eval).

Usage:
    python benchmarks/quality.py [--data FILE.jsonl] [--uci FILE.jsonl] [--smoke] [--fit]

Defaults: the dev set is read from ../shared/eval/domain_news_dev.jsonl next to the repository
(i.e. <repo>/../shared/eval/); when it is absent the script says so and exits 0. Prints one
table: BCubed P/R/F1 of stories, per-topic P/R/F1, the thresholds used, and cross-validated
numbers (5 folds by story: the held-out stories never influence the weights or thresholds
they are scored with). `--fit` refits the shipped topic weights (bot/narratives/topic_head.json)
and prints the story parameters chosen on the full file. Needs scikit-learn for CV and --fit.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from outlets_coverage import outlet_quality_rows  # noqa: E402

from bot.config import default_topics  # noqa: E402
from bot.narratives.cluster import (  # noqa: E402
    CANDIDATE_FLOOR,
    DAY,
    LINK_FEATURES,
    ActiveStory,
    ClusterParams,
    HybridRule,
    LinkModel,
    StoryIndex,
    link_features,
)
from bot.narratives.embed import Embedder  # noqa: E402
from bot.narratives.story_params import (  # noqa: E402
    CENTROID_PARAMS,
    LINK_FILE,
    default_params,
)
from bot.narratives.text import article_text, names, normalise_title  # noqa: E402
from bot.narratives.topics import HEAD_FILE, KEYWORD_CAP, TopicTagger, load_head  # noqa: E402

EVAL = REPO.parent / "shared" / "eval"
FOLDS = 5


def bcubed(pred: list, gold: list) -> tuple[float, float, float]:
    n = len(pred)
    pc, gc, both = Counter(pred), Counter(gold), Counter(zip(pred, gold, strict=True))
    p = sum(both[(a, b)] / pc[a] for a, b in zip(pred, gold, strict=True)) / n
    r = sum(both[(a, b)] / gc[b] for a, b in zip(pred, gold, strict=True)) / n
    return p, r, 2 * p * r / (p + r)


def prf(pred: np.ndarray, gold: np.ndarray) -> tuple[float, float, float]:
    tp = int(np.sum(pred & gold))
    p = tp / max(int(pred.sum()), 1)
    r = tp / max(int(gold.sum()), 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def load_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def row_time(row: dict) -> float:
    dt = datetime.fromisoformat(row["published"].replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


class Corpus:
    """Rows with everything the clusterer needs precomputed (vectors embedded once).

    `vectors`: precomputed ones for the same rows (e.g. a cache), instead of the embedder's."""

    def __init__(self, rows: list[dict], embedder, vectors: np.ndarray | None = None) -> None:
        self.rows = rows
        self.texts = [article_text(r.get("title"), r.get("summary") or r.get("text")) for r in rows]
        self.vectors = embedder.encode(self.texts) if vectors is None else vectors
        self.times = [row_time(r) for r in rows]
        self.names = [names(t) for t in self.texts]
        self.keys = [normalise_title(r.get("title")) for r in rows]
        self.words = [len(t.split()) for t in self.texts]
        self.gold = [r["story"] for r in rows]

    def cluster(self, order: list[int], params: ClusterParams) -> list[int]:
        """Story labels in `order`, as the stream ends (a story merged away takes its
        survivor's label)."""
        index = StoryIndex(params, self.vectors.shape[1])
        stories, next_id = [], 0
        for i in order:
            index.expire(self.times[i])
            a = index.assign(
                i,
                self.vectors[i],
                self.times[i],
                self.names[i],
                self.rows[i].get("publisher"),
                self.rows[i].get("title") or "",
                self.keys[i],
                self.words[i],
            )
            if a.is_new:
                index.stories[a.slot].story_id = next_id
                next_id += 1
            stories.append(index.stories[a.slot])
        return [s.survivor().story_id for s in stories]

    def score(self, order: list[int], params: ClusterParams) -> tuple[float, float, float]:
        return bcubed(self.cluster(order, params), [self.gold[i] for i in order])


def param_grid(smoke: bool) -> list[ClusterParams]:
    """Centroid-method settings searched by CV (the baseline the link model must beat)."""
    d = CENTROID_PARAMS
    if smoke:
        shapes = [(d.window_days, d.name_weight, d.decay)]
        ths = np.arange(d.threshold - 0.1, d.threshold + 0.101, 0.025)
    else:
        shapes = [(w, nw, dc) for w in (14, 30) for nw in (0, 0.05, 0.1) for dc in (0, 0.05, 0.1)]
        ths = np.arange(0.55, 0.8, 0.0125)
    return [ClusterParams(float(t), w, nw, dc) for w, nw, dc in shapes for t in ths]


LINK_THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


# Hybrid method: link probability cut-offs searched by CV, and the two fixed guards. The
# guards are not chosen on the dev set (it is too sparse in time to show theme merges): 0.5 is
# the lowest best-member cosine at which the link model adds no cross-event joins on the
# captured live feeds (0.45 joined an Azure OpenAI product article to a ruling on lawyers'
# ChatGPT-invented cases), and one shared name (besides beat-wide words such as "AI") is the
# least evidence of one event.
HYBRID_PROBS = (0.5, 0.6, 0.7, 0.8, 0.9)
HYBRID_MEMBER_COS = 0.5
HYBRID_SHARED_NAMES = 1
HYBRID_COSINES = (0.625, 0.65, 0.675, 0.7, 0.725)  # centroid cut searched jointly inside CV


def story_folds(gold: list[str], seed: int = 0) -> dict[str, int]:
    stories = sorted(set(gold))
    random.Random(seed).shuffle(stories)
    return {s: i % FOLDS for i, s in enumerate(stories)}


def tune(corpus: Corpus, order: list[int], grid: list[ClusterParams]) -> ClusterParams:
    return max(grid, key=lambda p: (round(corpus.score(order, p)[2], 4), -abs(p.threshold - 0.65)))


def link_pairs(
    corpus: Corpus, order: list[int], window_days: float
) -> tuple[np.ndarray, np.ndarray]:
    """(article, active story) pairs with the true stories built as the stream goes."""
    stories: dict[str, ActiveStory] = {}
    x, y = [], []
    window = window_days * DAY
    for i in order:
        v, t = corpus.vectors[i], corpus.times[i]
        for gold, st in stories.items():
            gap = max(0.0, t - st.last_seen, st.first_seen - t)
            norm = float(np.linalg.norm(st.vector_sum)) or 1.0
            cos = float(st.vector_sum @ v) / norm
            if gap > window or cos < CANDIDATE_FLOOR:
                continue
            x.append(link_features(st, v, cos, gap / window, corpus.names[i]))
            y.append(gold == corpus.gold[i])
        st = stories.setdefault(corpus.gold[i], ActiveStory(None, np.zeros_like(v), t, t))
        st.vector_sum = st.vector_sum + v
        st.first_seen, st.last_seen = min(st.first_seen, t), max(st.last_seen, t)
        st.names.update(corpus.names[i])
        st.article_count += 1
        st.members.append((i, v, t, None))
    return np.array(x), np.array(y)


def fit_link(corpus: Corpus, order: list[int]) -> LinkModel:
    from sklearn.linear_model import LogisticRegression

    x, y = link_pairs(corpus, order, CENTROID_PARAMS.window_days)
    m = LogisticRegression(C=1.0, max_iter=5000).fit(x, y)
    return LinkModel(tuple(float(w) for w in m.coef_[0]), float(m.intercept_[0]))


def linked(link: LinkModel, threshold: float) -> ClusterParams:
    return ClusterParams(
        threshold, CENTROID_PARAMS.window_days, 0.0, 0.0, CENTROID_PARAMS.duplicate_threshold, link
    )


def cv_link(corpus: Corpus, threshold: float | None) -> tuple[float, float, float]:
    """Link model fitted on four folds; threshold fixed, or (None) chosen on those four folds."""
    fold = story_folds(corpus.gold)
    pred, gold = [], []
    for f in range(FOLDS):
        train = [i for i, g in enumerate(corpus.gold) if fold[g] != f]
        test = [i for i, g in enumerate(corpus.gold) if fold[g] == f]
        link = fit_link(corpus, train)
        th = threshold
        if th is None:
            th = max(
                LINK_THRESHOLDS,
                key=lambda t: (round(corpus.score(train, linked(link, t))[2], 3), -abs(t - 0.45)),
            )
        pred += [f"{f}:{x}" for x in corpus.cluster(test, linked(link, th))]
        gold += [corpus.gold[i] for i in test]
    return bcubed(pred, gold)


def hybrid(link: LinkModel, probability: float, cosine: float) -> ClusterParams:
    rule = HybridRule(probability, HYBRID_MEMBER_COS, HYBRID_SHARED_NAMES)
    return replace(CENTROID_PARAMS, threshold=cosine, link=link, hybrid=rule)


def tune_hybrid(
    corpus: Corpus, order: list[int], link: LinkModel, cosines: tuple[float, ...]
) -> tuple[float, float]:
    """(probability, cosine) with the best BCubed F1 on `order`."""
    grid = [(p, c) for p in HYBRID_PROBS for c in cosines]
    return max(
        grid,
        key=lambda g: (
            round(corpus.score(order, hybrid(link, *g))[2], 4),
            -abs(g[1] - CENTROID_PARAMS.threshold),
            -abs(g[0] - 0.7),
        ),
    )


def cv_hybrid(
    corpus: Corpus, seed: int = 0, cosines: tuple[float, ...] = HYBRID_COSINES
) -> tuple[float, float, float]:
    """Link model, probability and centroid cut all chosen on four folds, scored on the fifth."""
    fold = story_folds(corpus.gold, seed)
    pred, gold = [], []
    for f in range(FOLDS):
        train = [i for i, g in enumerate(corpus.gold) if fold[g] != f]
        test = [i for i, g in enumerate(corpus.gold) if fold[g] == f]
        link = fit_link(corpus, train)
        pred += [
            f"{f}:{x}"
            for x in corpus.cluster(test, hybrid(link, *tune_hybrid(corpus, train, link, cosines)))
        ]
        gold += [corpus.gold[i] for i in test]
    return bcubed(pred, gold)


def cv_stories(
    corpus: Corpus, grid: list[ClusterParams], seed: int = 0
) -> tuple[float, float, float]:
    fold = story_folds(corpus.gold, seed)
    pred, gold = [], []
    for f in range(FOLDS):
        train = [i for i, g in enumerate(corpus.gold) if fold[g] != f]
        test = [i for i, g in enumerate(corpus.gold) if fold[g] == f]
        best = tune(corpus, train, grid)
        pred += [f"{f}:{x}" for x in corpus.cluster(test, best)]
        gold += [corpus.gold[i] for i in test]
    return bcubed(pred, gold)


# ---- topics ---------------------------------------------------------------------------------


def topic_features(tagger: TopicTagger, corpus: Corpus) -> dict[str, np.ndarray]:
    out = {}
    for rule in tagger.rules:
        proto, hits = rule.features(corpus.vectors, corpus.texts)
        out[rule.topic_id] = np.column_stack([proto, hits])
    return out


def fit_head(corpus: Corpus, feats: dict[str, np.ndarray], idx: np.ndarray, model: str) -> dict:
    """Logistic models per topic (vector + definition features) and pooled (definition only)."""
    from sklearn.linear_model import LogisticRegression

    head: dict = {"model": model, "topics": {}}
    pooled_x, pooled_y = [], []
    for tid, f in feats.items():
        y = np.array([tid in corpus.rows[i]["topics"] for i in idx])
        x = np.hstack([corpus.vectors[idx], f[idx]])
        m = LogisticRegression(C=3.0, max_iter=5000, class_weight="balanced").fit(x, y)
        coef = m.coef_[0]
        head["topics"][tid] = {
            "weights": [round(float(w), 6) for w in coef[:-2]],
            "proto": float(coef[-2]),
            "keywords": float(coef[-1]),
            "bias": float(m.intercept_[0]),
            "threshold": 0.5,
        }
        pooled_x.append(f[idx])
        pooled_y.append(y)
    m = LogisticRegression(C=10.0, max_iter=5000, class_weight="balanced")
    m.fit(np.vstack(pooled_x), np.concatenate(pooled_y))
    head["pooled"] = {
        "proto": float(m.coef_[0][0]),
        "keywords": float(m.coef_[0][1]),
        "bias": float(m.intercept_[0]),
        "threshold": 0.5,
    }
    return head


def topic_scores(tagger: TopicTagger, corpus: Corpus, idx: np.ndarray) -> dict[str, tuple]:
    tags = tagger.tag(corpus.vectors[idx], [corpus.texts[i] for i in idx])
    out = {}
    for rule in tagger.rules:
        tid = rule.topic_id
        pred = np.array([tid in t for t in tags])
        gold = np.array([tid in corpus.rows[i]["topics"] for i in idx])
        out[tid] = prf(pred, gold)
    return out


def cv_topics(corpus: Corpus, embedder: Embedder, pooled_only: bool = False) -> dict[str, tuple]:
    topics = default_topics()
    base = TopicTagger.build(topics, embedder.encode, embedder.model_id, head={})
    feats = topic_features(base, corpus)
    fold = story_folds(corpus.gold)
    preds = {tid: np.zeros(len(corpus.rows), bool) for tid in topics}
    for f in range(FOLDS):
        train = np.array([i for i, g in enumerate(corpus.gold) if fold[g] != f])
        test = np.array([i for i, g in enumerate(corpus.gold) if fold[g] == f])
        head = fit_head(corpus, feats, train, embedder.model_id)
        if pooled_only:
            head["topics"] = {}
        tagger = TopicTagger.build(topics, embedder.encode, embedder.model_id, head=head)
        tags = tagger.tag(corpus.vectors[test], [corpus.texts[i] for i in test])
        for tid in topics:
            preds[tid][test] = [tid in t for t in tags]
    return {
        tid: prf(preds[tid], np.array([tid in r["topics"] for r in corpus.rows])) for tid in topics
    }


FEED_CAPTURES = REPO.parent / "shared" / "fixtures" / "feeds"
FEED_FILES = (
    ("techcrunch_ai_feed.xml", "TechCrunch"),
    ("theverge_ai_index.xml", "The Verge"),
    ("theregister_headlines.atom", "The Register"),
    ("techmeme_feed.xml", "Techmeme"),
)


def feed_rows() -> list[dict]:
    """The captured live feeds (dense, unlabelled) as eval rows, each its own 'story'."""
    import feedparser

    rows = []
    for name, outlet in FEED_FILES:
        path = FEED_CAPTURES / name
        if not path.exists():
            continue
        for k, e in enumerate(feedparser.parse(BytesIO(path.read_bytes())).entries):
            stamp = e.get("published_parsed") or e.get("updated_parsed")
            rows.append(
                {
                    "title": e.get("title", ""),
                    "summary": e.get("summary", ""),
                    "published": datetime(*stamp[:6], tzinfo=UTC).isoformat(),
                    "publisher": outlet,
                    "story": f"{outlet}:{k}",
                }
            )
    return sorted(rows, key=row_time)


def multi_stories(corpus: Corpus, params: ClusterParams) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(corpus.cluster(list(range(len(corpus.rows))), params)):
        groups.setdefault(label, []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def fmt(x: tuple) -> str:
    return " ".join(f"{v:.3f}" for v in x)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=EVAL / "domain_news_dev.jsonl")
    ap.add_argument("--uci", type=Path, default=EVAL / "uci_news_head.jsonl")
    ap.add_argument("--smoke", action="store_true", help="small grid and a UCI slice")
    ap.add_argument("--fit", action="store_true", help="refit bot/narratives/topic_head.json")
    ap.add_argument("--seeds", type=int, default=1, help="repeat story CV over N fold splits")
    args = ap.parse_args(argv)
    if not args.data.exists():
        print(
            f"quality: {args.data} not found (the labelled eval set lives in ../shared/eval/ "
            "beside the repository); nothing to measure."
        )
        return 0
    started = time.monotonic()
    embedder = Embedder()
    rows = load_rows(args.data)
    rows.sort(key=row_time)  # the stream order a live archive would see
    corpus = Corpus(rows, embedder)
    all_idx = np.arange(len(rows))
    topics = default_topics()

    if args.fit:
        base = TopicTagger.build(topics, embedder.encode, embedder.model_id, head={})
        head = fit_head(corpus, topic_features(base, corpus), all_idx, embedder.model_id)
        out = REPO / "bot" / "narratives" / HEAD_FILE
        out.write_text(json.dumps(head, separators=(",", ":")) + "\n", "utf-8")
        best = tune(corpus, list(all_idx), param_grid(False))
        print(f"wrote {out.relative_to(REPO)}; best centroid params on the full file: {best}")
        # The threshold is chosen on the whole file: a held-out fold holds a fifth of the
        # stories, so it is sparser than a live stream and rewards linking too eagerly. The
        # "CV link model" row below repeats this choice inside each training split.
        link = fit_link(corpus, list(all_idx))
        full = {t: corpus.score(list(all_idx), linked(link, t))[2] for t in LINK_THRESHOLDS}
        threshold = max(LINK_THRESHOLDS, key=lambda t: (round(full[t], 3), -abs(t - 0.45)))
        cv = {t: cv_link(corpus, t)[2] for t in LINK_THRESHOLDS}
        order = list(all_idx)
        by_prob = {
            q: corpus.score(order, hybrid(link, q, CENTROID_PARAMS.threshold))[2]
            for q in HYBRID_PROBS
        }
        prob = max(HYBRID_PROBS, key=lambda q: (round(by_prob[q], 4), -abs(q - 0.7)))
        doc = {
            "model": embedder.model_id,
            "features": list(LINK_FEATURES),
            "weights": list(link.weights),
            "bias": link.bias,
            "threshold": threshold,
            "f1_by_threshold": {str(t): round(v, 4) for t, v in full.items()},
            "heldout_fold_f1_by_threshold": {str(t): round(v, 4) for t, v in cv.items()},
            "hybrid": {
                "probability": prob,
                "min_member_cos": HYBRID_MEMBER_COS,
                "min_shared_names": HYBRID_SHARED_NAMES,
                "f1_by_probability": {str(q): round(v, 4) for q, v in by_prob.items()},
            },
        }
        out = REPO / "bot" / "narratives" / LINK_FILE
        out.write_text(json.dumps(doc, indent=1) + "\n", "utf-8")
        print(f"wrote {out.relative_to(REPO)} (threshold {threshold})")

    head = load_head()
    tagger = TopicTagger.build(topics, embedder.encode, embedder.model_id, head=head)
    grid = param_grid(args.smoke)
    order = list(all_idx)
    lines = [f"data: {args.data.name} ({len(rows)} articles, {len(set(corpus.gold))} stories)"]
    lines.append(f"{'measure':38} {'P':>5} {'R':>5} {'F1':>5}")
    shipped = default_params(embedder.model_id)
    centroid = default_params(embedder.model_id, "centroid")
    learned = default_params(embedder.model_id, "learned")
    method = "hybrid" if shipped.hybrid is not None else "centroid"
    seeds = range(max(1, args.seeds))
    # --smoke keeps the centroid cut of the hybrid fixed, as its centroid grid is narrowed.
    cosines = (CENTROID_PARAMS.threshold,) if args.smoke else HYBRID_COSINES
    cv_rows = [
        (f"stories BCubed (shipped: {method})", lambda s: corpus.score(order, shipped), False),
        ("stories BCubed CV hybrid", lambda s: cv_hybrid(corpus, s, cosines), True),
        ("stories centroid method", lambda s: corpus.score(order, centroid), False),
        ("stories BCubed CV centroid", lambda s: cv_stories(corpus, grid, s), True),
        ("stories opt-in link model", lambda s: corpus.score(order, learned), False),
    ]
    for label, score, repeat in cv_rows:
        lines.append(f"{label:38} {fmt(score(0))}")
        if repeat and len(seeds) > 1:
            runs = np.array([score(s) for s in seeds])
            lines.append(
                f"{'  mean of ' + str(len(seeds)) + ' fold splits':38} {fmt(runs.mean(0))}"
                f"  (F1 min {runs[:, 2].min():.3f}, max {runs[:, 2].max():.3f})"
            )
    lines.append(f"{'stories opt-in link model CV':38} {fmt(cv_link(corpus, None))}")
    live = feed_rows()
    if live:
        lc = Corpus(live, embedder)
        for label, params in (("shipped", shipped), ("centroid", centroid), ("learned", learned)):
            groups = multi_stories(lc, params)
            lines.append(
                f"live feeds ({len(live)} articles), {label}: {sum(map(len, groups))} articles "
                f"in {len(groups)} multi-article stories"
            )
            if label == "shipped":
                for g in groups:
                    lines.append("    " + " | ".join(lc.rows[i]["title"][:50] for i in g))
    else:
        lines.append(f"live feeds: {FEED_CAPTURES} not found, skipped")
    in_sample = topic_scores(tagger, corpus, all_idx)
    cv = cv_topics(corpus, embedder)
    cv_pooled = cv_topics(corpus, embedder, pooled_only=True)
    for tid in topics:
        lines.append(f"{'topic ' + tid + ' (shipped weights)':38} {fmt(in_sample[tid])}")
        lines.append(f"{'topic ' + tid + ' CV 5-fold':38} {fmt(cv[tid])}")
        lines.append(f"{'topic ' + tid + ' CV definition only':38} {fmt(cv_pooled[tid])}")
    if args.uci.exists():
        uci = load_rows(args.uci)
        if args.smoke:
            uci = uci[:800]
        uci.sort(key=row_time)
        uc = Corpus(uci, embedder)
        time_order = list(range(len(uci)))
        shuffled = time_order[:]
        random.Random(1).shuffle(shuffled)
        label = f"uci_news_head ({len(uci)})"
        lines.append(f"{label + ' time order':38} {fmt(uc.score(time_order, shipped))}")
        lines.append(f"{label + ' shuffled':38} {fmt(uc.score(shuffled, shipped))}")
        lines.append(f"{label + ' link model, time':38} {fmt(uc.score(time_order, learned))}")
    else:
        lines.append(f"uci: {args.uci} not found, skipped")
    p = CENTROID_PARAMS
    link = (
        "none"
        if learned.link is None
        else ", ".join(
            f"{n} {w:+.2f}" for n, w in zip(LINK_FEATURES, learned.link.weights, strict=True)
        )
    )
    lines.append(
        f"opt-in link model: probability >= {learned.threshold:g}; weights {link}; window "
        f"{learned.window_days:g} d"
    )
    if shipped.hybrid is not None:
        h = shipped.hybrid
        lines.append(
            f"hybrid: centroid rule, or link probability >= {h.probability:g} with best member "
            f"cosine >= {h.min_member_cos:g} and >= {h.min_shared_names} shared name(s)"
        )
    lines.append(
        f"centroid method: cosine >= {p.threshold:.4f}, window {p.window_days:g} d, name weight "
        f"{p.name_weight:g}, decay {p.decay:g}; duplicate cosine {p.duplicate_threshold:g}"
    )
    lines.append(
        "topic thresholds (probability): "
        + ", ".join(f"{r.topic_id} {r.threshold:g}" for r in tagger.rules)
        + f"; keyword cap {KEYWORD_CAP}; CV grid {len(grid)} story settings"
    )
    lines += outlet_quality_rows(rows)  # outlet coverage and lead-time sanity
    lines.append(f"elapsed {time.monotonic() - started:.1f}s")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
