"""Emotion videos (the video-synthesis recipe) and the models that order the emotions.

* Directions: one logistic-regression normal per fer emotion on labelled latents
  (:func:`facereel.latent.directions.fit_direction`, label = that emotion's probability, split
  at 0.5).
* Keyframes: the face's code plus ``strength`` × the emotion's direction on the VS layer mask
  (the first 8 of 18 W+ layers; Z generators have no layers and take it everywhere);
  ``neutral`` adds its own direction like any other.
* In-between frames: linear interpolation, 32 per transition as VS uses.
* Order: an LSTM (four layers, dropout; VS) or a first-order Markov chain (the baseline), both
  trained on emotion label sequences read from videos (frames → face → fer emotion → repeats
  collapsed) and saved together in one safetensors file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facereel.core.atomic import atomic_path
from facereel.core.errors import FacereelError
from facereel.core.progress import Progress, report
from facereel.faces.emotion import EMOTIONS, check_emotion

log = logging.getLogger(__name__)

META_KEY = "facereel.emotion_model"
FORMAT_VERSION = 1
#: VS: 32 interpolated frames between two keyframes
INBETWEEN = 32


class EmotionError(FacereelError):
    pass


def parse_sequence(spec: str | Sequence[str]) -> list[str]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    seq = [check_emotion(s) for s in items if str(s).strip()]
    if not seq:
        raise EmotionError("the emotion sequence is empty")
    return seq


def collapse_repeats(labels: Iterable[int | str]) -> list:
    out: list = []
    for x in labels:
        if not out or out[-1] != x:
            out.append(x)
    return out


# ---------------------------------------------------------------------------------------------
# sequence models


class MarkovChain:
    """First-order chain over the 7 emotions: P(next | current) from counts + ``alpha`` smoothing."""

    def __init__(self, n: int = len(EMOTIONS), alpha: float = 1.0):
        self.n, self.alpha = n, alpha
        self.counts = np.zeros((n, n))

    def fit(self, sequences: Iterable[Sequence[int]]) -> MarkovChain:
        for s in sequences:
            for a, b in zip(s[:-1], s[1:]):
                self.counts[a, b] += 1
        return self

    @property
    def transitions(self) -> np.ndarray:
        c = self.counts + self.alpha
        return c / c.sum(1, keepdims=True)

    def predict_next(self, history: Sequence[int]) -> np.ndarray:
        return self.transitions[history[-1]]


def _lstm_class():
    import torch
    from torch import nn

    class EmotionLSTM(nn.Module):
        """Embedding → LSTM (``layers`` deep, dropout between layers) → logits of the next emotion."""

        def __init__(self, n: int = len(EMOTIONS), hidden: int = 64, layers: int = 4, dropout: float = 0.2,
                     embed: int = 16):
            super().__init__()
            self.config = {"n": n, "hidden": hidden, "layers": layers, "dropout": dropout, "embed": embed}
            self.embed = nn.Embedding(n, embed)
            self.lstm = nn.LSTM(embed, hidden, num_layers=layers, dropout=dropout if layers > 1 else 0.0,
                                batch_first=True)
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(hidden, n)

        def forward(self, x):                        # x [B, T] int64 → logits [B, T, n]
            h, _ = self.lstm(self.embed(x))
            return self.head(self.drop(h))

        @torch.no_grad()
        def predict_next(self, history: Sequence[int]) -> np.ndarray:
            was = self.training
            self.eval()
            logits = self(torch.as_tensor([list(history)], dtype=torch.long))[0, -1]
            self.train(was)
            return torch.softmax(logits, -1).double().numpy()

    return EmotionLSTM


def make_lstm(**kw):
    return _lstm_class()(**kw)


def train_lstm(sequences: Sequence[Sequence[int]], *, hidden: int = 64, layers: int = 4, dropout: float = 0.2,
               epochs: int = 60, lr: float = 3e-3, window: int = 16, seed: int = 0, min_steps: int = 400,
               progress: Progress | None = None):
    """Next-emotion prediction with teacher forcing on windows of the label sequences."""
    import torch

    torch.manual_seed(seed)
    windows = []
    for s in sequences:
        s = list(s)
        if len(s) < 2:
            continue
        for i in range(0, max(1, len(s) - window), max(1, window // 2)):
            chunk = s[i:i + window + 1]
            if len(chunk) >= 2:
                windows.append(chunk)
    if not windows:
        raise EmotionError("no sequence has two or more emotions to learn a transition from")
    width = max(len(w) for w in windows)
    X = torch.zeros(len(windows), width - 1, dtype=torch.long)
    Y = torch.full((len(windows), width - 1), -100, dtype=torch.long)     # -100: ignored padding
    for i, w in enumerate(windows):
        X[i, :len(w) - 1] = torch.as_tensor(w[:-1])
        Y[i, :len(w) - 1] = torch.as_tensor(w[1:])
    model = make_lstm(hidden=hidden, layers=layers, dropout=dropout)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    g = torch.Generator().manual_seed(seed)
    model.train()
    # A deep LSTM needs a few hundred updates whatever the data size: small sets get more epochs.
    per_epoch = max(1, -(-len(windows) // 32))
    epochs = max(epochs, -(-min_steps // per_epoch))
    for epoch in range(epochs):
        perm = torch.randperm(len(windows), generator=g)
        for j in range(0, len(perm), 32):
            idx = perm[j:j + 32]
            opt.zero_grad()
            logits = model(X[idx])
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), Y[idx].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        report(progress, epoch + 1, epochs)
    model.eval()
    return model


def accuracy(model, sequences: Sequence[Sequence[int]]) -> float:
    """Share of next emotions predicted right (argmax) over every transition of ``sequences``."""
    hits = total = 0
    for s in sequences:
        for t in range(1, len(s)):
            hits += int(np.argmax(model.predict_next(s[:t])) == s[t])
            total += 1
    return hits / total if total else float("nan")


@dataclass
class EmotionModels:
    lstm: object
    markov: MarkovChain
    info: dict

    def model(self, kind: str):
        if kind == "lstm":
            return self.lstm
        if kind == "markov":
            return self.markov
        raise EmotionError(f"unknown sequence model {kind!r}; choose lstm or markov")

    def generate(self, start: str, length: int, kind: str = "lstm", *, seed: int = 0,
                 greedy: bool = False) -> list[str]:
        """``length`` emotions from ``start``; each next one drawn (or argmax) from the model,
        never the current one again (sequences are collapsed)."""
        rng = np.random.default_rng(seed)
        seq = [EMOTIONS.index(check_emotion(start))]
        m = self.model(kind)
        while len(seq) < length:
            p = np.asarray(m.predict_next(seq), np.float64).copy()
            p[seq[-1]] = 0
            p = p / p.sum() if p.sum() > 0 else np.full(len(p), 1 / (len(p) - 1))
            seq.append(int(np.argmax(p)) if greedy else int(rng.choice(len(p), p=p)))
        return [EMOTIONS[i] for i in seq]


def train_models(sequences: Sequence[Sequence[int]], **lstm_kw) -> EmotionModels:
    markov = MarkovChain().fit(sequences)
    lstm = train_lstm(sequences, **lstm_kw)
    return EmotionModels(lstm, markov, {"sequences": len(sequences),
                                        "transitions": int(sum(max(0, len(s) - 1) for s in sequences))})


def save_models(models: EmotionModels, path: str | Path) -> Path:
    from safetensors.torch import save_file

    tensors = {f"lstm.{k}": v.detach().contiguous() for k, v in models.lstm.state_dict().items()}
    import torch

    tensors["markov.counts"] = torch.from_numpy(models.markov.counts.astype(np.float64))
    head = {"version": FORMAT_VERSION, "labels": list(EMOTIONS), "lstm": models.lstm.config,
            "markov_alpha": models.markov.alpha, **models.info}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(head, sort_keys=True)})
    return path


def load_models(path: str | Path) -> EmotionModels:
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise EmotionError(f"no such emotion model file: {path}")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if META_KEY not in meta:
                raise EmotionError(f"{path.name} is not a facereel emotion model")
            head = json.loads(meta[META_KEY])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as exc:
        raise EmotionError(f"{path.name} is not a readable emotion model ({exc})") from None
    if head.get("labels") != list(EMOTIONS):
        raise EmotionError(f"{path.name} was trained on other labels: {head.get('labels')}")
    lstm = make_lstm(**head["lstm"])
    lstm.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("lstm.")}, strict=True)
    lstm.eval()
    markov = MarkovChain(alpha=float(head.get("markov_alpha", 1.0)))
    markov.counts = tensors["markov.counts"].double().numpy()
    info = {k: v for k, v in head.items() if k not in ("lstm", "labels", "markov_alpha", "version")}
    return EmotionModels(lstm, markov, info)


# ---------------------------------------------------------------------------------------------
# label sequences from videos


def video_emotions(frames: Iterable[np.ndarray], *, every: int = 1, progress: Progress | None = None,
                   total: int | None = None) -> list[int]:
    """Per-frame emotion indices (argmax of fer) of the largest face; frames without a face skipped."""
    from facereel.faces.detect import detect_faces
    from facereel.faces.emotion import emotion_probabilities

    out = []
    for i, frame in enumerate(frames):
        if i % max(1, every):
            continue
        found = [d for d in detect_faces(frame, min_size=32) if not d.too_small]
        if found:
            out.append(int(np.argmax(emotion_probabilities(frame, found[0].box))))
        report(progress, i + 1, total or 0)
    return out


def sequence_of(labels: Sequence[int], min_run: int = 2) -> list[int]:
    """Per-frame labels → the collapsed sequence, runs shorter than ``min_run`` frames (flicker of
    the classifier) dropped first."""
    runs: list[list[int]] = []
    for x in labels:
        if runs and runs[-1][0] == x:
            runs[-1][1] += 1
        else:
            runs.append([x, 1])
    return collapse_repeats(x for x, n in runs if n >= min_run)


# ---------------------------------------------------------------------------------------------
# the video


def keyframes(G, latent, directions: dict, sequence: Sequence[str], strength: float, layers: Sequence[int] | None):
    """Native latents [len(sequence), ...]: ``latent`` + strength · d_emotion on ``layers``."""
    import torch

    from facereel.latent import edit as E
    from facereel.latent.space import space_of

    space = space_of(G)
    out = []
    for name in sequence:
        key = check_emotion(name)
        if key not in directions:
            raise EmotionError(f"no direction for {key!r} (have {', '.join(sorted(directions))})")
        out.append(E.apply(latent, E.step(directions[key], space), [strength], layers, space))
    return torch.cat(out)


def inbetween_latents(keys, inbetween: int = INBETWEEN):
    """Linear interpolation with ``inbetween`` frames between consecutive keys (keys included):
    [(K − 1)·(inbetween + 1) + 1, ...]."""
    import torch

    if keys.shape[0] == 1:
        return keys
    lam = torch.arange(inbetween + 1, dtype=keys.dtype, device=keys.device) / (inbetween + 1)
    parts = []
    for a, b in zip(keys[:-1], keys[1:]):
        shape = (-1,) + (1,) * a.ndim
        parts.append(a[None] * (1 - lam.reshape(shape)) + b[None] * lam.reshape(shape))
    parts.append(keys[-1:])
    return torch.cat(parts)
