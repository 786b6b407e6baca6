"""Independent branches of one forward pass run side by side, the intra-op threads shared out.

At batch 1 a network with two independent branches (SAM's age encoder and pretrained encoder)
keeps P cores busier as P branches on one core each than as one branch after the other on a team
of P OpenMP threads: no per-op fork/join barrier, and no stall of the whole team when one of its
threads is descheduled on a shared machine.

:func:`run_branches` runs each callable in its own thread.  The intra-op thread count of that
thread is set thread-locally to the caller's count divided among the branches (1 each on 2 cores): OpenMP's ``omp_set_num_threads`` sets the calling thread's
nthreads-var ICV (OpenMP 5.2 §18.2.1; ATen's parallel regions and oneDNN read it per thread) and
MKL's ``MKL_Set_Num_Threads_Local`` (mkl_service.h; 0 would mean "the global setting") limits MKL
calls of that thread.  Nothing of the process changes: the caller's threads keep their counts, and
``torch.set_num_threads``'s process-wide default is not touched.  Where the runtime does not
export these functions the branches still run in threads, with the default count.

The caller's grad and inference modes are thread-local in torch, so each branch re-enters them.

:func:`map_ordered` is the same for a stream of independent calls (the batches of a video): S
threads, each with its share of the intra-op threads, each computing whole calls, the results
handed back in order.  Why this is faster than one call after the other on the whole team: after
each parallel region libgomp's idle team threads spin before they sleep, so any other thread of
the process (a video encoder) finds a core taken, and a team thread it displaces stalls the
region's barrier; threads of one intra-op thread each have no team, no barrier and no spin.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

import torch

__all__ = ["map_ordered", "run_branches", "single_thread_available"]

_lock = threading.Lock()
_setters: tuple | None = None


def _find(names: Sequence[str], libs: Sequence[str]):
    for lib in libs:
        try:
            handle = ctypes.CDLL(lib) if lib else ctypes.CDLL(None)
        except OSError:
            continue
        for name in names:
            fn = getattr(handle, name, None)
            if fn is not None:
                fn.argtypes = [ctypes.c_int]
                return fn
    return None


def _thread_setters() -> tuple:
    """(omp_set_num_threads, MKL_Set_Num_Threads_Local), each None where not found; looked up once."""
    global _setters
    if _setters is None:
        with _lock:
            if _setters is None:
                lib = os.path.join(os.path.dirname(torch.__file__), "lib")
                libs = ["", os.path.join(lib, "libgomp.so.1"), os.path.join(lib, "libtorch_cpu.so")]
                omp = _find(["omp_set_num_threads"], libs)
                # the C entry point takes the count by value (the lower-case name is Fortran's, by reference)
                mkl = _find(["MKL_Set_Num_Threads_Local"], ["", os.path.join(lib, "libtorch_cpu.so")])
                _setters = (omp, mkl)
    return _setters


def single_thread_available() -> bool:
    """Whether the branches' OpenMP thread counts can be set."""
    return _thread_setters()[0] is not None


def _limit_threads(n: int) -> None:
    omp, mkl = _thread_setters()
    # torch sets a new thread's counts from the process default on its first parallel call; make
    # that happen first so the thread-local settings below are not overwritten afterwards.
    torch.get_num_threads()
    if omp is not None:
        omp(n)
    if mkl is not None:
        mkl(n)


def _in_callers_modes(fn: Callable) -> Callable:
    """``fn`` wrapped to run in the calling thread's grad / inference mode (thread-local in torch)."""
    grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    def call(*args):
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return fn(*args)

    return call


def _share(parts: int) -> int:
    """The caller's intra-op threads divided among ``parts`` threads, at least one each."""
    return max(1, torch.get_num_threads() // max(parts, 1))


def run_branches(fns: Sequence[Callable[[], Any]]) -> list:
    """``[fn() for fn in fns]``, each in its own thread with the caller's intra-op threads shared
    out (at least one each), in the caller's grad / inference mode; the first error (in order) is
    raised after all have finished."""
    each = _share(len(fns))
    calls = [_in_callers_modes(fn) for fn in fns]
    results: list = [None] * len(fns)
    errors: list = [None] * len(fns)

    def run(i: int) -> None:
        try:
            _limit_threads(each)
            results[i] = calls[i]()
        except BaseException as exc:      # handed to the caller's thread
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,), name=f"facereel-branch-{i}", daemon=True)
               for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for exc in errors:
        if exc is not None:
            raise exc
    return results


def map_ordered(fn: Callable[[Any], Any], items: Iterable, streams: int, ahead: int | None = None) -> Iterator:
    """``fn(item)`` for each of ``items``, yielded in order, computed by ``streams`` threads side by
    side, each with the caller's intra-op threads shared out (at least one each) and in the
    caller's grad / inference mode; at most ``ahead`` (default 2·streams) calls run or wait ahead
    of the consumer.  An error is raised at its item, after the calls before it were yielded.
    Closing the generator early cancels the calls not started and waits for the running ones.
    ``streams`` ≤ 1: plain ``fn(item)`` in the caller's thread."""
    if streams <= 1:
        for item in items:
            yield fn(item)
        return
    from concurrent.futures import ThreadPoolExecutor

    call = _in_callers_modes(fn)
    pool = ThreadPoolExecutor(streams, thread_name_prefix="facereel-stream", initializer=_limit_threads,
                              initargs=(_share(streams),))
    source = iter(items)
    pending: deque = deque()
    try:
        pending.extend(pool.submit(call, item) for item in islice(source, max(streams, ahead or 2 * streams)))
        while pending:
            result = pending.popleft().result()
            pending.extend(pool.submit(call, item) for item in islice(source, 1))
            yield result
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True)
