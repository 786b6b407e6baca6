"""Options of the batch layer (:mod:`facereel.batch`): where heavy per-item stages run."""

from __future__ import annotations

from dataclasses import dataclass

from facereel.options import Options, OptionsError, check_choice, check_int
from facereel.options._latent_rules import SEED_MAX
from facereel.options.choices import BATCH_VIDEO_FORMATS


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


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-99"``, ``"3,7,10-12"`` → the seeds in order, each once."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        a, sep, b = part.partition("-")
        try:
            lo, hi = int(a), int(b) if sep else int(a)
        except ValueError:
            raise OptionsError("seeds", f"give seeds such as 0-99 or 3,7,10-12, got {text!r}") from None
        if hi < lo:
            raise OptionsError("seeds", f"range {part!r} runs backwards")
        out.extend(range(lo, hi + 1))
    if not out:
        raise OptionsError("seeds", "give at least one seed, such as 0-99 or 3,7")
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class BatchRenderOptions(Options):
    """Many videos into one folder: ``out_dir`` (every worker must see it on a cluster), the video
    ``format``, and for latent walks the ``seeds`` (one video each)."""

    out_dir: str = "videos"
    format: str = "mp4"
    seeds: tuple[int, ...] = ()

    def validate(self) -> BatchRenderOptions:
        if not isinstance(self.out_dir, str) or not self.out_dir.strip():
            raise OptionsError("out_dir", "give a folder for the videos")
        check_choice("format", self.format, BATCH_VIDEO_FORMATS)
        if len(self.seeds) > 1_000_000:
            raise OptionsError("seeds", "at most a million videos in one batch")
        for s in self.seeds:
            check_int("seeds", s, 0, SEED_MAX)
        return self
