"""The learned and baseline methods end to end on the sample photos, with small seeded networks of
the real classes (no weights needed)."""

from __future__ import annotations

import shutil

import numpy as np
import torch

from facereel.options.reenact import ReenactOptions
from facereel.reenact.baseline import BaselineMethod, video_mean_code
from facereel.reenact.learned import LearnedMethod
from facereel.reenact.runner import reenact_video


def tiny_transfer_net():
    from facereel.nets.pet import MotionEncoder, PoseExpressionTransfer
    from facereel.nets.rosinality import Generator

    torch.manual_seed(0)
    enc = MotionEncoder(50, "ir_se", 3, n_styles=4, stage_units=(1, 1, 1, 1))
    net = PoseExpressionTransfer(8, decoder=Generator(8, 512, 1, channel_multiplier=1), encoder=enc,
                                 mapping_init="none").eval()
    with torch.no_grad():   # random init: let the motion half of M's input (codes ~1e-2) matter
        net.mapping_net.linear_relu[0].weight[:, 4 * 512:] *= 200
    return net


def tiny_restyle():
    """ReStyle-pSp composition of the real classes: BackboneEncoder (6 channels) over an 8 px decoder."""
    from facereel.inversion.encoders import EncoderInverter
    from facereel.nets.encoders import BackboneEncoder
    from facereel.nets.rosinality import Generator

    torch.manual_seed(1)
    enc = BackboneEncoder(50, "ir_se", n_styles=4, input_nc=6)
    return EncoderInverter(enc, Generator(8, 512, 1, channel_multiplier=1), torch.zeros(4, 512),
                           "restyle_psp").eval()


def _driver(tmp_path, samples):
    d = tmp_path / "drv"
    d.mkdir()
    for i, n in enumerate(("obama.jpg", "obama2.jpg", "obama3.jpg")):
        shutil.copy(samples / n, d / f"{i}.jpg")
    return d


def test_learned_method_streams_the_sample_photos(tmp_path, samples):
    import av

    net = tiny_transfer_net()
    m = LearnedMethod(network=net, inverter=tiny_restyle())
    out = tmp_path / "learned.mp4"
    rep = reenact_video(_driver(tmp_path, samples), samples / "biden.jpg", out,
                        ReenactOptions(method="learned", size=64, restyle_iterations=1, smoothing=0.0), method=m)
    assert rep.frames == 3 and rep.no_face_frames == 0 and rep.method_report == {"frames_driven": 3}
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (64, 64, 3)
    # different driver frames give different motion codes, hence different outputs
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).mean() > 1


def test_learned_smoothing_is_an_ema_of_the_motion_code(samples):
    from facereel.faces.io import load_image

    net = tiny_transfer_net()
    m = LearnedMethod(network=net, inverter=tiny_restyle())
    opts = ReenactOptions(method="learned", size=64, restyle_iterations=1, smoothing=0.75).validate()
    m.configure(opts)
    m.prepare(load_image(samples / "biden.jpg").rgb, opts)
    f1, f2 = (load_image(samples / n).rgb for n in ("obama.jpg", "obama3.jpg"))
    m.drive(f1)
    c1 = m._prev_code.clone()
    m.drive(f2)
    from facereel.inversion.encoders import preprocess
    from facereel.reenact.learned import align256
    from facereel.reenact.target import face_landmarks

    with torch.no_grad():
        raw2 = net.encoder(preprocess(align256(f2, face_landmarks(f2))))
    assert torch.allclose(m._prev_code, 0.75 * c1 + 0.25 * raw2, atol=1e-5)


def test_baseline_is_latent_arithmetic_with_the_video_mean_and_flips(tmp_path, samples):
    seen = []

    def invert(crops):                 # a code that tells frames apart: mean colour per channel
        seen.extend(crops)
        return torch.stack([torch.tensor(c.reshape(-1, 3).mean(0), dtype=torch.float32).repeat(6)[:4, None]
                            .expand(4, 512) + float(c[:, :128].mean() - c[:, 128:].mean())
                            for c in crops])

    outs = []

    def synthesize(z):
        outs.append(z.clone())
        return torch.zeros(1, 3, 8, 8)

    m = BaselineMethod(invert=invert, synthesize=synthesize)
    rep = reenact_video(_driver(tmp_path, samples), samples / "biden.jpg", tmp_path / "b.mp4",
                        ReenactOptions(method="baseline", size=64), method=m)
    assert rep.frames == 3 and rep.method_report["codes_in_mean"] == 6
    # observe: frame + its mirror image per frame; prepare: the target
    frames = seen[:6]
    assert np.array_equal(frames[1], frames[0][:, ::-1])
    codes = invert(frames)
    z_a0 = video_mean_code(codes[0::2], codes[1::2])
    z_r = invert([seen[6]])[0]
    for k in range(3):
        assert torch.allclose(outs[k][0], z_r + (codes[2 * k] - z_a0), atol=1e-5)
