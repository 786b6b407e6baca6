"""facereel.nets.memory: freed large blocks stay mapped (no page faults when the next tensor of the
same size is filled), once per process, with an environment opt-out; applied by the entry points
(facereel.nets.plan.prepare_process, the CLI), never by a network's forward.  Each case runs in a
fresh interpreter: the setting is process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_PROBE = r"""
import json, resource, sys, torch
from facereel.nets import memory
def faults_refilling():
    # allocate-fill-free a 64 MB tensor, then count the minor page faults of filling a 60 MB one
    # (a little smaller: posix_memalign asks for alignment slack beyond an exactly-sized free block)
    torch.empty(1 << 24).fill_(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty((1 << 24) - (1 << 20)).fill_(2.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
if sys.argv[1] == "module":
    # fast forward passes of the networks leave the process alone
    from facereel.nets import stylegan2, stylegan3
    from facereel.nets.plan import FAST
    G = stylegan2.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3,
                            mapping_kwargs=dict(num_layers=1), channel_base=64, channel_max=8)
    G3 = stylegan3.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                             mapping_kwargs=dict(num_layers=1), channel_base=128, channel_max=8)
    with torch.no_grad():
        G.synthesis(torch.zeros(1, G.num_ws, 8), plan=FAST)
        G3.synthesis(torch.zeros(1, G3.num_ws, 8), plan=FAST)
    applied = memory._state
elif sys.argv[1] == "prepare":
    from facereel.nets.plan import prepare_process
    applied = prepare_process()
elif sys.argv[1] == "cli":
    from typer.testing import CliRunner
    from facereel.cli import app
    assert CliRunner().invoke(app, ["weights", "--help"]).exit_code == 0
    applied = memory._state
else:
    applied = memory.keep_freed_memory() if sys.argv[1] == "call" else None
print(json.dumps({"applied": applied, "again": memory.keep_freed_memory() if sys.argv[1] == "call" else None,
                  "faults": faults_refilling()}))
"""


def _probe(mode: str, **env) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1", **env}, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc heap settings")
def test_freed_blocks_are_reused_without_page_faults():
    default = _probe("none")
    kept = _probe("call")
    assert kept["applied"] is True and kept["again"] is True
    # 60 MB = 15360 pages of 4 KB: mmap'd afresh each time by default, reused once kept
    assert default["faults"] > 4000
    assert kept["faults"] < default["faults"] / 10


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc heap settings")
def test_entry_points_apply_it_networks_do_not_and_env_opts_out():
    assert _probe("module")["applied"] is None               # forward never touches the process
    prepared = _probe("prepare")
    assert prepared["applied"] is True and prepared["faults"] < 1000
    assert _probe("cli")["applied"] is True                  # every command runs prepare_process
    off = _probe("call", FACEREEL_KEEP_HEAP="0")
    assert off["applied"] is False and off["faults"] > 4000
