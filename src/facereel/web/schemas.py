"""Request bodies of the web API (pydantic) and their conversion to what the pipelines take.

Every model refuses NaN and Infinity, and whole-number fields refuse ``true``/``false``.  The
choice lists come from :mod:`facereel.options.choices`; the limits that depend on the server
(sizes, frames, fps) are checked by the service against its configuration.

The time-lapse thesis' client speaks its own dialect (``/generateGifAPI``): sizes and frames as
strings or numbers, opacity in percent, ages as numbers or the text of an input field (empty
when cleared), items carrying the client's own ``id``.  :class:`ThesisGif` reads that dialect
and :meth:`ThesisGif.render_settings` turns it into facereel's :class:`RenderSettings`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from facereel.options.choices import ENGINES, INVERSION_METHODS, VIDEO_FORMATS
from facereel.options.timelapse import LatentOptions, TimelapseOptions

#: ``format`` values a web render may ask for (folders of frames are not offered over HTTP)
WEB_FORMATS = tuple(f for f in VIDEO_FORMATS if f != "frames")
CONTENT_TYPES = {"mp4": "video/mp4", "webm": "video/webm", "gif": "image/gif"}
#: options fields -> the JSON keys of :class:`RenderSettings` (for OptionsError messages)
OPTION_NAMES = {"frames_per_gap": "frames", "latent.generator": "generator", "latent.method": "method",
                "latent.encoder": "encoder"}


def _whole(value: Any) -> Any:
    """A whole number given as a number or its text ("24", 24, 24.0); booleans refused."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true/false")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
    return value


def _number_or_blank(value: Any) -> Any:
    """A finite number, its text, or blank ("" / null: not given); booleans refused."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError("must be a number") from None
    if isinstance(value, (int, float)) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Whole = Annotated[int, BeforeValidator(_whole)]
NumberOrBlank = Annotated[float | None, BeforeValidator(_number_or_blank)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# ----------------------------------------------------------------------------- facereel's API

class ItemPatch(Body):
    age: float | None = Field(None, ge=0, le=130, description="the age used for ordering; null keeps the estimate")
    reset_age: bool = Field(False, description="drop the user's age and use the estimate again")
    excluded: bool | None = Field(None, description="leave the photo out of renders (or put it back)")
    position: int | None = Field(None, ge=0, strict=True, description="new index in the project's sequence")


class ProjectCreate(Body):
    name: str = Field("", max_length=200)


class CrawlRequest(Body):
    name: str = Field(..., min_length=1, max_length=200)
    per_query: int | None = Field(None, ge=1, le=10, strict=True)


class RenderSettings(Body):
    engine: str = Field("morph", description=f"one of {', '.join(ENGINES)}")
    generator: str | None = Field(None, max_length=100, description="latent engine: generator weights name")
    method: str | None = Field(None, description=f"latent engine: inversion method, one of "
                                                 f"{', '.join(INVERSION_METHODS)} (default optimize)")
    encoder: str | None = Field(None, max_length=100, description="latent engine: encoder weights name "
                                                                  "(default: the method's own)")
    frames: int = Field(24, ge=1, strict=True, description="frames between two keyframes")
    opacity: float = Field(0.5, ge=0.0, le=1.0, description="keyframe blending γ (0–1)")
    size: int = Field(512, strict=True, description="output size in pixels")
    fps: int = Field(24, ge=1, strict=True)
    format: str = Field("mp4", description=f"one of {', '.join(WEB_FORMATS)}")

    @field_validator("engine")
    @classmethod
    def _engine(cls, v: str) -> str:
        if v not in ENGINES:
            raise ValueError(f"must be one of {', '.join(ENGINES)}")
        return v

    @field_validator("method")
    @classmethod
    def _method(cls, v: str | None) -> str | None:
        if v is not None and v not in INVERSION_METHODS:
            raise ValueError(f"must be one of {', '.join(INVERSION_METHODS)}")
        return v

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        if v not in WEB_FORMATS:
            raise ValueError(f"must be one of {', '.join(WEB_FORMATS)}")
        return v

    def to_options(self) -> TimelapseOptions:
        """The validated :class:`~facereel.options.timelapse.TimelapseOptions` of this request
        (raises :class:`~facereel.core.errors.OptionsError`; map names with ``OPTION_NAMES``)."""
        latent = LatentOptions(generator=self.generator, method=self.method or "optimize", encoder=self.encoder)
        return TimelapseOptions(engine=self.engine, frames_per_gap=self.frames, size=self.size, fps=float(self.fps),
                                opacity=self.opacity, format=self.format, latent=latent).validate()


# ----------------------------------------------------------------------------- the thesis' client

#: the thesis' encoder values -> (inversion method, encoder weights); None: no GAN
THESIS_ENCODERS: dict[str, tuple[str, str] | None] = {
    "psp": ("psp", "psp_ffhq_encode"),                 # "StyleGAN2 pSp"
    "toonify": ("psp", "psp_ffhq_toonify"),            # "StyleGAN2 pSp Toonify"
    "restyle": ("restyle", "restyle_pSp_sg3_ffhq"),    # "StyleGAN3 ReStyle pSp"
    "pixel": None,                                     # "None": image blending
}
#: also understood: facereel's own engine names and the seed's ``None``
PIXEL_ALIASES = ("", "none", "null", "morph")


class ThesisItem(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)   # the client sends its own "id"
    path: str = Field(..., max_length=100)
    age: NumberOrBlank = None

    @field_validator("age")
    @classmethod
    def _age(cls, v: float | None) -> float | None:
        if v is not None and not 0 <= v <= 130:
            raise ValueError("must be from 0 to 130")
        return v


class ThesisGif(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    encoder: str | None = Field("pixel", max_length=40,
                                description="psp, toonify, restyle (latent engine) or pixel (image blending)")
    size: Whole = Field(512, description="256, 512 or 1024 (number or text)")
    frames: Whole = Field(24, ge=1, description="frames between two photos (number or text)")
    opacity: NumberOrBlank = Field(50, description="largest opacity of the real photos blended in, in percent")
    items: list[ThesisItem] = Field(..., max_length=1000)

    @field_validator("opacity")
    @classmethod
    def _opacity(cls, v: float | None) -> float | None:
        if v is not None and not 0 <= v <= 100:
            raise ValueError("must be a percentage from 0 to 100")
        return v

    def engine(self) -> tuple[str, str | None, str | None]:
        """(engine, inversion method, encoder weights) for ``encoder``; raises ValueError."""
        enc = (self.encoder or "").strip().lower()
        if enc in PIXEL_ALIASES or enc == "pixel":
            return "morph", None, None
        if enc == "crossfade":
            return "crossfade", None, None
        if enc in THESIS_ENCODERS:
            method, weights = THESIS_ENCODERS[enc]
            return "latent", method, weights
        raise ValueError(f"unknown encoder; use one of {', '.join(THESIS_ENCODERS)}")

    def render_settings(self, fps: int) -> RenderSettings:
        engine, method, encoder = self.engine()
        opacity = 0.5 if self.opacity is None else self.opacity / 100.0
        return RenderSettings(engine=engine, method=method, encoder=encoder, frames=self.frames, size=self.size,
                              opacity=opacity, fps=fps, format="gif")


class ThesisName(BaseModel):
    model_config = ConfigDict(extra="ignore")
    celebrityName: str = Field(..., min_length=1, max_length=200)
