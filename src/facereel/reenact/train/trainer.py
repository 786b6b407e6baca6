"""The thesis' training loop (``training/coach.py``), resumable exactly.

Per step (batch of :class:`~facereel.reenact.train.data.PairSampler` pairs):

    y_hat, _, d = net(s_A, t_A, return_latents=True, return_code=True)       # self-reenactment
    y_hat1, _   = net(d, t_R, return_latents=True, input_code=True)          # cross: A's motion on R
    loss = l2·L2(y_hat, s_A) + lpips·LPIPS(y_hat, s_A) + id·ID(y_hat1, G(t_R))
         + cosface·CosFace(E_m(y_hat), E_m(y_hat1), d, E_m(s_R))
         + l2_crop·L2(crop(y_hat), crop(s_A)) + lpips_crop·LPIPS(crop(y_hat), crop(s_A))

Only E_m and M are optimised (Ranger, lr 1e-5); G, E_i, ArcFace and LPIPS stay frozen (their
parameters never get a gradient: ``requires_grad_(False)``).  Noise is random per forward, as in
the thesis.

Files in the run folder:
* ``checkpoints/last.pt`` — the training state (step, E_m + M weights, optimiser state, sampler and
  torch RNG states, options); written atomically every ``save_interval`` steps and at the end,
  loaded with ``torch.load(weights_only=True)``; :meth:`Trainer.resume` continues bit for bit.
* ``checkpoints/best_model.pt`` / ``iteration_{N}.pt`` — the thesis' layout
  ``{'state_dict': {encoder.*, decoder.*, mapping_net.*}, 'opts'}``, loadable by ``--method learned``.
* ``scalars.jsonl`` — one ``{"step", "tag", "value", "wall_time"}`` per logged scalar; plus TensorBoard
  event files under ``tb/`` when tensorboardX is installed (the ``train`` extra).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from facereel.core.atomic import atomic_path, write_text
from facereel.core.progress import Progress, report

from .losses import cosface_loss, id_loss, inner_crop
from .ranger import Ranger

log = logging.getLogger(__name__)

__all__ = ["Trainer", "ScalarWriter"]


class ScalarWriter:
    """TensorBoard-style scalars: JSON lines (always) and tfevents (when tensorboardX is importable)."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "scalars.jsonl"
        self._tb = None
        try:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(run_dir / "tb"))
        except ImportError:
            pass

    def add(self, step: int, values: dict[str, float]) -> None:
        now = time.time()
        with open(self.path, "a", encoding="utf-8") as fh:
            for tag, v in values.items():
                fh.write(json.dumps({"step": step, "tag": tag, "value": float(v), "wall_time": now}) + "\n")
        if self._tb is not None:
            for tag, v in values.items():
                self._tb.add_scalar(tag, float(v), step, walltime=now)
            self._tb.flush()

    def truncate_after(self, step: int) -> None:
        """Drops lines logged after ``step`` (a resumed run re-logs them)."""
        if not self.path.is_file():
            return
        keep = [ln for ln in self.path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
        write_text(self.path, "".join(ln + "\n" for ln in keep))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


class Trainer:
    """``net``: :class:`facereel.nets.pet.PoseExpressionTransfer`; ``facenet``: ArcFace IR-SE50 (or None
    when ``options.id`` is 0); ``lpips``: :class:`facereel.nets.lpips.LPIPS` (or None without LPIPS terms)."""

    def __init__(self, net, sampler, options, run_dir: str | Path, facenet=None, lpips=None, device="cpu"):
        self.options = options.validate()
        self.device = torch.device(device)
        self.net = net.to(self.device)
        self.sampler = sampler
        self.facenet = facenet.to(self.device).eval().requires_grad_(False) if facenet is not None else None
        self.lpips = lpips.to(self.device).eval().requires_grad_(False) if lpips is not None else None
        if self.options.id > 0 and self.facenet is None:
            raise ValueError("the ID loss needs the ArcFace network")
        if (self.options.lpips > 0 or self.options.lpips_crop > 0) and self.lpips is None:
            raise ValueError("the LPIPS losses need the LPIPS network")
        self.net.decoder.requires_grad_(False)
        self.params = self.net.trainable_parameters()
        for p in self.params:
            p.requires_grad_(True)
        if self.options.optimizer == "ranger":
            self.optimizer = Ranger(self.params, lr=self.options.lr)
        else:
            self.optimizer = torch.optim.Adam(self.params, lr=self.options.lr)
        self.step_count = 0
        self.best_loss: float | None = None
        self.run_dir = Path(run_dir)
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.scalars = ScalarWriter(self.run_dir)
        torch.manual_seed(self.options.seed)

    # -- one step -------------------------------------------------------------------------
    def losses(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        o, net = self.options, self.net
        x = batch["x"].to(self.device)
        rl = batch["restyle_latent"].to(self.device)
        x1 = batch["x1"].to(self.device)
        rl1 = batch["restyle_latent1"].to(self.device)
        y = x                                                        # self-reenactment target = source
        y_hat, _, code = net(x, rl, return_latents=True, return_code=True)
        y_hat1, _ = net(code, rl1, return_latents=True, input_code=True)
        terms: dict[str, torch.Tensor] = {}
        if o.cosface > 0:
            terms["cosface"] = cosface_loss(net.encoder(_enc_in(y_hat, x)), net.encoder(_enc_in(y_hat1, x)), code,
                                            net.encoder(x1), o.cosface_a, o.cosface_b)
        if o.id > 0:
            with torch.no_grad():
                ref = net.face_pool(net.decoder([rl1], input_is_latent=True, randomize_noise=True)[0])
            terms["id"] = id_loss(self.facenet, y_hat1, ref)
        if o.l2 > 0:
            terms["l2"] = F.mse_loss(y_hat, y)
        if o.lpips > 0:
            terms["lpips"] = self.lpips(y_hat, y)
        if o.lpips_crop > 0:
            terms["lpips_crop"] = self.lpips(inner_crop(y_hat), inner_crop(y))
        if o.l2_crop > 0:
            terms["l2_crop"] = F.mse_loss(inner_crop(y_hat), inner_crop(y))
        total = sum(getattr(o, k) * v for k, v in terms.items())
        return total, terms

    def step(self) -> dict[str, float]:
        self.net.train()
        batch = self.sampler.batch(self.options.batch_size)
        self.optimizer.zero_grad(set_to_none=True)
        total, terms = self.losses(batch)
        total.backward()
        self.optimizer.step()
        self.step_count += 1
        out = {f"train/loss_{k}": float(getattr(self.options, k) * v.detach()) for k, v in terms.items()}
        out["train/loss"] = float(total.detach())
        if self.step_count % self.options.board_interval == 0 or self.step_count == 1:
            self.scalars.add(self.step_count, out)
        return out

    def train(self, steps: int | None = None, progress: Progress | None = None) -> list[float]:
        """Runs until ``max_steps`` (or ``steps`` more); returns the total loss of every step run."""
        end = self.options.max_steps if steps is None else min(self.options.max_steps, self.step_count + steps)
        history = []
        while self.step_count < end:
            loss = self.step()["train/loss"]
            history.append(loss)
            if self.best_loss is None or loss < self.best_loss:
                self.best_loss = loss
            if self.step_count % self.options.save_interval == 0:
                self.save()
            report(progress, self.step_count, end)
        self.save()
        return history

    # -- checkpoints ----------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "step": self.step_count,
            "best_loss": self.best_loss,
            "encoder": self.net.encoder.state_dict(),
            "mapping_net": self.net.mapping_net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "options": self.options.to_dict(),
        }

    def save(self) -> Path:
        ck = self.run_dir / "checkpoints"
        last = ck / "last.pt"
        with atomic_path(last) as tmp:
            torch.save(self.state(), tmp)
        official = {"state_dict": dict(self.net.state_dict()),
                    "opts": {"output_size": self.net.output_size, "input_nc": 3, "n_styles": self.net.n_styles,
                             "learning_rate": self.options.lr, "batch_size": self.options.batch_size,
                             **{f"{k}_lambda": getattr(self.options, k) for k in
                                ("l2", "lpips", "id", "cosface", "l2_crop", "lpips_crop")}}}
        if getattr(self.net.encoder, "stage_units", None):
            official["opts"]["stage_units"] = list(self.net.encoder.stage_units)
        with atomic_path(ck / "best_model.pt") as tmp:
            torch.save(official, tmp)
        return last

    def resume(self, path: str | Path | None = None) -> int:
        """Loads ``checkpoints/last.pt`` (or ``path``); returns the step it continues from."""
        path = Path(path) if path is not None else self.run_dir / "checkpoints" / "last.pt"
        st = torch.load(path, map_location="cpu", weights_only=True)
        self.net.encoder.load_state_dict(st["encoder"], strict=True)
        self.net.mapping_net.load_state_dict(st["mapping_net"], strict=True)
        self.optimizer.load_state_dict(st["optimizer"])
        self.sampler.load_state_dict(st["sampler"])
        torch.set_rng_state(st["torch_rng"])
        self.step_count = int(st["step"])
        self.best_loss = st["best_loss"]
        self.scalars.truncate_after(self.step_count)
        return self.step_count


def _enc_in(y_hat: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """E_m reads images at the data's size (y_hat is face-pooled to it already)."""
    return y_hat if y_hat.shape[-1] == like.shape[-1] else F.adaptive_avg_pool2d(y_hat, like.shape[-2:])
