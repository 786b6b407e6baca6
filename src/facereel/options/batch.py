"""Options of the batch layer (:mod:`facereel.batch`): where heavy per-item stages run."""

from __future__ import annotations

from dataclasses import dataclass

from facereel.options import Options, OptionsError, check_int


@dataclass(frozen=True)
class BatchOptions(Options):
    """``ray``: None runs in this process; ``"auto"`` joins a running Ray cluster (``RAY_ADDRESS``,
    or one started with ``ray start`` on this machine) and otherwise starts a local one; any other
    value is a cluster address (``ray://host:10001`` or ``host:6379``)."""

    ray: str | None = None
    batch_size: int = 8
    workers: int | None = None          # Ray actors (None: one per CPU of the cluster / cpus_per_worker)
    cpus_per_worker: int = 1

    def validate(self) -> BatchOptions:
        check_int("batch_size", self.batch_size, 1, 4096)
        if self.workers is not None:
            check_int("workers", self.workers, 1, 100000)
        check_int("cpus_per_worker", self.cpus_per_worker, 1, 1024)
        if self.ray is not None and not str(self.ray).strip():
            raise OptionsError("ray", "give 'auto' or a cluster address")
        return self
