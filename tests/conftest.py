from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def torch_threads():
    """Golden fixtures were produced with 2 threads; match it."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def samples():
    """Directory of the real sample photos (fetched into the cache by the setup)."""
    from facereel.samples import sample_dir

    return sample_dir()
