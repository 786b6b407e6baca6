"""Builders for the golden replay: each module defines ``BUILDERS = {official_module: build}``."""
