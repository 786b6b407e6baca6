"""Time-lapse engines.  Each turns keyframes + a schedule position (j, λ) into frames."""

from facereel.options.choices import ENGINES
from facereel.render.engines.base import Engine, Keyframe


def get_engine(name: str, **kwargs) -> Engine:
    """Instantiates an engine by name (imports lazily)."""
    if name == "crossfade":
        from facereel.render.engines.crossfade import CrossfadeEngine

        return CrossfadeEngine(**kwargs)
    if name == "morph":
        from facereel.render.engines.morph import MorphEngine

        return MorphEngine(**kwargs)
    if name == "latent":
        from facereel.render.engines.latent import LatentEngine

        return LatentEngine(**kwargs)
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


__all__ = ["ENGINES", "Engine", "Keyframe", "get_engine"]
