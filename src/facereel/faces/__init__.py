"""Face analysis of single photos: load, detect, landmarks, align, identity, age, expression.

Models load lazily on first use and are cached per process.  See :mod:`facereel.faces.types`
for the data every stage returns.
"""
