"""Run a stage over items, in this process or on Ray (Ray Data ``map_batches`` + actor pool)."""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from facereel.batch.store import BatchError, ResultStore, encode_result
from facereel.core.progress import Progress, report
from facereel.options.batch import BatchOptions

log = logging.getLogger(__name__)


class Stage(abc.ABC):
    """A heavy per-item step.  Instances are pickled to Ray workers before :meth:`setup`, so keep
    models out of ``__init__`` and load them in :meth:`setup` (called once per worker)."""

    name: str = "stage"

    @abc.abstractmethod
    def signature(self) -> str:
        """What decides the results (stage, model id, settings): results of two signatures never mix."""

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load models; called once per worker (and once in process) before the first batch."""

    @abc.abstractmethod
    def process(self, items: list[dict]) -> list[dict]:
        """One result dict per item, in order.  A result with an ``"error"`` string marks an item
        that was dropped for a reason (no face, unreadable); it is stored and not retried."""


@dataclass
class BatchReport:
    total: int
    done_before: int                     # already in the store (resumed)
    computed: int
    errors: list[tuple[str, str]] = field(default_factory=list)   # (key, reason)
    backend: str = "local"


def run_batch(items: Sequence[dict], stage: Stage, store: ResultStore, options: BatchOptions | None = None,
              progress: Progress | None = None) -> BatchReport:
    """Runs ``stage`` over every item (dicts with a unique ``"key"``) whose result is not stored yet."""
    options = options or BatchOptions()
    keys = [str(it["key"]) for it in items]
    if len(set(keys)) != len(keys):
        raise BatchError("batch item keys must be unique")
    if store.signature != stage.signature():
        raise BatchError(f"the store holds {store.signature}, the stage computes {stage.signature()}")
    todo = [dict(it, key=str(it["key"])) for it in items if not store.has(str(it["key"]))]
    rep = BatchReport(total=len(items), done_before=len(items) - len(todo), computed=0,
                      backend="local" if options.ray is None else "ray")
    report(progress, rep.done_before, rep.total)
    if not todo:
        return rep
    runs = _run_local(todo, stage, options) if options.ray is None else _run_ray(todo, stage, options)
    for key, data, error in runs:
        store.put_bytes(key, data)
        rep.computed += 1
        if error:
            rep.errors.append((key, error))
        report(progress, rep.done_before + rep.computed, rep.total)
    return rep


def _encoded(items: list[dict], results: list[dict]):
    if len(results) != len(items):
        raise BatchError(f"stage {items and 'returned'} {len(results)} results for {len(items)} items")
    for it, res in zip(items, results):
        yield it["key"], encode_result(res), str(res.get("error") or "")


def _run_local(todo: list[dict], stage: Stage, options: BatchOptions):
    stage.setup()
    bs = options.batch_size
    for start in range(0, len(todo), bs):
        chunk = todo[start:start + bs]
        yield from _encoded(chunk, stage.process(chunk))


# ----------------------------------------------------------------------------- Ray


class _StageActor:
    """Ray Data callable class: one per actor, so the stage's models load once per worker."""

    def __init__(self, stage: Stage, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self.stage = stage
        stage.setup()

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        items = [_item_from_row(batch, i) for i in range(len(batch["key"]))]
        keys, payloads, errors = [], [], []
        for key, data, error in _encoded(items, self.stage.process(items)):
            keys.append(key)
            payloads.append(data)
            errors.append(error)
        return {"key": np.array(keys), "payload": np.array(payloads, dtype=object), "error": np.array(errors)}


def _item_from_row(batch: dict, i: int) -> dict:
    out = {}
    for k, col in batch.items():
        v = col[i]
        out[k] = v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v
    return out


def connect_ray(address: str):
    """Joins (or, for ``"auto"`` with no cluster around, starts) a Ray cluster; returns the module."""
    try:
        import ray
    except ImportError as exc:
        raise BatchError(f"--ray needs Ray: pip install 'facereel[ray]' ({exc})") from None
    logging.getLogger("ray.data").setLevel(logging.WARNING)   # per-dataset progress lines are noise here
    if ray.is_initialized():
        _quiet(ray)
        return ray
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False, ignore_reinit_error=True)
    if address == "auto":
        try:
            ray.init(address="auto", **kwargs)
        except (ConnectionError, RuntimeError, ValueError):
            log.info("no running Ray cluster found; starting a local one")
            ray.init(**kwargs)
    else:
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise BatchError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
    _quiet(ray)
    return ray


def _quiet(ray) -> None:
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    if hasattr(ctx, "print_on_execution_start"):
        ctx.print_on_execution_start = False


def _run_ray(todo: list[dict], stage: Stage, options: BatchOptions):
    ray = connect_ray(str(options.ray))
    cpus = int(ray.cluster_resources().get("CPU", os.cpu_count() or 1))
    workers = options.workers or max(1, cpus // options.cpus_per_worker)
    ds = ray.data.from_items(todo)
    ds = ds.map_batches(
        _StageActor,
        fn_constructor_kwargs={"stage": stage, "threads": options.cpus_per_worker},
        batch_size=options.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(workers, len(todo))),
        num_cpus=options.cpus_per_worker,
        # A killed worker is restarted and its batch retried on it; finished batches were already written.
        max_restarts=-1,
        max_task_retries=-1,
    )
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for key, data, error in zip(batch["key"], batch["payload"], batch["error"]):
            yield str(key), bytes(data), str(error)
