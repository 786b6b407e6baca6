"""Many videos through the batch layer: one item = one video, written atomically where it finishes.

A :class:`RenderJob` (filled in by the pipeline that knows how to render: a latent walk of a seed,
the time-lapse of a manifest) holds the settings shared by every video and loads its models once
per worker in :meth:`RenderJob.setup`; :class:`RenderStage` runs it over items ``{"key", "output",
...}``.  The worker writes each video itself (``open_writer`` renames it into place when it is
whole), so on a cluster ``out_dir`` must be a folder every node sees (like the inputs); the store
records ``{"output", "frames"}`` per finished video.  A video that fails is reported with its
reason and not kept in the store, so a rerun retries it while skipping every finished one.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from pathlib import Path

from facereel.batch.runner import BatchReport, Stage, run_batch
from facereel.batch.store import ResultStore
from facereel.core.progress import Progress
from facereel.options.batch import BatchOptions

log = logging.getLogger(__name__)

#: the results folder inside ``out_dir`` (one ``.npz`` per finished video)
STORE_DIR = ".facereel-batch"


class RenderJob(abc.ABC):
    """What one kind of video needs: pickled to the workers before :meth:`setup`."""

    @abc.abstractmethod
    def signature(self) -> str:
        """The settings every video of the batch shares (videos of two signatures never mix)."""

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load the models once per worker."""

    @abc.abstractmethod
    def render(self, item: dict) -> int:
        """Writes ``item["output"]`` (atomically); returns its frame count."""


class RenderStage(Stage):
    name = "render"

    def __init__(self, job: RenderJob):
        self.job = job

    def signature(self) -> str:
        return f"render:{self.job.signature()}"

    def setup(self) -> None:
        self.job.setup()

    def process(self, items: list[dict]) -> list[dict]:
        out = []
        for it in items:
            try:
                n = self.job.render(it)
            except Exception as exc:  # noqa: BLE001 - one failed video is reported; the others go on
                log.warning("%s failed: %s", it["key"], exc)
                out.append({"error": f"{type(exc).__name__}: {exc}"})
                continue
            out.append({"output": str(it["output"]), "frames": int(n)})
        return out


def render_many(items: Sequence[dict], job: RenderJob, out_dir: str | Path, options: BatchOptions | None = None,
                progress: Progress | None = None) -> BatchReport:
    """Renders every item (``{"key", "output", ...}``) whose video is not finished yet.

    A video counts as finished when the store under ``out_dir/.facereel-batch`` records it and its
    file is still there; failed videos are reported in ``BatchReport.errors`` and retried by a rerun.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = RenderStage(job)
    store = ResultStore(out_dir / STORE_DIR, stage.signature())
    for it in items:   # a video deleted since: render it again
        key = str(it["key"])
        if store.has(key) and not Path(str(it["output"])).exists():
            store.path(key).unlink()
    rep = run_batch(items, stage, store, options, progress=progress)
    for key, _ in rep.errors:   # not kept: a rerun retries it
        store.path(key).unlink(missing_ok=True)
    return rep
