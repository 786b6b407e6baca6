"""How a network runs, in one object: :class:`ExecutionPlan`.

Every network with more than one way to compute its forward pass (StyleGAN2/3, rosinality's
StyleGAN2) takes its choice from a plan, resolved once per call and passed down to its layers:

* ``implementation``: ``"reference"`` (the official op sequence) or ``"fast"`` (the same numbers,
  to float rounding, in fewer passes; the default);
* ``fused_kernels``: on the fast path, the opt-in compiled CPU kernels of :mod:`facereel.nets.fused`
  where they apply (float32 CPU inference; elsewhere the fast path runs);
* ``dtype``: None (the network's own precision) or ``torch.bfloat16`` for the convolutions (a
  reduced-precision plan always runs the fast path);
* the fast paths' tuning thresholds, fields rather than module globals so a test or a bench
  varies them per call.

Where a plan comes from, first match wins: the ``plan=`` of a call, the network's ``plan``
attribute (set at load; None by default), the process default (:func:`default_plan`).  The process
default is built once, on first use, from ``FACEREEL_FUSED_KERNELS`` (1/true/yes/on); the CLI
replaces it with :func:`set_default_plan`.  No network changes the process: :func:`prepare_process`
(the glibc heap setting of :mod:`facereel.nets.memory`) is called by the entry points.

torch is not imported here (the CLI imports this module before any command).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from facereel.options.choices import IMPLEMENTATIONS

from . import memory

if TYPE_CHECKING:
    import torch

__all__ = ["ExecutionPlan", "REFERENCE", "FAST", "FUSED", "FUSED_ENV", "default_plan", "set_default_plan",
           "resolve", "prepare_process"]

FUSED_ENV = "FACEREEL_FUSED_KERNELS"
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ExecutionPlan:
    """How a network computes its forward pass (see the module docstring)."""

    implementation: str = "fast"
    fused_kernels: bool = False
    dtype: torch.dtype | None = None
    # StyleGAN2: upsampling convs whose input has at least this many pixels run as polyphase
    # ordinary convs (ops.conv_transpose2d_polyphase); measured faster than oneDNN's transposed
    # conv from 16x16 up.  The fused upsampling kernel runs only on these layers.
    polyphase_min_pixels: int = 16 * 16
    # StyleGAN2: a batch runs through the blocks below this resolution together, then each sample
    # through the rest on its own (depth first): at high resolution a batched layer's working set
    # leaves the caches, while one sample's activations stay in the last-level cache.
    per_sample_min_res: int = 32
    # StyleGAN2: batch-1 layers whose output exceeds two stripes of about this many bytes run
    # stripe by stripe of output rows (conv, FIR, noise, activation, clamp on a cache-resident
    # stripe, recomputing one or two halo rows); stripes have at least stripe_min_rows rows.
    stripe_bytes: int = 1 << 23
    stripe_min_rows: int = 8
    # StyleGAN2: batch-1 layers whose weight outnumbers their input + output maps scale the maps
    # instead of the weight; False restores weight modulation everywhere (for comparisons).
    small_maps_modulate_input: bool = True
    # StyleGAN3 (filtered_lrelu): full-rate activations in stripes of output rows of about this
    # many bytes, at least sg3_stripe_min_rows rows (each recomputes a halo of kd - down rows).
    sg3_stripe_bytes: int = 1 << 25
    sg3_stripe_min_rows: int = 16
    # StyleGAN3 (filtered_lrelu): without autograd the passes along y run as batched matrix
    # products over row windows; False keeps depthwise convolutions (for comparisons).
    sg3_row_gemm: bool = True
    # pSp encoders (fused), on two or more intra-op threads: the map2style heads of one pyramid
    # level as grouped convolutions and batched GEMMs (encoders.psp); False runs each head on its
    # own (for comparisons).
    grouped_heads: bool = True
    # Without autograd on the CPU, on two or more intra-op threads: independent work runs as
    # concurrent branches with the threads shared out (nets.concurrent) instead of one op at a
    # time on the whole team (whose every fork/join stalls when one thread is descheduled):
    # SAM's two encoders (for K ages: the pretrained one plus the age batch, in two even halves)
    # and the two halves of a batch-1 StyleGAN2 layer's row stripes.  False: one after the other.
    concurrent_branches: bool = True

    def __post_init__(self):
        if self.implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, not {self.implementation!r}")
        if self.dtype is not None and self.implementation == "reference" and str(self.dtype) != "torch.float32":
            # Only the fast path has a reduced-precision form.
            object.__setattr__(self, "implementation", "fast")

    @property
    def fast(self) -> bool:
        return self.implementation == "fast"

    @property
    def fused(self) -> bool:
        """Whether the fused kernels may run (they apply only on the fast path)."""
        return self.fast and self.fused_kernels

    def replace(self, **changes) -> ExecutionPlan:
        return dataclasses.replace(self, **changes)


REFERENCE = ExecutionPlan(implementation="reference")
FAST = ExecutionPlan()
FUSED = ExecutionPlan(fused_kernels=True)

_lock = threading.Lock()
_default: ExecutionPlan | None = None


def _from_env() -> ExecutionPlan:
    return ExecutionPlan(fused_kernels=os.environ.get(FUSED_ENV, "").strip().lower() in _TRUE)


def default_plan() -> ExecutionPlan:
    """The process default: the plan :func:`set_default_plan` set, else one built (once) from
    ``FACEREEL_FUSED_KERNELS``."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = _from_env()
    return _default


def set_default_plan(plan: ExecutionPlan | None) -> None:
    """Sets the process default (None: rebuilt from the environment on next use)."""
    global _default
    if plan is not None and not isinstance(plan, ExecutionPlan):
        raise TypeError(f"expected an ExecutionPlan, not {type(plan).__name__}")
    with _lock:
        _default = plan


def resolve(plan: ExecutionPlan | None = None, own: ExecutionPlan | None = None) -> ExecutionPlan:
    """The plan of one call: ``plan`` (the call's), else ``own`` (the network's), else the default."""
    if plan is not None:
        return plan
    if own is not None:
        return own
    return default_plan()


def prepare_process() -> bool:
    """Process-wide settings for CPU inference, made once by an entry point (the CLI, a pipeline),
    never by a network: glibc keeps freed large blocks (:func:`memory.keep_freed_memory`, off with
    ``FACEREEL_KEEP_HEAP=0``).  True where they are in effect."""
    return memory.keep_freed_memory()
