"""Contact sheet: a PNG grid of keyframes with their ages and flags (Pillow only)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_FLAG_COLOR = (200, 30, 30)
_OK_COLOR = (40, 140, 60)


@dataclass
class SheetItem:
    image: np.ndarray | None            # [S, S, 3] uint8, or None for a grey placeholder
    title: str                          # e.g. file name
    lines: list[str] = field(default_factory=list)  # e.g. "age 51.4", "2010-05-10"
    flags: list[str] = field(default_factory=list)  # shown in red; flagged tiles get a red frame


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _fit(draw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def contact_sheet(items: Sequence[SheetItem], thumb: int = 192, columns: int | None = None, title: str | None = None) -> np.ndarray:
    """[H, W, 3] uint8 grid: one tile per item (thumbnail, title, info lines, flags)."""
    from PIL import Image, ImageDraw

    if not items:
        raise ValueError("a contact sheet needs at least one item")
    n = len(items)
    cols = columns or min(n, 5)
    rows = math.ceil(n / cols)
    pad, line = 8, max(12, thumb // 12)
    n_lines = 1 + max(len(it.lines) + (1 if it.flags else 0) for it in items)
    text_h = n_lines * (line + 3) + 4
    head = (line + 12) if title else 0
    tile_w, tile_h = thumb + 2 * pad, thumb + text_h + 2 * pad
    sheet = Image.new("RGB", (cols * tile_w + pad, rows * tile_h + pad + head), (245, 245, 245))
    draw = ImageDraw.Draw(sheet)
    font, bold = _font(line), _font(line + 1)
    if title:
        draw.text((pad, pad), _fit(draw, title, bold, sheet.width - 2 * pad), fill=(20, 20, 20), font=bold)
    for i, it in enumerate(items):
        r, c = divmod(i, cols)
        x0, y0 = pad + c * tile_w, head + pad + r * tile_h
        if it.image is None:
            im = Image.new("RGB", (thumb, thumb), (180, 180, 180))
            ImageDraw.Draw(im).text((8, thumb // 2 - line), "no crop", fill=(90, 90, 90), font=font)
        else:
            im = Image.fromarray(np.asarray(it.image, np.uint8)).resize((thumb, thumb), Image.LANCZOS)
        frame = _FLAG_COLOR if it.flags else _OK_COLOR
        draw.rectangle([x0 - 3, y0 - 3, x0 + thumb + 2, y0 + thumb + 2], outline=frame, width=3)
        sheet.paste(im, (x0, y0))
        ty = y0 + thumb + 6
        draw.text((x0, ty), _fit(draw, it.title, bold, thumb), fill=(20, 20, 20), font=bold)
        ty += line + 3
        for text in it.lines:
            draw.text((x0, ty), _fit(draw, text, font, thumb), fill=(60, 60, 60), font=font)
            ty += line + 3
        if it.flags:
            draw.text((x0, ty), _fit(draw, ", ".join(it.flags), font, thumb), fill=_FLAG_COLOR, font=font)
    return np.asarray(sheet)


def save_contact_sheet(path, items: Sequence[SheetItem], **kwargs) -> None:
    """Writes the sheet as PNG atomically (temporary name, then rename)."""
    from PIL import Image

    from facereel.core.atomic import atomic_path

    arr = contact_sheet(items, **kwargs)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
