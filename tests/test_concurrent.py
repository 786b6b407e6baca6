"""nets.concurrent: branches in threads with the caller's intra-op threads shared out, thread-locally."""

from __future__ import annotations

import pytest
import torch

from facereel.nets import concurrent


def _state():
    a = torch.randn(64, 64)
    a @ a                                           # a parallel op: the thread's counts are settled
    return torch.get_num_threads(), torch.is_grad_enabled(), torch.is_inference_mode_enabled()


def test_branches_get_a_share_of_the_threads_and_the_callers_modes(torch_threads):
    if not concurrent.single_thread_available():
        pytest.skip("this OpenMP runtime exports no omp_set_num_threads")
    with torch.inference_mode():
        assert concurrent.run_branches([_state, _state]) == [(1, False, True)] * 2
    with torch.no_grad():
        assert concurrent.run_branches([_state]) == [(2, False, False)]
    assert concurrent.run_branches([_state, _state]) == [(1, True, False)] * 2
    assert torch.get_num_threads() == 2                # the caller's thread keeps its count


def test_results_in_order_and_the_first_error_raised(torch_threads):
    def boom():
        raise ValueError("branch failed")

    assert concurrent.run_branches([lambda: 1, lambda: 2, lambda: 3]) == [1, 2, 3]
    with pytest.raises(ValueError, match="branch failed"):
        concurrent.run_branches([lambda: 1, boom])


def test_map_ordered_in_order_with_a_share_of_the_threads_each(torch_threads):
    import threading

    seen: dict[str, int] = {}

    def f(i):
        seen[threading.current_thread().name] = _state()[0]
        return i * i, _state()[1:]

    with torch.inference_mode():
        out = list(concurrent.map_ordered(f, range(12), 2))
    assert [r for r, _ in out] == [i * i for i in range(12)]
    assert {m for _, m in out} == {(False, True)}          # the caller's inference mode in each stream
    assert all(name.startswith("facereel-stream") for name in seen)
    if concurrent.single_thread_available():
        assert set(seen.values()) == {1}                   # 2 threads shared out: one each
    assert torch.get_num_threads() == 2
    # one stream: in the caller's thread
    assert list(concurrent.map_ordered(lambda i: threading.current_thread().name, range(2), 1)) == \
        [threading.current_thread().name] * 2


def test_map_ordered_raises_at_the_failing_item_and_stops_when_closed(torch_threads):
    import threading
    import time

    def f(i):
        if i == 3:
            raise ValueError("item 3 failed")
        return i

    got = []
    with pytest.raises(ValueError, match="item 3 failed"):
        for r in concurrent.map_ordered(f, range(10), 2):
            got.append(r)
    assert got == [0, 1, 2]

    started = []

    def slow(i):
        started.append(i)
        time.sleep(0.01)
        return i

    gen = concurrent.map_ordered(slow, range(1000), 2, ahead=4)
    assert next(gen) == 0
    gen.close()                                            # the consumer stops early
    assert len(started) <= 6                               # the first, 4 ahead, one refill
    assert not any(t.name.startswith("facereel-stream") and t.is_alive() for t in threading.enumerate())
