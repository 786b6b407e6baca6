"""CLI command groups; see :mod:`facereel.cli`."""
