"""The labeller of generated faces: its MediaPipe workers and the overlap of generation with
labelling change nothing about the labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def dcgan():
    from facereel.checkpoints.loaders import load_dcgan_digiface

    return load_dcgan_digiface("cpu")


def test_threaded_and_overlapped_labels_equal_the_plain_ones(dcgan):
    from facereel.latent.labels import MP_WORKERS, FaceLabeller, sample_labelled
    from facereel.latent.space import to_uint8

    assert MP_WORKERS >= 2
    plain = FaceLabeller(threads=False)
    with torch.inference_mode():
        images = to_uint8(dcgan.synthesize(dcgan.sample(list(range(20)))))
    want = plain(images)
    box = plain.box_fraction
    plain.close()
    threaded = FaceLabeller(box=box)
    before = torch.get_num_threads()
    try:
        codes, got = sample_labelled(dcgan, 20, seed=0, batch=7, labeller=threaded)   # 3 overlapped batches
        assert torch.get_num_threads() == before                                     # the torch scope is restored
        assert len(threaded._landmarkers) == MP_WORKERS                              # one landmarker per worker
    finally:
        threaded.close()
    assert codes.shape == (20, dcgan.z_dim) and set(got) == set(want)
    assert np.isfinite(want["smile"]).sum() >= 15 and np.isfinite(want["age"]).all()
    for k in want:
        np.testing.assert_array_equal(np.isnan(got[k]), np.isnan(want[k]), err_msg=k)
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-5, err_msg=k)   # batch size: float rounding
    assert not threaded._landmarkers                                                   # closed
