"""Analyses of latent paths: the ageing-linearity lab ("A photo a day").

Pure numerical code over arrays of latents and ages (numpy, scikit-learn, matplotlib for the
report); it loads no model and runs no network. :mod:`facereel.pipelines.lab` feeds it latents
from inversion.
"""
