"""Inversion method names and each encoder method's default weights, without importing torch
(front ends and capability checks read them; :mod:`facereel.inversion.api` uses them)."""

from __future__ import annotations

from facereel.options.choices import INVERSION_METHODS as METHODS

#: default encoder weights per method (names in facereel.weights)
DEFAULT_ENCODERS = {"psp": "psp_ffhq_encode", "e4e": "e4e_ffhq_encode", "restyle": "restyle_psp_ffhq_encode",
                    "hybrid": "e4e_ffhq_encode"}

__all__ = ["METHODS", "DEFAULT_ENCODERS"]
