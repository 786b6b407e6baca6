"""Opt-in fused CPU kernels, compiled from C on first use (never at import).

The default fast paths are pure PyTorch.  A fused kernel does in one pass over memory what they
do in several, where memory traffic, not arithmetic, is what is left: StyleGAN2's upsampling
layers (:func:`up2_fir_post`: at 1024 px the interleave, FIR, noise, activation and clamp touch
a 128 MB map five times) and the tails of its same-size layers with the block's toRGB
(:func:`post_rgb`).  They are used only when the :class:`~facereel.nets.plan.ExecutionPlan` asks
(``fused_kernels=True``: per call ``G.synthesis(ws, plan=FUSED)``, per network
``G.synthesis.plan = FUSED``, or per process: ``FACEREEL_FUSED_KERNELS=1``, ``facereel
--fused-kernels``, :func:`facereel.nets.plan.set_default_plan`), and only where they apply: float32 CPU tensors with no autograd graph; everything else (CUDA included) runs the fast
path.  Tests hold them to the unfused ops, the reference path and the golden fixtures.

Build: the C source in ``csrc/`` is compiled with the system C compiler (``$CC``, else ``cc``)
for this CPU (``-march=native``) into ``$FACEREEL_HOME/kernels`` (else
``$XDG_CACHE_HOME/facereel/kernels``), named by a hash of source, flags, compiler and CPU, so a
changed source or another machine sharing the cache builds its own.  A cached library is loaded
only when this user owns it and no one else can write to it (else it is rebuilt over), since
loading it runs its code.  Where no compiler works the kernels are unavailable:
:func:`available` says so (and why, :func:`unavailable_reason`), a :class:`RuntimeWarning` is
issued once, and the fast path runs instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import threading
import warnings
from pathlib import Path

import torch

from facereel.core.atomic import atomic_path

__all__ = ["available", "unavailable_reason", "up2_fir_post", "post_rgb"]

_SRC = Path(__file__).with_name("csrc") / "stylegan2_fused.c"
# -fno-trapping-math lets gcc vectorise the activation / clamp selects; -ffp-contract=fast allows
# FMA (rounding differs from the reference path by float32 ulps, as any reordering does).
_FLAGS = ["-O3", "-march=native", "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math",
          "-fPIC", "-shared", "-pthread"]

_lock = threading.Lock()
_lib = None
_reason: str | None = None
_warned = False


def _compiler() -> str | None:
    cc = os.environ.get("CC", "").strip()
    for name in ([cc] if cc else []) + ["cc", "gcc", "clang"]:
        path = shutil.which(name)
        if path:
            return path
    return None


def _cpu_id() -> str:
    """The CPU model and flags (what -march=native compiles for)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.machine() + platform.processor()
    keep = [ln for ln in text.splitlines() if ln.split(":")[0].strip() in ("model name", "flags", "Features")]
    return platform.machine() + "\n" + "\n".join(sorted(set(keep)))


def _trusted(path: Path) -> bool:
    """A cached library is loaded (its code runs in this process) only if this user owns it and
    nobody else can write to it; anything else is rebuilt over."""
    st = path.stat()
    return (not hasattr(os, "getuid") or st.st_uid == os.getuid()) and not st.st_mode & 0o022


def _build(cc: str) -> Path:
    from facereel.paths import cache_dir

    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60).stdout
    src = _SRC.read_bytes()
    key = hashlib.sha256(b"\0".join([src, " ".join(_FLAGS).encode(), version.encode(),
                                     _cpu_id().encode()])).hexdigest()[:16]
    out = cache_dir("kernels") / f"{_SRC.stem}-{key}.so"
    if out.exists() and _trusted(out):
        return out
    # Build beside the target and rename: concurrent processes never load a half-written file.
    with atomic_path(out) as tmp:
        res = subprocess.run([cc, *_FLAGS, str(_SRC), "-o", str(tmp)], capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise OSError(f"{Path(cc).name} failed: {(res.stderr or res.stdout).strip()[-500:]}")
        os.chmod(tmp, 0o755)
    return out


def _load():
    global _lib, _reason
    with _lock:
        if _lib is not None or _reason is not None:
            return _lib
        cc = _compiler()
        if cc is None:
            _reason = "no C compiler found (set CC, or install gcc)"
            return None
        try:
            lib = ctypes.CDLL(str(_build(cc)))
        except (OSError, subprocess.SubprocessError) as e:
            _reason = f"could not build the fused kernels: {e}"
            return None
        p, i64 = ctypes.c_void_p, ctypes.c_long
        lib.up2_fir_post.argtypes = [p, p, p, p, i64, i64, i64, p, i64, i64, p, p, p, p, i64,
                                     ctypes.c_float, ctypes.c_float, ctypes.c_int]
        lib.up2_fir_post.restype = ctypes.c_int
        f32 = ctypes.c_float
        lib.post_rgb.argtypes = [p, p, i64, i64, p, p, p, f32, f32, p, p, i64, f32, p, ctypes.c_int]
        lib.post_rgb.restype = ctypes.c_int
        _lib = lib
        return _lib


def available() -> bool:
    """Whether the fused kernels can run here (builds them on the first call).  Where they cannot,
    warns once (RuntimeWarning) with the reason."""
    global _warned
    ok = _load() is not None
    if not ok and not _warned:
        _warned = True
        warnings.warn(f"facereel fused kernels unavailable, using the fast path: {_reason}",
                      RuntimeWarning, stacklevel=3)
    return ok


def unavailable_reason() -> str | None:
    """Why :func:`available` is False (None when it is True or was not asked yet)."""
    return _reason


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def up2_fir_post(phases: list[torch.Tensor], f: torch.Tensor, m0: int, out: torch.Tensor,
                 bias: torch.Tensor, scale: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                 slope: float = 0.2, clamp: float | None = None) -> torch.Tensor:
    """Rows of StyleGAN2's upsampling-layer output from the phases of its transposed conv.

    phases: the stride-2 transposed 3x3 conv's output phases ``[P00, P01, P10, P11]`` of a
    window of L input rows and w columns, channels-last [1, C, L + 1 - r, w + 1 - s] (phase
    (r, s) holds t[2i + r, 2j + s]).  f: the 4-tap FIR per axis (flip and gain applied).  Writes
    local rows ``m0 .. m0 + R - 1`` of ``act(scale · FIR_pad1(t) + bias + noise)`` clamped to
    ±clamp into ``out`` (a [1, C, R, 2w] channels-last tensor, or a row range of one), act the
    leaky ReLU with ``slope`` (1: linear, 0: ReLU).  noise: [R, 2w] (rows contiguous) or None;
    scale: [C] or None.  Returns ``out``.
    """
    lib = _load()
    if lib is None:
        raise RuntimeError(f"fused kernels unavailable: {_reason}")
    p00, p01, p10, p11 = phases
    _, c, rows0, cols0 = p00.shape
    L, w = rows0 - 1, cols0 - 1
    nrows = out.shape[2]
    expect = {"P00": (p00, (L + 1, w + 1)), "P01": (p01, (L + 1, w)), "P10": (p10, (L, w + 1)),
              "P11": (p11, (L, w))}
    for name, (t, hw) in expect.items():
        if (t.dtype != torch.float32 or t.device.type != "cpu" or t.shape[0] != 1 or t.shape[1] != c
                or tuple(t.shape[2:]) != hw or not t.is_contiguous(memory_format=torch.channels_last)):
            raise ValueError(f"phase {name}: need a float32 CPU channels-last [1, {c}, {hw[0]}, {hw[1]}] "
                             f"tensor, got {t.dtype} {tuple(t.shape)}")
    if (out.dtype != torch.float32 or tuple(out.shape) != (1, c, nrows, 2 * w)
            or not out.is_contiguous(memory_format=torch.channels_last)):
        raise ValueError(f"out: need a float32 channels-last [1, {c}, R, {2 * w}] tensor, got {tuple(out.shape)}")
    if not 0 <= m0 or m0 + nrows > 2 * L:
        raise ValueError(f"rows {m0}..{m0 + nrows} outside the window's {2 * L} output rows")
    f = f.detach().to(torch.float32).reshape(-1).contiguous()
    bias = bias.detach().to(torch.float32).reshape(-1).contiguous()
    if f.numel() != 4 or bias.numel() != c:
        raise ValueError(f"need 4 filter taps and {c} biases, got {f.numel()} and {bias.numel()}")
    if scale is not None:
        scale = scale.detach().to(torch.float32).reshape(-1).contiguous()
        if scale.numel() != c:
            raise ValueError(f"need {c} scales, got {scale.numel()}")
    stride = 0
    if noise is not None:
        noise = noise.detach().to(torch.float32)
        if (noise.shape[-2:] != (nrows, 2 * w) or noise.stride(-1) != 1
                or any(d != 1 for d in noise.shape[:-2])):
            raise ValueError(f"noise: need [{nrows}, {2 * w}] with contiguous rows, got {tuple(noise.shape)}")
        stride = noise.stride(-2)
    rc = lib.up2_fir_post(*(t.data_ptr() for t in phases), L, w, c, f.data_ptr(), m0, nrows, out.data_ptr(),
                          bias.data_ptr(), _ptr(scale), _ptr(noise), stride, float(slope),
                          float("inf") if clamp is None else float(clamp), torch.get_num_threads())
    if rc != 0:
        raise MemoryError("fused kernel: could not allocate its row buffers")
    return out


def _vec(t: torch.Tensor | None, n: int, what: str) -> torch.Tensor | None:
    if t is None:
        return None
    t = t.detach().to(torch.float32).reshape(-1).contiguous()
    if t.numel() != n:
        raise ValueError(f"need {n} {what}, got {t.numel()}")
    return t


def post_rgb(y: torch.Tensor, scale: torch.Tensor | None = None, bias: torch.Tensor | None = None,
             noise: torch.Tensor | None = None, slope: float = 0.2, clamp: float | None = None,
             rgb_weight: torch.Tensor | None = None, rgb_bias: torch.Tensor | None = None,
             rgb_clamp: float | None = None, out: torch.Tensor | None = None,
             rgb_out: torch.Tensor | None = None) -> torch.Tensor | None:
    """``act(y · scale + bias + noise)`` clamped to ±clamp, written into ``out`` (default: ``y``
    itself); y, out: [1, C, H, W] float32 channels-last (rows of a larger tensor are fine); scale,
    bias: [C] or None; noise: [H, W] contiguous or None; act the leaky ReLU with ``slope``.  With
    ``rgb_weight`` [R, C] (toRGB's modulated 1x1 weight) the same pass also computes
    ``clamp(rgb_weight @ out + rgb_bias, ±rgb_clamp)`` into ``rgb_out`` (default: a new
    [1, R, H, W] channels-last tensor), which it returns; else None."""
    lib = _load()
    if lib is None:
        raise RuntimeError(f"fused kernels unavailable: {_reason}")
    if (y.dtype != torch.float32 or y.device.type != "cpu" or y.ndim != 4 or y.shape[0] != 1
            or not y.is_contiguous(memory_format=torch.channels_last)):
        raise ValueError(f"y: need a float32 CPU channels-last [1, C, H, W] tensor, got {y.dtype} {tuple(y.shape)}")
    _, c, h, w = y.shape
    out = y if out is None else out
    if out.dtype != torch.float32 or out.shape != y.shape or not out.is_contiguous(memory_format=torch.channels_last):
        raise ValueError(f"out: need a float32 channels-last {tuple(y.shape)} tensor, got {tuple(out.shape)}")
    scale, bias = _vec(scale, c, "scales"), _vec(bias, c, "biases")
    if noise is not None:
        noise = noise.detach().to(torch.float32)
        if noise.shape[-2:] != (h, w) or any(d != 1 for d in noise.shape[:-2]) or not noise.is_contiguous():
            raise ValueError(f"noise: need a contiguous [{h}, {w}] map, got {tuple(noise.shape)}")
    rgb = wr = br = None
    r = 0
    if rgb_weight is not None:
        wr = rgb_weight.detach().to(torch.float32).contiguous()
        if wr.ndim != 2 or wr.shape[1] != c:
            raise ValueError(f"rgb_weight: need [R, {c}], got {tuple(wr.shape)}")
        r = wr.shape[0]
        br = _vec(torch.zeros(r) if rgb_bias is None else rgb_bias, r, "rgb biases")
        rgb = (torch.empty(1, r, h, w, dtype=torch.float32, memory_format=torch.channels_last)
               if rgb_out is None else rgb_out)
        if (rgb.dtype != torch.float32 or tuple(rgb.shape) != (1, r, h, w)
                or not rgb.is_contiguous(memory_format=torch.channels_last)):
            raise ValueError(f"rgb_out: need a float32 channels-last [1, {r}, {h}, {w}] tensor, got {tuple(rgb.shape)}")
    inf = float("inf")
    lib.post_rgb(y.data_ptr(), out.data_ptr(), h * w, c, _ptr(scale), _ptr(bias), _ptr(noise), float(slope),
                 inf if clamp is None else float(clamp), _ptr(wr), _ptr(br), r,
                 inf if rgb_clamp is None else float(rgb_clamp), _ptr(rgb), torch.get_num_threads())
    return rgb
