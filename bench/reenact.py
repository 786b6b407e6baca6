"""Reenactment speed on CPU: the thesis' network at 1024 (``--method learned``).

Run: ``python bench/reenact.py [--repeats 2] [--threads 2] [--identity-iterations 5]``
(``--method warp``: ``bench/reenact_warp.py``.)

One driver frame through g = G(M(E_i(t) ⊕ E_m(s))) at 1024 (E_m on the 256 aligned frame, the
18432 -> 9216 mapping, the rosinality FFHQ decoder), random weights (speed does not depend on
them; BatchNorm statistics randomised so folding is not a no-op), batch 1.  Paths in the same run,
interleaved so machine load hits them alike:

* ``thesis``: the thesis code path per frame, MypSp's order of calls — the identity code E_i(t)
  recomputed from the target crop (ReStyle-pSp, ``--identity-iterations`` steps, each an IR-SE50
  pass on [t, ŷ] and a decoder pass, as the thesis' Tool does for every frame), then E_m(s), M and
  G; all fp32 under ``no_grad``, E_m and the ReStyle encoder op by op (BatchNorm layers, SE as
  modules), the decoders on the reference path (``Generator.plan = REFERENCE``: upfirdn2d and
  fused leaky ReLU as the official ops' CPU stand-ins, per-sample modulated weights), fresh noise
  per call;
* ``thesis, E_i cached``: the same without recomputing E_i(t) (the network forward alone);
* ``facereel``: what ``--method learned`` runs per frame — E_i(t) computed once in ``prepare``
  (the target is fixed), E_m fused (``fuse()``), the decoder on the StyleGAN2 fast path with the
  stored noise buffers, under ``torch.inference_mode``.

Goal: facereel / thesis <= 0.6 (also printed against the E_i-cached thesis path).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

from facereel.nets.plan import FAST, REFERENCE, prepare_process

GOAL_RATIO = 0.6


def _randomise_bn(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(1 + 0.1 * torch.rand(m.num_features, generator=g))


def _identity_encoder(n_styles: int):
    """A ReStyle-pSp E_i of the official architecture (6-channel IR-SE50 + its own 1024 decoder)."""
    from facereel.inversion.encoders import EncoderInverter
    from facereel.nets.encoders import BackboneEncoder
    from facereel.nets.rosinality import Generator

    enc = BackboneEncoder(50, "ir_se", n_styles=n_styles, input_nc=6)
    _randomise_bn(enc, seed=1)
    inv = EncoderInverter(enc, Generator(1024, 512, 8), 0.1 * torch.randn(n_styles, 512), "restyle_psp")
    inv.decoder.plan = REFERENCE
    return inv.eval().requires_grad_(False)


def bench_learned(repeats: int, identity_iterations: int) -> dict:
    from facereel.nets.pet import PoseExpressionTransfer

    torch.manual_seed(0)
    net = PoseExpressionTransfer(1024, mapping_init="none").eval().requires_grad_(False)
    _randomise_bn(net.encoder)
    e_i = _identity_encoder(net.n_styles)
    x = torch.rand(1, 3, 256, 256) * 2 - 1             # the aligned driver frame s
    target = torch.rand(1, 3, 256, 256) * 2 - 1        # the aligned target crop t
    with torch.no_grad():
        e_i.average_image()                            # ReStyle computes ŷ_0 once per run
        t_code = e_i.restyle_loop(target, identity_iterations).latents   # ours: once, in prepare

    net.encoder.fuse()
    # the fused plans of E_m and its units, held aside while the thesis path runs op by op
    plans = {m: m._fused for m in net.encoder.modules() if getattr(m, "_fused", None) is not None}

    def thesis_path(recompute_identity: bool):
        for m in plans:
            object.__setattr__(m, "_fused", None)
        net.decoder.plan = REFERENCE
        try:
            with torch.no_grad():
                t = e_i.restyle_loop(target, identity_iterations).latents if recompute_identity else t_code
                return net(x, t, resize=False, randomize_noise=True)
        finally:
            for m, p in plans.items():
                object.__setattr__(m, "_fused", p)

    def ours():
        net.decoder.plan = FAST
        with torch.inference_mode():
            return net(x, t_code, resize=False, randomize_noise=False)

    paths = {"thesis": lambda: thesis_path(True), "thesis, E_i cached": lambda: thesis_path(False),
             "facereel": ours}
    ours(), thesis_path(False)          # warm-up (fast-path build, allocator)
    times: dict[str, list[float]] = {k: [] for k in paths}
    for r in range(repeats):
        order = list(paths.items())
        for name, fn in (order if r % 2 == 0 else order[::-1]):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["facereel"] / med["thesis"]
    ratio_cached = med["facereel"] / med["thesis, E_i cached"]
    print(f"learned 1024, s/frame (median of {repeats}; E_i = ReStyle-pSp, {identity_iterations} steps): "
          + "  ".join(f"{k} {v:.2f}" for k, v in med.items()))
    print(f"  facereel / thesis {ratio:.2f} (goal <= {GOAL_RATIO})   "
          f"facereel / thesis with E_i cached {ratio_cached:.2f}")
    return {"s": med, "ratio": ratio, "ratio_cached": ratio_cached}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--identity-iterations", type=int, default=5,
                    help="ReStyle steps of E_i(t) (ReenactOptions.restyle_iterations' default)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    prepare_process()           # as the CLI does before any command
    print(f"torch threads {a.threads}, load average {os.getloadavg()[0]:.1f} (other jobs share the machine)")
    bench_learned(a.repeats, a.identity_iterations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
