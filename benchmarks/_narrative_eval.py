"""Scoring narratives (`bot.narratives.threads`) on the labelled threads of the dev set, for
`quality.py`: the dev stream is clustered into stories as `analyze` would (time order, batches
of 64), the stories each batch touched are linked as `analyze` links them, and every labelled
story gets the narrative most of its articles' stories ended in.

Pair precision and recall follow narratives_dev.json: two stories of one labelled group must
share a narrative; a group story and a story of another group or of `negatives_only` must not;
ambiguous stories are left out.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from bot.narratives.cluster import ClusterParams, StoryIndex
from bot.narratives.threads import ThreadIndex, ThreadRule

BATCH = 64
THRESHOLDS = (0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8)


def load_labels(path: Path) -> dict[str, str]:
    """story slug -> group name, or 'NEG:<slug>' for a story that belongs to none."""
    doc = json.loads(path.read_text("utf-8"))
    labels = {s: g for g, slugs in doc["groups"].items() for s in slugs}
    labels.update({s: f"NEG:{s}" for s in doc["negatives_only"]})
    return labels


def pair_scores(
    narrative_of: dict[str, int | None], labels: dict[str, str], groups: set[str] | None = None
) -> tuple[int, int, int]:
    """(true links, false links, missed links) over the labelled pairs; with `groups`, only the
    pairs that involve a story of those groups."""
    tp = fp = fn = 0
    slugs = sorted(labels)
    for i, a in enumerate(slugs):
        for b in slugs[i + 1 :]:
            ga, gb = labels[a], labels[b]
            if ga.startswith("NEG") and gb.startswith("NEG"):
                continue
            if groups is not None and ga not in groups and gb not in groups:
                continue
            na, nb = narrative_of.get(a), narrative_of.get(b)
            linked = na is not None and na == nb
            if ga == gb:
                tp += linked
                fn += not linked
            else:
                fp += linked
    return tp, fp, fn


def pr(tp: int, fp: int, fn: int) -> tuple[float, float]:
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def narratives_of_stories(corpus, params: ClusterParams, rule: ThreadRule) -> dict[str, int | None]:
    """Gold story slug -> the narrative (an int) most of its articles ended in, or None."""
    index = StoryIndex(params, corpus.vectors.shape[1])
    threads = ThreadIndex(corpus.vectors.shape[1])
    story_of = []
    next_id = 0
    narrative_ids = iter(range(1_000_000))
    order = list(range(len(corpus.rows)))
    for start in range(0, len(order), BATCH):
        touched = {}
        for i in order[start : start + BATCH]:
            index.expire(corpus.times[i])
            a = index.assign(
                i,
                corpus.vectors[i],
                corpus.times[i],
                corpus.names[i],
                corpus.rows[i].get("publisher"),
                corpus.rows[i].get("title") or "",
                corpus.keys[i],
                corpus.words[i],
            )
            story = index.stories[a.slot]
            if a.is_new:
                story.story_id = next_id
                next_id += 1
            if a.absorbed is not None:
                gone = a.absorbed.story_id
                touched.pop(gone, None)
                survivor_had = threads.narrative.get(story.story_id)
                kept = threads.narrative.get(gone)
                threads.remove(gone)
                if survivor_had is None and kept is not None:
                    threads.assign([story.story_id], kept)
            story_of.append(story)
            touched[story.story_id] = story
        for sid in sorted(touched):
            threads.put(sid, touched[sid].vector_sum)
        for sid, partner, nid in threads.link_all(sorted(touched), rule):
            nid = next(narrative_ids) if nid is None else nid
            threads.assign([sid, partner], nid)
    votes: dict[str, Counter] = {}
    for i, story in enumerate(story_of):
        sid = story.survivor().story_id
        votes.setdefault(corpus.gold[i], Counter())[threads.narrative.get(sid)] += 1
    return {
        g: max(c.items(), key=lambda kv: (kv[1], kv[0] is not None))[0] for g, c in votes.items()
    }


def evaluate(corpus, params: ClusterParams, labels: dict[str, str], rule: ThreadRule):
    return pr(*pair_scores(narratives_of_stories(corpus, params, rule), labels))


def cross_validate(corpus, params: ClusterParams, labels: dict[str, str]) -> tuple:
    """Leave one labelled group out: the threshold is chosen on the pairs of the other groups
    (best F1, then the higher threshold), and the held-out group's pairs are scored with it.
    Returns (precision, recall, chosen thresholds)."""
    runs = {t: narratives_of_stories(corpus, params, ThreadRule(t)) for t in THRESHOLDS}
    groups = sorted({g for g in labels.values() if not g.startswith("NEG")})
    total = [0, 0, 0]
    chosen = []
    for held in groups:
        train = set(groups) - {held}

        def f1(t, train=train):
            p, r = pr(*pair_scores(runs[t], labels, train))
            return (2 * p * r / (p + r) if p + r else 0.0), t

        top = max(f1(t)[0] for t in THRESHOLDS)
        tied = [t for t in THRESHOLDS if f1(t)[0] == top]
        best = tied[len(tied) // 2]  # the middle of the best plateau: the widest margin
        chosen.append(best)
        for k, v in enumerate(pair_scores(runs[best], labels, {held})):
            total[k] += v
    return (*pr(*total), tuple(chosen))
