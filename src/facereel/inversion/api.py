"""One entry point for every inversion method, with a latent cache.

Methods: ``optimize`` (:func:`facereel.inversion.optimize.invert`), ``psp`` / ``e4e`` /
``restyle`` (the official encoders, :mod:`facereel.inversion.encoders`; the encoder checkpoint
brings its own decoder), and ``hybrid`` (an encoder's output refined by optimisation, as the
time-lapse seed describes).  Latents are cached on disk by image content hash + model + method +
settings, so re-rendering with other settings never re-inverts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from facereel.core.atomic import atomic_write
from facereel.core.errors import FacereelError
from facereel.core.progress import Progress
from facereel.inversion.defaults import DEFAULT_ENCODERS  # noqa: F401  (re-exported)
from facereel.options.choices import ENCODER_METHODS, INVERSION_METHODS
from facereel.paths import cache_dir

log = logging.getLogger(__name__)

METHODS = INVERSION_METHODS


class InversionError(FacereelError, RuntimeError):
    """An inversion that cannot run: unknown method, no generator, encoder weights missing."""

    http_status = 422


@dataclass
class InversionSettings:
    method: str = "optimize"
    steps: int = 300
    space: str | None = None
    seed: int = 0
    restarts: int | None = None
    loss_weights: dict | None = None
    encoder: str | None = None      # weights name or path for encoder methods
    iterations: int | None = None   # ReStyle iterations

    def key(self) -> str:
        """The settings that change the latents of this method (others must not defeat the cache:
        e.g. ``steps`` for a pure encoder, ``encoder`` for ``optimize``)."""
        d = dict(self.__dict__)
        if self.method in ("psp", "e4e", "restyle"):
            for k in ("steps", "space", "seed", "restarts", "loss_weights"):
                d.pop(k)
        if self.method == "optimize":
            d.pop("encoder")
            d.pop("iterations")
        if self.method not in ("restyle", "hybrid"):
            d.pop("iterations", None)
        return json.dumps(d, sort_keys=True, default=str)


def image_hash(image: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def _cache_file(model_id: str, settings: InversionSettings, image: np.ndarray):
    key = hashlib.sha256(f"{model_id}|{settings.key()}|{image_hash(image)}".encode()).hexdigest()[:40]
    return cache_dir("latents") / f"{key}.npy"


def model_id(generator) -> str:
    return str(getattr(generator, "model_id", None) or getattr(generator, "name", type(generator).__name__))


def invert_images(
    images: Sequence[np.ndarray],
    generator=None,
    settings: InversionSettings | None = None,
    *,
    use_cache: bool = True,
    progress: Progress | None = None,
):
    """Inverts aligned uint8 crops [H, W, 3]; returns (latents [N, ...] torch, generator).

    For encoder methods the generator is the decoder inside the encoder checkpoint (the
    ``generator`` argument is then only checked for compatibility when given).
    """
    settings = settings or InversionSettings()
    if settings.method not in METHODS:
        raise InversionError(f"unknown inversion method {settings.method!r}; choose one of {', '.join(METHODS)}")
    inverter = None
    if settings.method in ENCODER_METHODS:
        inverter = _load_inverter(settings)
        if generator is not None:
            check_compatible(generator, inverter.generator, settings)
        if settings.method != "hybrid" or generator is None:
            generator = inverter.generator
    if generator is None:
        raise InversionError("no generator given")
    mid = model_id(generator) + (f"|{_encoder_id(settings)}" if inverter else "")

    latents: list[torch.Tensor | None] = [None] * len(images)
    todo = []
    for i, img in enumerate(images):
        f = _cache_file(mid, settings, img)
        if use_cache and f.is_file():
            latents[i] = torch.from_numpy(np.load(f))
        else:
            todo.append(i)
    if todo:
        log.info("inverting %d of %d keyframes with %s (%d cached)", len(todo), len(images), settings.method,
                 len(images) - len(todo))
        batch = np.stack([images[i] for i in todo])
        result = _run(batch, generator, inverter, settings, progress)
        for k, i in enumerate(todo):
            lat = result[k].detach().cpu().float()
            latents[i] = lat
            if use_cache:
                f = _cache_file(mid, settings, images[i])
                with atomic_write(f, "wb") as fh:
                    np.save(fh, lat.numpy())
    elif progress:
        progress(1, 1)
    return torch.stack(latents), generator  # type: ignore[arg-type]


def _encoder_name(settings: InversionSettings) -> str:
    return str(settings.encoder or DEFAULT_ENCODERS[settings.method])


def _encoder_id(settings: InversionSettings) -> str:
    """The encoder's weights name, or for a file its resolved path + size + mtime (a replaced file
    must not reuse latents inverted with the old one)."""
    from pathlib import Path

    name = _encoder_name(settings)
    p = Path(name).expanduser()
    if p.is_file():
        st = p.stat()
        return f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    return name


def _looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.endswith((".pt", ".pth", ".ckpt", ".safetensors"))


#: loaded encoders by (name, device): a re-render in the same process does not re-read the file
_INVERTERS: dict = {}


def _load_inverter(settings: InversionSettings):
    name = _encoder_name(settings)
    from facereel.inversion.encoders import load_inverter

    key = _encoder_id(settings)
    if key in _INVERTERS:
        return _INVERTERS[key]
    try:
        inv = load_inverter(name)
    except FileNotFoundError as exc:
        if _looks_like_path(name):
            raise InversionError(f"encoder checkpoint not found: {name}") from exc
        from facereel.weights import TABLE

        if name not in TABLE:
            known = ", ".join(k for k, e in TABLE.items() if getattr(e, "kind", "").startswith(("psp", "e4e", "restyle")))
            raise InversionError(f"unknown encoder {name!r}: give an encoder checkpoint file or one of {known}") from exc
        raise InversionError(f"{name} weights are not installed: run `facereel weights download {name}` "
                             f"or `facereel weights import {name} FILE`") from exc
    except (ValueError, KeyError) as exc:
        raise InversionError(f"cannot use {name} as a {settings.method} encoder: {exc}") from exc
    _INVERTERS.clear()  # keep one encoder in memory (IR-SE50 encoders are ~1 GB with their decoder)
    _INVERTERS[key] = inv
    return inv


def load_encoder(settings: InversionSettings):
    """Loads (and keeps) the encoder of an encoder method up front, so a missing or bad checkpoint
    is reported before any work; None for ``optimize``.  Raises :class:`InversionError`."""
    if settings.method not in METHODS:
        raise InversionError(f"unknown inversion method {settings.method!r}; choose one of {', '.join(METHODS)}")
    return None if settings.method == "optimize" else _load_inverter(settings)


def check_compatible(generator, decoder, settings: InversionSettings) -> None:
    """An explicitly given generator must take the encoder's latents: same W+ shape."""
    if (generator.latent_kind == "z" or generator.num_ws != decoder.num_ws or generator.w_dim != decoder.w_dim):
        raise InversionError(
            f"the {settings.method} encoder {_encoder_name(settings)} predicts W+ latents "
            f"[{decoder.num_ws}, {decoder.w_dim}] for its own {decoder.resolution}px decoder, which "
            f"{model_id(generator)} ({generator.latent_kind}, {generator.num_ws} x {generator.w_dim}) cannot take")


def _run(batch: np.ndarray, generator, inverter, settings: InversionSettings, progress):
    from facereel.inversion.optimize import invert

    if settings.method == "optimize":
        return invert(generator, batch, space=settings.space, steps=settings.steps, seed=settings.seed,
                      restarts=settings.restarts, loss_weights=settings.loss_weights, progress=progress).latents
    kwargs = {"iterations": settings.iterations} if settings.iterations else {}
    codes = inverter.invert(batch, progress=None if settings.method == "hybrid" else progress,
                            **kwargs)                          # [N, num_ws, w_dim]
    if settings.method != "hybrid":
        return codes
    return invert(generator, batch, space=settings.space or "w+", init=codes, steps=settings.steps,
                  seed=settings.seed, loss_weights=settings.loss_weights, progress=progress).latents
