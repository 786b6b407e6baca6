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
