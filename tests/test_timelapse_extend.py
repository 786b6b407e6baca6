"""Issue 18 (3): a multi-photo time-lapse extended before its first and after its last photo
(``--extend-to``) along an age direction, with the offline DCGAN (``dcgan-digiface``)."""

from __future__ import annotations

import numpy as np
import pytest

from facereel.core.errors import OptionsError


def test_options_validate_extend_to():
    from facereel.options.timelapse import TimelapseOptions

    o = TimelapseOptions(engine="latent", extend_to="5,80", extend_direction="e4e-age").validate()
    assert o.extend_to == (5.0, 80.0)
    for kw, field in [({"engine": "morph", "extend_to": (5, 80), "extend_direction": "x"}, "extend_to"),
                      ({"engine": "latent", "extend_to": (5, 80)}, "extend_direction"),
                      ({"engine": "latent", "extend_to": (80, 5), "extend_direction": "x"}, "extend_to"),
                      ({"engine": "latent", "extend_to": "5", "extend_direction": "x"}, "extend_to")]:
        with pytest.raises(OptionsError) as exc:
            TimelapseOptions(**kw).validate()
        assert exc.value.field == field


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch

    from facereel.latent.directions import Direction, save_direction
    from facereel.latent.space import space_of, to_uint8
    from facereel.options.latent import LatentOptions
    from facereel.pipelines.invert import load_inverter
    from facereel.render.engines.base import Keyframe

    G = load_inverter(LatentOptions(steps=5), None).generator
    sp = space_of(G)
    rng = np.random.default_rng(0)
    d = Direction(vectors=rng.standard_normal((1, sp.dim)) / np.sqrt(sp.dim), generator="*",
                  latent_space=sp.kind, dim=sp.dim, label="age")
    path = save_direction(d, tmp_path_factory.mktemp("ext") / "age.safetensors")
    with torch.inference_mode():
        imgs = to_uint8(G.synthesize(torch.randn(2, sp.dim, generator=torch.Generator().manual_seed(3))))
    from PIL import Image

    kfs = [Keyframe(image=np.asarray(Image.fromarray(im).resize((64, 64))), landmarks=None, age=a, label=f"p{a}")
           for im, a in zip(imgs, (30.0, 40.0))]
    return G, path, kfs


@pytest.mark.slow
def test_extended_timelapse_adds_frames_and_keeps_photos(setup, tmp_path, torch_threads):
    from PIL import Image

    from facereel.pipelines.timelapse import TimelapseError, render_timelapse

    G, path, kfs = setup
    base = dict(engine="latent", frames_per_gap=2, size=64, format="frames", latent={"steps": 5, "blend": "seed"})
    plain = render_timelapse(kfs, tmp_path / "plain", generator=G, **base)
    ext = render_timelapse(kfs, tmp_path / "ext", generator=G, extend_to=(20.0, 50.0),
                           extend_direction=str(path), **base)
    assert ext.frames > plain.frames
    assert [k for k in ext.keyframes if k.startswith("p")] == ["p30.0", "p40.0"]
    frames = sorted((tmp_path / "ext").glob("*.png"))
    real = [i for i, k in zip(ext.keyframe_indices, ext.keyframes) if k.startswith("p")]
    for i, k in zip(real, kfs):
        assert np.array_equal(np.asarray(Image.open(frames[i]).convert("RGB")), k.image)

    with pytest.raises(TimelapseError, match="above the first photo's age"):
        render_timelapse(kfs, tmp_path / "bad", generator=G, extend_to=(35.0, 50.0),
                         extend_direction=str(path), **base)
    with pytest.raises(TimelapseError, match="neither a direction file"):
        render_timelapse(kfs, tmp_path / "bad2", generator=G, extend_to=(20.0, 50.0),
                         extend_direction=str(tmp_path / "missing.safetensors"), **base)
