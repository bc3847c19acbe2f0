"""Test images for the visible signatures: a blue signature scribble and a red round seal.

Made with Pillow when a sandbox is set up, so that the demo's PDF shows both signatures
as Nghị định 30 places them. They are drawings, not anyone's signature or seal: testing
only, like the test keys beside them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = ["SEAL_RED", "SIGNATURE_BLUE", "write_seal", "write_signature"]

SIGNATURE_BLUE = (25, 45, 190, 255)
SEAL_RED = (215, 25, 30, 255)
_FONTS = (
    Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf"),
)


def write_signature(path: str | os.PathLike[str], seed: int = 7) -> Path:
    """A transparent PNG (480x180) with a blue handwritten-looking stroke."""
    image = Image.new("RGBA", (480, 180), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = [
        (30 + i * 3.4, 95 + 45 * math.sin(i / (5 + seed % 3)) + 22 * math.sin(i / 2.1))
        for i in range(125)
    ]
    draw.line(points, fill=SIGNATURE_BLUE, width=7, joint="curve")
    draw.line([(60, 150), (420, 135)], fill=SIGNATURE_BLUE, width=5)
    target = Path(path)
    image.save(target, "PNG")
    return target


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in _FONTS:
        if candidate.is_file():
            return ImageFont.truetype(str(candidate), size)
    return ImageFont.load_default()


def write_seal(path: str | os.PathLike[str], name: str) -> Path:
    """A transparent PNG (420x420): a red double ring, a star, ``name`` around the ring."""
    size = 420
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, size - 8, size - 8), outline=SEAL_RED, width=14)
    draw.ellipse((92, 92, size - 92, size - 92), outline=SEAL_RED, width=6)
    draw.regular_polygon((size / 2, size / 2, 62), 5, rotation=0, fill=SEAL_RED)
    font = _font(34)
    text = name.upper()
    # the letters around the ring, from the left to the right over the top
    step = min(300 / max(len(text), 1), 16.0)
    start = -90 - step * (len(text) - 1) / 2
    for index, char in enumerate(text):
        angle = math.radians(start + index * step)
        x = size / 2 + 150 * math.cos(angle)
        y = size / 2 + 150 * math.sin(angle)
        glyph = Image.new("RGBA", (60, 60), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((30, 30), char, font=font, fill=SEAL_RED, anchor="mm")
        rotated = glyph.rotate(-math.degrees(angle) - 90, resample=Image.Resampling.BICUBIC)
        image.alpha_composite(rotated, (int(x - 30), int(y - 30)))
    target = Path(path)
    image.save(target, "PNG")
    return target
