"""Options of ``facereel emotions`` and ``facereel emotions train``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from . import Options, OptionsError, check_choice, check_float, check_int
from ._latent_rules import SEED_MAX, STRENGTH_LIMIT, _device, _layers, _text, _video
from .choices import EMOTIONS, SEQUENCE_MODELS

__all__ = ["EmotionVideoOptions", "EmotionTrainOptions"]


@dataclasses.dataclass(frozen=True)
class EmotionVideoOptions(Options):
    """* ``face``: a seed or a photo; ``sequence``: emotions in order, or ("auto",) to let the
      ``order`` model of ``model`` choose ``length`` emotions starting at ``start``.
    * ``directions``: a folder of emotion direction files (one per emotion, ``<emotion>.safetensors``);
      when empty they are fitted on ``samples`` labelled latents and cached.
    * ``strength`` on the ``layers`` mask (VS: first 8 of 18); ``inbetween`` frames per transition.
    """

    face: str = "0"
    sequence: tuple[str, ...] = ("neutral", "happy", "surprise", "neutral")
    model: str | None = None
    order: str = "lstm"
    length: int = 5
    start: str = "neutral"
    directions: str | None = None
    samples: int = 1000
    strength: float = 2.0
    max_strength: float = 10.0
    layers: str | None = "vs"
    inbetween: int = 32
    generator: str = "dcgan-digiface"
    inversion: str = "optimize"
    seed: int = 0
    fps: float = 24.0
    size: int = 0
    batch: int = 8
    output: str = "emotions.mp4"
    device: str = "auto"

    def validate(self) -> EmotionVideoOptions:
        _text("face", self.face, "a seed or a photo")
        if not self.sequence:
            raise OptionsError("sequence", "give emotions (happy,surprise,neutral) or auto")
        auto = tuple(self.sequence) == ("auto",)
        if not auto:
            for e in self.sequence:
                if e not in EMOTIONS:
                    raise OptionsError("sequence", f"unknown emotion {e!r}; choose from {', '.join(EMOTIONS)} or auto")
        elif not self.model:
            raise OptionsError("model", "sequence auto needs a trained emotion model (facereel emotions train)")
        check_choice("order", self.order, SEQUENCE_MODELS)
        check_int("length", self.length, 2, 1000)
        if self.start not in EMOTIONS:
            raise OptionsError("start", f"unknown emotion {self.start!r}; choose from {', '.join(EMOTIONS)}")
        check_int("samples", self.samples, 16)
        check_float("max_strength", self.max_strength, 0.0, STRENGTH_LIMIT, lo_open=True)
        check_float("strength", self.strength, -self.max_strength, self.max_strength)
        _layers("layers", self.layers)
        check_int("inbetween", self.inbetween, 0, 10_000)
        check_int("seed", self.seed, 0, SEED_MAX)
        check_float("fps", self.fps, 0.0, 240.0, lo_open=True)
        check_int("size", self.size, 0, 4096)
        check_int("batch", self.batch, 1)
        _video("output", self.output)
        _device(self.device)
        return self


@dataclasses.dataclass(frozen=True)
class EmotionTrainOptions(Options):
    """Label sequences from ``videos`` (every ``every``-th frame; runs shorter than ``min_run``
    sampled frames dropped) → LSTM (``layers`` deep, ``dropout``) + Markov chain, saved to ``output``."""

    videos: tuple[str, ...] = ()
    output: str = "emotions.safetensors"
    every: int = 3
    min_run: int = 2
    hidden: int = 64
    layers: int = 4
    dropout: float = 0.2
    epochs: int = 60
    seed: int = 0

    def validate(self) -> EmotionTrainOptions:
        if not self.videos:
            raise OptionsError("videos", "give at least one video")
        if Path(self.output).suffix.lower() != ".safetensors":
            raise OptionsError("output", "emotion models are .safetensors")
        check_int("every", self.every, 1)
        check_int("min_run", self.min_run, 1)
        check_int("hidden", self.hidden, 1, 4096)
        check_int("layers", self.layers, 1, 16)
        check_float("dropout", self.dropout, 0.0, 0.9)
        check_int("epochs", self.epochs, 1, 100_000)
        check_int("seed", self.seed, 0, SEED_MAX)
        return self
