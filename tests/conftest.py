from __future__ import annotations

import pytest


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


def _devices() -> list[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def pytest_generate_tests(metafunc):
    # Tests that take ``device`` run once per device present (torch is imported only for them).
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", _devices(), indirect=True)


@pytest.fixture
def device(request):
    """The ``torch.device`` of this run: every test taking it runs on the CPU and, where one is
    present, on CUDA.  TF32 is off on CUDA for the test (the fast == reference tolerances are
    float32's; TF32 matmuls and convolutions carry 10-bit mantissas)."""
    import torch

    dev = torch.device(request.param)
    if dev.type != "cuda":
        yield dev
        return
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield dev
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
