"""Encoders (IR-SE50 ArcFace, pSp, e4e, ReStyle) and the official compositions.

Numerical identity with the official code is proven by the golden fixtures (tests/test_golden.py
with tests/helpers/golden_builders/encoders.py).  These tests cover what the fixtures do not: the fused
inference path against the plain one, the relations between the encoder variants, the ReStyle loop
bookkeeping, the checkpoint loader's error paths, and the input/output conversions.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from facereel.nets.encoders import (
    Backbone,
    BackboneEncoder,
    BottleneckIR,
    BottleneckIRSE,
    Encoder4Editing,
    GradualStyleBlock,
    GradualStyleEncoder,
    ProgressiveBackboneEncoder,
)


def _randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics / affine and PReLU slopes (the default init folds to identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(1 + 0.2 * torch.rand(c, generator=g))
                if m.weight is not None:
                    m.weight.copy_(1 + 0.1 * torch.randn(c, generator=g))
                    m.bias.copy_(0.1 * torch.randn(c, generator=g))
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(0.25 + 0.05 * torch.randn(m.weight.shape, generator=g))
    return model


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def _fused_vs_plain(model: nn.Module, *inputs) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    model._drop_fused()
    with torch.no_grad():
        plain = model(*inputs)
        model.fuse()
        assert model._fused is not None
        fused = model(*inputs)
    return fused, plain


@pytest.mark.parametrize("unit_cls", [BottleneckIRSE, BottleneckIR])
@pytest.mark.parametrize("cin,depth,stride", [(16, 16, 1), (16, 16, 2), (16, 32, 2), (8, 32, 1)])
def test_fused_unit_matches_plain(unit_cls, cin, depth, stride, torch_threads):
    torch.manual_seed(0)
    unit = _randomise_bn(unit_cls(cin, depth, stride))
    x = torch.randn(2, cin, 13, 12)                # odd size: border handling of the strided paths
    fused, plain = _fused_vs_plain(unit, x)
    assert fused.shape == plain.shape == (2, depth, (13 - 1) // stride + 1, (12 - 1) // stride + 1)
    assert _rel_err(fused, plain) <= 1e-5


def test_fused_path_is_dropped_when_weights_change(torch_threads):
    torch.manual_seed(0)
    unit = _randomise_bn(BottleneckIRSE(16, 16, 1)).eval().fuse()
    x = torch.randn(1, 16, 6, 6)
    state = {k: v.clone() for k, v in unit.state_dict().items()}
    state["res_layer.1.weight"].mul_(2)
    unit.load_state_dict(state)
    assert unit._fused is None
    with torch.no_grad():
        out = unit(x)
        ref = unit.res_layer(x) + unit.shortcut_layer(x)
    assert torch.equal(out, ref)
    unit.fuse()
    unit.train()
    assert unit._fused is None


def test_fused_backbone_matches_plain_and_keeps_input_gradients(torch_threads, device):
    torch.manual_seed(0)
    net = _randomise_bn(Backbone(112, 50, "ir_se", drop_ratio=0.6)).to(device)
    x = torch.randn(2, 3, 112, 112).to(device)
    fused, plain = _fused_vs_plain(net, x)
    assert fused.shape == (2, 512)
    assert torch.allclose(fused.norm(dim=1), torch.ones(2, device=device), atol=1e-5)
    assert _rel_err(fused, plain) <= 1e-5
    # identity losses back-propagate to the image through the fused path
    xr = x[:1].clone().requires_grad_(True)
    net(xr).sum().backward()
    assert xr.grad is not None and torch.isfinite(xr.grad).all() and xr.grad.abs().sum() > 0


@pytest.fixture
def winograd_everywhere(monkeypatch):
    """Every stride-1 3x3 conv of the fused path as Winograd (one tile row per chunk); yields the
    list of input shapes it ran on."""
    from facereel.nets import winograd

    calls = []
    real = winograd.conv3x3_winograd
    monkeypatch.setattr(winograd, "conv3x3_winograd", lambda x, *a: calls.append(tuple(x.shape)) or real(x, *a))
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)
    return calls


@pytest.mark.parametrize("cin,depth,stride", [(16, 16, 1), (16, 32, 2), (8, 32, 1)])
def test_fused_unit_with_winograd_matches_plain(winograd_everywhere, cin, depth, stride, torch_threads):
    torch.manual_seed(1)
    unit = _randomise_bn(BottleneckIRSE(cin, depth, stride))
    x = torch.randn(2, cin, 13, 12)
    fused, plain = _fused_vs_plain(unit, x)
    assert len(winograd_everywhere) == (2 if stride == 1 else 1)   # conv2 of a stride-2 unit stays direct
    assert _rel_err(fused, plain) <= 1e-5


def test_psp_with_winograd_matches_plain_and_keeps_gradients(winograd_everywhere, torch_threads):
    torch.manual_seed(0)
    psp = _randomise_bn(GradualStyleEncoder(50, "ir_se", input_nc=3, n_styles=8))
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    fused, plain = _fused_vs_plain(psp, x)
    assert len(winograd_everywhere) == 2 * 24 - 4
    assert _rel_err(fused, plain) <= 1e-5
    winograd_everywhere.clear()
    xr = x.clone().requires_grad_(True)
    psp(xr).sum().backward()          # autograd recording: direct convs, gradients reach the image
    assert not winograd_everywhere and xr.grad is not None and xr.grad.abs().sum() > 0


@pytest.mark.parametrize("size", [4, 8, 16])
def test_style_block_tail_shortcut(size, torch_threads):
    """Fused head: conv (16x16 input), im2col GEMM (8x8, 4x4), 4-tap Linear for the 2x2 -> 1x1 tail."""
    torch.manual_seed(0)
    block = GradualStyleBlock(16, 16, size)
    x = torch.randn(3, 16, size, size)
    fused, plain = _fused_vs_plain(block, x)
    assert fused.shape == (3, 16)
    assert _rel_err(fused, plain) <= 1e-5


@pytest.fixture(scope="module")
def small_psp_pair():
    """pSp and e4e encoders with 8 styles (3 coarse, 4 middle, 1 fine) sharing one set of weights."""
    torch.manual_seed(0)
    psp = _randomise_bn(GradualStyleEncoder(50, "ir_se", input_nc=3, n_styles=8)).eval()
    e4e = Encoder4Editing(50, "ir_se", n_styles=8).eval()
    e4e.load_state_dict(psp.state_dict(), strict=True)
    return psp, e4e


def test_psp_encoder_fused_matches_plain(small_psp_pair, torch_threads, device):
    psp, _ = small_psp_pair
    x = (torch.rand(2, 3, 64, 64) * 2 - 1).to(device)
    fused, plain = _fused_vs_plain(copy.deepcopy(psp).to(device), x)  # the fixture is shared
    assert fused.shape == (2, 8, 512)
    assert _rel_err(fused, plain) <= 1e-5


def test_e4e_is_w0_plus_the_psp_heads(small_psp_pair, torch_threads):
    """Same weights: e4e row 0 is pSp's head 0; row i is head 0 + head i (same pyramid level)."""
    psp, e4e = small_psp_pair
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    psp.fuse()
    e4e.fuse()
    with torch.no_grad():
        p = psp(x)
        w = e4e(x)
    assert w.shape == p.shape
    assert torch.allclose(w[:, 0], p[:, 0], atol=1e-6)
    assert torch.allclose(w[:, 1:], p[:, :1] + p[:, 1:], atol=1e-5)


def test_e4e_progressive_stage_limits_the_offsets(small_psp_pair, torch_threads):
    _, e4e = small_psp_pair
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    e4e.fuse()
    with torch.no_grad():
        full = e4e(x)
        e4e.progressive_stage = 3
        try:
            staged = e4e(x)
        finally:
            e4e.progressive_stage = 18
    assert torch.equal(staged[:, :4], full[:, :4])
    assert torch.equal(staged[:, 4:], full[:, :1].expand(-1, 4, -1))    # w0 only beyond stage 3
    assert not torch.allclose(full[:, 4:], full[:, :1].expand(-1, 4, -1))


def test_restyle_encoders_share_heads(torch_threads):
    torch.manual_seed(0)
    enc = _randomise_bn(BackboneEncoder(50, "ir_se", n_styles=4, input_nc=6)).eval()
    prog = ProgressiveBackboneEncoder(50, "ir_se", n_styles=4, input_nc=6).eval()
    prog.load_state_dict(enc.state_dict(), strict=True)
    x = torch.rand(2, 6, 64, 64) * 2 - 1
    fused, plain = _fused_vs_plain(enc, x)
    assert fused.shape == (2, 4, 512)
    assert _rel_err(fused, plain) <= 1e-5
    prog.fuse()
    with torch.no_grad():
        w = prog(x)
    assert torch.allclose(w[:, 0], fused[:, 0], atol=1e-6)
    assert torch.allclose(w[:, 1:], fused[:, :1] + fused[:, 1:], atol=1e-5)


# ---------------------------------------------------------------------------------------------
# compositions and the checkpoint loader


@pytest.fixture(scope="module")
def restyle_checkpoint(tmp_path_factory):
    """A ReStyle-pSp checkpoint in the official format: 6 styles, 16 px rosinality decoder."""
    from facereel.nets.rosinality import Generator

    torch.manual_seed(1)
    enc = _randomise_bn(BackboneEncoder(50, "ir_se", n_styles=6, input_nc=6))
    dec = Generator(16, 512, 2, channel_multiplier=1)
    state = {f"encoder.{k}": v for k, v in enc.state_dict().items()}
    state.update({f"decoder.{k}": v for k, v in dec.state_dict().items()})
    latent_avg = 0.1 * torch.randn(6, 512)
    opts = {"encoder_type": "BackboneEncoder", "output_size": 16, "input_nc": 6, "n_iters_per_batch": 3,
            "start_from_latent_avg": True}
    path = tmp_path_factory.mktemp("ckpt") / "restyle_tiny.pt"
    torch.save({"state_dict": state, "latent_avg": latent_avg, "opts": opts}, path)
    return path, latent_avg


def test_load_inverter_reads_the_official_format(restyle_checkpoint, torch_threads):
    from facereel.inversion.encoders import load_inverter

    path, latent_avg = restyle_checkpoint
    inv = load_inverter(path, device="cpu")
    assert inv.kind == "restyle_psp" and inv.n_styles == 6 and inv.resolution == 16
    assert not inv.training and inv.encoder._fused is not None
    assert torch.equal(inv.latent_avg, latent_avg)
    assert inv.default_iterations == 3


def test_save_checkpoint_round_trip(restyle_checkpoint, tmp_path, torch_threads):
    from facereel.inversion.encoders import load_inverter, save_checkpoint

    path, _ = restyle_checkpoint
    inv = load_inverter(path, device="cpu")
    again = load_inverter(save_checkpoint(inv, tmp_path / "again.pt"), device="cpu")
    assert again.kind == inv.kind and again.opts["n_iters_per_batch"] == 3
    a, b = inv.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_restyle_loop_is_residual(restyle_checkpoint, torch_threads):
    """w_0 = latent_avg + E(x, avg image); w_t = w_{t-1} + E(x, pool256(y_{t-1})), y_t = G(w_t)."""
    from facereel.inversion.encoders import load_inverter

    path, latent_avg = restyle_checkpoint
    inv = load_inverter(path, device="cpu")
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        out = inv.run(x, iterations=2)
        assert len(out.steps) == 2
        avg = inv.average_image()
        assert avg.shape == (1, 3, 256, 256)
        prev_img = avg
        prev_lat = latent_avg.unsqueeze(0)
        for img, lat in out.steps:
            delta = inv.encoder(torch.cat([x, prev_img], 1))
            assert torch.allclose(lat, prev_lat + delta, atol=1e-5)
            y, _ = inv.decoder([lat], input_is_latent=True, randomize_noise=False)
            assert img.shape == (1, 3, 16, 16) and torch.allclose(img, y, atol=1e-5)
            prev_img = nn.functional.adaptive_avg_pool2d(img, (256, 256))
            prev_lat = lat
    assert torch.equal(out.latents, out.steps[-1][1])


def test_invert_takes_uint8_faces_and_uses_the_decoder_as_generator(restyle_checkpoint, torch_threads):
    from facereel.inversion.encoders import load_inverter, preprocess

    path, _ = restyle_checkpoint
    inv = load_inverter(path, device="cpu")
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, size=(2, 64, 64, 3), dtype=np.uint8)
    codes = inv.invert(faces, iterations=1, batch_size=1)
    assert codes.shape == (2, 6, 512) and codes.dtype == torch.float32
    ref = inv.run(preprocess(faces[1:]), iterations=1).latents
    assert torch.allclose(codes[1:], ref, atol=1e-5)
    gen = inv.generator
    assert gen.num_ws == 6 and gen.resolution == 16
    img = gen.synthesize(codes[:1])
    assert img.shape == (1, 3, 16, 16)


def test_psp_wrapper_latent_avg_and_style_mixing(tmp_path, torch_threads):
    """pSp: codes = E(x) + latent_avg; latent_mask copies (or alpha-blends) entries of inject_latent."""
    from facereel.inversion.encoders import load_inverter
    from facereel.nets.rosinality import Generator

    torch.manual_seed(2)
    enc = GradualStyleEncoder(50, "ir_se", input_nc=3, n_styles=4)
    dec = Generator(8, 512, 1, channel_multiplier=1)
    state = {**{f"encoder.{k}": v for k, v in enc.state_dict().items()},
             **{f"decoder.{k}": v for k, v in dec.state_dict().items()}}
    latent_avg = torch.randn(4, 512)
    path = tmp_path / "psp_tiny.pt"
    torch.save({"state_dict": state, "latent_avg": latent_avg,
                "opts": {"encoder_type": "GradualStyleEncoder", "output_size": 8, "input_nc": 3,
                         "start_from_latent_avg": True, "learn_in_w": False}}, path)
    inv = load_inverter(path, device="cpu")
    assert inv.kind == "psp"
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    inject = torch.randn(2, 4, 512)
    with torch.no_grad():
        img, lat = inv(x, randomize_noise=False, return_latents=True, resize=False)
        assert torch.allclose(lat, inv.encoder(x) + latent_avg, atol=1e-6)
        assert img.shape == (2, 3, 8, 8)
        _, mixed = inv(x, latent_mask=[1, 3], inject_latent=inject, randomize_noise=False, return_latents=True)
        assert torch.equal(mixed[:, [1, 3]], inject[:, [1, 3]]) and torch.equal(mixed[:, [0, 2]], lat[:, [0, 2]])
        _, half = inv(x, latent_mask=[2], inject_latent=inject, alpha=0.5, randomize_noise=False,
                      return_latents=True)
        assert torch.allclose(half[:, 2], 0.5 * inject[:, 2] + 0.5 * lat[:, 2], atol=1e-6)
        pooled = inv(x, randomize_noise=False)
        assert pooled.shape == (2, 3, 256, 256)


def test_loader_errors(tmp_path, restyle_checkpoint):
    from facereel.inversion.encoders import load_inverter

    with pytest.raises(FileNotFoundError):
        load_inverter(tmp_path / "missing.pt")
    bad = tmp_path / "not_psp.pt"
    torch.save({"g_ema": {"x": torch.zeros(1)}}, bad)
    with pytest.raises(ValueError):
        load_inverter(bad)
    # encoder with 6 heads against a decoder expecting 4 styles
    path, latent_avg = restyle_checkpoint
    ck = torch.load(path, weights_only=True)
    from facereel.nets.rosinality import Generator

    dec = Generator(8, 512, 1, channel_multiplier=1)
    ck["state_dict"] = {k: v for k, v in ck["state_dict"].items() if k.startswith("encoder.")}
    ck["state_dict"].update({f"decoder.{k}": v for k, v in dec.state_dict().items()})
    ck["opts"]["output_size"] = 8
    mismatch = tmp_path / "mismatch.pt"
    torch.save(ck, mismatch)
    with pytest.raises(ValueError, match="styles"):
        load_inverter(mismatch)


def test_preprocess_and_to_uint8():
    from PIL import Image

    from facereel.inversion.encoders import arcface_crop, preprocess, to_uint8

    img = np.zeros((300, 200, 3), np.uint8)
    img[..., 0] = 255
    x = preprocess(img)
    assert x.shape == (1, 3, 256, 256) and x.dtype == torch.float32
    assert torch.equal(x[0, 0], torch.ones(256, 256)) and torch.equal(x[0, 1], -torch.ones(256, 256))
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, size=(2, 256, 256, 3), dtype=np.uint8)
    y = preprocess(list(faces) + [Image.fromarray(faces[0])])
    assert y.shape == (3, 3, 256, 256)
    assert np.array_equal(to_uint8(y[:2]), faces)          # 256 input: no resampling, exact round trip
    assert np.array_equal(to_uint8(y[2:]), faces[:1])
    trunc = to_uint8(y[:2], truncate=True).astype(int)      # tensor2im: never above, at most 1 below
    assert ((faces - trunc) >= 0).all() and ((faces - trunc) <= 1).all()
    assert to_uint8(torch.full((1, 3, 2, 2), 3.0)).max() == 255 and to_uint8(torch.full((1, 3, 2, 2), -3.0)).max() == 0
    crop = arcface_crop(y)
    assert crop.shape == (3, 3, 112, 112)
    assert torch.allclose(crop, nn.functional.adaptive_avg_pool2d(y[:, :, 35:223, 32:220], (112, 112)))


# ---------------------------------------------------------------------------------------------
# ReStyle over StyleGAN3 (stylegan3-editing)


@pytest.fixture(scope="module")
def restyle_sg3_checkpoint(tmp_path_factory):
    """stylegan3-editing layout: ReStyle-pSp encoder + SG3-R decoder, latent_avg = w_avg [512]."""
    from facereel.nets.stylegan3 import Generator as SG3

    torch.manual_seed(3)
    G = SG3(z_dim=512, c_dim=0, w_dim=512, img_resolution=16, img_channels=3, mapping_kwargs={"num_layers": 2},
            channel_base=2048, channel_max=32, conv_kernel=1, use_radial_filters=True, num_layers=4,
            magnitude_ema_beta=0.5 ** (32 / 20000), output_scale=0.25)
    enc = _randomise_bn(BackboneEncoder(50, "ir_se", n_styles=G.num_ws, input_nc=6))
    state = {f"encoder.{k}": v for k, v in enc.state_dict().items()}
    state.update({f"decoder.{k}": v for k, v in G.state_dict().items()})
    latent_avg = 0.1 * torch.randn(512)
    path = tmp_path_factory.mktemp("sg3") / "restyle_sg3_tiny.pt"
    torch.save({"state_dict": state, "latent_avg": latent_avg,
                "opts": {"encoder_type": "BackboneEncoder", "input_nc": 6, "output_size": 1024}}, path)
    return path, latent_avg


def test_restyle_sg3_loop_identity_transform(restyle_sg3_checkpoint, torch_threads):
    from facereel.inversion.encoders import ReStyleSG3Inverter, identity_transform, load_inverter

    path, latent_avg = restyle_sg3_checkpoint
    inv = load_inverter(path, device="cpu")
    assert isinstance(inv, ReStyleSG3Inverter) and inv.kind == "restyle_psp"
    assert inv.default_iterations == 3 and inv.n_styles == inv.decoder.num_ws == 6
    # a leftover user transform on the decoder must not leak into the aligned render
    rot = torch.tensor([[0.0, -1.0, 0.1], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    inv.decoder.synthesis.input.transform.copy_(rot)
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        out = inv.run(x)
        assert len(out.steps) == 3
        prev_img = inv.average_image()
        prev_lat = latent_avg.expand(1, 6, 512)
        for img, lat in out.steps:
            assert torch.allclose(lat, prev_lat + inv.encoder(torch.cat([x, prev_img], 1)), atol=1e-5)
            inv.decoder.synthesis.input.transform.copy_(torch.eye(3))
            ref = inv.decoder.synthesis(lat, noise_mode="const", force_fp32=True)
            inv.decoder.synthesis.input.transform.copy_(rot)
            assert img.shape == (1, 3, 16, 16) and torch.allclose(img, ref, atol=1e-5)
            prev_img, prev_lat = nn.functional.adaptive_avg_pool2d(img, (256, 256)), lat
        assert torch.equal(inv.decoder.synthesis.input.transform, rot)     # restored after each render
        # batched per-image transforms = rendering each image with its own transform
        codes = out.latents.repeat(2, 1, 1)
        tf = torch.stack([identity_transform(), rot])
        both = inv.synthesize(codes, tf)
        assert torch.allclose(both[0], inv.synthesize(codes[:1])[0], atol=1e-5)
        assert torch.allclose(both[1], inv.synthesize(codes[1:], rot)[0], atol=1e-5)
        assert not torch.allclose(both[0], both[1], atol=1e-3)


def test_psp_invert_skips_the_decoder_and_returns_the_same_latents(tmp_path, torch_threads):
    """invert() of a pSp checkpoint encodes only; its latents equal the full wrapper's returned latents."""
    from facereel.inversion.encoders import load_inverter
    from facereel.nets.encoders.psp import GradualStyleEncoder
    from facereel.nets.rosinality import Generator

    torch.manual_seed(0)
    enc = _randomise_bn(GradualStyleEncoder(50, "ir_se", n_styles=6))
    dec = Generator(16, 512, 2, channel_multiplier=1)
    state = {f"encoder.{k}": v for k, v in enc.state_dict().items()}
    state.update({f"decoder.{k}": v for k, v in dec.state_dict().items()})
    path = tmp_path / "psp_tiny.pt"
    torch.save({"state_dict": state, "latent_avg": 0.1 * torch.randn(6, 512),
                "opts": {"encoder_type": "GradualStyleEncoder", "output_size": 16, "start_from_latent_avg": True}},
               path)
    inv = load_inverter(path, device="cpu")
    imgs = np.random.default_rng(0).integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    calls = []
    hook = inv.decoder.register_forward_hook(lambda *a: calls.append(1))
    fast = inv.invert(imgs, batch_size=2)
    hook.remove()
    assert not calls                                   # no image was synthesised
    from facereel.inversion.encoders import preprocess

    ref = inv.run(preprocess(list(imgs))).latents
    assert fast.shape == (3, 6, 512)
    torch.testing.assert_close(fast, ref, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# the execution plan: grouped heads (fast) against the heads one by one and the reference order


@pytest.fixture(scope="module")
def psp18():
    """A full pSp encoder (18 styles: groups of 3, 4 and 11 heads) with a 4-channel input, as SAM's."""
    torch.manual_seed(5)
    return _randomise_bn(GradualStyleEncoder(50, "ir_se", input_nc=4, n_styles=18)).eval()


@pytest.mark.parametrize("size,batch", [(64, 2), (128, 1)])
def test_grouped_heads_match_the_heads_one_by_one(psp18, size, batch, torch_threads, monkeypatch):
    """64 px: level 0 of the coarse group as im2col; 128 px: level 0 as one concatenated conv, a
    grouped conv (16x16), batched im2col GEMMs (8x8 .. 1x1) and the 2x2 tail; a batch of 2."""
    from facereel.nets.encoders import psp
    from facereel.nets.plan import FAST, REFERENCE

    groups = []
    real = psp._run_group
    monkeypatch.setattr(psp, "_run_group", lambda p, x: (groups.append(p["heads"]), real(p, x))[1])
    net = copy.deepcopy(psp18)
    x = torch.rand(batch, 4, size, size, generator=torch.Generator().manual_seed(size)) * 2 - 1
    with torch.no_grad():
        plain = net(x)
        net.fuse()
        assert set(net._fused["groups"]) == {0, 3, 7}
        assert torch.equal(net(x, REFERENCE), plain)                 # the official order, after fuse()
        per_head = net(x, FAST.replace(grouped_heads=False))
        assert not groups
        grouped = net(x)
        assert groups == [3, 4, 11]
        torch.set_num_threads(1)                # one thread: the heads one by one
        try:
            one = net(x)
        finally:
            torch.set_num_threads(2)            # torch_threads is session-wide
        assert groups == [3, 4, 11]
    assert grouped.shape == (batch, 18, 512)
    assert _rel_err(one, plain) <= 1e-5
    assert _rel_err(per_head, plain) <= 1e-5
    assert _rel_err(grouped, plain) <= 1e-5
    assert _rel_err(grouped, per_head) <= 1e-5


def test_grouped_heads_keep_the_state_dict_and_one_copy_of_the_weights(psp18, torch_threads):
    net = copy.deepcopy(psp18)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.fuse()
    after = net.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)
    # each group and level is one tensor; the heads' Parameters are its slices (no second copy)
    w7, w8 = net.styles[7].convs[0].weight, net.styles[8].convs[0].weight
    assert w7.untyped_storage().data_ptr() == w8.untyped_storage().data_ptr()
    assert w8.storage_offset() - w7.storage_offset() == w7.numel()
    assert net.styles[7].convs[0].weight.is_contiguous()
    # an official-layout state dict still loads strictly, into the fused net and into a fresh one
    fresh = GradualStyleEncoder(50, "ir_se", input_nc=4, n_styles=18)
    fresh.load_state_dict(after, strict=True)
    net.load_state_dict(before, strict=True)
    assert net._fused is None


def test_reference_plan_runs_no_fast_encoder_code(psp18, torch_threads, monkeypatch):
    from facereel.nets.encoders import irse, psp
    from facereel.nets.plan import REFERENCE

    net = copy.deepcopy(psp18).fuse()
    ran = []
    for owner, name in ((irse._Bottleneck, "_forward_fused"), (psp.GradualStyleBlock, "_forward_fused"),
                        (psp, "_run_group"), (irse, "run_input_layer"), (psp, "run_input_layer")):
        real = getattr(owner, name)
        monkeypatch.setattr(owner, name, lambda *a, _real=real, **k: (ran.append(1), _real(*a, **k))[1])
    x = torch.rand(1, 4, 64, 64) * 2 - 1
    with torch.no_grad():
        net(x, REFERENCE)
        net.plan = REFERENCE
        try:
            net(x)
        finally:
            net.plan = None
        assert not ran
        net(x)
    assert ran
