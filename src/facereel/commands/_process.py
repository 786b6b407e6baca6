"""What the CLI sets up for the whole process before a command runs (torch-free)."""

from __future__ import annotations


def configure(*, fused_kernels: bool) -> None:
    """The process default :class:`~facereel.nets.plan.ExecutionPlan` (``--fused-kernels``, which
    also reads ``FACEREEL_FUSED_KERNELS``) and the process-wide CPU settings
    (:func:`~facereel.nets.plan.prepare_process`)."""
    from facereel.nets.plan import default_plan, prepare_process, set_default_plan

    set_default_plan(default_plan().replace(fused_kernels=fused_kernels))
    prepare_process()
