"""Emotion-order models learn a planted structure; files round-trip; keyframes and in-betweens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facereel.latent import emotions as M
from facereel.options.choices import EMOTIONS


def planted_sequences(n_seq, length, seed):
    """A cycle happy → surprise → sad → angry → neutral → happy … taken 85 % of the time, else a
    random other emotion: a first-order structure (chance = 1/6 for a collapsed sequence)."""
    rng = np.random.default_rng(seed)
    cycle = [3, 5, 4, 0, 6]
    nxt = {c: cycle[(i + 1) % len(cycle)] for i, c in enumerate(cycle)}
    seqs = []
    for _ in range(n_seq):
        s = [int(rng.choice(cycle))]
        while len(s) < length:
            cur = s[-1]
            if cur in nxt and rng.random() < 0.85:
                s.append(nxt[cur])
            else:
                s.append(int(rng.choice([e for e in range(7) if e != cur])))
        seqs.append(s)
    return seqs


@pytest.mark.slow
def test_models_learn_planted_structure_and_roundtrip(tmp_path):
    train, held = planted_sequences(60, 20, 0), planted_sequences(20, 20, 1)
    models = M.train_models(train, hidden=32, layers=4, dropout=0.1, epochs=40, seed=0)
    assert models.lstm.lstm.num_layers == 4 and models.lstm.lstm.dropout == pytest.approx(0.1)
    acc_lstm, acc_markov = M.accuracy(models.lstm, held), M.accuracy(models.markov, held)
    chance = 1 / 6
    assert acc_markov > 3 * chance and acc_lstm > 3 * chance, (acc_lstm, acc_markov)
    p = M.save_models(models, tmp_path / "m.safetensors")
    back = M.load_models(p)
    assert M.accuracy(back.lstm, held) == acc_lstm
    np.testing.assert_array_equal(back.markov.counts, models.markov.counts)
    seq = back.generate("happy", 6, "markov", greedy=True)
    assert seq[:3] == ["happy", "surprise", "sad"]
    assert all(a != b for a, b in zip(seq, seq[1:]))
    (tmp_path / "x.safetensors").write_bytes(b"junk")
    with pytest.raises(M.EmotionError):
        M.load_models(tmp_path / "x.safetensors")


def test_quick_roundtrip(tmp_path):
    seqs = planted_sequences(6, 8, 2)
    models = M.train_models(seqs, hidden=8, layers=4, epochs=1, min_steps=2)
    back = M.load_models(M.save_models(models, tmp_path / "q.safetensors"))
    np.testing.assert_allclose(back.lstm.predict_next([3, 5]), models.lstm.predict_next([3, 5]), rtol=1e-6)
    assert back.info["sequences"] == 6
    with pytest.raises(M.EmotionError, match="two or more"):
        M.train_lstm([[1], [2]])


def test_sequences_and_inbetweens():
    assert M.collapse_repeats([1, 1, 2, 2, 2, 1]) == [1, 2, 1]
    assert M.sequence_of([1, 1, 4, 2, 2, 2, 1, 1], min_run=2) == [1, 2, 1]
    assert M.parse_sequence("Happy, surprise") == ["happy", "surprise"]
    with pytest.raises(Exception, match="unknown emotion 'joy'"):
        M.parse_sequence("happy,joy")
    keys = torch.stack([torch.zeros(3), torch.ones(3), torch.full((3,), 3.0)])
    lat = M.inbetween_latents(keys, 32)
    assert lat.shape[0] == 2 * 33 + 1
    torch.testing.assert_close(lat[33], keys[1])
    torch.testing.assert_close(lat[16], torch.full((3,), 16 / 33))
    assert len(EMOTIONS) == 7


def test_keyframes_on_vs_mask():
    from facereel.latent.directions import Direction
    from facereel.latent.edit import parse_layers
    from facereel.latent.space import space_of
    from tests.helpers.latent import tiny_nv

    G = tiny_nv()
    sp = space_of(G)
    rng = np.random.default_rng(0)
    dirs = {e: Direction(vectors=rng.standard_normal((1, sp.dim)), generator=G.name, latent_space="w",
                         dim=sp.dim, num_ws=sp.num_ws, label=e) for e in ("happy", "sad")}
    w = G.sample([1])
    layers = parse_layers("vs", sp.num_ws)
    keys = M.keyframes(G, w, dirs, ["happy", "sad"], 2.0, layers)
    assert keys.shape == (2, sp.num_ws, sp.dim)
    rest = [i for i in range(sp.num_ws) if i not in layers]
    torch.testing.assert_close(keys[:, rest], w[:, rest].expand(2, -1, -1), rtol=0, atol=0)
    with pytest.raises(M.EmotionError, match="no direction for 'fear'"):
        M.keyframes(G, w, dirs, ["fear"], 2.0, layers)


def test_video_emotions_read_from_frames():
    from facereel.faces.io import load_image
    from facereel.samples import sample_dir

    happy = load_image(sample_dir() / "astronaut.png").rgb
    blank = np.zeros_like(happy)
    labels = M.video_emotions([happy, blank, happy])
    assert labels == [EMOTIONS.index("happy")] * 2
