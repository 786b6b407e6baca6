"""The torch port of the CC0 age/gender ONNX nets matches onnxruntime to 1e-5."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from facereel.nets.agenet import OnnxNet, package_model_path


@pytest.mark.parametrize("name", ["age", "gender"])
def test_port_matches_onnxruntime(name):
    path = package_model_path(name)
    net = OnnxNet(path).eval()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    size = sess.get_inputs()[0].shape[2:]  # [N, 3, S, S]
    x = np.random.RandomState(0).uniform(0, 1, (3, 3, *size)).astype(np.float32)
    want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    # the logits are where a mismatch would hide after softmax saturation
    assert np.abs(got.sum(1) - 1).max() < 1e-5


def test_features_are_differentiable():
    net = OnnxNet(package_model_path("age")).eval()
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    feats = net.features(x)
    assert len(feats) >= 5
    sum(f.square().mean() for f in feats).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
