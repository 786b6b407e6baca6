"""Generic replay of every golden fixture (``../shared/golden`` plus ``$FACEREEL_GOLDEN_DIRS``).

Weights come only from the README's fill rule, load by the official names with strict loading,
and every output must satisfy max|out - ref| <= 1e-4 * max(1, max|ref|).  Never loosen it.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.golden import (
    GOLDEN_DIR,
    builders,
    golden_files,
    golden_state_torch,
    load_meta,
    missing_golden_dirs,
    replay,
)

FILES = golden_files()


@pytest.mark.parametrize("path", FILES, ids=[f"golden-{p.name}" for p in FILES])
def test_golden_fixture(path, torch_threads):
    meta = load_meta(path)
    table = builders()
    module = meta["module"]
    if module not in table:
        pytest.fail(f"no implementation registered for official module {module!r} ({path.name})")
    with np.load(path) as npz:
        state = golden_state_torch(npz)
        model = table[module](meta, state, npz)
        model.eval()
        results = replay(model, meta, npz)
    assert results, "fixture produced no outputs to compare"
    bad = [(k, e, t) for k, e, t in results if not e <= t]
    assert not bad, "outputs outside the golden tolerance: " + ", ".join(
        f"{k}: max|err|={e:.3g} > {t:.3g}" for k, e, t in bad)


def test_golden_fixtures_found():
    """A missing fixture folder fails the suite (it must never silently replay nothing)."""
    missing = missing_golden_dirs()
    assert not missing, f"golden fixture folders not found: {', '.join(map(str, missing))} (the fixtures " \
                        f"live beside the repository in ../shared/golden, plus $FACEREEL_GOLDEN_DIRS)"
    assert len(FILES) >= 14, [p.name for p in FILES]
    assert (GOLDEN_DIR / "align_ffhq.npz").is_file()          # the FFHQ alignment proof's fixture


SG2_DECODERS = ("training.networks_stylegan2.Generator", "models.stylegan2.model.Generator", "models.psp.pSp",
                "psp.MypSp")
SG2_FILES = [p for p in FILES if load_meta(p)["module"] in SG2_DECODERS]
PLANNED_FILES = SG2_FILES + [p for p in FILES if load_meta(p)["module"] == "training.networks_stylegan3.Generator"]


@pytest.mark.parametrize("path", PLANNED_FILES, ids=[f"golden-reference-{p.name}" for p in PLANNED_FILES])
def test_golden_fixture_with_reference_plan(path, torch_threads, monkeypatch):
    """The fixtures of the networks with an ExecutionPlan (StyleGAN2 and its decoders, StyleGAN3;
    the encoders of the pSp/e4e/SAM compositions) with the reference plan as the process default
    (the plain replay runs the default fast plan)."""
    import facereel.nets.concurrent as concurrent
    import facereel.nets.encoders.irse as irse
    import facereel.nets.encoders.psp as psp
    import facereel.nets.filtered_lrelu as fl
    import facereel.nets.plan as plan
    import facereel.nets.stylegan2_fast as sg2_fast

    monkeypatch.setattr(plan, "_default", plan.REFERENCE)
    ran = []
    for mod, name in ((sg2_fast, "synthesis_layer"), (fl, "_filtered_lrelu_fast"), (irse._Bottleneck, "_forward_fused"),
                      (psp.GradualStyleBlock, "_forward_fused"), (psp, "_run_group"), (concurrent, "run_branches")):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _real=real, **k: (ran.append(1), _real(*a, **k))[1])
    test_golden_fixture(path, torch_threads)
    assert not ran, "a fast path ran under the reference plan"


@pytest.mark.parametrize("path", SG2_FILES, ids=[f"golden-fused-{p.name}" for p in SG2_FILES])
def test_golden_fixture_with_fused_kernels(path, torch_threads, monkeypatch):
    """The StyleGAN2 fixtures (NVlabs, rosinality and the pSp/e4e/ReStyle decoders on it) through
    the opt-in compiled kernels, every upsampling layer on the polyphase path they need."""
    import facereel.nets.fused as fused
    import facereel.nets.plan as plan

    if fused._compiler() is None:
        pytest.skip("no C compiler on this machine")
    monkeypatch.setattr(plan, "_default", plan.FUSED.replace(polyphase_min_pixels=1))
    used = []
    for name in ("up2_fir_post", "post_rgb"):
        real = getattr(fused, name)
        monkeypatch.setattr(fused, name, lambda *a, _real=real, _name=name, **k: (used.append(_name), _real(*a, **k))[1])
    test_golden_fixture(path, torch_threads)
    assert {"up2_fir_post", "post_rgb"} <= set(used), "the fused kernels were not used"
