"""Pure logic: text cleaning, names, and the online story index (hashing embedder)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from bot.narratives.cluster import (
    DAY,
    LINK_FEATURES,
    ClusterParams,
    HybridRule,
    LinkModel,
    StoryIndex,
)
from bot.narratives.story_params import params_from_settings
from bot.narratives.text import MAX_CHARS, article_text, clean, names, normalise_title

from .conftest import HashingEmbedder

T0 = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
PARAMS = ClusterParams(threshold=0.5, window_days=5, name_weight=0.0, decay=0.0)


def test_clean_strips_html_entities_and_whitespace():
    raw = '<p>Nvidia&#8217;s <a href="x">H20</a>\n\n sales &amp; <b>China</b></p>'
    assert clean(raw) == "Nvidia\u2019s H20 sales & China"


def test_absurdly_long_summary_is_capped_on_a_word_boundary():
    text = article_text("Title", "word " * 100_000)
    assert len(text) <= MAX_CHARS + len("Title. ")
    assert text.endswith("word")


def test_missing_parts_and_empty_text():
    assert article_text(None, "Only a summary") == "Only a summary"
    assert article_text("Only a title", None) == "Only a title"
    assert article_text("", "   ") == ""


def test_names_keep_companies_models_and_numbers_but_not_function_words():
    found = names("The US adds 140 Chinese firms to the Entity List; Nvidia H20 hit")
    assert {"140", "entity", "list", "nvidia", "h20"} <= found
    assert not {"the", "us", "chinese"} & found
    # A word every article on the beat carries links no two events.
    assert "ai" not in names("AI startup Groq raises $350M for AI chips")


def test_normalise_title_ignores_case_and_punctuation():
    assert normalise_title("Nvidia Halts H20 <b>Production</b>!") == normalise_title(
        "nvidia halts h20 production"
    )


def _run(texts_times, params=PARAMS):
    emb = HashingEmbedder()
    vecs = emb.encode([t for t, _ in texts_times])
    index = StoryIndex(params, emb.dim, capacity=2)
    labels, ids = [], 0
    for i, ((text, day), vec) in enumerate(zip(texts_times, vecs, strict=True)):
        when = T0 + day * DAY
        index.expire(when)
        a = index.assign(i, vec, when, names(text), f"outlet{i}", text, normalise_title(text))
        if a.is_new:
            index.stories[a.slot].story_id = ids
            ids += 1
        labels.append((index.stories[a.slot].story_id, a.duplicate_of))
    return labels, index


H20 = "Nvidia halts production of H20 chips after China discourages purchases"
H20B = "Nvidia halts H20 chip production as China discourages purchases of the chips"
QUAKE = "Major earthquake off Japan triggers tsunami warning along the coast"


def test_same_event_joins_and_other_event_starts_a_story():
    labels, _ = _run([(H20, 0), (H20B, 0.5), (QUAKE, 1)])
    assert labels[0][0] == labels[1][0]
    assert labels[2][0] != labels[0][0]


def test_quiet_story_expires_after_the_window():
    labels, index = _run([(H20, 0), (H20B, 9)])
    assert labels[0][0] != labels[1][0]
    assert len(index) == 1  # the first story left the index: cost does not grow with history


def test_syndicated_copy_is_marked_as_duplicate_of_the_original():
    labels, _ = _run([(H20, 0), (QUAKE, 0.1), (H20, 0.2), (H20.upper(), 0.3)])
    assert labels[2] == (labels[0][0], 0)
    assert labels[3] == (labels[0][0], 0)


def test_same_input_order_gives_same_stories():
    stream = [(H20, 0), (QUAKE, 0.2), (H20B, 0.3), (QUAKE + " again", 0.4)]
    assert _run(stream)[0] == _run(stream)[0]


def test_index_grows_past_its_initial_capacity():
    texts = ["apple harvest", "rocket launch", "tennis final", "opera premiere", "glacier melt"]
    stream = [(t, i * 0.01) for i, t in enumerate(texts)]
    labels, index = _run(stream)
    assert len({s for s, _ in labels}) == 5
    assert len(index) == 5


def test_decay_separates_a_late_article_on_the_same_subject():
    params = ClusterParams(threshold=0.5, window_days=30, name_weight=0.0, decay=2.0)
    labels, _ = _run([(H20, 0), (H20B, 20)], params)
    assert labels[0][0] != labels[1][0]


def test_settings_override_only_what_is_set():
    from bot.config import StoriesConfig

    p = params_from_settings(StoriesConfig(threshold=0.8), "hashing-256")
    assert p.threshold == 0.8 and p.link is None  # no link model fitted for this embedder
    assert p.window_days > 0 and p.duplicate_threshold == 0.95


def test_hybrid_is_the_default_only_for_the_model_the_link_was_fitted_for():
    from bot.config import StoriesConfig

    minilm = "sentence-transformers/all-MiniLM-L6-v2"
    default = params_from_settings(StoriesConfig(), minilm)
    assert default.link is not None and default.hybrid is not None
    assert (
        default.threshold
        == params_from_settings(StoriesConfig(method="centroid"), minilm).threshold
    )
    assert default.hybrid.min_shared_names >= 1 and 0 < default.hybrid.probability < 1
    assert params_from_settings(StoriesConfig(method="hybrid"), minilm) == default
    assert params_from_settings(StoriesConfig(method="centroid"), minilm).link is None
    learned = params_from_settings(StoriesConfig(method="learned"), minilm)
    assert learned.link is not None and learned.hybrid is None and 0 < learned.threshold < 1
    assert len(learned.link.weights) == len(LINK_FEATURES)
    for method in (None, "hybrid", "learned"):
        assert params_from_settings(StoriesConfig(method=method), "hashing-256").link is None


def test_link_model_joins_on_probability():
    # A model that only trusts the best single member: a close copy of one member joins even
    # when the story's centroid has drifted away.
    params = ClusterParams(0.5, 5, 0.0, 0.0, link=LinkModel((0.0, 20.0, 0.0, 0.0, 0.0), -14.0))
    labels, _ = _run([(H20, 0), (H20B, 0.5), (QUAKE, 1)], params)
    assert labels[0][0] == labels[1][0] != labels[2][0]


# Trusts only the best single member: probability > 0.5 once that cosine passes 0.7.
MEMBER_LINK = LinkModel((0.0, 20.0, 0.0, 0.0, 0.0), -14.0)


def _hybrid(min_member_cos=0.5, min_shared_names=1):
    # Centroid cut 0.99: only the link can join here.
    return ClusterParams(
        0.99,
        5,
        0.0,
        0.0,
        link=MEMBER_LINK,
        hybrid=HybridRule(0.5, min_member_cos, min_shared_names),
    )


def test_hybrid_link_adds_a_join_the_centroid_rule_refuses():
    labels, _ = _run([(H20, 0), (H20B, 0.5), (QUAKE, 1)], _hybrid())
    assert labels[0][0] == labels[1][0] != labels[2][0]
    assert _run([(H20, 0), (H20B, 0.5)], PARAMS_CENTROID_STRICT)[0][1][0] == 1  # centroid alone


PARAMS_CENTROID_STRICT = ClusterParams(threshold=0.99, window_days=5, name_weight=0.0, decay=0.0)


def test_hybrid_link_needs_a_shared_name_and_a_close_member():
    # Same words, no capitalised names or numbers: the link model alone would join it.
    nameless = "nvidia halts production of chips after china discourages purchases"
    assert _run([(H20, 0), (nameless, 0.5)], _hybrid(min_shared_names=0))[0][1][0] == 0
    assert _run([(H20, 0), (nameless, 0.5)], _hybrid())[0][1][0] == 1
    assert _run([(H20, 0), (H20B, 0.5)], _hybrid(min_member_cos=0.99))[0][1][0] == 1


def test_best_with_empty_index():
    index = StoryIndex(PARAMS, 4)
    assert index.best(np.ones(4, np.float32) / 2, T0, frozenset())[0] == -1


def test_a_summary_that_only_repeats_the_headline_is_left_out():
    google = (
        '<a href="https://x.test/1">Nvidia halts H20 production</a>&nbsp;&nbsp;<font>Reuters</font>'
    )
    assert article_text("Nvidia halts H20 production", google) == "Nvidia halts H20 production"
    teaser = "Nvidia halts H20 production after Beijing told firms to avoid the chip"
    assert article_text("Nvidia halts H20 production", teaser).endswith(teaser)
    assert article_text("", google) == "Nvidia halts H20 production Reuters"
