"""Photos → latents with a ready generator: what ``invert`` and the latent time-lapse share.

:func:`load_inverter` turns :class:`~facereel.options.latent.LatentOptions` into an
:class:`Inverter`: the generator the frames are generated with (loaded from the weights table or
a file, or the encoder checkpoint's own decoder) and the inversion settings.  The latent engine
(:mod:`facereel.render.engines.latent`) receives both ready; it never loads or inverts.

The photos given to the inverter are aligned crops at :attr:`Inverter.crop_size` (the generator's
resolution, at least 256 px), whatever the video's frame size, so the latent cache (keyed by crop
content + model + settings) is shared by ``facereel invert`` and ``facereel timelapse --engine
latent`` for the same photos and generator.

After inversion :func:`reconstruction_identity` measures how much each reconstruction looks like
its photo (dlib similarity, :mod:`facereel.metrics.identity`); :func:`identity_warning` words the
result for a person when some fall below the same-person threshold.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facereel.core.progress import Progress
from facereel.options.choices import ENCODER_METHODS, GENERATOR_KINDS, INVERSION_METHODS
from facereel.options.latent import LatentOptions

log = logging.getLogger(__name__)

#: the generator of ``optimize`` when none is named: offline, NON-COMMERCIAL weights
DEFAULT_GENERATOR = "dcgan-digiface"
#: smallest aligned crop handed to an inverter (the encoders read 256 px faces)
MIN_CROP = 256


def latent_choices() -> dict:
    """What the latent engine can use on this machine.

    ``{"generators": [installed generator weights names], "methods": {method: usable},
    "needs": {method: the weights name it needs}}``: ``optimize`` needs a generator, the encoder
    methods their encoder weights (``hybrid`` both).
    """
    from facereel import weights
    from facereel.inversion.defaults import DEFAULT_ENCODERS  # torch-free: /api/config answers fast

    def installed(name: str) -> bool:
        try:
            return weights.local_path(name) is not None
        except Exception:  # noqa: BLE001 - an unknown name or an unreadable cache is "not installed"
            return False

    generators = [n for n, e in weights.TABLE.items() if e.kind in GENERATOR_KINDS and installed(n)]
    needs = {m: DEFAULT_ENCODERS.get(m, DEFAULT_GENERATOR) for m in INVERSION_METHODS}
    methods = {}
    for m in INVERSION_METHODS:
        enc = DEFAULT_ENCODERS.get(m)
        methods[m] = (bool(generators) if enc is None else installed(enc)) and (m != "hybrid" or bool(generators))
    return {"generators": generators, "methods": methods, "needs": needs}


@dataclass
class Inverter:
    """A ready generator and the settings to invert aligned crops into it (``inverter(images)``)."""

    generator: object                 # FaceGenerator the frames are generated with
    options: LatentOptions
    settings: object                  # facereel.inversion.api.InversionSettings
    given: object | None = None       # the generator the caller named (checked against an encoder)

    @property
    def crop_size(self) -> int:
        """Side of the aligned crops to invert: the generator's resolution, at least 256 px."""
        return max(MIN_CROP, int(getattr(self.generator, "resolution", MIN_CROP) or MIN_CROP))

    def __call__(self, images: Sequence[np.ndarray], progress: Progress | None = None):
        """Latents [N, ...] (torch, CPU) of uint8 crops [S, S, 3]; cached on disk."""
        from facereel.inversion.api import invert_images

        latents, _ = invert_images(list(images), self.given if self.given is not None else self.generator,
                                   self.settings, use_cache=self.options.use_cache, progress=progress)
        return latents

    def reconstruct(self, latents, size: int) -> list[np.ndarray]:
        """G(latents) as uint8 [size, size, 3] images."""
        import torch
        import torch.nn.functional as F

        out: list[np.ndarray] = []
        bs = self.options.batch_size
        with torch.inference_mode():
            for i in range(0, len(latents), bs):
                x = self.generator.synthesize(latents[i:i + bs].to(self.generator.device)).float()
                if x.shape[-1] != size:
                    x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False,
                                      antialias=x.shape[-1] > size)
                x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
                out += list(x)
        return out


def load_inverter(options: LatentOptions, generator=None) -> Inverter:
    """The generator and inversion settings of ``options`` (validated), loaded now so that a missing
    or unusable checkpoint is one :class:`~facereel.inversion.api.InversionError` before any work.

    ``generator``: a ready FaceGenerator that overrides ``options.generator``.  For psp/e4e/restyle
    the frames come from the encoder checkpoint's decoder (a given generator must take its latents);
    hybrid refines the encoder's latents in the given generator when there is one.
    """
    from facereel.checkpoints import CheckpointError
    from facereel.checkpoints.loaders import load_generator
    from facereel.core.device import resolve_device
    from facereel.inversion.api import InversionError, InversionSettings, check_compatible, load_encoder
    from facereel.nets.plan import prepare_process

    prepare_process()       # process-wide CPU inference settings, once (see facereel.nets.plan)
    settings = InversionSettings(method=options.method, steps=options.steps, seed=options.seed,
                                 encoder=options.encoder, iterations=options.iterations, restarts=options.restarts)
    encoder = load_encoder(settings)
    given = generator
    if given is None and (options.generator is not None or options.method not in ENCODER_METHODS):
        name = options.generator or DEFAULT_GENERATOR
        try:
            given = load_generator(name, device=resolve_device(options.device))
        except CheckpointError as exc:
            raise InversionError(str(exc)) from exc
        except (OSError, RuntimeError, ValueError) as exc:
            raise InversionError(f"cannot load generator {name}: {exc}") from exc
    if encoder is None:
        final = given
    else:
        if given is not None:
            check_compatible(given, encoder.generator, settings)
        final = given if (options.method == "hybrid" and given is not None) else encoder.generator
    return Inverter(generator=final, options=options, settings=settings, given=given)


def reconstruction_identity(inverter: Inverter, latents, images: Sequence[np.ndarray],
                            names: Sequence[str]) -> list[tuple[str, float | None]]:
    """(name, dlib similarity of G(latent) to its photo) per image; None where either has no face.

    Similarity is ``1 − ‖d(a) − d(b)‖`` (:func:`facereel.metrics.identity.similarity`); dlib's
    same-person threshold is :data:`~facereel.metrics.identity.SAME_PERSON_SIMILARITY`.
    """
    from facereel.metrics.identity import observe_face, similarity

    scores: list[tuple[str, float | None]] = []
    for name, img, rec in zip(names, images, inverter.reconstruct(latents, int(images[0].shape[0])), strict=True):
        a = observe_face(np.ascontiguousarray(img), landmarks=None).descriptor
        b = observe_face(rec, landmarks=None).descriptor if a is not None else None
        s = similarity(a, b)
        scores.append((name, None if not np.isfinite(s) else round(float(s), 3)))
    return scores


def identity_warning(scores: Sequence[tuple[str, float | None]], options: LatentOptions,
                     generator_name: str) -> str | None:
    """One line naming the photos whose reconstruction is below the same-person threshold, or None."""
    from facereel.metrics.identity import SAME_PERSON_SIMILARITY

    low = [(n, s) for n, s in scores if s is None or s < SAME_PERSON_SIMILARITY]
    if not low:
        return None
    listed = ", ".join(f"{n} {'no face' if s is None else f'{s:.2f}'}" for n, s in low)
    help_ = ("official FFHQ StyleGAN weights with an encoder would help (e.g. `facereel weights download "
             "e4e_ffhq_encode`, then --method e4e; NON-COMMERCIAL licence)")
    if options.method in ENCODER_METHODS:
        help_ = "the official FFHQ encoder and StyleGAN weights would help (`facereel weights list`)"
    return (f"the latent reconstruction of {len(low)} of {len(scores)} photos does not look like the same person "
            f"(dlib identity below {SAME_PERSON_SIMILARITY:.2f} with {options.method} into {generator_name}): "
            f"{listed}; {help_}")
