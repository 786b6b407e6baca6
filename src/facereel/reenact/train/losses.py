"""The thesis' training losses (Jahoda, Sec. training; ``training/coach.py`` of its code).

One step sees a same-identity pair and a cross pair:

* self-reenactment: y_hat = G(M(t_A ⊕ E_m(s_A))), compared with s_A itself by L2 and LPIPS, and
  by both on the inner crop rows 55:243, cols 32:220 of the 256 image (188 x 188; scaled for
  other sizes);
* cross-reenactment: y_hat1 = G(M(t_R ⊕ E_m(s_A))) (same motion code, another identity), compared
  by ArcFace with G(t_R) (the identity's own rendering): ID = mean(1 - <f(y_hat1), f(G(t_R))>),
  f the IR-SE50 embedding of the image average-pooled to 112 x 112;
* CosFace on motion descriptors (the thesis' "LMCL"): with d = E_m(s_A) and the negative
  n = E_m(s_R), z_s = E_m(y_hat), z_ss = E_m(y_hat1), c(u, v) = a (cos(u, v) - b):

      L = mean_batch -[log(e^{c(z_s, d)} / (e^{c(z_s, d)} + e^{c(z_s, n)} + e^{c(z_ss, n)}) + 1e-8)
                      + log(e^{c(z_ss, d)} / (e^{c(z_ss, d)} + e^{c(z_s, n)} + e^{c(z_ss, n)}) + 1e-8)]

  a = 5, b = 0.2 as the thesis states (its code constructs ``CosFace(s=5, m=2)``).

Best weights of the thesis (defaults of :class:`facereel.options.reenact.ReenactTrainOptions`):
L2 0, LPIPS 0.05, ID 0.3, CosFace 0, L2-crop 2, LPIPS-crop 0.3.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["cosface_loss", "id_loss", "inner_crop", "LossTerms"]


def inner_crop(x: torch.Tensor) -> torch.Tensor:
    """Rows 55:243, cols 32:220 of a 256 image (the face without hair/background), scaled to x's size."""
    s = x.shape[-1] / 256
    r0, r1, c0, c1 = (int(round(v * s)) for v in (55, 243, 32, 220))
    return x[:, :, r0:r1, c0:c1]


def cosface_loss(zs_d, zss_d, zd, zds, a: float = 5.0, b: float = 0.2) -> torch.Tensor:
    zs_d, zss_d, zd, zds = (torch.flatten(z, start_dim=1) for z in (zs_d, zss_d, zd, zds))

    def c(u, v):
        return torch.exp(a * (F.cosine_similarity(u, v) - b))

    p1, p2, n1, n2 = c(zs_d, zd), c(zss_d, zd), c(zs_d, zds), c(zss_d, zds)
    return torch.sum(-(torch.log(p1 / (p1 + n1 + n2) + 1e-8) + torch.log(p2 / (p2 + n1 + n2) + 1e-8))) / zs_d.shape[0]


def id_loss(facenet, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """mean(1 - <f(y_hat), f(y)>) with f(y) detached (the thesis' IDLoss)."""
    fy = facenet(F.adaptive_avg_pool2d(y, (112, 112))).detach()
    fh = facenet(F.adaptive_avg_pool2d(y_hat, (112, 112)))
    return (1 - (fh * fy).sum(1)).mean()


LossTerms = ("l2", "lpips", "id", "cosface", "l2_crop", "lpips_crop")
