"""Ranger: RAdam (Liu et al., ICLR 2020) + Lookahead (Zhang et al., NeurIPS 2019) + gradient
centralisation (Yong et al., ECCV 2020), with the defaults of the Ranger 20.4.11 that pSp and the
thesis train with: betas (0.95, 0.999), eps 1e-5, N_sma threshold 5, Lookahead k = 6, alpha = 0.5,
GC on every parameter with more than one dimension.

Per parameter and step t (g the centralised gradient: g - mean over all but the first dim):

    m_t = b1 m + (1 - b1) g,   v_t = b2 v + (1 - b2) g²
    rho_inf = 2 / (1 - b2) - 1,   rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
    rho_t > 5:  p -= lr · sqrt((1 - b2^t)(rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                      / (1 - b1^t) · m_t / (sqrt(v_t) + eps)
    else:       p -= lr / (1 - b1^t) · m_t
    every k steps: slow += alpha (p - slow);  p = slow

All state (step, m, v, the slow weights) lives in ``state_dict()``, so a resumed run continues exactly.
"""

from __future__ import annotations

import math

import torch
from torch.optim.optimizer import Optimizer

__all__ = ["Ranger"]


class Ranger(Optimizer):
    def __init__(self, params, lr: float = 1e-3, alpha: float = 0.5, k: int = 6, n_sma_threshold: float = 5.0,
                 betas: tuple[float, float] = (0.95, 0.999), eps: float = 1e-5, weight_decay: float = 0.0,
                 use_gc: bool = True, gc_conv_only: bool = False):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"invalid slow update rate: {alpha}")
        if k < 1:
            raise ValueError(f"invalid lookahead steps: {k}")
        if not lr > 0:
            raise ValueError(f"invalid learning rate: {lr}")
        if not eps > 0:
            raise ValueError(f"invalid eps: {eps}")
        defaults = dict(lr=lr, alpha=alpha, k=k, n_sma_threshold=n_sma_threshold, betas=betas, eps=eps,
                        weight_decay=weight_decay, use_gc=use_gc, gc_min_dim=3 if gc_conv_only else 1)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.float()
                if grad.is_sparse:
                    raise RuntimeError("Ranger does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, dtype=torch.float32)
                    state["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float32)
                    state["slow_buffer"] = p.detach().clone()
                if group["use_gc"] and grad.dim() > group["gc_min_dim"]:
                    grad = grad - grad.mean(dim=tuple(range(1, grad.dim())), keepdim=True)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                m.mul_(b1).add_(grad, alpha=1 - b1)
                b2t = b2 ** t
                rho_inf = 2 / (1 - b2) - 1
                rho = rho_inf - 2 * t * b2t / (1 - b2t)
                data = p.float()
                if group["weight_decay"]:
                    data.add_(data, alpha=-group["weight_decay"] * group["lr"])
                if rho > group["n_sma_threshold"]:
                    step_size = math.sqrt((1 - b2t) * (rho - 4) / (rho_inf - 4) * (rho - 2) / rho
                                          * rho_inf / (rho_inf - 2)) / (1 - b1 ** t)
                    data.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-step_size * group["lr"])
                else:
                    data.add_(m, alpha=-group["lr"] / (1 - b1 ** t))
                p.copy_(data)
                if t % group["k"] == 0:
                    slow = state["slow_buffer"]
                    slow.add_(p - slow, alpha=group["alpha"])
                    p.copy_(slow)
        return loss
