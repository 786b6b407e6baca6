"""Generic replay of every golden fixture (``../shared/golden`` plus ``$FACEREEL_GOLDEN_DIRS``).

Weights come only from the README's fill rule, load by the official names with strict loading,
and every output must satisfy max|out - ref| <= 1e-4 * max(1, max|ref|).  Never loosen it.
"""

from __future__ import annotations

import numpy as np
import pytest

from golden import builders, golden_files, golden_state_torch, load_meta, replay

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
    assert len(FILES) >= 14, [p.name for p in FILES]
