"""One photo, a lifetime: ``facereel age PHOTO --from 5 --to 80 -o life.mp4 --method sam|direction``.

:func:`render_age` takes :class:`~facereel.options.lifespan.AgeOptions` and writes the video atomically:

1. the photo is analysed and FFHQ-aligned (no face: one :class:`AgeError` line); its age is the
   age model's estimate (or ``photo_age``);
2. keyframe latents (W+) at the keyframe ages and at the photo's own age:
   * ``sam``: SAM (:class:`facereel.nets.sam.SAM`) on the 256 crop with the age channel of each
     target age, E_psp(x) + w̄ computed once (:meth:`~facereel.nets.sam.SAM.age_codes`);
   * ``direction``: the photo inverted into the generator and moved along an age direction with
     strengths read back from the age model (:func:`facereel.latent.lifespan.lifespan_by_direction`);
     at its own age the inverted latent itself;
3. frames between keyframes ∝ their age difference, latents interpolated
   (:func:`facereel.latent.interpolate.path`), rendered in batches; around the photo's keyframe the
   real aligned photo is mixed in with f(α, γ) (:mod:`facereel.render.blend`, seed Eq. 4/5) and the
   keyframe frame itself is the photo.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facereel.core.errors import FacereelError
from facereel.core.progress import Progress, report

log = logging.getLogger(__name__)

__all__ = ["AgeError", "render_age", "plan_keyframes"]


class AgeError(FacereelError):
    """A ``facereel age`` input that cannot be used (no face, missing weights, ...): one line."""

    http_status = 422


def plan_keyframes(ages: list[int], photo_age: float | None, min_gap: float = 0.0) -> tuple[list[int], int | None]:
    """The keyframe ages with the photo's (rounded) age inserted where it falls inside
    [ages[0], ages[-1]]; inner generated keyframes closer than ``min_gap`` years to it are dropped
    (a keyframe 2 years after the photo would cut its blend short).  Returns (ages, index of the
    photo's keyframe or None)."""
    if photo_age is None:
        return list(ages), None
    a = int(round(photo_age))
    if not ages[0] <= a <= ages[-1]:
        return list(ages), None
    kept = [g for i, g in enumerate(ages) if i in (0, len(ages) - 1) or abs(g - a) >= min_gap]
    out = sorted(set(kept) | {a})
    return out, out.index(a)


def _photo(options, analysis_progress: Progress | None):
    from facereel.pipelines.analyze import load_aligned
    from facereel.pipelines.analyze.crops import TooFewPhotos

    path = Path(options.photo).expanduser()
    if not path.is_file():
        raise AgeError(f"no such photo: {options.photo}")
    try:
        crops = load_aligned([str(path)], size=options.size, min_photos=1, keep_flagged=True,
                             analysis_progress=analysis_progress)
    except TooFewPhotos as exc:
        msg = str(exc)
        why = msg.split("(skipped ", 1)[1].split(")", 1)[0] if "(skipped " in msg else msg
        raise AgeError(f"no usable face in {path.name} ({why.removeprefix(path.name + ': ')})") from None
    except FacereelError as exc:
        raise AgeError(f"no usable face in {path.name}: {exc}") from None
    entry = crops.entries[0]
    age = options.photo_age if options.photo_age is not None else (entry.age if entry.age is not None
                                                                    else entry.age_estimated)
    return crops.images[0], (None if age is None else float(age))


def _sam_keyframes(options, crop: np.ndarray, ages: list[int], device):
    import torch

    from facereel.checkpoints.errors import CheckpointError
    from facereel.checkpoints.sam import load_sam
    from facereel.inversion.encoders import preprocess

    try:
        net = load_sam(options.weights, device)
    except CheckpointError as exc:
        raise AgeError(str(exc)) from None
    # SAM's transform: Resize((256, 256)), ToTensor, Normalize(0.5, 0.5) (configs/transforms_config.py)
    x = preprocess(crop, 256, device=net.device)
    with torch.inference_mode():
        codes = net.age_codes(x, ages)

    def synthesize(lat):
        images, _ = net.decoder([lat], input_is_latent=True, randomize_noise=False)
        return images

    return codes, synthesize, {"model": "sam", "resolution": net.resolution}


def _direction_keyframes(options, crop: np.ndarray, ages: list[int], photo_index: int | None, device,
                         progress: Progress | None):
    import torch

    from facereel.inversion.api import InversionSettings, invert_images
    from facereel.latent.edit import parse_layers
    from facereel.latent.lifespan import LifespanError, lifespan_by_direction
    from facereel.latent.space import space_of
    from facereel.pipelines.latent import _resize_frames, load_generator, resolve_direction

    G = load_generator(options.generator, options.device)
    space = space_of(G)
    d = resolve_direction(options.direction, G)
    latents, G = invert_images(_resize_frames(crop[None], G.resolution), G,
                               InversionSettings(method=options.inversion))
    latent = latents[:1].to(G.device)
    layers = parse_layers(options.lifespan.layers, space.num_ws) if options.lifespan.layers else None
    targets = [a for i, a in enumerate(ages) if i != photo_index]
    try:
        r = lifespan_by_direction(G, latent, d, targets, layers=layers, progress=progress,
                                  **options.lifespan.kwargs())
    except LifespanError as exc:
        raise AgeError(str(exc)) from None
    lat = r.latents.to(latent.device, latent.dtype)
    if photo_index is not None:
        lat = torch.cat([lat[:photo_index], latent, lat[photo_index:]])

    def synthesize(batch):
        return G.synthesize(batch)

    info = {"model": getattr(G, "name", options.generator), "strengths": r.strengths, "estimated": r.estimated,
            "flags": r.flags, "resolution": int(G.resolution)}
    return lat, synthesize, info


def _gaps(ages: list[int], frames_per_year: float) -> list[int]:
    return [max(1, int(round((b - a) * frames_per_year))) for a, b in zip(ages[:-1], ages[1:])]


def _frames(keys, ages: list[int], photo_index: int | None, photo: np.ndarray, synthesize: Callable,
            options, progress: Progress | None):
    """Yields uint8 frames [S, S, 3] of the whole path (one per position, the last keyframe included)."""
    import torch
    import torch.nn.functional as F

    from facereel.latent.interpolate import path
    from facereel.render.blend import blend_keyframe, blend_weight, nearest_keyframe
    from facereel.render.schedule import build_schedule

    schedule = build_schedule(_gaps(ages, options.frames_per_year))
    positions = [(f.j, f.lam) for f in schedule]
    size = options.size
    total = len(positions)
    for start in range(0, total, options.batch):
        chunk = positions[start:start + options.batch]
        lat = path(keys, chunk, options.interpolation)
        with torch.inference_mode():
            img = synthesize(lat).float()
            if img.shape[-1] != size:
                img = F.interpolate(img, size=(size, size), mode="bicubic", align_corners=False,
                                    antialias=img.shape[-1] > size)
            frames = ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        for (j, lam), frame in zip(chunk, frames):
            if photo_index is not None:
                if lam == 0.0 and j == photo_index:
                    frame = photo                                   # the photo's keyframe is the photo
                elif nearest_keyframe(j, lam) == photo_index:
                    frame = blend_keyframe(frame, photo, blend_weight(lam, options.opacity))
            yield frame
        report(progress, min(start + options.batch, total), total)


def render_age(options, progress: Progress | None = None, *, analysis_progress: Progress | None = None,
               model_progress: Progress | None = None) -> dict:
    """Writes ``options.output`` (validated :class:`~facereel.options.lifespan.AgeOptions`); returns a summary.

    ``analysis_progress``: the photo's analysis; ``model_progress``: the direction search
    (``direction``); ``progress``: the frames."""
    from facereel.core.device import resolve_device
    from facereel.render.video import check_output, open_writer

    check_output(options.output)
    crop, photo_age = _photo(options, analysis_progress)
    ages, photo_index = plan_keyframes(options.keyframe_ages(), photo_age, min_gap=options.step / 2)
    if photo_index is None:
        log.info("the photo's age (%s) is outside %g..%g: it is not blended in", photo_age, options.age_from,
                 options.age_to)
    device = resolve_device(options.device)
    if options.method == "sam":
        keys, synthesize, info = _sam_keyframes(options, crop, ages, device)
    else:
        keys, synthesize, info = _direction_keyframes(options, crop, ages, photo_index, device, model_progress)
    n = 0
    with open_writer(options.output, fps=options.fps) as writer:
        for frame in _frames(keys, ages, photo_index, crop, synthesize, options, progress):
            writer.write(frame)
            n += 1
    return {"output": str(options.output), "frames": n, "ages": ages, "photo_age": photo_age,
            "photo_keyframe": photo_index, "method": options.method, **info}
